"""The rollout labels of a service, parsed without I/O (a bad value is a problem, and the
default stays in force)."""

from __future__ import annotations

from dataclasses import dataclass, field

from healer.core.rollout.budget import MAX_UNAVAILABLE_LABEL, MaxUnavailable, parse_max_unavailable
from healer.core.rollout.start_first import ORDER_LABEL, Order, parse_order

ROLLOUT_LABELS = (MAX_UNAVAILABLE_LABEL, ORDER_LABEL)


@dataclass(frozen=True)
class RolloutLabels:
    max_unavailable: MaxUnavailable = field(default_factory=MaxUnavailable)
    order: Order = Order.STOP_FIRST


def parse_rollout_labels(labels: dict[str, str], problems: list[str]) -> RolloutLabels:
    out = RolloutLabels()
    if MAX_UNAVAILABLE_LABEL in labels:
        try:
            out = RolloutLabels(parse_max_unavailable(labels[MAX_UNAVAILABLE_LABEL]), out.order)
        except ValueError as exc:
            problems.append(f"{exc}; the default 1 stays in force")
    if ORDER_LABEL in labels:
        try:
            out = RolloutLabels(out.max_unavailable, parse_order(labels[ORDER_LABEL]))
        except ValueError as exc:
            problems.append(f"{exc}; stop-first stays in force")
    return out
