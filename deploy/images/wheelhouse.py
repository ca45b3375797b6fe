"""Check a wheelhouse against the lock file: ``wheelhouse.py DIR LOCK``.

deploy/images/build.sh fills DIR with `pip download --require-hashes -r LOCK` for the image's
Python (any host Python can do that). This proves DIR holds exactly the locked packages, one
wheel each at the locked version, and nothing else, so the image installs what the lock says
and `--rebuild` gives the same packages. Prints the count, or what differs (exit 1).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    from packaging.utils import canonicalize_name, parse_wheel_filename
except ImportError:  # pip's own copy is always there
    from pip._vendor.packaging.utils import (  # type: ignore[no-redef]
        canonicalize_name,
        parse_wheel_filename,
    )

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def locked(lock: Path) -> dict[str, str]:
    pins = (PIN.match(line) for line in lock.read_text(encoding="utf-8").splitlines())
    return {canonicalize_name(m[1]): m[2] for m in pins if m}


def present(folder: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for wheel in sorted(folder.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        out.setdefault(canonicalize_name(name), []).append(str(version))
    return out


def differences(folder: Path, lock: Path) -> list[str]:
    want, have = locked(lock), present(folder)
    problems = [f"{n}=={v}: no wheel" for n, v in want.items() if n not in have]
    for name, versions in have.items():
        if name not in want:
            problems.append(f"{name}: not in the lock")
        elif versions != [want[name]]:
            problems.append(f"{name}: wheels {versions}, locked {want[name]}")
    return problems


def main(folder: Path, lock: Path) -> int:
    problems = differences(folder, lock)
    for problem in problems:
        print("wheelhouse:", problem, file=sys.stderr)
    if not problems:
        print(f"wheelhouse: {len(locked(lock))} wheels, exactly the lock's")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
