"""scripts/install.sh puts the healer in a virtual environment of its own with no test tools,
writes its settings with a generated Redis password, and its systemd unit is valid."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
TEST_TOOLS = {
    "pytest",
    "mypy",
    "ruff",
    "schemathesis",
    "hypothesis",
    "compose-healer-example-strategy",
}


def install(prefix: Path, etc: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HEALER_PREFIX": str(prefix),
        "HEALER_ETC": str(etc),
        "PYTHON": str(SYSTEM_PYTHON),
    }
    return subprocess.run(
        ["bash", str(ROOT / "scripts/install.sh"), "--no-packages", "--no-system"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def settings(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not SYSTEM_PYTHON.exists():
        pytest.skip("no /usr/bin/python3")
    root = tmp_path_factory.mktemp("install")
    prefix, etc = root / "opt", root / "etc"
    result = install(prefix, etc)
    assert result.returncode == 0, result.stdout + result.stderr
    return prefix, etc


def test_the_healer_runs_from_its_own_venv_without_test_tools(installed: tuple[Path, Path]) -> None:
    prefix, _ = installed
    healer = prefix / "venv/bin/healer"
    assert subprocess.run([healer, "--help"], capture_output=True, check=False).returncode == 0
    listed = subprocess.run(
        [prefix / "venv/bin/python", "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert "compose-healer" in names
    assert not names & TEST_TOOLS


def test_settings_hold_a_generated_redis_password_and_survive_a_second_run(
    installed: tuple[Path, Path],
) -> None:
    prefix, etc = installed
    env_file = etc / "healer.env"
    first = settings(env_file)
    assert len(first["REDIS_PASSWORD"]) >= 32
    assert f":{first['REDIS_PASSWORD']}@" in first["REDIS_URL"]
    assert len(first["HEALER_API_TOKEN"]) >= 16
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640

    again = install(prefix, etc)
    assert again.returncode == 0, again.stderr
    assert settings(env_file) == first


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_systemd_unit_is_valid(installed: tuple[Path, Path], tmp_path: Path) -> None:
    prefix, etc = installed
    template = (ROOT / "deploy/systemd/compose-healer.service").read_text(encoding="utf-8")
    unit = tmp_path / "compose-healer.service"
    unit.write_text(template.replace("@PREFIX@", str(prefix)).replace("@ETC@", str(etc)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "compose-healer.service" not in result.stderr, result.stderr
    assert f"ExecStart={prefix}/venv/bin/healer run" in unit.read_text()
    assert f"EnvironmentFile={etc}/healer.env" in unit.read_text()


SYSTEMD = Path("/run/systemd/system").is_dir()


@pytest.mark.skipif(
    not (SYSTEMD and os.environ.get("HEALER_TEST_SYSTEMD") == "1"),
    reason="needs systemd, and HEALER_TEST_SYSTEMD=1: it installs the service on this host",
)
def test_under_systemd_the_healer_is_enabled_at_boot_and_running() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/install.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for unit in ("compose-healer", "redis-server", "docker"):
        enabled = subprocess.run(["systemctl", "is-enabled", unit], capture_output=True, text=True)
        assert enabled.stdout.strip() == "enabled", unit
    active = subprocess.run(
        ["systemctl", "is-active", "compose-healer"], capture_output=True, text=True
    )
    assert active.stdout.strip() == "active"
