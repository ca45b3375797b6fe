"""Complete a wheelhouse for the image's Python: ``wheelhouse.py DIR PYTHON_VERSION``.

`pip wheel` on the host resolves dependencies for the host's interpreter. Environment markers
can differ for the image's (Debian's python3 may be an older patch release): redis needs
async-timeout only below Python 3.11.3, for instance. This adds, with `pip wheel --no-deps`,
every requirement of a wheel in DIR whose marker holds for PYTHON_VERSION and that DIR lacks,
until nothing is missing. Prints what it added.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

try:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name, parse_wheel_filename
except ImportError:  # pip's own copy is always there
    from pip._vendor.packaging.markers import default_environment  # type: ignore[no-redef]
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import (  # type: ignore[no-redef]
        canonicalize_name,
        parse_wheel_filename,
    )


def _requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    return [
        Requirement(line.split(":", 1)[1].strip())
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def missing(folder: Path, python: str) -> list[Requirement]:
    env = dict(default_environment())
    env.update(python_full_version=python, python_version=".".join(python.split(".")[:2]))
    wheels = sorted(folder.glob("*.whl"))
    have = {canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheels}
    out: dict[str, Requirement] = {}
    for wheel in wheels:
        for req in _requirements(wheel):
            # Extras are not installed from here: the marker is evaluated without one.
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            if canonicalize_name(req.name) not in have:
                out[canonicalize_name(req.name)] = req
    return list(out.values())


def main(folder: Path, python: str) -> int:
    for _ in range(10):
        todo = missing(folder, python)
        if not todo:
            return 0
        names = [f"{r.name}{r.specifier}" for r in todo]
        print("adding for Python", python + ":", " ".join(names))
        pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
        subprocess.run([*pip, "-w", str(folder), *names], check=True)
    print("wheelhouse: requirements still missing after 10 rounds", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
