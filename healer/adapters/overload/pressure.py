"""Host CPU and IO pressure from Linux PSI (/proc/pressure/cpu, /proc/pressure/io).

PSI is host-wide even inside a container (it is not namespaced; a cgroup's own files are
elsewhere), so the healer reads the same figures wherever it runs. Without /proc/pressure
(kernel before 4.20, or PSI disabled) the figures are None and only the other evidence
counts; `healer check` says so.
"""

from __future__ import annotations

from pathlib import Path

from healer.core.overload.evidence import Pressure, parse_psi

PSI_ROOT = Path("/proc/pressure")


def _avg10(name: str, kind: str, root: Path) -> float | None:
    try:
        text = (root / name).read_text()
    except OSError:
        return None
    return parse_psi(text).get(kind)


def read_pressure(root: Path = PSI_ROOT) -> Pressure:
    return Pressure(cpu_some=_avg10("cpu", "some", root), io_full=_avg10("io", "full", root))


def available(root: Path = PSI_ROOT) -> bool:
    return (root / "cpu").exists()
