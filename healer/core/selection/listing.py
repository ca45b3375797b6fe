"""The engine's list filters that find the managed containers, decided without I/O.

The engine ANDs the labels of one filter and cannot ask for a label's absence, so the default
selection (every compose project, plus plain containers labelled autoheal=true) takes two list
calls; a label selector or `all` takes one. Whatever a filter lets through is checked again
against the selector (Selector.matches), so a filter may be wider than the selection.
"""

from __future__ import annotations

import re

from healer.core.compose_labels import PROJECT_LABEL, SERVICE_LABEL
from healer.core.model import ServiceId, split_service_id
from healer.core.selection.selector import PLAIN_PROJECT, Selector

Filters = dict[str, list[str]]


def list_filters(
    selector: Selector,
    sid: ServiceId | None = None,
    project: str | None = None,
    *,
    plain_managed: bool = True,
) -> list[Filters]:
    """One dict per list call: `sid` narrows to one service, `project` to one project
    (`-`: the plain containers); `plain_managed` False when HEALER_PROJECTS leaves them out.
    An empty list of labels means no label filter."""
    wanted = selector.engine_filters()
    if sid is not None:
        project, service = split_service_id(sid)
        if project == PLAIN_PROJECT:
            return [{"name": [f"^/{re.escape(service)}$"], "label": wanted}]
        return [{"label": [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={service}"]}]
    if project == PLAIN_PROJECT:
        return [{"label": selector.plain_filters()}] if plain_managed else []
    if project is not None:
        return [{"label": [f"{PROJECT_LABEL}={project}", *wanted]}]
    if not selector.is_default:
        return [{"label": wanted}]  # one call finds compose and plain containers alike
    compose = {"label": [PROJECT_LABEL]}
    return [compose, {"label": selector.plain_filters()}] if plain_managed else [compose]
