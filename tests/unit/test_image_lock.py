"""The healer image's Python packages come from a lock file with hashes, which covers every
dependency of the package, and the wheelhouse check refuses anything the lock does not say."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "deploy/images/requirements.lock"


def wheelhouse() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "wheelhouse", ROOT / "deploy/images/wheelhouse.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_dependency_of_the_package_is_locked_within_its_range() -> None:
    pins = wheelhouse().locked(LOCK)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for line in [*project["dependencies"], "flower>=2.0"]:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in {LOCK.name}"
        assert req.specifier.contains(pins[name], prereleases=True), (req, pins[name])


def test_every_pin_has_a_hash() -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text(encoding="utf-8"))
    pinned = [b for b in blocks if "==" in b.splitlines()[0]]
    assert len(pinned) >= 20
    for block in pinned:
        assert "--hash=sha256:" in block, block.splitlines()[0]


def _wheel(folder: Path, name: str) -> None:
    (folder / name).write_bytes(b"")


def test_the_wheelhouse_check_names_what_differs(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("amqp==5.4.2 \\\n    --hash=sha256:00\nkombu==5.5.0 \\\n    --hash=sha256:11\n")
    _wheel(tmp_path, "amqp-5.4.2-py3-none-any.whl")
    _wheel(tmp_path, "kombu-5.4.0-py3-none-any.whl")
    _wheel(tmp_path, "extra_pkg-1.0-py3-none-any.whl")
    problems = wheelhouse().differences(tmp_path, lock)
    assert sorted(problems) == [
        "extra-pkg: not in the lock",
        "kombu: wheels ['5.4.0'], locked 5.5.0",
    ]
    (tmp_path / "kombu-5.4.0-py3-none-any.whl").unlink()
    (tmp_path / "extra_pkg-1.0-py3-none-any.whl").unlink()
    _wheel(tmp_path, "kombu-5.5.0-py3-none-any.whl")
    assert wheelhouse().differences(tmp_path, lock) == []
