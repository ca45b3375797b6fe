"""Start-first recreate: the new container runs (and is healthy) before the old one stops.

`healer.recreate.order: start-first` opts a service in; `stop-first` (compose's own order)
stays the default. Two containers of the same service run side by side for a moment, so a
service cannot go start-first when the second could not start or would collide with the first:
a fixed published host port (the second cannot bind it), a container_name (the name is
taken), a static IP address, or a network namespace that is not its own (host, or another
container's). Then the recreate says why and goes stop-first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from healer.core.compose_labels import PROJECT_LABEL, SERVICE_LABEL
from healer.core.container_spec import fixed_host_ports, name_separator, network_mode

ORDER_LABEL = "healer.recreate.order"


class Order(StrEnum):
    STOP_FIRST = "stop-first"
    START_FIRST = "start-first"


def parse_order(text: str) -> Order:
    try:
        return Order(text.strip().lower())
    except ValueError:
        raise ValueError(f"{ORDER_LABEL}={text!r} is not stop-first or start-first") from None


@dataclass(frozen=True)
class OrderChoice:
    order: Order
    why: str = ""  # why start-first was asked for but is impossible


def choose(asked: Order, info: dict[str, Any]) -> OrderChoice:
    if asked == Order.STOP_FIRST:
        return OrderChoice(Order.STOP_FIRST)
    blockers = start_first_blockers(info)
    if not blockers:
        return OrderChoice(Order.START_FIRST)
    why = "start-first impossible (" + "; ".join(blockers) + "), recreated stop-first"
    return OrderChoice(Order.STOP_FIRST, why)


def start_first_blockers(info: dict[str, Any]) -> list[str]:
    labels = (info.get("Config") or {}).get("Labels") or {}
    name = str(info.get("Name", "")).lstrip("/")
    project, service = str(labels.get(PROJECT_LABEL, "")), str(labels.get(SERVICE_LABEL, ""))
    out = []
    if name_separator(name, project, service) is None:
        out.append(f"container_name {name} cannot be held by two containers")
    ports = fixed_host_ports(info)
    if ports:
        out.append(f"fixed published host ports {', '.join(ports)}")
    mode = network_mode(info)
    if mode == "host" or mode.startswith(("container:", "service:")):
        out.append(f"network_mode {mode} is not the container's own")
    nets = (info.get("NetworkSettings") or {}).get("Networks") or {}
    static = [
        n for n, ep in nets.items() if ((ep or {}).get("IPAMConfig") or {}).get("IPv4Address")
    ]
    # (a compose `ipv4_address`: two containers cannot hold one address)
    if static:
        out.append(f"static IP address on {', '.join(sorted(static))}")
    return out
