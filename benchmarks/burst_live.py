"""Burst → capacity, live: the real `healer run` scaling a real compose service on a real
Celery queue's backlog, against the version before scale-up stopped waiting on the cooldown
(`--baseline-rev`, checked out in a temporary git worktree), in one run.

    python -m benchmarks.burst_live [--repeats 2] [--interval 3] [--baseline-rev baa366c]
                                    [--redis-url redis://127.0.0.1:6379/12]

The service `worker` (busybox test image with a healthcheck) is labelled as the issue's
setup: `healer.scale.metric=queue` on a queue of its own, target 10 tasks per replica, max 4,
the default cooldown (60 s); `SCALER_INTERVAL` is `--interval`. The replicas never consume,
so a burst of 100 tasks asks for 10 and the cap gives 4. For each version:

- **no scale event before**: the service at 1 replica and nothing scaled it for a cooldown;
  push 100 tasks; seconds until 4 replicas run;
- **manual scale just before**: `healer scale <project>/worker 2` (that version's CLI), then
  at once the same burst; seconds until 4 replicas run.

Between cases the queue is purged and the service brought back to 1 replica, and the first
case waits out the cooldown. The floor is one scaler interval plus the time the engine takes
to start the two replicas itself (`docker-compose up --scale worker=4`, measured in the same
run): the issue's goal is capacity within that, whatever happened before.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx
import redis
from celery import Celery

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from healer.adapters.scaling.queue_depth import priority_keys  # noqa: E402
from tests.support import (  # noqa: E402
    ComposeProject,
    compose_yaml,
    ensure_test_image,
    free_port,
    healthy_service_yaml,
    unique_project_name,
    wait_until,
)
from tests.support.healer import HealerStack  # noqa: E402

BURST = 100
MAX = 4
COOLDOWN = 60.0  # the label's default, stated so the first case knows how long to wait
TOKEN = "burst-benchmark-token-0123"


@dataclass
class Version:
    label: str
    root: Path
    no_event: list[float] = field(default_factory=list)
    after_manual: list[float] = field(default_factory=list)


@dataclass
class Bench:
    client: docker.DockerClient
    project: ComposeProject
    queue: str
    redis_url: str
    interval: float
    tmp: Path

    @property
    def sid(self) -> str:
        return f"{self.project.name}/worker"

    def running(self) -> int:
        labels = [f"com.docker.compose.project={self.project.name}"]
        labels.append("com.docker.compose.service=worker")
        found = self.client.containers.list(filters={"label": labels, "status": "running"})
        return len(found)

    def time_until(self, replicas: int, since: float, timeout: float) -> float:
        deadline = since + timeout
        while time.monotonic() < deadline:
            if self.running() >= replicas:
                return time.monotonic() - since
            time.sleep(0.1)
        raise AssertionError(f"{replicas} replicas not running after {timeout:g} s")

    def push(self, n: int) -> None:
        app = Celery(broker=self.redis_url)
        try:
            with app.producer_or_acquire() as producer:
                for _ in range(n):
                    app.send_task("noop", queue=self.queue, producer=producer)
        finally:
            app.close()

    def purge(self) -> None:
        redis.Redis.from_url(self.redis_url).delete(*priority_keys(self.queue))

    def compose_scale(self, n: int) -> float:
        started = time.monotonic()
        self.project.run("up", "-d", "--no-recreate", "--scale", f"worker={n}")
        return self.time_until(n, started, 120)


def service(image: str, queue: str) -> str:
    labels = {
        "healer.scale.metric": "queue",
        "healer.scale.queues": queue,
        "healer.scale.target": "10",
        "healer.scale.min": "1",
        "healer.scale.max": str(MAX),
    }
    return compose_yaml(healthy_service_yaml(image, "worker", labels=labels))


@contextmanager
def baseline_checkout(rev: str) -> Iterator[Path]:
    """The baseline's source in a temporary git worktree, removed afterwards."""
    where = Path(tempfile.mkdtemp(prefix="burst-baseline-")) / "src"
    git = ["git", "-C", str(ROOT)]
    try:
        subprocess.run([*git, "worktree", "add", "--detach", str(where), rev], check=True)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"cannot check out --baseline-rev {rev}: {exc}") from exc
    try:
        yield where
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(where)], check=False)
        shutil.rmtree(where.parent, ignore_errors=True)


def start_healer(bench: Bench, version: Version) -> HealerStack:
    """`python -m healer run` of one version's source tree (tests.support's HealerStack runs
    and stops it), once its API answers."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HEALER_")},
        "PYTHONPATH": str(version.root),
        "REDIS_URL": bench.redis_url,
        "HEALER_PROJECTS": bench.project.name,
        "HEALER_API_TOKEN": TOKEN,
        "HEALER_API_PORT": str(port),
        "HEALER_LOG_DIR": str(bench.tmp / "logs"),
        "HEALER_HOST": socket.gethostname(),
        "SCALER_INTERVAL": f"{bench.interval:g}",
    }
    stack = HealerStack(env=env, log_dir=bench.tmp, root=version.root)
    proc = stack.start(
        f"healer-{version.label.split()[0]}", [sys.executable, "-m", "healer", "run"]
    )

    def api_up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"healer run exited {proc.returncode}\n{stack.tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    try:
        wait_until(api_up, timeout=120, message="the API to answer /healthz")
    except AssertionError as exc:
        stack.stop_all()
        raise AssertionError(f"{exc}\n{stack.tail()}") from exc
    return stack


def measure(bench: Bench, version: Version, repeats: int) -> None:
    redis.Redis.from_url(bench.redis_url).flushdb()
    bench.purge()
    bench.compose_scale(1)
    healer = start_healer(bench, version)
    # A burst meets a healer that has been running: its scaler has seen the service already.
    time.sleep(2 * bench.interval + 1)
    try:
        for i in range(repeats):
            if i:  # the first case follows the healer's start: no scale event yet
                print(f"  waiting out the {COOLDOWN:g} s cooldown", flush=True)
                time.sleep(COOLDOWN + bench.interval)
            version.no_event.append(burst(bench, lambda: None))
            print(f"  no scale event before: {version.no_event[-1]:5.1f} s", flush=True)
            reset(bench, healer)
            version.after_manual.append(
                burst(bench, lambda: healer.cli("scale", bench.sid, "2", "--force"))
            )
            print(f"  manual scale to 2 first: {version.after_manual[-1]:5.1f} s", flush=True)
            reset(bench, healer)
    except AssertionError as exc:
        raise AssertionError(f"{version.label}: {exc}\n{healer.tail()}") from exc
    finally:
        healer.stop_all()


def burst(bench: Bench, before: Callable[[], object]) -> float:
    before()
    started = time.monotonic()
    bench.push(BURST)
    # The baseline waits out a 60 s cooldown plus a cycle and a start: leave room for it.
    return bench.time_until(MAX, started, COOLDOWN + 10 * bench.interval + 60)


def reset(bench: Bench, healer: HealerStack) -> None:
    bench.purge()
    healer.cli("scale", bench.sid, "1", "--force")
    wait_until(lambda: bench.running() == 1, timeout=60, message="back to 1 replica")


def summary(values: list[float]) -> str:
    return f"{statistics.mean(values):5.1f} / {max(values):5.1f} s"


def report(versions: list[Version], interval: float, start: float) -> None:
    floor = interval + start
    print(
        f"\nburst of {BURST} tasks, target 10 per replica, max {MAX}, SCALER_INTERVAL={interval:g}"
        f"; the engine starts 2 replicas in {start:.1f} s: floor {floor:.1f} s\n"
    )
    head = "seconds until 4 replicas (mean / max)"
    print(f"{head:40} {'no event before':>16} {'manual first':>16}")
    for v in versions:
        print(f"{v.label:40} {summary(v.no_event):>16} {summary(v.after_manual):>16}")
    now, before = versions[-1], versions[0]
    speedup = statistics.mean(before.after_manual) / statistics.mean(now.after_manual)
    print(
        f"\nafter a manual scale: now {max(now.after_manual):.1f} s = "
        f"{max(now.after_manual) / floor:.2f}x the floor, baseline "
        f"{max(before.after_manual):.1f} s = {max(before.after_manual) / floor:.2f}x; "
        f"baseline / now {speedup:.1f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--interval", type=float, default=3.0, help="SCALER_INTERVAL, s")
    ap.add_argument(
        "--baseline-rev",
        default="baa366c",
        help="the commit before scale-up stopped waiting on the cooldown",
    )
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    ap.add_argument("--no-baseline", action="store_true", help="measure this version only")
    ap.add_argument("--keep-logs", action="store_true", help="keep the healers' logs; print where")
    args = ap.parse_args()
    client = docker.from_env()
    image, _ = ensure_test_image(client)
    tmp = Path(tempfile.mkdtemp(prefix="burst-live-"))
    queue = f"burst-jobs-{os.getpid()}"
    (tmp / "compose.yml").write_text(service(image, queue))
    project = ComposeProject(
        name=unique_project_name("burst"), dir=tmp, file=tmp / "compose.yml", client=client
    )
    bench = Bench(client, project, queue, args.redis_url, args.interval, tmp)
    try:
        project.up(wait=True)
        bench.compose_scale(2)
        start = bench.compose_scale(4)
        bench.compose_scale(1)
        now = Version("now (default settings)", ROOT)
        if args.no_baseline:
            print(f"{now.label}:", flush=True)
            measure(bench, now, args.repeats)
            return
        with baseline_checkout(args.baseline_rev) as old:
            versions = [Version(f"baseline ({args.baseline_rev})", old), now]
            for v in versions:
                print(f"{v.label}:", flush=True)
                measure(bench, v, args.repeats)
        report(versions, args.interval, start)
    finally:
        bench.purge()
        project.down()
        if args.keep_logs:
            print(f"logs: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
