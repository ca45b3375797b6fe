"""Repair action names: the built-ins, `signal:<NAME>`, and installed plugin strategies.

Pure: which names exist is decided from the plugin names the caller discovered (the
discovery itself is I/O and lives in healer.adapters.plugins.strategies). Every entry point
that takes an action (HTTP, CLI, alerts, labels) checks it here, so they all accept the same
names and refuse an unknown one with the same message.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Collection

from healer.core.model import REPAIR_ACTIONS, Action
from healer.errors import Invalid

# Container repairs the repair task carries out itself. `cleanup` is not one: it is the
# host-wide disk repair (`healer cleanup`, an alert with service="host").
BUILTIN_ACTIONS: tuple[str, ...] = tuple(a.value for a in REPAIR_ACTIONS)
BUILTIN_DESCRIPTIONS: dict[str, str] = {
    Action.RESTART.value: "docker restart (a start when the container is stopped)",
    Action.START.value: "docker start",
    Action.STOP_START.value: "docker stop, then docker start",
    Action.RECREATE.value: "a new container from the same config, as compose --force-recreate "
    "(name, number, labels, networks, mounts kept; volumes kept; namespace sharers re-attached)",
}
SIGNAL_PREFIX = "signal:"
SIGNAL_PATTERN = SIGNAL_PREFIX + "<NAME>"
SIGNAL_DESCRIPTION = "send signal NAME (e.g. HUP) to the container's main process (docker kill)"

# Plugin (entry point) names become action names: lower-case words, as typed in a label.
_PLUGIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_SIGNALS = frozenset(s.name.removeprefix("SIG") for s in signal.Signals)


class UnknownAction(Invalid, ValueError):
    """The name is no action here; the message lists the known ones."""

    def __init__(self, name: str, plugins: Collection[str], why: str = "") -> None:
        known = ", ".join(known_names(plugins))
        super().__init__(f"unknown action {name!r}{f' ({why})' if why else ''}; known: {known}")
        self.name = name


def known_names(plugins: Collection[str]) -> list[str]:
    return [*BUILTIN_ACTIONS, SIGNAL_PATTERN, *sorted(plugins)]


def normalize(name: str, plugins: Collection[str]) -> str:
    """The canonical name of `name` (`signal:sighup` → `signal:HUP`); UnknownAction else."""
    text = name.strip()
    if text.lower() in BUILTIN_ACTIONS:
        return text.lower()
    if text.lower().startswith(SIGNAL_PREFIX):
        return SIGNAL_PREFIX + _signal(text[len(SIGNAL_PREFIX) :], name, plugins)
    if text in plugins:
        return text
    if text.lower() == Action.CLEANUP.value:
        raise UnknownAction(name, plugins, "cleanup is the host-wide disk repair: healer cleanup")
    raise UnknownAction(name, plugins)


def _signal(raw: str, name: str, plugins: Collection[str]) -> str:
    sig = raw.strip().upper().removeprefix("SIG")
    if sig not in _SIGNALS:
        raise UnknownAction(name, plugins, f"{raw!r} is not a signal name such as HUP or USR1")
    return sig


def signal_of(action: str) -> str | None:
    """`HUP` for `signal:HUP`; None for any other action."""
    return action[len(SIGNAL_PREFIX) :] if action.startswith(SIGNAL_PREFIX) else None


def valid_plugin_name(name: str) -> str:
    """Why an entry point name cannot be an action name, or "" when it can."""
    if name.lower() in BUILTIN_ACTIONS or name.lower() == Action.CLEANUP.value:
        return f"{name!r} is a built-in action; a plugin cannot replace it"
    if name.lower().startswith(SIGNAL_PREFIX):
        return f"{name!r}: the signal: prefix is reserved for the built-in signal action"
    if not _PLUGIN_NAME.match(name):
        return f"{name!r} is not a valid action name (lower-case letters, digits, . _ -)"
    return ""


def escalate(actions: tuple[str, ...], attempt: int, default: str) -> str:
    """Attempt k (1-based) of an episode uses the k-th action; the last one repeats."""
    if not actions:
        return default
    return actions[min(max(attempt, 1), len(actions)) - 1]
