"""Stage-by-stage comparison and the integer unsigned offsets (spec/13, 13.5 and 13.9)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from conformance.cli import main
from conformance.commands.compare import compare
from conformance.model.checkpoint import Checkpoint
from conformance.model.convert import convert_checkpoint
from conformance.model.fidelity import StageTally, stage_keys
from conformance.model.floatmodel import FloatOptions, authors_offset, load_float_model
from conformance.model.modelfile import save_model
from conformance.model.synthetic_checkpoint import Calibration, synthetic_tensors, write_synthetic
from reference.model_config import ModelConfig
from reference.model_presets import TINY

WIDE = ModelConfig(
    layers=2, hidden=16, heads=2, ffn=32, vocab=32, max_positions=16, type_vocab=2,
    max_seq=8, num_labels=2, h_width=32, h_frac=22, r_width=32, u_width=32, u_frac=22,
    score_width=48, score_frac=20, multiplier_bits=24, prob_frac=24, partition_frac=24,
    bspn_bias_width=32, bspn_bias_frac=22, bias_width=40,
)
"""Formats wide enough that the integer model can reproduce the float evaluation exactly."""


@pytest.fixture(scope="module")
def wide() -> tuple[Checkpoint, ModelConfig]:
    return Checkpoint("mem", synthetic_tensors(WIDE, 7)), WIDE


def test_authors_offset_rule() -> None:
    assert authors_offset(-0.3) == (0.25, -0.3)  # nearest power of two of 0.3 is 0.25
    assert authors_offset(-0.375) == (0.5, -0.375)  # a tie goes up
    assert authors_offset(0.0) == (0.0, 0.0)
    assert authors_offset(0.3) == (-0.25, 0.25)  # log-domain nearest for a positive minimum


def test_integer_offsets_reproduce_the_float_evaluation_exactly(
    wide: tuple[Checkpoint, ModelConfig]
) -> None:
    ck, cfg = wide
    mf, rep = convert_checkpoint(ck, cfg)
    assert [o.name for o in rep.unsigned_offsets] == ["layer.0.ffn2", "layer.1.ffn2"]
    assert all(o.min_move < 0 and o.before > 0 for o in rep.unsigned_offsets)
    fm = load_float_model(ck, cfg)
    r = compare(fm, mf, 12, 8, 1, "fast", FloatOptions(unsigned_offset="integer"), stages=True)
    assert r.stages is not None
    assert r.stages.first_stage() == "none" and r.agreeing == 12
    assert set(r.stages.agreement().values()) == {1.0}
    # without the offset, the ffn2 input counts disagree: the offset is not zero
    z = compare(fm, mf, 12, 8, 1, "fast", FloatOptions(unsigned_offset="zero"), stages=True)
    assert z.stages is not None and z.stages.first_stage() == "layer.0.cin_ffn2"
    assert z.stages.agreement()["layer.0.cin_ffn2"] < 0.9


def test_tally_finds_the_first_diverging_stage() -> None:
    cfg = dataclasses.replace(TINY, layers=1)
    mask = np.array([True, True, False])
    ftrace: dict[str, np.ndarray] = {}
    itrace: dict[str, np.ndarray] = {}
    for stage, fkey, _ in stage_keys(cfg):
        shape = (cfg.heads, 3, 3) if stage.endswith("c_prob") else (3, cfg.hidden)
        ftrace[fkey] = np.ones((1, cfg.hidden)) if stage == "pooler.cin" else np.ones(shape)
        itrace[stage] = np.ones(cfg.hidden) if stage == "pooler.cin" else np.ones(shape)
    for stage in ("layer.0.h1", "layer.0.h2"):
        itrace[stage] = itrace[stage] * 2**cfg.h_frac
    tally = StageTally(cfg)
    assert tally.add(ftrace, itrace, mask) == "none"
    itrace["layer.0.c_v"] = itrace["layer.0.c_v"].copy()
    itrace["layer.0.c_v"][2, 0] = 5  # a padded row: not compared
    assert tally.add(ftrace, itrace, mask) == "none"
    itrace["layer.0.c_v"][1, 0] = 5
    itrace["layer.0.cin_ffn2"] = itrace["layer.0.cin_ffn2"] * 0
    assert tally.add(ftrace, itrace, mask) == "layer.0.c_v"
    agr = tally.agreement()
    assert agr["layer.0.c_v"] == 1 - 1 / (3 * 2 * cfg.hidden)
    assert agr["layer.0.cin_ffn2"] == 2 / 3 and tally.first_stage() == "layer.0.c_v"
    assert tally.first_diverging == {"none": 2, "layer.0.c_v": 1}
    assert tally.layer_min(0) == 2 / 3


def test_cli_compare_stages_json_and_plot(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    ck = write_synthetic(tmp_path / "c.safetensors", TINY, 2, calibration=Calibration(batches=2))
    mf, _ = convert_checkpoint(Checkpoint(str(ck), synthetic_tensors(
        TINY, 2, calibration=Calibration(batches=2))), TINY)
    model = tmp_path / "m.npz"
    save_model(model, mf)
    js, png = tmp_path / "r.json", tmp_path / "s.png"
    assert main(["compare", str(ck), str(model), "--inputs", "4", "--stages", "--json", str(js),
                 "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "unsigned offset 'authors'" in out and "first diverging stage" in out
    d = json.loads(js.read_text())
    assert set(d["stages"]["agreement"]) == {s for s, _, _ in stage_keys(TINY)}
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["compare", str(ck), str(model), "--inputs", "2", "--plot", str(png)]) == 2
    assert "--plot needs --stages" in capsys.readouterr().err
