"""Resource repairs by the real healer (worker + beat): a memory hog and a CPU spinner are
restarted once their use has held above 90 % of the limit for the (shortened) window, and a
full disk gets the safe cleanup — asserted on Docker's own events, the filesystem and history.

The disk test runs the beat's cleanup, which is engine-wide by design (no label scope): it
removes *every* dangling image and unused build cache on this engine, like the product does.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from healer.adapters.docker.stats import StatsCollector
from healer.core.model import ContainerId
from healer.core.resources import ratios
from tests.support import (
    ComposeFactory,
    ComposeProject,
    EventsFactory,
    PrivateEngine,
    compose_yaml,
    healthy_service_yaml,
    unique_project_name,
    wait_until,
)
from tests.support.healer import HealerFactory, HealerStack
from tests.support.waiting import wait_for_reconciles

MiB = 2**20
DAY = 86400
LABEL_KEY = "chtest.resource-repairs"

# 89 MiB in the container's tmpfs /tmp: shmem pages are charged to its memory cgroup and,
# with memswap_limit == mem_limit, can be neither swapped nor reclaimed — a real working set
# of ~93 % of 96 MiB, below the OOM killer. The 6 MiB left are for the healthcheck's and
# `docker exec`'s processes: with 3 MiB (29 of 32), several of them at once on a loaded host
# once met the OOM killer. 64 KiB blocks keep dd's own buffer small. Written by
# `docker exec`, so a restart (fresh tmpfs) frees it.
HOG_LIMIT = "mem_limit: 96m\nmemswap_limit: 96m"
HOG = "dd if=/dev/zero of=/tmp/hog bs=64k count=1424"
# Idles until /tmp/spin exists (created by `docker exec`), then spins; a restart gives a
# fresh tmpfs, so the restarted container idles again. The quota is 0.2 cores rather than
# 0.5: on this shared 2-core host every container's cgroup competes as one group with the
# host's own processes, and under load a 0.5-core spinner got 0.07-0.46 cores per second
# (measured), never "90 % for 3 s", while a 0.2-core one reliably uses all of its quota.
SPIN_CPUS = 0.2
SPINNER = "touch /tmp/healthy; while [ ! -f /tmp/spin ]; do sleep 0.2; done; while :; do :; done"


def _history(stack: HealerStack, service: str) -> list[dict[str, Any]]:
    return stack.history(service)


def _acted(stack: HealerStack, service: str, condition: str) -> list[dict[str, Any]]:
    return [
        e
        for e in _history(stack, service)
        if e["outcome"] == "acted" and e["condition"] == condition
    ]


def _exec(container_id: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", container_id, "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def _start_healer(stack: HealerStack) -> None:
    stack.worker(concurrency=2)  # 2 cores: leave room for the spinner and the engine
    stack.beat()


# --- memory and CPU --------------------------------------------------------------------


def test_memory_hog_is_restarted_after_its_window_and_the_restart_frees_it(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    docker_client: docker.DockerClient,
    test_image: str,
) -> None:
    project = compose_project(
        compose_yaml(healthy_service_yaml(test_image, "hog", HOG_LIMIT)), wait=True
    )
    rec = docker_events(project)
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="1", HEALER_MEMORY_WINDOW="2")
    _start_healer(stack)
    hog = project.container("hog")
    target = [(ContainerId(hog.id), None)]
    cgroups = StatsCollector(docker_client)

    _exec(hog.id, HOG)
    allocated_at = time.time_ns()
    usage = cgroups.collect(target)[ContainerId(hog.id)]
    assert ratios(None, usage).mem > 0.9, f"hog uses only {usage.mem_usage_bytes} bytes"

    restart = rec.wait_for("restart", "hog", timeout=30)[0]
    assert restart["container_id"] == hog.id  # restarted in place, not recreated
    held = (restart["time_ns"] - allocated_at) / 1e9
    assert held >= 1.9, f"restarted {held:.1f}s after the allocation: the 2 s window ignored"
    hog.reload()
    assert hog.status == "running" and not hog.attrs["State"]["OOMKilled"]

    acted = wait_until(lambda: _acted(stack, "hog", "memory"), timeout=15, message=stack.tail())
    assert len(acted) == 1 and acted[0]["action"] == "restart"
    assert acted[0]["source"] == "probe" and "memory" in acted[0]["detail"]
    # The restart fixed it: a fresh tmpfs, memory far below the threshold, no second restart.
    after = cgroups.collect(target)[ContainerId(hog.id)]
    assert ratios(None, after).mem < 0.5
    # Positive signal: more reconciles (each samples memory) than the 2 s window needs.
    wait_for_reconciles(stack.env["REDIS_URL"], 4)
    assert len(rec.events("restart", "hog")) == 1, rec.describe()
    assert len(_acted(stack, "hog", "memory")) == 1


@pytest.mark.serial  # alone: a CPU burner; measures CPU after
def test_cpu_spinner_is_restarted_after_its_window_and_then_idles(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    docker_client: docker.DockerClient,
    test_image: str,
) -> None:
    spin = healthy_service_yaml(test_image, "spin", f"cpus: {SPIN_CPUS}", command=SPINNER)
    project = compose_project(compose_yaml(spin), wait=True)
    rec = docker_events(project)
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="1", HEALER_CPU_WINDOW="3")
    _start_healer(stack)
    spinner = project.container("spin")

    _exec(spinner.id, "touch /tmp/spin")
    spinning_at = time.time_ns()
    restart = rec.wait_for("restart", "spin", timeout=40)[0]
    assert restart["container_id"] == spinner.id
    held = (restart["time_ns"] - spinning_at) / 1e9
    assert held >= 2.9, f"restarted {held:.1f}s after spinning began: the 3 s window ignored"

    acted = wait_until(lambda: _acted(stack, "spin", "cpu"), timeout=15, message=stack.tail())
    assert len(acted) == 1 and acted[0]["action"] == "restart"
    assert acted[0]["source"] == "probe" and "CPU" in acted[0]["detail"]
    # After the restart the service idles: fresh tmpfs, no /tmp/spin, CPU near zero.
    rec.wait_for("health_status: healthy", "spin", timeout=15)
    _exec(spinner.id, "test ! -e /tmp/spin")
    collector = StatsCollector(docker_client)
    target = [(ContainerId(spinner.id), None)]
    first = collector.collect(target)[ContainerId(spinner.id)]
    time.sleep(1.5)
    second = collector.collect(target)[ContainerId(spinner.id)]
    cpu = ratios(first, second).cpu
    assert cpu is not None and cpu < 0.3, f"still spinning after the restart: {cpu:.0%}"
    wait_for_reconciles(stack.env["REDIS_URL"], 4)  # more than the 3 s window of samples
    assert len(rec.events("restart", "spin")) == 1, rec.describe()
    assert len(_acted(stack, "spin", "cpu")) == 1


# --- disk --------------------------------------------------------------------------------


@dataclass
class Loose:
    """Docker objects made outside compose, labelled with a unique token, on the test's own
    engine (its teardown removes them with everything else)."""

    client: docker.DockerClient
    token: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_KEY: self.token}

    def stopped_container(self, image: str) -> str:
        c = self.client.containers.create(image, ["true"], labels=self.labels, network_mode="none")
        c.start()
        c.wait(timeout=30)
        return str(c.id)

    def dangling_image(self, image: str) -> str:
        """An untagged image with a ~200 KiB layer of its own, used by no container."""
        c = self.client.containers.create(
            image,
            ["sh", "-c", "dd if=/dev/zero of=/blob bs=1k count=200"],
            labels=self.labels,
            network_mode="none",
        )
        try:
            c.start()
            c.wait(timeout=30)
            committed = c.commit(conf={"Labels": self.labels})
        finally:
            c.remove(force=True)
        return str(committed.id)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of our own, unmounted at teardown."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _aged(path: Path, days: float, size: int) -> Path:
    path.write_bytes(b"x" * size)
    then = time.time() - days * DAY
    os.utime(path, (then, then))
    return path


def _exists(client: docker.DockerClient, kind: str, ident: str) -> bool:
    try:
        getattr(client, kind).get(ident)
    except docker.errors.NotFound:
        return False
    return True


def test_full_disk_gets_the_safe_cleanup_once_per_cooldown(
    private_engine: PrivateEngine,
    healer_stack: HealerFactory,
    test_image: str,
    small_disk: Path,
    tmp_path: Path,
) -> None:
    # On an engine of its own: the cleanup removes every dangling image of its engine, and
    # another test's on a shared one. Its teardown removes everything made on it.
    docker_client = private_engine.client
    loose = Loose(docker_client)
    fill = small_disk / "fill"
    fill.write_bytes(b"\0" * (3900 * 1024))  # ~95 % of 4 MiB
    logs = tmp_path / "applogs"
    logs.mkdir()
    old_log = _aged(logs / "old.log", 10, 50_000)
    fresh_log = _aged(logs / "fresh.log", 0, 1_000)
    stopped_loose = loose.stopped_container(test_image)  # stopped < 1 h ago: kept
    dangling = loose.dangling_image(test_image)
    yaml = compose_yaml(
        healthy_service_yaml(test_image, "db", "volumes:\n  - data:/data"),
        # opted out so the reconcile loop leaves it stopped during the test
        healthy_service_yaml(
            test_image, "web", "volumes:\n  - /scratch", labels={"auto_repair": "false"}
        ),
        top_level="volumes:\n  data: {}",
    )
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "compose.yaml").write_text(yaml)
    project = ComposeProject(
        name=unique_project_name("disk"),
        dir=folder,
        file=folder / "compose.yaml",
        client=docker_client,
        env=private_engine.env(),
    )
    project.up(wait=True)
    project.run("stop", "-t", "0", "web")
    compose_ids = {c.id for c in project.containers()}
    volumes = {m["Name"] for c in project.containers() for m in c.attrs["Mounts"]}
    assert len(compose_ids) == 2 and len(volumes) == 2

    stack = healer_stack(
        project.name,
        DOCKER_HOST=private_engine.url,
        WATCHDOG_INTERVAL="1",
        HEALER_DISK_PATH=str(small_disk),
        HEALER_DISK_INTERVAL="1",
        HEALER_DISK_THRESHOLD="0.9",
        HEALER_CLEANUP_LOG_DIRS=str(logs),
    )

    # A dry run lists what would go and removes nothing (and is not a recorded cleanup).
    dry = stack.cli("cleanup", "--dry-run").stdout
    assert f"would remove log file {old_log}" in dry, dry
    assert str(fresh_log) not in dry
    assert dangling.removeprefix("sha256:")[:12] in dry
    assert stopped_loose[:12] not in dry  # stopped less than an hour ago
    assert old_log.exists() and _exists(docker_client, "images", dangling)
    assert not _history(stack, "disk")

    started = time.time()
    _start_healer(stack)
    acted = wait_until(
        lambda: [e for e in _history(stack, "disk") if e["outcome"] == "acted"],
        timeout=30,
        message="no acted disk cleanup:\n" + stack.tail(),
    )
    assert len(acted) == 1
    entry = acted[0]
    assert (entry["sid"], entry["condition"], entry["action"], entry["source"]) == (
        "host/disk",
        "disk",
        "cleanup",
        "probe",
    )
    assert entry["ts"] >= started
    freed = int(entry["detail"].split(" bytes")[0].removeprefix("freed "))
    assert freed >= 50_000, entry["detail"]
    assert str(old_log) in entry["detail"]

    assert not old_log.exists() and fresh_log.exists()
    assert not _exists(docker_client, "images", dangling)
    assert _exists(docker_client, "containers", stopped_loose)
    assert all(_exists(docker_client, "containers", c) for c in compose_ids)
    assert project.container("web").status == "exited"  # stopped compose container kept
    assert all(_exists(docker_client, "volumes", v) for v in volumes)

    # The disk is still full (the fill file is no log): the next checks are skipped by the
    # 3600 s cooldown, and a log that has become old meanwhile waits for the next slot.
    later_log = _aged(logs / "later.log", 10, 1_000)
    marked = time.time()

    def skipped() -> list[dict[str, Any]]:
        # A repeated skip is recorded once (per five minutes and reason), not on every check.
        # On a loaded machine two checks a second apart can overlap, and the second one is
        # then recorded as in flight: a different reason, deduplicated on its own.
        return [
            e
            for e in _history(stack, "disk")
            if e["outcome"] == "skipped" and e["reason"].startswith("cooldown")
        ]

    skips = wait_until(skipped, timeout=15, message=stack.tail())
    assert skips[0]["reason"].startswith("cooldown"), skips[0]
    # several more checks run meanwhile (every second); none of them cleans again
    wait_until(lambda: time.time() > marked + 3, timeout=5)
    assert len(skipped()) == 1
    assert later_log.exists()
    assert len([e for e in _history(stack, "disk") if e["outcome"] == "acted"]) == 1
