"""The float port (examples/float_port) fails where the spec says float arithmetic fails.

A conformance run of the authors' float formulas over the committed operator
vectors must fail (so the vectors see float bugs), must fail the vectors aimed at
float weak points (all-masked rows, BSPN divisor boundaries and eps, IF spike times),
must reject exactly like the reference, and must still pass a substantial share
(its formulas are right away from those points).  Every number comes from the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.cli import main
from examples.float_port.float_port import BACKEND, BACKEND64, FloatPort

OPERATORS = ("binary_linear", "bspn", "if_encode", "ptsoftmax", "quantize")


def _check(backend: str, report_dir: Path) -> tuple[int, dict[str, Any]]:
    include = [arg for op in OPERATORS for arg in ("--include", op)]
    code = main(["check", "--backend", f"python:examples.float_port.float_port:{backend}",
                 "--report-dir", str(report_dir), "--show", "0", "--once", *include])
    report: dict[str, Any] = json.loads((report_dir / "check-report.json").read_text("utf-8"))
    return code, report


@pytest.fixture(scope="module")
def float32_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    return _check("BACKEND", tmp_path_factory.mktemp("float32"))


def test_float_port_fails_the_suite(float32_run: tuple[int, dict[str, Any]]) -> None:
    code, report = float32_run
    assert code != 0 and report["verdict"] == "FAIL"
    selected = report["selection"]["selected_vectors"]
    passed = report["counts"].get("pass", 0)
    failed = selected - passed
    assert failed > 0
    assert passed >= selected // 2, f"only {passed} of {selected} pass"
    print(f"float32 port: {passed} of {selected} operator vectors pass, {failed} fail")


def test_float_port_fails_the_float_weak_points(float32_run: tuple[int, dict[str, Any]]) -> None:
    _, report = float32_run
    flags = report["per_flag"]
    # an all-masked row: the additive -10000 cancels in the max subtraction
    assert flags["all_masked"]["fail"] == flags["all_masked"]["vectors"] > 0
    # BSPN divisors at power-of-two boundaries, and eps = 1e-5 against 2^-eps_exp
    assert flags["divisor_boundary"]["fail"] > 0
    assert flags["eps_dominant"]["fail"] > 0
    ops = report["per_operator"]
    assert ops["if_encode"]["fail"] > 0  # the 0.95 * (T - 0.0001) threshold moves spikes
    for name, row in flags.items():  # the port rejects like the reference
        if name.startswith("reject_"):
            assert row["fail"] == 0, (name, row)


def test_config_eps_float64_bspn_passes(tmp_path: Path) -> None:
    """With the configuration's eps, float64 BSPN passes: its failures were the eps."""
    code = main(["check", "--backend",
                 "python:examples.float_port.float_port:BACKEND64_CFG_EPS",
                 "--report-dir", str(tmp_path), "--show", "0", "--once", "--include", "bspn"])
    report = json.loads((tmp_path / "check-report.json").read_text("utf-8"))
    assert code == 0, report["counts"]


def test_named_float_departures() -> None:
    """The departures the spec text names, computed directly."""
    # spec/03, departure 2: mean|x| = 1024 plus eps 2^-17 rounds to 1024 in float32
    cfg = {"channels": 1, "group_size": 1, "in_width": 24, "in_frac": 8, "eps_exp": 17,
           "weight_exp_min": -16, "weight_exp_max": 15, "bias_width": 16, "bias_frac": 8,
           "out_width": 16, "out_frac": 8}
    inputs = {"x": [1024 * 256], "weight_sign": [1], "weight_exp": [0], "bias": [0]}
    assert BACKEND.run("bspn", cfg, inputs)["divisor_exp"] == [10]  # exact rule: 11
    assert BACKEND64.run("bspn", cfg, inputs)["divisor_exp"] == [11]
    # spec/04: the authors' threshold fires the 4th spike of count 7 at step 9, not 10
    spikes = BACKEND.run("if_encode", {"bits": 4, "steps": 16}, {"count": 7})["spikes"]
    assert sum(spikes) == 7 and spikes[8] == 1 and spikes[9] == 0
    # spec/02, departure 2(b): an all-masked row is not zero in the authors' code
    row = FloatPort(np.float64).run(
        "ptsoftmax", {"max_len": 8, "score_width": 10, "score_frac": 2, "partition_frac": 4,
                      "out_frac": 4}, {"scores": [8, 4, 0], "mask": [0, 0, 0]})
    assert row["out"] == [8, 4, 2]
