"""The float port (examples/float_port) fails where the spec says float arithmetic fails.

A conformance run of the authors' float formulas over the committed operator
vectors must fail (so the vectors see float bugs), must fail the vectors aimed at
float weak points (all-masked rows, BSPN divisor boundaries and eps, IF spike times),
must reject exactly like the reference, and must still pass a substantial share
(its formulas are right away from those points).  Every number comes from the run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.cli import main
from conformance.runner.backends import Rejected, Unsupported
from examples.float_port.float_port import BACKEND, BACKEND64, FloatPort

pytestmark = pytest.mark.xdist_group("float_port")
"""The module fixtures are expensive: keep these tests on one worker."""

OPERATORS = ("binary_linear", "bspn", "if_encode", "ptsoftmax", "quantize")
MODEL_OPERATORS = ("attention", "ffn", "encoder_layer", "model")
DOC = Path(__file__).resolve().parents[1] / "docs" / "float-port.md"


def _check(backend: str, report_dir: Path) -> tuple[int, dict[str, Any]]:
    include = [arg for op in OPERATORS for arg in ("--include", op)]
    code = main(["check", "--backend", f"python:examples.float_port.float_port:{backend}",
                 "--report-dir", str(report_dir), "--show", "0", "--once", *include,
                 "--exclude", "*-general-*"])
    report: dict[str, Any] = json.loads((report_dir / "check-report.json").read_text("utf-8"))
    return code, report


@pytest.fixture(scope="module")
def float32_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    return _check("BACKEND", tmp_path_factory.mktemp("float32"))


@pytest.fixture(scope="module")
def float64_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    return _check("BACKEND64", tmp_path_factory.mktemp("float64"))


def _doc_rows(heading: str, first: str) -> dict[str, list[int]]:
    """Rows ``| `name` | n | ... |`` of the first table after ``heading`` whose header starts
    with ``| first |`` in docs/float-port.md, as name -> integers."""
    text = DOC.read_text("utf-8")
    section = text[text.index(heading):]
    table = section[section.index(f"| {first} |"):]
    rows: dict[str, list[int]] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = [int(c) for c in cells[1:]]
    return rows


def test_doc_tables_match_the_runs(float32_run: tuple[int, dict[str, Any]],
                                   float64_run: tuple[int, dict[str, Any]]) -> None:
    """docs/float-port.md, "Results on the committed vectors", quotes these runs exactly."""
    r32, r64 = float32_run[1], float64_run[1]
    want_ops: dict[str, list[int]] = {}
    for op in OPERATORS:
        a, b = r32["per_operator"][op], r64["per_operator"][op]
        want_ops[op] = [a["vectors"], a["pass"], a["fail"], b["pass"], b["fail"]]
    want_ops["total"] = [sum(row[i] for row in want_ops.values()) for i in range(5)]
    heading = "## Results on the committed vectors"
    assert _doc_rows(heading, "operator") == want_ops
    want_flags = {name: [row["vectors"], row["fail"], r64["per_flag"][name]["fail"]]
                  for name, row in r32["per_flag"].items()
                  if row["fail"] or r64["per_flag"][name]["fail"]}
    assert _doc_rows(heading, "flag") == want_flags
    text = DOC.read_text("utf-8")
    for name, row in r32["per_flag"].items():
        if name not in want_flags:  # flags without failures are listed with their counts
            assert re.search(rf"`{name}`\s+\(?{row['vectors']}\)?", text), name


def test_model_level_operators_are_not_computed() -> None:
    """The port covers the five operators only (docs/float-port.md, "Run it"): a valid
    model-level request raises Unsupported, an invalid one is rejected first."""
    root = Path(__file__).resolve().parents[1] / "vectors"
    for op in MODEL_OPERATORS:
        vectors = json.loads((root / op / f"{op}-tiny.json").read_text("utf-8"))["vectors"]
        valid = next(v for v in vectors if "outputs" in v["expected"])
        with pytest.raises(Unsupported, match="no operator"):
            BACKEND.run(op, valid["config"], valid["inputs"])
        bad = next(v for v in vectors if "reject" in v["expected"])
        with pytest.raises(Rejected) as info:
            BACKEND.run(op, bad["config"], bad["inputs"])
        assert info.value.cls == bad["expected"]["reject"]


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
                 "--report-dir", str(tmp_path), "--show", "0", "--once", "--include", "bspn",
                 "--exclude", "*-general-*"])
    report = json.loads((tmp_path / "check-report.json").read_text("utf-8"))
    # one pass (--once) supports no claim: INCOMPLETE, with every vector passing
    assert code == 1 and report["verdict"] == "INCOMPLETE", report["counts"]
    assert report["counts"] == {"pass": report["totals"]["selected"]}


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
