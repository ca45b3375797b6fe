"""Secrets stay put: a healer process's environ, a strategy's child, webhook URLs in logs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from healer.adapters.hardening.environ import child_env
from healer.adapters.notify import Notifier


def test_a_strategys_child_gets_no_secret() -> None:
    parent = {
        "PATH": "/usr/bin",
        "DOCKER_HOST": "tcp://docker-proxy-worker:2375",
        "REDIS_URL": "redis://:hunter2@redis:6379/0",
        "HEALER_API_TOKEN": "t" * 32,
        "FLOWER_PASSWORD": "p",
    }
    assert child_env(parent) == {"PATH": "/usr/bin", "DOCKER_HOST": parent["DOCKER_HOST"]}


def test_a_non_dumpable_process_hides_its_environ_from_its_own_uid() -> None:
    # A child (uid nobody) marks itself, then a sibling of the same uid tries to read it.
    code = textwrap.dedent(
        """
        import os, subprocess, sys, time
        from healer.adapters.hardening.environ import keep_environ_private
        os.environ["SECRET"] = "s3cret"
        assert keep_environ_private()
        me = os.getpid()
        probe = f"open('/proc/{me}/environ','rb').read()"
        r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        print("refused" if "PermissionError" in r.stderr else "READ")
        """
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    argv = [sys.executable, "-c", code]
    if os.geteuid() == 0:  # root reads everything; the point is another unprivileged process
        # (the system Python: a pyenv one under /root is not executable by nobody)
        python = shutil.which("python3", path="/usr/bin") or sys.executable
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c", code]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30)
    assert out.stdout.strip() == "refused", out.stdout + out.stderr


def test_webhook_urls_are_never_logged_whole(caplog: pytest.LogCaptureFixture) -> None:
    secret = "http://127.0.0.1:9/services/T000/B000/XXXXSECRET?token=abc"
    notifier = Notifier(secret, timeout=0.5, retries=0)  # port 9: refused at once
    assert notifier.send("critical", "t", "x", {})  # queued for the delivery thread
    assert notifier.post_outcome(secret, {})
    assert notifier.courier.drain(10)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "http://127.0.0.1/…" in logged and "SECRET" not in logged and "token" not in logged
