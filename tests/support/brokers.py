"""Private servers for the autoscaler's external sources: a RabbitMQ node and a Prometheus,
each on loopback with its own ports and temp folder, stopped by the PIDs the test started.

RabbitMQ needs an epmd; the test runs its own (private port, loopback) in the foreground
instead of letting the node daemonise one that would outlive the test."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import warnings
from pathlib import Path

import httpx
from kombu import Connection

from .waiting import free_port, wait_until

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # its own session: the node and erl_child_setup
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class RabbitServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chtest-rabbit-"))
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.password = "chtest-" + os.urandom(4).hex()
        self.url = f"amqp://chtest:{self.password}@127.0.0.1:{self.port}//"
        self.epmd: subprocess.Popen[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        d = self.dir
        return {
            **os.environ,
            "HOME": str(d),
            "RABBITMQ_NODENAME": f"chtest{self.port}@localhost",
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self) -> None:
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text(
            textwrap.dedent(f"""\
            listeners.tcp.default = 127.0.0.1:{self.port}
            default_user = chtest
            default_pass = {self.password}
            """)
        )
        env = self.env()
        epmd = ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"]
        self.epmd = subprocess.Popen(epmd, env=env, start_new_session=True)
        log = (self.dir / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [RABBITMQ_SERVER], env=env, stdout=log, stderr=log, start_new_session=True
        )
        wait_until(self._up, timeout=120, interval=1, message=f"rabbitmq on {self.port}")

    def _up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError((self.dir / "server.log").read_text()[-2000:])
        try:
            with Connection(self.url, connect_timeout=1) as conn:
                conn.connect()
        except Exception:
            return False
        return True

    def close(self) -> None:
        _stop(self.proc)
        _stop(self.epmd, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


class PrometheusServer:
    """Scrapes `target` (host:port) every second; basic auth with `user`/`password`."""

    def __init__(self, target: str, user: str = "chtest", password: str = "s3cret") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chtest-prom-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.target, self.user, self.password = target, user, password
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with warnings.catch_warnings():  # stdlib crypt: deprecated, enough to hash one test
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

        hashed = crypt.crypt(self.password, crypt.mksalt(crypt.METHOD_BLOWFISH))
        (self.dir / "web.yml").write_text(f"basic_auth_users:\n  {self.user}: '{hashed}'\n")
        (self.dir / "prometheus.yml").write_text(
            textwrap.dedent(f"""\
            global: {{scrape_interval: 1s, evaluation_interval: 1s}}
            scrape_configs:
              - job_name: chtest
                static_configs: [{{targets: ['{self.target}']}}]
            """)
        )
        argv = [
            "prometheus",
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--web.config.file={self.dir / 'web.yml'}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        log = (self.dir / "server.log").open("wb")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        auth = (self.user, self.password)
        wait_until(
            lambda: httpx.get(f"{self.url}/-/ready", auth=auth, timeout=1).status_code == 200,
            timeout=60,
            interval=0.5,
            ignore=(httpx.HTTPError,),
            message=f"prometheus on {self.port}",
        )

    def close(self) -> None:
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
