"""`sorbet-ref bounds`: measured errors stay inside the proven bounds; the report is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.bounds import Measure, measure_bspn, measure_ptsm
from conformance.cli import main as cli_main
from reference.presets import get_preset


@pytest.mark.parametrize("name", ["tiny", "tiny-b2", "sorbet"])
def test_measured_values_inside_proven_bounds(name: str) -> None:
    pre = get_preset(name)
    pt = measure_ptsm(pre, n_random=12, length=128)
    bs = measure_bspn(pre, n_random=4)
    for m in (pt.partition, pt.total, pt.ratio_rounded, pt.zero_rounded, pt.ratio_unrounded,
              bs.divisor, bs.log_round, bs.vs_powernorm):
        assert m.values, m.name
        assert m.ok, (m.name, m.min, m.max, m.lo, m.hi)
    # the structured rows reach the ends the witnesses describe
    assert pt.partition.min == 0.75
    assert bs.divisor.max < 2.0


def test_measurement_is_deterministic() -> None:
    pre = get_preset("tiny")
    a = measure_ptsm(pre, n_random=8).ratio_rounded.values
    b = measure_ptsm(pre, n_random=8).ratio_rounded.values
    assert a and a == b


def test_a_value_outside_its_bound_fails() -> None:
    m = Measure("x", "t", 0.75, 1.5, values=[0.8, 1.51])
    assert not m.ok
    assert Measure("x", "t", 0.75, 1.5, values=[0.75, 1.4999]).ok
    assert Measure("x", "t", None, None, values=[1e9]).ok


def test_bounds_cli_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["bounds", "--rows", "6", "--tokens", "2", "--report", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "ptsm.partition_ratio" in out and "bspn.log_round" in out
    md = (tmp_path / "bounds.md").read_text()
    assert "| quantity |" in md and "bounds_ratio.png" in md
    pngs = sorted(tmp_path.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
