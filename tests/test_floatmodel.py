"""Float evaluation of the authors' formulas, host embedding, and the comparison report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from conformance.cli import main
from conformance.commands.compare import compare
from conformance.model.checkpoint import Checkpoint
from conformance.model.convert import convert_checkpoint
from conformance.model.floatmodel import (
    FloatOptions,
    binarize,
    forward_float,
    load_float_model,
    nearest_pow2,
)
from conformance.model.modelfile import save_model
from conformance.model.synthetic_checkpoint import synthetic_tensors, write_synthetic
from reference.errors import ConfigError, RangeError, ShapeError
from reference.fast import forward_fast
from reference.host_embedding import embed, embed_float, quantize_hidden
from reference.model_config import ModelConfig
from reference.model_presets import TINY

pytestmark = pytest.mark.xdist_group("floatmodel")
"""The module fixtures are expensive: keep these tests on one worker."""


@pytest.fixture(scope="module")
def tiny_ckpt() -> Checkpoint:
    return Checkpoint("mem", synthetic_tensors(TINY, 3))


def _is_pow2_or_zero(x: np.ndarray) -> bool:
    m = np.abs(x[x != 0])
    return bool(np.all(np.exp2(np.round(np.log2(m))) == m))


def test_nearest_pow2_linear_distance_ties_up() -> None:
    z = np.array([1.0, 1.4, 1.5, 3.0, 5.0, 6.0, 6.1])
    assert nearest_pow2(z).tolist() == [1.0, 1.0, 2.0, 4.0, 4.0, 8.0, 8.0]


def test_binarize_sign_zero_is_zero() -> None:
    w = np.array([[1.0, -1.0], [0.0, 0.0]])
    assert binarize(w).tolist() == [[0.5, -0.5], [0.0, 0.0]]


def test_forward_shapes_powers_of_two_and_determinism(tiny_ckpt: Checkpoint) -> None:
    fm = load_float_model(tiny_ckpt, TINY)
    ids = [1, 5, 7, 2, 9, 0]
    a = forward_float(fm, ids, None, None, trace=True)
    b = forward_float(fm, ids, None, None)
    assert a.logits.shape == (TINY.num_labels,) and np.array_equal(a.logits, b.logits)
    for i in range(TINY.layers):
        assert _is_pow2_or_zero(a.trace[f"layer.{i}.h1"])
        assert _is_pow2_or_zero(a.trace[f"layer.{i}.h2"])
        probs = a.trace[f"layer.{i}.probs"]
        assert _is_pow2_or_zero(probs)
        sums = probs.sum(axis=-1)
        assert np.all((sums >= 0.75) & (sums < 1.5))
        for c in ("c_q", "c_k", "c_v", "c_prob"):
            t = a.trace[f"layer.{i}.{c}"]
            assert t.min() >= 0 and t.max() <= 15 and np.array_equal(t, np.rint(t))
    assert np.all(a.pooled >= 0)


def test_padded_tokens_do_not_matter(tiny_ckpt: Checkpoint) -> None:
    fm = load_float_model(tiny_ckpt, TINY)
    mask = [True, True, True, True, False, False]
    a = forward_float(fm, [1, 2, 3, 4, 5, 6], None, mask)
    b = forward_float(fm, [1, 2, 3, 4, 30, 31], None, mask)
    assert np.array_equal(a.logits, b.logits)


def test_authors_offset_option_runs(tiny_ckpt: Checkpoint) -> None:
    fm = load_float_model(tiny_ckpt, TINY)
    out = forward_float(fm, [1, 2, 3], None, None, FloatOptions(unsigned_offset="authors"))
    assert np.all(np.isfinite(out.logits))
    with pytest.raises(ConfigError, match="unsigned_offset"):
        FloatOptions(unsigned_offset="batch")


def test_bad_tokens_and_mask(tiny_ckpt: Checkpoint) -> None:
    fm = load_float_model(tiny_ckpt, TINY)
    with pytest.raises(RangeError, match=r"token_ids\[1\]: 32"):
        forward_float(fm, [1, 32])
    with pytest.raises(ShapeError, match="max_seq"):
        forward_float(fm, list(range(7)))
    with pytest.raises(ShapeError, match="mask"):
        forward_float(fm, [1, 2], None, [True])
    with pytest.raises(RangeError, match="token_types"):
        forward_float(fm, [1, 2], [0, 2])


def test_host_embedding_is_rounded_float_layernorm(tiny_ckpt: Checkpoint) -> None:
    mf, _ = convert_checkpoint(tiny_ckpt, TINY)
    assert mf.embeddings is not None
    ids, types = [3, 1, 4, 1, 5], [0, 0, 1, 1, 1]
    y = embed_float(ids, types, mf.embeddings, TINY)
    h0 = embed(ids, types, mf.embeddings, TINY)
    assert h0.dtype == np.int64 and h0.shape == (5, TINY.hidden)
    assert np.array_equal(h0, quantize_hidden(y, TINY))
    assert np.all(np.abs(h0 / 2**TINY.h_frac - y) <= 2.0 ** -(TINY.h_frac + 1) + 1e-12)
    fm = load_float_model(tiny_ckpt, TINY)
    fy = forward_float(fm, ids, types, trace=True).trace["h0"]
    assert np.allclose(fy, y, atol=1e-5)


def test_quantize_hidden_saturates_and_rounds_half_even() -> None:
    y = np.array([[1e9, -1e9, 0.5 / 16, 1.5 / 16]])
    q = quantize_hidden(y, TINY)
    assert q.tolist() == [[TINY.h_format.max, TINY.h_format.min, 0, 2]]


def test_integer_model_matches_float_counts_at_high_precision(tmp_path: Path) -> None:
    """With wide formats the converted integer model reproduces the float counts of layer 0."""
    cfg = ModelConfig(
        layers=1, hidden=16, heads=2, ffn=32, vocab=32, max_positions=16, type_vocab=2,
        max_seq=8, num_labels=2, h_width=24, h_frac=14, r_width=28, u_width=24, u_frac=14,
        score_width=40, score_frac=16, multiplier_bits=20, prob_frac=20, partition_frac=20,
    )
    ck = Checkpoint("mem", synthetic_tensors(cfg, 3))
    mf, rep = convert_checkpoint(ck, cfg)
    assert rep.max_multiplier_error < 1e-4
    fm = load_float_model(ck, cfg)
    ids = np.array([4, 8, 15, 16, 23, 1, 2, 3])
    mask = np.ones(8, dtype=bool)
    fo = forward_float(fm, ids, None, mask, trace=True)
    assert mf.embeddings is not None
    io = forward_fast(embed(ids, None, mf.embeddings, cfg), mask, mf.params, cfg, trace=True)
    for f_key, i_key in [("q.cin", "cin_q"), ("c_q", "c_q"), ("c_k", "c_k"), ("c_v", "c_v"),
                         ("c_prob", "c_prob"), ("o.cin", "cin_o"), ("ffn1.cin", "cin_ffn1"),
                         ("ffn2.cin", "cin_ffn2")]:
        assert np.array_equal(fo.trace[f"layer.0.{f_key}"], io.trace[f"layer.0.{i_key}"]), f_key
    # BSPN outputs: the integer eps is 2**-eps_exp, the float one 1e-5, and the float log2 can
    # land on the other side of a power-of-two boundary, so a few entries may differ by 2x
    same = fo.trace["layer.0.h1"] * 2**cfg.h_frac == io.trace["layer.0.h1"]
    assert same.mean() >= 0.9


# ------------------------------------------------------------------ comparison report


def test_compare_agreement_is_computed(tiny_ckpt: Checkpoint) -> None:
    mf, _ = convert_checkpoint(tiny_ckpt, TINY)
    fm = load_float_model(tiny_ckpt, TINY)
    rep = compare(fm, mf, 24, 6, 0)
    assert len(rep.samples) == 24
    assert rep.agreeing == sum(s.float_label == s.int_label for s in rep.samples)
    assert rep.label_agreement == rep.agreeing / 24
    assert rep.max_abs_diff >= rep.mean_abs_diff >= 0
    # negating the integer classifier flips its labels: agreement must change
    head = mf.params.head
    flipped = dataclasses.replace(head, cls_weight=tuple(-w for w in head.cls_weight),
                                  cls_bias=tuple(-b for b in head.cls_bias))
    mf2 = dataclasses.replace(mf, params=dataclasses.replace(mf.params, head=flipped))
    rep2 = compare(fm, mf2, 24, 6, 0)
    assert rep2.agreeing != rep.agreeing
    assert rep.agreeing > rep2.agreeing
    d = rep.to_dict()
    assert d["summary"]["agreeing"] == rep.agreeing


def test_compare_canonical_equals_fast(tiny_ckpt: Checkpoint) -> None:
    mf, _ = convert_checkpoint(tiny_ckpt, TINY)
    fm = load_float_model(tiny_ckpt, TINY)
    a = compare(fm, mf, 3, 5, 9, tier="fast")
    b = compare(fm, mf, 3, 5, 9, tier="canonical")
    assert [s.int_logits for s in a.samples] == [s.int_logits for s in b.samples]


def test_cli_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ck = write_synthetic(tmp_path / "c.safetensors", TINY, 4)
    mf, _ = convert_checkpoint(Checkpoint(str(ck), synthetic_tensors(TINY, 4)), TINY)
    save_model(tmp_path / "m.npz", mf)
    js = tmp_path / "cmp.json"
    argv = ["compare", str(ck), str(tmp_path / "m.npz"), "--inputs", "16", "--seq", "6",
            "--seed", "1", "--json", str(js)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "label agreement" in out and "logit |int - float|" in out
    assert js.exists()
    assert main(["compare", str(ck), str(tmp_path / "m.npz"), "--seq", "99"]) == 2
    assert "max_seq" in capsys.readouterr().err
