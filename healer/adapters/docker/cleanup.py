"""The disk repair's I/O: list what may go when the Docker data root fills up, re-check each
item right before removing it, remove it. The rules themselves are pure, in
healer.core.cleanup (which also states the safety rules)."""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import docker
import docker.errors

from healer.adapters.docker.state import state_from_inspect
from healer.core.cleanup import (
    DAY,
    DEFAULT_MIN_CONTAINER_AGE,
    STOPPED_STATES,
    CleanupPlan,
    CleanupReport,
    ContainerItem,
    ImageItem,
    LogItem,
    container_age,
    human,
    is_removable_container,
    matches_scope,
)
from healer.core.compose_labels import PROJECT_LABEL

# --- disk ----------------------------------------------------------------------------------


def disk_usage(path: str | Path) -> tuple[float, int, int]:
    """(used ratio, total, free) as `df` shows it: root-reserved blocks count as used."""
    total, used, free = shutil.disk_usage(path)
    return (used / (used + free) if used + free else 0.0), total, free


def docker_data_root(client: docker.DockerClient) -> str:
    return str(client.info()["DockerRootDir"])


# --- planning ------------------------------------------------------------------------------


def plan_cleanup(
    client: docker.DockerClient,
    log_dirs: Sequence[str | Path],
    max_age_days: float = 7,
    now: float | None = None,
    *,
    scope: str | None = None,
    min_container_age: float = DEFAULT_MIN_CONTAINER_AGE,
    patterns: Sequence[str] = ("*.log",),
    proc_root: str | Path = "/proc",
) -> CleanupPlan:
    """What the disk repair would remove. `scope` (a label, `key[=value]`) limits containers
    and images to those carrying it, and skips the build cache, which has no labels."""
    now = time.time() if now is None else now
    df = _df(client)
    entries = client.api.containers(all=True)
    return CleanupPlan(
        images=tuple(_plan_images(client, entries, df, scope)),
        containers=tuple(_plan_containers(client, entries, df, scope, now, min_container_age)),
        logs=tuple(find_old_logs(log_dirs, max_age_days * DAY, now, patterns, proc_root)),
        build_cache_bytes=_build_cache_bytes(df) if scope is None else None,
        prune_build_cache=scope is None,
    )


def _df(client: docker.DockerClient) -> dict[str, Any]:
    # Sizes only: a failing `system df` must not stop the repair.
    try:
        return dict(client.df())
    except docker.errors.DockerException:
        return {}


def _build_cache_bytes(df: Mapping[str, Any]) -> int:
    records = df.get("BuildCache") or []
    return sum(int(r.get("Size", 0)) for r in records if not r.get("InUse") and not r.get("Shared"))


def _plan_images(
    client: docker.DockerClient,
    entries: list[dict[str, Any]],
    df: Mapping[str, Any],
    scope: str | None,
) -> Iterable[ImageItem]:
    in_use = {e.get("ImageID") for e in entries}
    sizes = {
        i["Id"]: int(i.get("Size", 0)) - max(0, int(i.get("SharedSize", 0)))
        for i in df.get("Images") or []
    }
    for image in client.images.list(filters={"dangling": True}):
        if image.id in in_use or not matches_scope(image.labels or {}, scope):
            continue
        yield ImageItem(image.id, sizes.get(image.id, int(image.attrs.get("Size", 0))))


def _plan_containers(
    client: docker.DockerClient,
    entries: list[dict[str, Any]],
    df: Mapping[str, Any],
    scope: str | None,
    now: float,
    min_age: float,
) -> Iterable[ContainerItem]:
    sizes = {c["Id"]: int(c.get("SizeRw") or 0) for c in df.get("Containers") or []}
    for entry in entries:
        if not listed_removable(entry) or not matches_scope(entry.get("Labels") or {}, scope):
            continue
        try:  # FinishedAt is only in inspect; candidates are few
            c = state_from_inspect(client.api.inspect_container(entry["Id"]))
        except docker.errors.NotFound:
            continue
        if is_removable_container(c) and container_age(c, now) >= min_age:
            yield ContainerItem(entry["Id"], c.name, c.status, sizes.get(entry["Id"], 0))


def listed_removable(entry: Mapping[str, Any]) -> bool:
    """The list API's first cut (State is a word there); inspect decides."""
    labels = entry.get("Labels") or {}
    return str(entry.get("State") or "") in STOPPED_STATES and PROJECT_LABEL not in labels


def find_old_logs(
    dirs: Sequence[str | Path],
    max_age: float,
    now: float,
    patterns: Sequence[str] = ("*.log",),
    proc_root: str | Path = "/proc",
) -> list[LogItem]:
    """Regular files matching `patterns`, unmodified for max_age seconds, not held open."""
    held = open_files(proc_root)
    found: list[LogItem] = []
    for root in dirs:
        real_root = os.path.realpath(root)
        for folder, _, names in os.walk(real_root):  # followlinks=False: no linked folders
            for name in names:
                path = os.path.join(folder, name)
                item = _old_log(path, real_root, max_age, now, patterns)
                if item is not None and path not in held:
                    found.append(item)
    return sorted(found, key=lambda i: i.path)


def _old_log(
    path: str, root: str, max_age: float, now: float, patterns: Sequence[str]
) -> LogItem | None:
    if not any(fnmatch.fnmatch(os.path.basename(path), p) for p in patterns):
        return None
    try:
        st = os.lstat(path)  # lstat: a symlink is never a log file, wherever it points
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < max_age:
        return None
    if os.path.commonpath([os.path.realpath(path), root]) != root:
        return None
    return LogItem(path, root, st.st_size, st.st_mtime)


def open_files(proc_root: str | Path = "/proc") -> frozenset[str]:
    """Paths some process has open, as far as this process may see (best effort)."""
    held: set[str] = set()
    for fd_dir in Path(proc_root).glob("[0-9]*/fd"):
        try:
            links = list(os.scandir(fd_dir))
        except OSError:  # process gone, or not ours to look at
            continue
        for link in links:
            try:
                held.add(os.readlink(link.path))
            except OSError:
                continue
    return frozenset(held)


# --- applying ------------------------------------------------------------------------------


def apply_cleanup(
    client: docker.DockerClient, plan: CleanupPlan, dry_run: bool = False
) -> CleanupReport:
    """Remove what the plan lists, re-checking each item first; with dry_run, only list it."""
    if dry_run:
        return CleanupReport(plan.items(), plan.estimated_bytes, [], dry_run=True)
    t = _Tally()
    for c in plan.containers:
        t.attempt(c.describe(), c.size, partial(_remove_container, client, c))
    for i in plan.images:
        t.attempt(i.describe(), i.size, partial(_remove_image, client, i))
    if plan.prune_build_cache:
        _prune_build_cache(client, t)
    for log in plan.logs:
        t.attempt(log.describe(), log.size, partial(_remove_log, log))
    return CleanupReport(t.removed, t.bytes_freed, t.errors)


class _Skip(Exception):
    """The item changed since planning and is no longer safe to remove; not an error."""


@dataclass
class _Tally:
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)

    def attempt(self, what: str, size: int, remove: Callable[[], None]) -> None:
        try:
            remove()
        except (_Skip, docker.errors.NotFound):
            return  # gone or changed meanwhile: nothing to report
        except (docker.errors.DockerException, OSError) as exc:
            self.errors.append(f"{what}: {exc}")
            return
        self.removed.append(what)
        self.bytes_freed += size


def _remove_container(client: docker.DockerClient, item: ContainerItem) -> None:
    if not is_removable_container(state_from_inspect(client.api.inspect_container(item.id))):
        raise _Skip
    client.api.remove_container(item.id, v=False, force=False)  # v=False: keep its volumes


def _remove_image(client: docker.DockerClient, item: ImageItem) -> None:
    if client.api.inspect_image(item.id).get("RepoTags"):
        raise _Skip  # tagged since planning: removing by id would delete a named image
    client.api.remove_image(item.id, force=False)


def _prune_build_cache(client: docker.DockerClient, t: _Tally) -> None:
    # Unused cache only (no `all`): what `docker builder prune` removes without -a.
    try:
        result = client.api.prune_builds() or {}
    except docker.errors.DockerException as exc:
        t.errors.append(f"build cache: {exc}")
        return
    freed = int(result.get("SpaceReclaimed") or 0)
    t.removed.append(f"build cache ({human(freed)})")
    t.bytes_freed += freed


def _remove_log(item: LogItem) -> None:
    again = _old_log(item.path, item.root, 0, time.time(), ("*",))
    if again is None or again.mtime != item.mtime:
        raise _Skip  # written to, replaced or turned into a symlink since planning
    os.unlink(item.path)
