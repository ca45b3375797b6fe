"""The disk repair against the real engine: loose stopped containers, a dangling image and old
logs go; compose containers (running or stopped), running containers and volumes stay.

Every object is labelled `chtest.cleanup=<token>` and the plan is scoped to that label, so
the test never touches what other tests on this engine create at the same time.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from docker.types import Mount

from healer.adapters.docker.cleanup import (
    apply_cleanup,
    disk_usage,
    docker_data_root,
    plan_cleanup,
)
from healer.core.cleanup import CleanupPlan
from tests.support import ComposeFactory, compose_yaml, healthy_service_yaml

DAY = 86400
SCOPE_KEY = "chtest.cleanup"


@dataclass
class Made:
    """What a test created outside compose, removed at teardown whatever happened."""

    client: docker.DockerClient
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    images: list[str] = field(default_factory=list)
    volumes: set[str] = field(default_factory=set)

    @property
    def labels(self) -> dict[str, str]:
        return {SCOPE_KEY: self.token}

    @property
    def scope(self) -> str:
        return f"{SCOPE_KEY}={self.token}"

    def container(self, image: str, command: str, *, start: bool, volume: bool = False) -> str:
        mounts = [Mount("/data", None, type="volume")] if volume else []  # anonymous volume
        c = self.client.containers.create(
            image, ["sh", "-c", command], labels=self.labels, network_mode="none", mounts=mounts
        )
        self.volumes |= {m["Name"] for m in c.attrs.get("Mounts") or []}
        if start:
            c.start()
            if command == "true":
                c.wait(timeout=30)
        return str(c.id)

    def dangling_image(self, base: str) -> str:
        """Build the same tag twice: the first build is left without a tag."""
        tag = f"chtest-cleanup-{self.token}:latest"
        ids = []
        for nonce in (1, 2):
            dockerfile = f"FROM {base}\nLABEL nonce={nonce}\n".encode()
            image, _ = self.client.images.build(
                fileobj=io.BytesIO(dockerfile), tag=tag, labels=self.labels, rm=True
            )
            ids.append(str(image.id))
        self.images += [ids[1], ids[0]]  # the tagged one first at teardown
        return ids[0]

    def remove(self) -> None:
        for c in self.client.containers.list(all=True, filters={"label": self.scope}):
            c.remove(force=True, v=True)
        for image_id in self.images:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.images.remove(image_id, force=True)
        for name in self.volumes:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.volumes.get(name).remove(force=True)


@pytest.fixture
def made(docker_client: docker.DockerClient) -> Iterator[Made]:
    m = Made(docker_client)
    yield m
    m.remove()


def aged(path: Path, days: float, text: str = "x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    old = time.time() - days * DAY
    os.utime(path, (old, old), follow_symlinks=False)
    return path


def log_tree(tmp: Path) -> tuple[Path, list[Path], list[Path]]:
    """(configured folder, files that must go, files that must stay)."""
    logs, outside = tmp / "logs", tmp / "outside"
    gone = [aged(logs / "old.log", 8), aged(logs / "nested" / "deeper" / "old2.log", 30)]
    kept = [
        aged(logs / "new.log", 1),
        aged(logs / "old.txt", 30),
        aged(outside / "elsewhere.log", 30),
        aged(outside / "dir" / "linked.log", 30),
        aged(logs / "held.log", 30),
    ]
    (logs / "link.log").symlink_to(outside / "elsewhere.log")  # a link is never followed
    (logs / "linkdir").symlink_to(outside / "dir", target_is_directory=True)
    return logs, gone, kept


def exists(client: docker.DockerClient, kind: str, ident: str) -> bool:
    try:
        getattr(client, kind).get(ident)
    except docker.errors.NotFound:
        return False
    return True


def volumes_of(containers: list[Container]) -> set[str]:
    return {m["Name"] for c in containers for m in c.attrs["Mounts"] if m["Type"] == "volume"}


def test_cleanup_removes_only_what_is_safe(
    compose_project: ComposeFactory,
    docker_client: docker.DockerClient,
    test_image: str,
    made: Made,
    tmp_path: Path,
) -> None:
    db = healthy_service_yaml(
        test_image, "db", "volumes:\n  - data:/data\n  - /scratch", labels=made.labels
    )
    web = healthy_service_yaml(test_image, "web", labels=made.labels)
    project = compose_project(compose_yaml(db, web, top_level="volumes:\n  data: {}"))
    project.run("stop", "-t", "0", "web")  # a stopped compose container is still compose's
    loose = {
        made.container(test_image, "sleep 600", start=False, volume=True),  # created
        made.container(test_image, "true", start=True),  # exited
    }
    running = made.container(test_image, "exec sleep 600", start=True)
    dangling = made.dangling_image(test_image)
    logs, gone, kept = log_tree(tmp_path)
    compose_ids = {c.id for c in project.containers()}
    volumes = volumes_of(project.containers()) | made.volumes
    assert len(compose_ids) == 2 and len(volumes) == 3

    # A fresh stopped container may be under investigation: kept by default.
    assert plan_cleanup(docker_client, [], scope=made.scope).containers == ()

    with (logs / "held.log").open():  # a writer still has it open: deleting frees nothing
        plan = plan_cleanup(docker_client, [logs], max_age_days=7, scope=made.scope,
                            min_container_age=0)  # fmt: skip
    assert {c.id for c in plan.containers} == loose
    assert [i.id for i in plan.images] == [dangling]
    assert [log.path for log in plan.logs] == sorted(str(p) for p in gone)
    assert not plan.prune_build_cache  # a scoped plan never prunes the engine-wide cache

    dry = apply_cleanup(docker_client, plan, dry_run=True)
    assert dry.dry_run and dry.removed == plan.items() and dry.errors == []
    assert dry.bytes_freed == plan.estimated_bytes
    assert all(exists(docker_client, "containers", c) for c in loose)
    assert exists(docker_client, "images", dangling)
    assert all(p.exists() for p in gone)

    report = apply_cleanup(docker_client, plan)
    assert report.errors == [] and not report.dry_run
    assert report.removed == plan.items()
    assert report.bytes_freed == plan.estimated_bytes
    assert not any(exists(docker_client, "containers", c) for c in loose)
    assert not exists(docker_client, "images", dangling)
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in kept) and (logs / "link.log").is_symlink()
    assert all(exists(docker_client, "containers", c) for c in compose_ids | {running})
    assert all(exists(docker_client, "volumes", v) for v in volumes)
    assert docker_client.containers.get(running).status == "running"


def test_items_changed_since_planning_are_skipped(
    docker_client: docker.DockerClient, test_image: str, made: Made, tmp_path: Path
) -> None:
    started_later = made.container(test_image, "exec sleep 600", start=False)
    dangling = made.dangling_image(test_image)
    rewritten = aged(tmp_path / "logs" / "app.log", 9)
    plan = plan_cleanup(docker_client, [tmp_path / "logs"], scope=made.scope, min_container_age=0)
    assert [c.id for c in plan.containers] == [started_later]
    assert [i.id for i in plan.images] == [dangling]

    docker_client.containers.get(started_later).start()
    docker_client.images.get(dangling).tag(f"chtest-cleanup-{made.token}", "kept")
    made.images.append(f"chtest-cleanup-{made.token}:kept")
    rewritten.write_text("written since\n")
    report = apply_cleanup(docker_client, plan)

    assert report.removed == [] and report.errors == []
    assert docker_client.containers.get(started_later).status == "running"
    assert exists(docker_client, "images", dangling) and rewritten.exists()


def test_disk_usage_of_the_docker_data_root(docker_client: docker.DockerClient) -> None:
    root = docker_data_root(docker_client)
    assert root.startswith("/")
    ratio, total, free = disk_usage(root if os.path.exists(root) else "/")
    assert 0.0 < ratio < 1.0 and 0 < free < total


def test_an_empty_plan_does_nothing(docker_client: docker.DockerClient) -> None:
    report = apply_cleanup(docker_client, CleanupPlan(prune_build_cache=False))
    assert (report.removed, report.errors, report.bytes_freed) == ([], [], 0)
