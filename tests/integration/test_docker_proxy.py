"""The worker's Docker proxy (healer.adapters.dockerproxy), run as its own process in front of
the real engine: every escape a compromised worker could try is refused with 403, and the
healer's own scale, recreate and repairs still pass through the same proxy."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from healer.adapters.docker.container_spec import create_body
from healer.adapters.docker.engine import DockerEngine
from healer.adapters.docker.recreate import Recreator
from healer.adapters.docker.replicas import Replicas
from healer.core.model import ContainerId
from tests.support import ComposeProject, free_port, unique_project_name, wait_until

ROOT = Path(__file__).resolve().parents[2]

MANAGED = """\
services:
  web:
    image: {image}
    command: ["sh", "-c", "exec sleep 2147483647"]
    init: true
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    volumes: ["/data"]
    networks: [front]
  sidecar:
    image: {image}
    command: ["sh", "-c", "exec sleep 2147483647"]
    init: true
    network_mode: "service:web"
networks:
  front: {{}}
"""
OTHER = """\
services:
  other:
    image: {image}
    command: ["sh", "-c", "exec sleep 2147483647"]
    init: true
"""


class Proxy:
    def __init__(self, tmp: Path, projects: list[str]) -> None:
        self.port = free_port()
        self.log = tmp / "dockerproxy.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HEALER_PROXY_BIND": f"127.0.0.1:{self.port}",
            "HEALER_PROXY_SOCKET": "/var/run/docker.sock",
            "HEALER_PROXY_MAX_BODY": "65536",
            "HEALER_PROJECTS": ",".join(projects),
        }
        argv = [sys.executable, "-m", "healer.adapters.dockerproxy"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        wait_until(self._answers, timeout=20, message=f"proxy did not start: {self.tail()}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"proxy exited {self.proc.returncode}: {self.tail()}")
        try:
            return self.http.get("/_ping").status_code == 200
        except httpx.TransportError:
            return False

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def send(
        self, method: str, path: str, body: object = None, raw: bytes | None = None
    ) -> httpx.Response:
        content = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if content is not None else {}
        return self.http.request(method, path, content=content, headers=headers)

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def projects(
    docker_client: docker.DockerClient, test_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ComposeProject]]:
    made: dict[str, ComposeProject] = {}
    try:
        for key, text in (("managed", MANAGED), ("other", OTHER)):
            name = unique_project_name(f"proxy-{key}")
            folder = tmp_path_factory.mktemp(name, numbered=False)
            file = folder / "compose.yaml"
            file.write_text(text.format(image=test_image))
            made[key] = ComposeProject(name=name, dir=folder, file=file, client=docker_client)
            made[key].up(wait=True, timeout=60)
        yield made
    finally:
        for project in made.values():
            project.down()


@pytest.fixture(scope="module")
def proxy(
    projects: dict[str, ComposeProject], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    p = Proxy(tmp_path_factory.mktemp("dockerproxy"), [projects["managed"].name])
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def loose(docker_client: docker.DockerClient, test_image: str) -> Iterator[Any]:
    """A running container of no compose project."""
    c = docker_client.containers.run(
        test_image,
        ["sleep", "600"],
        name=f"proxy-loose-{uuid.uuid4().hex[:8]}",
        network_mode="none",
        detach=True,
        init=True,
    )
    try:
        yield c
    finally:
        with contextlib.suppress(docker.errors.NotFound):  # the test removed it through the proxy
            c.remove(force=True)


def _clone_body(docker_client: docker.DockerClient, project: ComposeProject) -> dict[str, Any]:
    """What the healer sends to scale `web`: a faithful clone of replica 1."""
    info = docker_client.api.inspect_container(project.container("web").id)
    name = f"{project.name}-web-9"
    body, _more = create_body(info, 9, name, "web", str(info["Config"]["Image"]))
    return body


def _host(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(body))
    out["HostConfig"].update(changes)
    return out


ESCAPES: list[tuple[str, Any]] = [
    (
        "docker socket bound",
        lambda b: _host(b, Binds=["/var/run/docker.sock:/var/run/docker.sock"]),
    ),
    ("host root bound", lambda b: _host(b, Binds=["/:/host"])),
    (
        "host root mounted",
        lambda b: _host(b, Mounts=[{"Type": "bind", "Source": "/", "Target": "/host"}]),
    ),
    ("all capabilities, host pid", lambda b: _host(b, CapAdd=["ALL"], PidMode="host")),
    ("capabilities kept", lambda b: _host(b, CapDrop=[])),
    ("host network and userns", lambda b: _host(b, NetworkMode="host", UsernsMode="host")),
    (
        "host ipc/uts/cgroupns",
        lambda b: _host(b, IpcMode="host", UTSMode="host", CgroupnsMode="host"),
    ),
    (
        "devices",
        lambda b: _host(
            b,
            Devices=[
                {
                    "PathOnHost": "/dev/kmsg",
                    "PathInContainer": "/dev/kmsg",
                    "CgroupPermissions": "rwm",
                }
            ],
        ),
    ),
    ("privileged", lambda b: _host(b, Privileged=True)),
    (
        "privileged, lower case",
        lambda b: {**b, "HostConfig": {**b["HostConfig"], "privileged": True}},
    ),
    ("seccomp off", lambda b: _host(b, SecurityOpt=["seccomp=unconfined"])),
    ("no-new-privileges dropped", lambda b: _host(b, SecurityOpt=[])),
    ("sysctls", lambda b: _host(b, Sysctls={"net.ipv4.ip_forward": "1"})),
    ("masked paths off", lambda b: _host(b, MaskedPaths=[], ReadonlyPaths=[])),
    ("writable root", lambda b: _host(b, ReadonlyRootfs=False)),
    ("another command", lambda b: {**b, "Cmd": ["sh", "-c", "id"]}),
    ("as root", lambda b: {**b, "User": "0:0"}),
    ("a healthcheck command", lambda b: {**b, "Healthcheck": {"Test": ["CMD", "id"]}}),
    ("another image", lambda b: {**b, "Image": "busybox-other:latest"}),
    ("no compose labels", lambda b: {**b, "Labels": {}}),
]


@pytest.mark.parametrize("escape", [e[1] for e in ESCAPES], ids=[e[0] for e in ESCAPES])
def test_an_escape_through_create_is_refused(
    proxy: Proxy,
    projects: dict[str, ComposeProject],
    docker_client: docker.DockerClient,
    escape: Any,
) -> None:
    body = escape(_clone_body(docker_client, projects["managed"]))
    name = f"proxy-escape-{uuid.uuid4().hex[:8]}"
    try:
        resp = proxy.send("POST", f"/v1.41/containers/create?name={name}", body)
        assert resp.status_code == 403, resp.text
        assert resp.json()["message"].startswith("healer docker proxy: ")
    finally:
        for c in docker_client.containers.list(all=True, filters={"name": name}):
            c.remove(force=True)
    assert "refused POST" in proxy.tail()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"Image": "x", "HostConfig": {"Privileged": false, "privileged": true}}',
        b'{"Image": "x", "HostConfig": {"\\u0050rivileged": true, "Privileged": false}}',
        b'{"Image": "x", "Image": "y"}',
        b'{"Image": NaN}',
        b'["not", "an", "object"]',
        b"\xff\xfe",
    ],
)
def test_a_body_the_engine_could_read_otherwise_is_refused(proxy: Proxy, raw: bytes) -> None:
    assert proxy.send("POST", "/containers/create", raw=raw).status_code == 403


def test_a_body_over_the_cap_is_refused(
    proxy: Proxy, projects: dict[str, ComposeProject], docker_client: docker.DockerClient
) -> None:
    body = _clone_body(docker_client, projects["managed"])
    body["Labels"]["padding"] = "x" * 70_000
    assert proxy.send("POST", "/containers/create", body).status_code == 413


def test_a_clone_onto_a_foreign_project_or_network_is_refused(
    proxy: Proxy, projects: dict[str, ComposeProject], docker_client: docker.DockerClient
) -> None:
    other = projects["other"]
    info = docker_client.api.inspect_container(other.container("other").id)
    body, _ = create_body(info, 2, f"{other.name}-other-2", "other", str(info["Config"]["Image"]))
    assert proxy.send("POST", "/containers/create", body).status_code == 403  # not managed
    mine = _clone_body(docker_client, projects["managed"])
    mine["NetworkingConfig"] = {"EndpointsConfig": {f"{other.name}_default": {}}}
    assert proxy.send("POST", "/containers/create", mine).status_code == 403


NEVER = [
    ("POST", "/containers/{id}/exec"),
    ("POST", "/containers/{id}/attach?stream=1"),
    ("GET", "/containers/{id}/logs?stdout=1"),
    ("GET", "/containers/{id}/archive?path=/"),
    ("POST", "/containers/{id}/update"),
    ("POST", "/containers/{id}/wait"),
    ("POST", "/networks/{net}/disconnect"),
    ("POST", "/images/create?fromImage=busybox"),
    ("POST", "/build"),
    ("POST", "/volumes/create"),
    ("POST", "/containers/prune"),
    ("POST", "/build/prune?all=1"),
    ("GET", "/containers/%2e%2e/json/../../exec"),
]


def test_calls_the_worker_never_makes_are_refused(
    proxy: Proxy, projects: dict[str, ComposeProject]
) -> None:
    web = projects["managed"].container("web")
    net = f"{projects['managed'].name}_front"
    for method, path in NEVER:
        resp = proxy.send(method, path.format(id=web.id, net=net))
        assert resp.status_code == 403, (method, path, resp.text)


def test_lifecycle_calls_reach_managed_containers_only(
    proxy: Proxy, projects: dict[str, ComposeProject], loose: Any
) -> None:
    foreign = projects["other"].container("other")
    for target in (loose, foreign):
        for method, path in [
            ("POST", "/containers/{id}/stop?t=1"),
            ("POST", "/containers/{id}/restart?t=1"),
            ("POST", "/containers/{id}/kill?signal=KILL"),
            ("POST", "/containers/{id}/rename?name=stolen"),
            ("DELETE", "/containers/{id}?force=1"),
        ]:
            resp = proxy.send(method, path.format(id=target.id))
            assert resp.status_code == 403, (target.name, method, path, resp.text)
        target.reload()
        assert target.status == "running", target.name
    # Connecting a foreign container to the managed project's network: refused too.
    net = f"{projects['managed'].name}_front"
    resp = proxy.send("POST", f"/networks/{net}/connect", {"Container": foreign.id})
    assert resp.status_code == 403, resp.text
    # Cleanup may remove a stopped container of no compose project, never a running one.
    loose.stop(timeout=1)
    assert proxy.send("DELETE", f"/containers/{loose.id}").status_code == 204


def test_the_healer_scales_recreates_and_repairs_through_the_proxy(
    proxy: Proxy, projects: dict[str, ComposeProject], docker_client: docker.DockerClient
) -> None:
    managed = projects["managed"]
    volumes: set[str] = set()
    try:
        _scale_recreate_and_restart(proxy, managed, volumes)
    finally:
        # The healer removes a container it scaled away or replaced without its anonymous
        # volumes (as `docker compose rm` does, to lose no data); the test's go with it. Those
        # still in use go with the project's `down -v`.
        for name in volumes:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                docker_client.volumes.get(name).remove()


def _volumes_of_web(project: ComposeProject) -> set[str]:
    return {
        m["Name"]
        for c in project.containers("web")
        for m in c.attrs.get("Mounts") or []
        if m.get("Type") == "volume"
    }


def _scale_recreate_and_restart(proxy: Proxy, managed: ComposeProject, volumes: set[str]) -> None:
    engine = DockerEngine.connect(f"tcp://127.0.0.1:{proxy.port}", (managed.name,))
    sid = next(s for s in engine.services(project=managed.name) if s.endswith("web"))
    change = Replicas(engine, start_timeout=30).add(engine.services(sid)[sid], 1)
    assert not change.errors, (change, proxy.tail())
    assert len(managed.containers("web", include_stopped=False)) == 2
    volumes |= _volumes_of_web(managed)
    removed = Replicas(engine).remove(engine.services(sid)[sid], 1)
    assert removed.removed and not removed.errors, removed
    # Recreate web: its sidecar shares web's network namespace and is re-pointed at the new one.
    old = managed.container("web")
    recreator = Recreator(engine)
    done = recreator.recreate(recreator.read(ContainerId(old.id)), 2)
    assert not done.errors, (done, proxy.tail())
    assert done.new_id != old.id
    new = managed.container("web")
    volumes |= _volumes_of_web(managed)
    assert new.id == done.new_id and new.status == "running"
    sidecar = managed.container("sidecar")
    assert sidecar.attrs["HostConfig"]["NetworkMode"] == f"container:{new.id}"
    engine.restart(ContainerId(new.id), 2)
    assert engine.inspect(ContainerId(new.id)).running


def test_the_event_stream_flows_through_the_proxy(
    proxy: Proxy, projects: dict[str, ComposeProject]
) -> None:
    web = projects["managed"].container("web")
    filters = json.dumps({"container": [web.id], "event": ["kill"]})
    with proxy.http.stream("GET", "/events", params={"filters": filters}, timeout=20) as stream:
        assert stream.status_code == 200
        assert proxy.send("POST", f"/containers/{web.id}/kill?signal=WINCH").status_code == 204
        line = next(stream.iter_lines())
    assert json.loads(line)["Action"] == "kill"
