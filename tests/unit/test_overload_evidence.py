"""The storm brake's evidence of overload, judged purely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from healer.adapters.docker.state import state_from_inspect
from healer.adapters.overload.pressure import read_pressure
from healer.core.overload.evidence import (
    Evidence,
    OverloadPolicy,
    Pressure,
    from_checks,
    from_engine,
    from_pressure,
    parse_psi,
)

PSI = """some avg10=61.50 avg60=7.24 avg300=4.04 total=19434922
full avg10=2.00 avg60=0.00 avg300=0.00 total=0
"""


def test_psi_lines_give_each_kind_its_avg10() -> None:
    assert parse_psi(PSI) == {"some": 61.5, "full": 2.0}
    assert parse_psi("garbage\nsome avg10=x") == {}


def test_pressure_above_its_threshold_is_evidence_and_absent_psi_is_none(tmp_path: Path) -> None:
    policy = OverloadPolicy(cpu_pressure=50, io_pressure=30)
    kinds = [f.kind for f in from_pressure(policy, Pressure(cpu_some=61.5, io_full=31))]
    assert kinds == [Evidence.CPU_PRESSURE, Evidence.IO_PRESSURE]
    assert from_pressure(policy, Pressure(cpu_some=49.9, io_full=29.9)) == []
    assert from_pressure(policy, Pressure()) == []  # a kernel without PSI
    (tmp_path / "cpu").write_text(PSI)
    assert read_pressure(tmp_path) == Pressure(cpu_some=61.5, io_full=None)


def test_an_engine_far_slower_than_its_best_is_evidence() -> None:
    policy = OverloadPolicy(slow_factor=3.0)
    assert [f.kind for f in from_engine(policy, 3.5, 1.0)] == [Evidence.SLOW_ENGINE]
    assert from_engine(policy, 2.5, 1.0) == []
    assert from_engine(policy, None, None) == []  # nothing measured yet


def health_outputs(info: dict[str, Any]) -> list[str]:
    return state_from_inspect(info).failing_outputs()


def test_only_a_check_that_timed_out_is_evidence_not_an_explicit_failure() -> None:
    timed = {"State": {"Health": {"Log": [{"Output": "Health check exceeded timeout (500ms)"}]}}}
    failed = {"State": {"Health": {"Log": [{"Output": "", "ExitCode": 1}]}}}
    assert [f.kind for f in from_checks("web", health_outputs(timed))] == [Evidence.CHECK_TIMEOUT]
    assert from_checks("web", health_outputs(failed)) == []
    assert from_checks("web", health_outputs({})) == []
    # A timeout before the last success is not this failure's.
    ok = {"Output": "", "ExitCode": 0}
    old = {"Output": "Health check exceeded timeout (1s)", "ExitCode": -1}
    log = [old, ok, {"Output": "", "ExitCode": 1}]
    assert from_checks("web", health_outputs({"State": {"Health": {"Log": log}}})) == []
