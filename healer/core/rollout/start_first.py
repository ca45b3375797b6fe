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

from healer.core.compose_labels import PROJECT_LABEL, SERVICE_LABEL, name_separator
from healer.core.container_state import ContainerState

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


def choose(asked: Order, c: ContainerState) -> OrderChoice:
    if asked == Order.STOP_FIRST:
        return OrderChoice(Order.STOP_FIRST)
    blockers = start_first_blockers(c)
    if not blockers:
        return OrderChoice(Order.START_FIRST)
    why = "start-first impossible (" + "; ".join(blockers) + "), recreated stop-first"
    return OrderChoice(Order.STOP_FIRST, why)


def start_first_blockers(c: ContainerState) -> list[str]:
    """From a whole inspect: a list entry does not say which ports and addresses are fixed."""
    project, service = c.labels.get(PROJECT_LABEL, ""), c.labels.get(SERVICE_LABEL, "")
    out = []
    if name_separator(c.name, project, service) is None:
        out.append(f"container_name {c.name} cannot be held by two containers")
    if c.fixed_host_ports:
        out.append(f"fixed published host ports {', '.join(c.fixed_host_ports)}")
    mode = c.network_mode
    if mode == "host" or mode.startswith(("container:", "service:")):
        out.append(f"network_mode {mode} is not the container's own")
    # (a compose `ipv4_address`: two containers cannot hold one address)
    if c.static_ip_networks:
        out.append(f"static IP address on {', '.join(c.static_ip_networks)}")
    return out
