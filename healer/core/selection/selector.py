"""Which containers are managed, decided from their labels alone.

Three forms, one type:
- the default: every compose project (HEALER_PROJECTS narrows it), plus plain `docker run`
  containers that asked docker-autoheal for healing with `autoheal=true`;
- a label selector (HEALER_LABEL_SELECTOR, or AUTOHEAL_CONTAINER_LABEL=<name> meaning
  `<name>=true`): compose and plain containers carrying every given label;
- everything (AUTOHEAL_CONTAINER_LABEL=all): every container, except those that opt out with
  `autoheal=False` as docker-autoheal lets them.

A plain container is managed as a one-container service `-/<container name>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from healer.core.model import ServiceId

PLAIN_PROJECT = "-"
"""The project part of a plain container's service id: no compose project is named `-`."""

AUTOHEAL_LABEL = "autoheal"
AUTOHEAL_DEFAULT = "autoheal"
AUTOHEAL_ALL = "all"

# A label key as the engine accepts it in practice: no spaces, no `=` or `,` (ours split on them).
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Selector:
    """`labels`: (key, value or None for any value) pairs that must all match."""

    labels: tuple[tuple[str, str | None], ...] = ()
    everything: bool = False

    @property
    def is_default(self) -> bool:
        return not self.labels and not self.everything

    def engine_filters(self) -> list[str]:
        """The selector as the engine's `label` list filter (empty: no label needed)."""
        return [k if v is None else f"{k}={v}" for k, v in self.labels]

    def plain_filters(self) -> list[str]:
        """The engine's `label` filter for plain containers (the default asks autoheal=true)."""
        if self.is_default:
            return [f"{AUTOHEAL_LABEL}=true"]
        return self.engine_filters()

    def matches(self, labels: dict[str, str], *, compose: bool) -> bool:
        if self.everything:
            return labels.get(AUTOHEAL_LABEL, "").strip().lower() != "false"
        if self.is_default:
            return compose or labels.get(AUTOHEAL_LABEL, "").strip().lower() == "true"
        return all(k in labels and (v is None or labels[k] == v) for k, v in self.labels)

    def describe(self) -> str:
        if self.everything:
            return "every container (AUTOHEAL_CONTAINER_LABEL=all)"
        if self.is_default:
            return "every compose project, and plain containers labelled autoheal=true"
        return "containers labelled " + ",".join(self.engine_filters())


DEFAULT_SELECTOR = Selector()


def parse_selector(text: str) -> Selector:
    """`key=value`, a bare `key`, or several joined by commas (all must match)."""
    pairs: list[tuple[str, str | None]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        key = key.strip()
        if not _KEY.fullmatch(key):
            raise SelectorError(f"{part!r} is not `key=value` or a label key")
        pairs.append((key, value.strip() if eq else None))
    return Selector(tuple(pairs))


def from_autoheal(label: str) -> Selector:
    """AUTOHEAL_CONTAINER_LABEL: `all`, or a label name whose value must be `true`; empty
    leaves the default."""
    name = label.strip()
    if not name:
        return Selector()
    if name == AUTOHEAL_ALL:
        return Selector(everything=True)
    if not _KEY.fullmatch(name):
        raise SelectorError("expected a label name (the value `true` is implied) or `all`")
    return Selector(((name, "true"),))


def is_plain(sid: ServiceId) -> bool:
    return sid.startswith(PLAIN_PROJECT + "/")
