"""The float-checkpoint converter: exact roundings, round trip, malformed checkpoints, CLI."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.cli import main
from conformance.model.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_safetensors,
)
from conformance.model.convert import (
    ConversionReport,
    binary_signs,
    convert_checkpoint,
    fixed_point,
    floor_log2,
    infer_config,
    log_round_sq,
    round_div_sqrt,
)
from conformance.model.modelfile import load_model, save_model
from conformance.model.synthetic_checkpoint import synthetic_tensors, write_synthetic
from reference.fast import forward_fast
from reference.host_embedding import embed
from reference.model import forward
from reference.model_config import ModelConfig
from reference.model_presets import SORBET_BASE, TINY, TINY_ODD

Q = "bert.encoder.layer.0.attention.self.query"


@pytest.fixture(scope="module")
def tiny_tensors() -> dict[str, np.ndarray]:
    return synthetic_tensors(TINY, 5)


def _ckpt(tensors: dict[str, np.ndarray], meta: dict[str, str] | None = None) -> Checkpoint:
    return Checkpoint("mem.safetensors", tensors, meta or {})


# ------------------------------------------------------------------ exact arithmetic


@given(st.fractions(min_value=Fraction(1, 10**9), max_value=Fraction(10**9)))
@settings(max_examples=200, deadline=None)
def test_floor_log2_exact(q: Fraction) -> None:
    e = floor_log2(q)
    assert Fraction(2) ** e <= q < Fraction(2) ** (e + 1)


@given(st.fractions(min_value=Fraction(1, 10**6), max_value=Fraction(10**6)))
@settings(max_examples=200, deadline=None)
def test_log_round_is_log_domain_nearest(w_sq: Fraction) -> None:
    k = log_round_sq(w_sq)
    assert Fraction(2) ** (2 * k - 1) <= w_sq < Fraction(2) ** (2 * k + 1)


def test_log_round_tie_goes_up() -> None:
    assert log_round_sq(Fraction(2)) == 1  # |w| = sqrt(2): log2 = 1/2 exactly
    assert log_round_sq(Fraction(1999, 1000)) == 0
    assert log_round_sq(Fraction(1, 2)) == 0  # log2 = -1/2 goes up to 0


@given(st.fractions(min_value=0, max_value=Fraction(10**4)), st.integers(1, 200))
@settings(max_examples=200, deadline=None)
def test_round_div_sqrt_matches_definition(r: Fraction, d: int) -> None:
    n = round_div_sqrt(r, d)
    x = float(r) / math.sqrt(d)
    assert abs(n - x) <= 0.5 + 1e-9
    # exact: (n - 1/2)^2 d <= r^2 <= (n + 1/2)^2 d
    assert (Fraction(2 * n - 1, 2)) ** 2 * d <= r * r or n == 0
    assert r * r <= (Fraction(2 * n + 1, 2)) ** 2 * d


def test_round_div_sqrt_ties_to_even() -> None:
    assert round_div_sqrt(Fraction(5), 4) == 2  # 2.5
    assert round_div_sqrt(Fraction(7), 4) == 4  # 3.5


def test_fixed_point_power_of_two_is_exact() -> None:
    rep = ConversionReport("x")
    fp = fixed_point(Fraction(1, 8), [], TINY, "p", rep)
    assert (fp.mult, fp.shift) == (1, 3)
    assert rep.multipliers[0].rel_error == 0.0
    fp = fixed_point(Fraction(3, 4), [Fraction(1, 2)], TINY, "p", rep)
    assert Fraction(fp.mult, 2**fp.shift) == Fraction(3, 4)
    assert Fraction(fp.biases[0], 2**fp.shift) == Fraction(1, 2)


@given(st.floats(1e-6, 1e3), st.lists(st.floats(-50, 50), max_size=4))
@settings(max_examples=200, deadline=None)
def test_fixed_point_largest_shift_and_error(ratio: float, biases: list[float]) -> None:
    cfg = TINY
    rep = ConversionReport("x")
    r = Fraction(ratio)
    fp = fixed_point(r, [Fraction(b) for b in biases], cfg, "p", rep)
    assert 1 <= fp.mult < 2**cfg.multiplier_bits
    if not rep.multipliers[0].clipped and not any(b.clipped for b in rep.biases):
        # M = round_half_even(r * 2**s) at the chosen s
        assert fp.mult == round(r * 2**fp.shift)
        rel = abs(Fraction(fp.mult, 2**fp.shift) - r) / r
        assert rel <= Fraction(1, 2 * fp.mult - 1)


def test_fixed_point_clips_and_reports() -> None:
    rep = ConversionReport("x")
    fp = fixed_point(Fraction(10**6), [], TINY, "big", rep)
    assert fp.mult == 2**TINY.multiplier_bits - 1 and rep.multipliers[0].clipped
    assert any("big" in w for w in rep.warnings)
    fp = fixed_point(Fraction(1), [Fraction(10**9)], TINY, "bias", rep)
    assert fp.shift == 0 and rep.biases[-1].clipped == 1


def test_zero_signs_become_plus_one_and_are_counted() -> None:
    w = np.array([[1.0, -1.0], [0.0, 0.0]])  # mean 0: two weights equal the mean
    rep = ConversionReport("x")
    signs, scale = binary_signs(w, "w", rep)
    assert signs.tolist() == [[1, -1], [1, 1]]
    assert rep.zero_signs["w"] == 2 and scale == 0.5


# ------------------------------------------------------------------ round trip


@pytest.mark.parametrize("cfg", [TINY, TINY_ODD], ids=["tiny", "tiny-odd"])
@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_round_trip_synthetic(tmp_path: Path, cfg: object, suffix: str) -> None:
    assert isinstance(cfg, type(TINY))
    ck_path = write_synthetic(tmp_path / f"ck{suffix}", cfg, 11)
    ck = load_checkpoint(ck_path)
    assert infer_config(ck) == cfg
    mf, rep = convert_checkpoint(ck, cfg)
    mf.params.validate(cfg)
    assert rep.total_zero_signs == 0
    assert rep.max_multiplier_error < 0.5
    save_model(tmp_path / "m.npz", mf)
    back = load_model(tmp_path / "m.npz")
    assert back.config == cfg and back.embeddings is not None
    ids = np.arange(cfg.max_seq) % cfg.vocab
    mask = np.ones(cfg.max_seq, dtype=bool)
    mask[-1] = False
    h0 = embed(ids, None, back.embeddings, cfg)
    assert mf.embeddings is not None
    assert np.array_equal(h0, embed(ids, None, mf.embeddings, cfg))
    fast = forward_fast(h0, mask, back.params, cfg)
    canon = forward(h0.tolist(), mask.tolist(), back.params, cfg)
    assert list(fast.logits) == list(canon.logits)


def test_conversion_is_deterministic(tiny_tensors: dict[str, np.ndarray]) -> None:
    a, ra = convert_checkpoint(_ckpt(tiny_tensors), TINY)
    b, rb = convert_checkpoint(_ckpt(tiny_tensors), TINY)
    assert a.params == b.params and ra.to_dict() == rb.to_dict()


def test_report_lists_ignored_and_dropped(tiny_tensors: dict[str, np.ndarray]) -> None:
    _, rep = convert_checkpoint(_ckpt(tiny_tensors), TINY)
    ignored = {t.name for t in rep.ignored}
    assert "bert.encoder.layer.0.attention.self.move_q.bias" in ignored
    assert "bert.encoder.layer.1.output.LayerNorm2.iters" in ignored
    assert "bert.encoder.layer.0.output.LayerNorm.weight" in ignored
    assert not rep.dropped  # the Q/K/V input moves are used (spec/06, "Departures", 1)
    assert not rep.warnings
    json.dumps(rep.to_dict(), allow_nan=False)


def test_nonzero_qkv_move_is_kept() -> None:
    t = synthetic_tensors(TINY, 5, qkv_move_std=0.05)
    mf, rep = convert_checkpoint(_ckpt(t), TINY)
    assert any(mf.params.layers[0].q.in_bias)
    assert not any("query.move.bias" in w for w in rep.warnings)


def test_zero_sign_in_checkpoint_reported(tiny_tensors: dict[str, np.ndarray]) -> None:
    t = dict(tiny_tensors)
    w = np.tile(np.array([0.5, -0.5], dtype=np.float32), (TINY.hidden, TINY.hidden // 2))
    w[0, 0] = w[0, 1] = 0.0  # mean stays exactly 0
    t[f"{Q}.weight"] = w
    _, rep = convert_checkpoint(_ckpt(t), TINY)
    assert rep.zero_signs[f"{Q}.weight"] == 2


def test_bspn_clipping_and_zero_weight(tiny_tensors: dict[str, np.ndarray]) -> None:
    t = dict(tiny_tensors)
    mod = "bert.encoder.layer.0.attention.output.LayerNorm"
    g = t[f"{mod}.weight"].copy()
    g[0], g[1] = 0.0, 1e4
    t[f"{mod}.weight"] = g
    mf, rep = convert_checkpoint(_ckpt(t), TINY)
    b = mf.params.layers[0].bspn1
    assert b.weight_sign[0] == 0
    assert b.weight_exp[1] == TINY.bspn_wexp_max
    rec = next(r for r in rep.bspn if r.name == mod)
    assert rec.zero_weights == 1 and rec.clipped_exponents == 1


# ------------------------------------------------------------------ malformed checkpoints


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t.pop(f"{Q}.weight"), f"missing tensor '{Q}.weight'"),
        (lambda t: t.__setitem__(f"{Q}.bias", np.zeros(3, np.float32)),
         f"'{Q}.bias': expected shape"),
        (lambda t: t.__setitem__(f"{Q}.input_clip_val", np.float32(np.nan)), "non-finite"),
        (lambda t: t.__setitem__("classifier.bias", np.zeros(2, np.int32)),
         "expected a float dtype"),
        (lambda t: t.__setitem__(
            "bert.encoder.layer.1.output.LayerNorm2.running_phi",
            -np.ones((1, TINY.hidden, 1, 1), np.float32)), "negative entries"),
        (lambda t: t.__setitem__("bert.encoder.layer.0.attention.self.clip_attn",
                                 np.ones(2, np.float32)), "clip_attn"),
    ],
)
def test_malformed_checkpoint_errors(
    tiny_tensors: dict[str, np.ndarray], edit: Callable[[dict[str, np.ndarray]], None],
    needle: str,
) -> None:
    t = dict(tiny_tensors)
    edit(t)
    with pytest.raises(CheckpointError, match=needle.replace("[", r"\[").replace(".", r"\.")):
        convert_checkpoint(_ckpt(t), TINY)


def test_heads_required_without_metadata(tiny_tensors: dict[str, np.ndarray]) -> None:
    with pytest.raises(CheckpointError, match="--heads"):
        infer_config(_ckpt(tiny_tensors))
    cfg = infer_config(_ckpt(tiny_tensors), TINY, heads=2)
    assert cfg == TINY
    cfg4 = infer_config(_ckpt(tiny_tensors), heads=4)
    assert cfg4.heads == 4 and cfg4.h_frac == SORBET_BASE.h_frac  # Sorbet-base formats
    with pytest.raises(CheckpointError, match="invalid"):
        infer_config(_ckpt(tiny_tensors), heads=3)


# ------------------------------------------------------------------ command line


def test_cli_convert_writes_model_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    ck = write_synthetic(tmp_path / "c.safetensors", TINY, 2)
    out, rep = tmp_path / "m.npz", tmp_path / "r.json"
    assert main(["convert", str(ck), "-o", str(out), "--report", str(rep)]) == 0
    text = capsys.readouterr().out
    assert "max relative error" in text and "zero signs" in text
    d = json.loads(rep.read_text())
    assert d["summary"]["zero_signs"] == 0 and d["multipliers"]
    assert load_model(out).config == TINY


def test_cli_convert_refuses_pickle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "pytorch_model.bin"
    p.write_bytes(b"\x80\x02")
    assert main(["convert", str(p), "-o", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "pickle" in err and "pytorch_model.bin" in err


def test_cli_convert_missing_tensor(tmp_path: Path, tiny_tensors: dict[str, np.ndarray],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    t = dict(tiny_tensors)
    del t["classifier.weight"]
    p = tmp_path / "c.safetensors"
    save_safetensors(p, t, {"num_attention_heads": "2"})
    assert main(["convert", str(p), "-o", str(tmp_path / "m.npz"), "--preset", "tiny"]) == 2
    assert "classifier.weight" in capsys.readouterr().err


def test_preset_formats_replace_metadata(tmp_path: Path) -> None:
    ck = write_synthetic(tmp_path / "c.safetensors", TINY, 2)
    base = dataclasses.replace(TINY, h_frac=5)
    cfg = infer_config(load_checkpoint(ck), base)
    assert cfg.h_frac == 5


# ------------------------------------------------------------------ default path, every shape


def _authors_shaped(cfg: ModelConfig, seed: int) -> Checkpoint:
    """A synthetic checkpoint whose metadata holds only the head count, as the authors' has."""
    return _ckpt(synthetic_tensors(cfg, seed), {"num_attention_heads": str(cfg.heads)})


@pytest.mark.parametrize(("hidden", "heads", "ffn"), [
    (768, 12, 3072),  # Sorbet-base / BERT-base
    (1024, 16, 4096),  # BERT-large
    (768, 1, 64),  # one head of 768: needs a wider score format than the default
    (256, 4, 1024),  # BERT-mini
])
def test_default_path_converts_every_shape(hidden: int, heads: int, ffn: int) -> None:
    shape = ModelConfig(layers=1, hidden=hidden, heads=heads, ffn=ffn, vocab=40,
                        max_positions=8, type_vocab=2, max_seq=8, num_labels=2,
                        score_width=48)
    ckpt = _authors_shaped(shape, 3)
    cfg = infer_config(ckpt)
    assert (cfg.hidden, cfg.heads, cfg.ffn, cfg.max_seq) == (hidden, heads, ffn, 8)
    assert cfg.max_abs_score < 1 << (cfg.score_width - 1)
    mf, rep = convert_checkpoint(ckpt, cfg)
    assert mf.config == cfg and not rep.warnings
    assert cfg.score_width == max(ModelConfig.score_width, cfg.max_abs_score.bit_length() + 1)


def test_cli_converts_sorbet_base_shape_without_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shape = dataclasses.replace(SORBET_BASE, layers=1, vocab=30, max_positions=6, max_seq=6)
    p = tmp_path / "c.safetensors"
    save_safetensors(p, synthetic_tensors(shape, 1), {})
    out = tmp_path / "m.npz"
    assert main(["convert", str(p), "-o", str(out), "--heads", "12", "--quiet"]) == 0
    cfg = load_model(out).config
    assert (cfg.hidden, cfg.heads, cfg.head_dim) == (768, 12, 64)
    assert dataclasses.replace(cfg, layers=12, vocab=30522, max_positions=512,
                               max_seq=512) == SORBET_BASE
    capsys.readouterr()


def test_safetensors_with_header_length_128_mod_256_is_not_taken_for_pickle(
    tmp_path: Path, tiny_tensors: dict[str, np.ndarray]
) -> None:
    """The first byte of the header length can be 0x80, pickle's PROTO opcode."""
    for pad in range(256):
        p = tmp_path / "c.safetensors"
        save_safetensors(p, tiny_tensors, {"num_attention_heads": "2", "pad": "x" * pad})
        if p.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no padding gave a header length of 128 modulo 256")
    ck = load_checkpoint(p)
    assert ck.metadata["num_attention_heads"] == "2"
    assert np.array_equal(ck.tensors[Q + ".weight"], tiny_tensors[Q + ".weight"])
