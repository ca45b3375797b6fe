"""The disk cleanup's rules, pure: what a cleanup plan holds and which containers it may
remove. The adapter (adapters/docker/cleanup.py) lists, re-checks and removes.

Safety rules, checked when planning and again right before each removal (the plan may be
minutes old, and a dry run's plan is shown to a human first):
- never a volume: containers are removed with v=False and nothing calls a volume API;
- never a container of a compose project, never a running one (and the engine refuses to
  remove a running container without force, which is never passed);
- never an image with a tag or one a container uses;
- never a file outside the configured folders (symlinks are not followed), one written
  within max_age_days, or one a process still holds open (deleting it would free nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from healer.core.compose_labels import PROJECT_LABEL
from healer.core.container_state import ContainerState

STOPPED_STATES = frozenset({"exited", "created", "dead"})
DAY = 86400.0

# A container stopped less than this ago may be under investigation (or created and about to
# be started by some tool); a repair that runs hourly loses nothing by waiting.
DEFAULT_MIN_CONTAINER_AGE = 3600.0


@dataclass(frozen=True)
class ImageItem:
    id: str
    size: int  # bytes only this image holds (Size - SharedSize), an estimate

    def describe(self) -> str:
        return f"dangling image {self.id.removeprefix('sha256:')[:12]} ({human(self.size)})"


@dataclass(frozen=True)
class ContainerItem:
    id: str
    name: str
    state: str
    size: int  # writable layer (SizeRw)

    def describe(self) -> str:
        return f"container {self.name} ({self.id[:12]}, {self.state}, {human(self.size)})"


@dataclass(frozen=True)
class LogItem:
    path: str
    root: str  # the configured folder it was found in; re-checked before deleting
    size: int
    mtime: float

    def describe(self) -> str:
        return f"log file {self.path} ({human(self.size)})"


@dataclass(frozen=True)
class CleanupPlan:
    images: tuple[ImageItem, ...] = ()
    containers: tuple[ContainerItem, ...] = ()
    logs: tuple[LogItem, ...] = ()
    build_cache_bytes: int | None = None  # reclaimable per `docker system df`; None: skip
    prune_build_cache: bool = True

    @property
    def estimated_bytes(self) -> int:
        sized: Iterable[ImageItem | ContainerItem | LogItem] = (
            *self.images,
            *self.containers,
            *self.logs,
        )
        return sum(i.size for i in sized) + (self.build_cache_bytes or 0)

    def items(self) -> list[str]:
        cache = [f"build cache ({human(self.build_cache_bytes or 0)})"]
        return [
            *(c.describe() for c in self.containers),
            *(i.describe() for i in self.images),
            *(cache if self.prune_build_cache else []),
            *(log.describe() for log in self.logs),
        ]


@dataclass(frozen=True)
class CleanupReport:
    removed: list[str] = field(default_factory=list)  # with dry_run: what would be removed
    bytes_freed: int = 0  # images and containers estimated from `docker system df`
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


# --- pure rules ----------------------------------------------------------------------------


def is_removable_container(c: ContainerState) -> bool:
    """Stopped and in no compose project (the engine's own flags overrule a stale status)."""
    if c.running or c.restarting:
        return False
    return c.status in STOPPED_STATES and PROJECT_LABEL not in c.labels


def container_age(c: ContainerState, now: float) -> float:
    """Seconds since the container was created or last stopped, whichever is later."""
    return now - max(c.created or 0.0, c.finished_at or 0.0)


def matches_scope(labels: Mapping[str, str], scope: str | None) -> bool:
    """`key` or `key=value`, like Docker's label filter."""
    if scope is None:
        return True
    key, sep, value = scope.partition("=")
    return key in labels and (not sep or labels[key] == value)
