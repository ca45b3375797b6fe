"""The stack's Redis users (healer.adapters.store.acl), loaded by a real redis-server: each
role's real processes (Celery worker, beat, events watcher, API, Flower) do their work under
their own user with no denial in `ACL LOG`, and what a role must not do is refused: the API
cannot flush, reconfigure, touch keys outside its patterns or force a scale; the exporter
cannot read or write a key. One redis-server for the module, on a free port."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.adapters.store import acl
from healer.adapters.store.requests import RequestStore
from healer.core.model import HostId, ServiceId, Source
from healer.settings import Settings
from tests.support import ComposeFactory, compose_yaml, free_port, healthy_service_yaml, wait_until
from tests.support.healer import HealerStack

AUTH = {"Authorization": "Bearer test-token-0123456789"}
ALERTS_AUTH = {"Authorization": "Bearer alerts-token-0123456789"}
METRICS_AUTH = {"Authorization": "Bearer metrics-token-0123456789"}
HOST = "acl-host"
PASSWORDS = {role.env: f"pw-{role.user}-{os.getpid()}" for role in acl.ROLES}
PASSWORDS[acl.ADMIN.env] = f"pw-admin-{os.getpid()}"
DANGEROUS = [
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "SET", "maxmemory", "0"),
    ("KEYS", "*"),
    ("DEBUG", "SLEEP", "0"),
    ("CLIENT", "KILL", "ID", "1"),
    ("SAVE",),
    ("MIGRATE", "127.0.0.1", "1", "k", "0", "1"),
    ("RESTORE", "k", "0", "x"),
    ("MODULE", "LIST"),
    ("ACL", "LIST"),
    ("REPLICAOF", "127.0.0.1", "1"),
    ("SHUTDOWN", "NOSAVE"),
    ("MONITOR",),
    ("FUNCTION", "FLUSH"),
]


@dataclass
class AclRedis:
    port: int
    proc: subprocess.Popen[bytes]

    def url(self, role: acl.Role) -> str:
        return f"redis://{role.user}:{PASSWORDS[role.env]}@127.0.0.1:{self.port}/0"

    def client(self, role: acl.Role) -> redis.Redis:
        return redis.Redis.from_url(self.url(role), decode_responses=True)

    def denials(self) -> list[str]:
        """`ACL LOG` as `user reason object` lines, the admin's view."""
        with self.client(acl.ADMIN) as admin:
            return [f"{e['username']} {e['reason']} {e['object']}" for e in admin.acl_log(100)]

    def reset_log(self) -> None:
        with self.client(acl.ADMIN) as admin:
            admin.acl_log_reset()


def _role(user: str) -> acl.Role:
    return next(r for r in acl.ROLES if r.user == user)


WORKER, BEAT, EVENTS, API, FLOWER, EXPORTER = (
    _role(u)
    for u in (
        "healer-worker",
        "healer-beat",
        "healer-events",
        "healer-api",
        "healer-flower",
        "redis-exporter",
    )
)


@pytest.fixture(scope="module")
def server() -> Iterator[AclRedis]:
    folder = Path(tempfile.mkdtemp(prefix="chtest-acl-"))
    (folder / "users.acl").write_text(acl.render(PASSWORDS))
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    argv += ["--save", "", "--appendonly", "no", "--aclfile", str(folder / "users.acl")]
    argv += ["--logfile", str(folder / "redis.log")]
    proc = subprocess.Popen(argv, start_new_session=True)
    ping = redis.Redis(port=port, username="healthcheck", password="x", socket_connect_timeout=1)
    try:
        lost = (redis.ConnectionError,)
        wait_until(ping.ping, 20, 0.05, "redis-server with the ACL", ignore=lost)
        yield AclRedis(port, proc)
    finally:
        ping.close()
        proc.terminate()
        proc.wait(timeout=10)
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


def _stack(server: AclRedis, role: acl.Role, project: str, log_dir: Path) -> HealerStack:
    env = {
        **os.environ,
        "REDIS_URL": server.url(role),
        "HEALER_HOST": HOST,
        "HEALER_PROJECTS": project,
        "WATCHDOG_INTERVAL": "2",
        "SCALER_INTERVAL": "2",
        "HEALER_API_TOKEN": "test-token-0123456789",
        "HEALER_ALERTS_TOKEN": "alerts-token-0123456789",
        "HEALER_METRICS_TOKEN": "metrics-token-0123456789",
        "HEALER_LOG_DIR": str(log_dir),
        "HEALER_WORKER_POOL": "threads",
    }
    return HealerStack(env=env, log_dir=log_dir)


def _settings(server: AclRedis, role: acl.Role) -> Settings:
    return Settings(redis_url=server.url(role), host=HOST)


def _webhook(sid: str) -> dict[str, Any]:
    """Alertmanager's webhook body: one firing alert asking for a restart of `sid`."""
    labels = {"alertname": "HighErrorRate", "auto_repair": "true", "action": "restart"}
    firing = {
        "status": "firing",
        "labels": {**labels, "service": sid, "severity": "critical"},
        "annotations": {},
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "acl0000000000001",
    }
    return {"version": "4", "status": "firing", "receiver": "healer", "alerts": [firing]}


def _done(url: str, request_id: str) -> dict[str, Any]:
    def record() -> dict[str, Any] | None:
        body: dict[str, Any] = httpx.get(f"{url}/requests/{request_id}", headers=AUTH).json()
        return body if body.get("status") == "done" else None

    out: dict[str, Any] = wait_until(record, 60, 0.2, f"request {request_id} done")
    return out


def test_every_role_works_under_its_own_user(
    server: AclRedis, compose_project: ComposeFactory, test_image: str, tmp_path: Path
) -> None:
    labels = {"healer.scale.min": "1", "healer.scale.max": "1"}
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web", labels=labels)))
    sid = f"{project.name}/web"
    server.reset_log()
    roles = (WORKER, BEAT, EVENTS, API)
    stacks = {r.user: _stack(server, r, project.name, tmp_path) for r in roles}
    try:
        stacks[WORKER.user].worker(concurrency=2)
        stacks[EVENTS.user].events()
        stacks[BEAT.user].beat()
        url = stacks[API.user].api()
        # The API's writes and reads, each consumed by the worker where it queues work.
        repair = httpx.post(f"{url}/repair/{sid}", headers=AUTH, json={"action": "restart"})
        assert repair.status_code == 202, repair.text
        assert _done(url, repair.json()["request_id"])["outcome"] == "acted"
        for path in (f"/pause/{sid}", f"/resume/{sid}", f"/reset/{sid}"):
            assert httpx.post(url + path, headers=AUTH).status_code == 200, path
        scale = httpx.post(f"{url}/scale/{sid}", headers=AUTH, json={"replicas": 1})
        assert scale.status_code == 202, scale.text
        assert _done(url, scale.json()["request_id"])["status"] == "done"
        for path in ("/status", "/history", "/healthz"):
            assert httpx.get(url + path, headers=AUTH).status_code == 200, path
        metrics = httpx.get(f"{url}/metrics", headers=METRICS_AUTH)
        assert metrics.status_code == 200 and "healer_" in metrics.text
        fired = httpx.post(f"{url}/alerts", headers=ALERTS_AUTH, json=_webhook(sid), timeout=30)
        assert fired.status_code == 202, fired.text
        (result,) = fired.json()["results"]
        assert result["decision"] == "queued", result
        assert _done(url, result["task_id"])["outcome"] == "acted"
        time.sleep(5)  # beat's ticks, probes and scale cycles under their users
        flower_checked(server, stacks[WORKER.user], tmp_path)
    finally:
        for stack in stacks.values():
            stack.stop_all()
    denied = server.denials()
    assert denied == [], "\n".join([*sorted(set(denied)), *(s.tail() for s in stacks.values())])


def flower_checked(server: AclRedis, worker: HealerStack, tmp_path: Path) -> None:
    """Flower under its user: lists the workers (remote control) and the queue lengths."""
    port = free_port()
    env = {**worker.env, "REDIS_URL": server.url(FLOWER), "FLOWER_UNAUTHENTICATED_API": "true"}
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "flower", f"--port={port}"]
    argv.append("--address=127.0.0.1")
    with (tmp_path / "flower.out").open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"

        def workers() -> Any:
            try:
                return httpx.get(f"{base}/api/workers?refresh=1", timeout=10).json() or None
            except httpx.HTTPError:
                return None

        assert wait_until(workers, 60, 0.5, "flower's worker list")
        lengths = httpx.get(f"{base}/api/queues/length", timeout=10).json()["active_queues"]
        assert {"healer.repair", "healer.scale"} <= {q["name"] for q in lengths}, lengths
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _dry_run(server: AclRedis, role: acl.Role, *command: str) -> str:
    """`ACL DRYRUN`: whether `role` may run `command`, without running it ("OK" or why not)."""
    with server.client(acl.ADMIN) as admin:
        return str(admin.execute_command("ACL", "DRYRUN", role.user, *command))


@pytest.mark.parametrize("role", acl.ROLES, ids=lambda r: r.user)
def test_no_role_may_flush_reconfigure_or_administer(server: AclRedis, role: acl.Role) -> None:
    for command in DANGEROUS:
        answer = _dry_run(server, role, *command)
        assert "no permissions to run" in answer, (role.user, command, answer)
    with server.client(role) as client:  # and refused for real, not only in a dry run
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.flushall()
        assert client.ping()


def test_the_single_host_user_has_the_workers_rights_under_its_own_name() -> None:
    text = acl.render_single_host("pw")
    users = [line.split()[1] for line in text.splitlines()]
    assert users == ["default", "healthcheck", "healer"]
    assert text.splitlines()[0].split()[2] == "off"
    assert text.rstrip().endswith(acl.ROLES[0].rules.replace("{db}", "0"))


def test_the_api_user_stays_inside_its_keys(server: AclRedis) -> None:
    with server.client(API) as api:
        for key in ("healer:grant:force:x", "healer:lock:h/p/web", "healer:redbeat:lock", "x"):
            with pytest.raises(redis.exceptions.NoPermissionError):
                api.set(key, "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            api.get("unacked")  # the worker's redelivery bookkeeping
        assert api.get("healer:grant:force:x") is None  # reads of healer keys are its job
        api.lpush("healer.repair", "{}")  # publishing work is too
        api.delete("healer.repair")


def test_flower_cannot_publish_a_task_or_redeliver(server: AclRedis) -> None:
    with server.client(FLOWER) as flower:
        assert flower.llen("healer.repair") == 0  # queue lengths are its job
        for command in (("LPUSH", "healer.repair", "{}"), ("HDEL", "unacked", "x")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                flower.execute_command(*command)


def test_the_exporter_reads_statistics_only(server: AclRedis) -> None:
    with server.client(EXPORTER) as exporter:
        assert exporter.info("server")["redis_version"]
        for command in (("GET", "healer:history"), ("SET", "x", "1"), ("CONFIG", "GET", "*")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                exporter.execute_command(*command)


EXPORTER_BINARY = shutil.which("prometheus-redis-exporter")


@pytest.mark.skipif(EXPORTER_BINARY is None, reason="no prometheus-redis-exporter (Debian)")
def test_the_real_exporter_reports_redis_up_under_its_user(server: AclRedis) -> None:
    """The Debian exporter the stack's image runs, with the compose file's settings: up, the
    memory figures, and not one denial (CONFIG is switched off, not refused)."""
    assert EXPORTER_BINARY is not None
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "REDIS_ADDR": f"redis://127.0.0.1:{server.port}",
        "REDIS_USER": EXPORTER.user,
        "REDIS_PASSWORD": PASSWORDS[EXPORTER.env],
        "REDIS_EXPORTER_CONFIG_COMMAND": "-",
    }
    argv = [EXPORTER_BINARY, f"--web.listen-address=127.0.0.1:{port}"]
    server.reset_log()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        def metrics() -> str | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.HTTPError:
                return None

        text = wait_until(metrics, 20, 0.2, "the exporter's /metrics")
        assert "\nredis_up 1\n" in text and "\nredis_memory_max_bytes " in text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert server.denials() == []


def test_transactions_survive_a_restart_from_the_append_only_file(tmp_path: Path) -> None:
    """Redis 7.0 replays the AOF's MULTI/EXEC blocks under `default`'s rights: the guard's
    transactions written before a restart must still be there after it."""
    (tmp_path / "users.acl").write_text(acl.render(PASSWORDS))
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
    argv += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
    argv += ["--aclfile", str(tmp_path / "users.acl")]
    url = f"redis://{WORKER.user}:{PASSWORDS[WORKER.env]}@127.0.0.1:{port}/0"
    for round_ in (1, 2):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            client = redis.Redis.from_url(url, decode_responses=True)
            lost = (redis.ConnectionError, redis.BusyLoadingError)
            wait_until(client.ping, 20, 0.05, "redis-server with the AOF", ignore=lost)
            if round_ == 1:
                with client.pipeline(transaction=True) as pipe:
                    pipe.set("healer:lock:h/p/web", "owner").zadd("healer:dies:h/p/web", {"a": 1})
                    pipe.execute()
            else:
                assert client.get("healer:lock:h/p/web") == "owner"
                assert client.zcard("healer:dies:h/p/web") == 1
            client.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_no_anonymous_client_and_no_default_user(server: AclRedis) -> None:
    once = {"retry": Retry(NoBackoff(), 0)}  # a refusal is an answer: no reconnecting
    anonymous = redis.Redis(port=server.port, **once)
    with anonymous, pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.get("healer:history")
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=server.port, username="healer-api", password="wrong", **once).ping()
    with redis.Redis(port=server.port, username="healthcheck", password="any") as check:
        assert check.ping()
        with pytest.raises(redis.exceptions.NoPermissionError):
            check.get("healer:history")


def test_a_force_from_the_api_is_refused_by_the_worker(
    server: AclRedis, compose_project: ComposeFactory, test_image: str, tmp_path: Path
) -> None:
    """The API cannot force a scale: over HTTP it answers 403, and a message it publishes
    straight to the queue with `force` is refused by the worker, which trusts no flag in a
    message: it needs a grant the API's user cannot write. The CLI under the worker's user
    can."""
    labels = {"healer.scale.min": "1", "healer.scale.max": "1"}
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web", labels=labels)))
    sid = f"{project.name}/web"
    worker = _stack(server, WORKER, project.name, tmp_path)
    api = _stack(server, API, project.name, tmp_path)
    try:
        worker.worker(concurrency=2)
        url = api.api()
        forced = httpx.post(f"{url}/scale/{sid}", headers=AUTH, json={"replicas": 3, "force": True})
        assert forced.status_code == 403 and "--force" in forced.text
        # Around the HTTP check: the API's own Redis user publishes the forced message.
        settings = _settings(server, API)
        with server.client(API) as r:
            requests = RequestStore(r)
            request_id = requests.open(sid, "scale", Source.CLI.value, host=HOST)
            with pytest.raises(redis.exceptions.NoPermissionError):
                requests.grant_force(request_id)
            dispatcher = CeleryDispatcher(make_celery(settings), HostId(HOST))
            dispatcher.scale(ServiceId(sid), 3, Source.CLI, request_id, HostId(HOST), True)
        record = _done(url, request_id)
        assert (record["outcome"], record["reason"]) == ("skipped", "force_not_granted")
        assert len(project.containers("web")) == 1
        # The CLI on a healer host (the worker's user) writes the grant: the force holds.
        scaled = worker.cli("scale", sid, "2", "--force", "-o", "json")
        assert json.loads(scaled.stdout)["outcome"] == "acted", scaled.stdout
        assert len(project.containers("web")) == 2
    finally:
        worker.stop_all()
        api.stop_all()
