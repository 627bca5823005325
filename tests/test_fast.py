"""The fast tier (reference/fast) against the canonical tier, bit for bit."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from conformance.model.randmodel import random_model
from reference import arith, layers, model
from reference.algebra import PY
from reference.bspn import BSPNConfig, BSPNParams
from reference.bspn import bspn as canonical_bspn
from reference.errors import ConfigError, MaskError, OverflowDetected, RangeError, ShapeError
from reference.fast import check_widths, forward_fast, ops, prepare
from reference.fast import model as fm
from reference.model_config import ModelConfig
from reference.model_presets import SORBET_BASE, TINY, TINY_ODD
from reference.ptsoftmax import PTSoftmaxConfig
from reference.ptsoftmax import ptsoftmax as canonical_ptsoftmax
from reference.quantizer import requantize

PRESETS = {"tiny": TINY, "tiny-odd": TINY_ODD}
SETTINGS = settings(max_examples=25, deadline=None)


def _arr(v: Any) -> np.ndarray[Any, Any]:
    return np.asarray(v, dtype=np.int64)


@st.composite
def model_input(draw: st.DrawFn, cfg: ModelConfig) -> tuple[np.ndarray[Any, Any], list[bool]]:
    """``h0`` (mixing BSPN-like powers of two, small and extreme values) and a mask."""
    seq = draw(st.integers(1, cfg.max_seq))
    fmt = cfg.h_format
    pow2 = st.builds(lambda s, r: s * (1 << r), st.sampled_from([-1, 1]),
                     st.integers(0, cfg.h_width - 2))
    value = st.one_of(pow2, st.integers(-(1 << cfg.h_frac) * 2, (1 << cfg.h_frac) * 2),
                      st.sampled_from([fmt.min, fmt.max, 0]), st.integers(fmt.min, fmt.max))
    h0 = draw(st.lists(st.lists(value, min_size=cfg.hidden, max_size=cfg.hidden),
                       min_size=seq, max_size=seq))
    mask = draw(st.one_of(
        st.lists(st.booleans(), min_size=seq, max_size=seq),
        st.just([True] * seq), st.just([False] * seq),
    ))
    return _arr(h0), mask


def _model(cfg: ModelConfig, seed: int) -> Any:
    return random_model(cfg, seed, embeddings=False).params


@pytest.mark.parametrize("name", list(PRESETS))
@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_whole_model_matches_canonical(name: str, data: st.DataObject, seed: int) -> None:
    cfg = PRESETS[name]
    params = _model(cfg, seed)
    h0, mask = data.draw(model_input(cfg))
    want = model.forward(h0.tolist(), mask, params, cfg, trace=True)
    got = forward_fast(h0, np.array(mask, dtype=np.bool_), params, cfg, trace=True)
    assert list(got.trace) == list(want.trace)
    for key, value in want.trace.items():
        np.testing.assert_array_equal(got.trace[key], _arr(value), err_msg=key)
    assert got.logits.tolist() == list(want.logits)
    assert got.pooled.tolist() == list(want.pooled)
    assert got.hidden.tolist() == [list(r) for r in want.hidden]
    # Without a trace the fast tier takes its float64 paths (exact below 2**53): same bits.
    plain = forward_fast(h0, np.array(mask, dtype=np.bool_), params, cfg, trace=False)
    assert plain.logits.tolist() == list(want.logits)
    assert plain.hidden.tolist() == [list(r) for r in want.hidden]


@pytest.mark.parametrize("name", list(PRESETS))
@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_blocks_match_canonical(name: str, data: st.DataObject, seed: int) -> None:
    cfg = PRESETS[name]
    params = _model(cfg, seed)
    fp = prepare(params, cfg)
    h0, mask = data.draw(model_input(cfg))
    m = np.array(mask, dtype=np.bool_)
    layer, flayer = params.layers[0], fp.layers[0]

    h1, t1 = layers.attention_block(h0.tolist(), mask, layer, cfg, trace=True)
    g1, u1 = fm.attention_block(h0, m, flayer, cfg, trace=True)
    np.testing.assert_array_equal(g1, _arr(h1))
    assert set(u1) == set(t1)
    for key in t1:
        np.testing.assert_array_equal(u1[key], _arr(t1[key]), err_msg=key)

    h2, t2 = layers.ffn_block(h1, layer, cfg, trace=True)
    g2, u2 = fm.ffn_block(g1, flayer, cfg, trace=True)
    np.testing.assert_array_equal(g2, _arr(h2))
    for key in t2:
        np.testing.assert_array_equal(u2[key], _arr(t2[key]), err_msg=key)

    h3, t3 = layers.encoder_layer(h0.tolist(), mask, layer, cfg, trace=True)
    g3, u3 = fm.encoder_layer(h0, m, flayer, cfg, trace=True)
    np.testing.assert_array_equal(g3, _arr(h3))
    assert set(u3) == set(t3)

    cin, acc, pooled = layers.pooler(h3, params.head, cfg)
    fcin, facc, fpooled = fm.pooler(g3, fp)
    assert (fcin.tolist(), facc.tolist(), fpooled.tolist()) == (cin, acc, pooled)
    assert fm.classifier(fpooled, fp).tolist() == layers.classifier(pooled, params.head, cfg)


def test_all_masked_rows_give_zero_probabilities() -> None:
    cfg = TINY
    params = _model(cfg, 7)
    h0 = np.full((3, cfg.hidden), 1 << cfg.h_frac, dtype=np.int64)
    out = forward_fast(h0, np.zeros(3, dtype=np.bool_), params, cfg, trace=True)
    assert not out.trace["layer.0.probs"].any()
    want = model.forward(h0.tolist(), [False] * 3, params, cfg)
    assert out.logits.tolist() == list(want.logits)


# --------------------------------------------------------------------------- primitives


@settings(max_examples=300, deadline=None)
@given(x=st.integers(-(1 << 40), 1 << 40), m=st.integers(1, (1 << 24) - 1),
       b=st.integers(-(1 << 39), (1 << 39) - 1), s=st.integers(0, 62),
       lo=st.integers(-(1 << 20), 0), width=st.integers(0, 1 << 21))
@example(x=5, m=1, b=0, s=1, lo=-100, width=200)  # 2.5 -> 2
@example(x=7, m=1, b=0, s=1, lo=-100, width=200)  # 3.5 -> 4
@example(x=-5, m=1, b=0, s=1, lo=-100, width=200)  # -2.5 -> -2
def test_requant_matches_canonical(x: int, m: int, b: int, s: int, lo: int, width: int) -> None:
    # The int64 path's domain (guaranteed by check_widths): |x*M + b| + 2**s below 2**62.
    assume(abs(x) * m + abs(b) + (1 << s) < ops.I64_LIMIT)
    hi = lo + width
    want = requantize(PY, x, m, b, s, lo, hi)
    assert int(ops.requant(_arr([x]), m, _arr([b]), s, lo, hi)[0]) == want


@settings(max_examples=200, deadline=None)
@given(st.integers(1, (1 << 62) - 1))
@example(1)
@example((1 << 62) - 1)
@example((1 << 53) + 1)
@example((1 << 54) - 1)
def test_log2_functions_match_arith(v: int) -> None:
    assert int(ops.floor_log2(_arr([v]))[0]) == arith.floor_log2(PY, v, 62)
    assert int(ops.log_round(_arr([v]))[0]) == arith.log_nearest_pow2_exp(PY, v, 62)


def test_log_round_at_every_threshold() -> None:
    for k in range(61):
        t = arith.sqrt2_threshold(k)
        for v in (t - 1, t, 1 << k, (1 << (k + 1)) - 1):
            if v >= 1:
                assert int(ops.log_round(_arr([v]))[0]) == arith.log_nearest_pow2_exp(PY, v, 62)


@st.composite
def ptsm_case(draw: st.DrawFn) -> tuple[PTSoftmaxConfig, list[int], list[bool]]:
    sw = draw(st.integers(4, 40))
    cfg = PTSoftmaxConfig(
        max_len=draw(st.integers(1, 40)), score_width=sw, score_frac=draw(st.integers(0, sw - 1)),
        partition_frac=draw(st.integers(0, 30)), out_frac=draw(st.integers(0, 30)),
    )
    n = draw(st.integers(1, cfg.max_len))
    fmt = cfg.score_format
    xs = draw(st.lists(st.one_of(st.integers(fmt.min, fmt.max), st.integers(-64, 64).map(
        lambda v: max(fmt.min, min(fmt.max, v)))), min_size=n, max_size=n))
    mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return cfg, xs, mask


@settings(max_examples=200, deadline=None)
@given(ptsm_case())
def test_ptsoftmax_matches_canonical(case: tuple[PTSoftmaxConfig, list[int], list[bool]]) -> None:
    cfg, xs, mask = case
    want = canonical_ptsoftmax(xs, mask, cfg).out
    got = ops.ptsoftmax(_arr([xs, xs]), np.array(mask, dtype=np.bool_), cfg)
    assert got[0].tolist() == list(want) == got[1].tolist()


@st.composite
def bspn_case(draw: st.DrawFn) -> tuple[BSPNConfig, list[int], BSPNParams]:
    g = draw(st.integers(1, 6))
    groups = draw(st.integers(1, 3))
    wmin = draw(st.integers(-16, 4))
    out_width = draw(st.integers(2, 32))
    cfg = BSPNConfig(
        channels=g * groups, group_size=g, in_width=draw(st.integers(2, 32)),
        in_frac=draw(st.integers(0, 12)), eps_exp=draw(st.integers(0, 20)),
        weight_exp_min=wmin, weight_exp_max=draw(st.integers(wmin, 16)),
        bias_width=draw(st.integers(2, 20)), bias_frac=draw(st.integers(0, 12)),
        out_width=out_width, out_frac=draw(st.integers(0, out_width - 2)),
    )
    n = cfg.channels
    fi, fb = cfg.in_format, cfg.bias_format
    x = draw(st.lists(st.integers(fi.min, fi.max), min_size=n, max_size=n))
    p = BSPNParams(
        tuple(draw(st.lists(st.integers(-1, 1), min_size=n, max_size=n))),
        tuple(draw(st.lists(st.integers(cfg.weight_exp_min, cfg.weight_exp_max),
                            min_size=n, max_size=n))),
        tuple(draw(st.lists(st.integers(fb.min, fb.max), min_size=n, max_size=n))),
    )
    return cfg, x, p


@settings(max_examples=200, deadline=None)
@given(bspn_case())
def test_bspn_matches_canonical(case: tuple[BSPNConfig, list[int], BSPNParams]) -> None:
    cfg, x, p = case
    if ops.bspn_exact_bound(cfg) >= ops.I64_LIMIT or (cfg.group_size << cfg.j_max) >= ops.I64_LIMIT:
        with pytest.raises(OverflowDetected):
            ops.bspn(_arr([x]), _arr(p.weight_sign), _arr(p.weight_exp), _arr(p.bias), cfg)
        return
    want = canonical_bspn(x, p, cfg).out
    got = ops.bspn(_arr([x]), _arr(p.weight_sign), _arr(p.weight_exp), _arr(p.bias), cfg)
    assert got[0].tolist() == list(want)


@pytest.mark.parametrize("bound", [10, (1 << 24) - 1, 1 << 24, (1 << 53) - 1, 1 << 53])
def test_exact_matmul_every_path(bound: int) -> None:
    rng = np.random.default_rng(bound % 1000)
    mag = max(1, math.isqrt(bound // 4))
    a = rng.integers(-mag, mag + 1, (3, 4))
    b = rng.integers(-mag, mag + 1, (4, 5))
    want = [[sum(int(a[i, k]) * int(b[k, j]) for k in range(4)) for j in range(5)]
            for i in range(3)]
    assert ops.exact_matmul(a, b, bound).tolist() == want


def test_exact_matmul_refuses_int64_overflow() -> None:
    with pytest.raises(OverflowDetected):
        ops.exact_matmul(_arr([[1]]), _arr([[1]]), 1 << 62)


def test_sorbet_base_widths_are_accepted() -> None:
    check_widths(SORBET_BASE)
    # BSPN's exact value fits int64 (s32.18 inputs, s26.18 biases: below 2**56), so the
    # fast tier runs Sorbet-base exactly; the float64 shortcut of log_round is not taken.
    assert (1 << 53) <= ops.bspn_exact_bound(SORBET_BASE.bspn) < ops.I64_LIMIT


def test_too_wide_configuration_is_rejected_up_front() -> None:
    wide = replace(TINY, eps_exp=40, r_width=32)
    with pytest.raises(ConfigError, match="fast tier cannot run this configuration"):
        check_widths(wide)


# --------------------------------------------------------------------------- input checks


def test_bad_inputs_raise_like_canonical() -> None:
    cfg = TINY
    params = _model(cfg, 1)
    fp = prepare(params, cfg)
    good = np.zeros((2, cfg.hidden), dtype=np.int64)
    with pytest.raises(ShapeError):
        forward_fast(np.zeros((2, cfg.hidden + 1), dtype=np.int64), [True, True], fp, cfg)
    with pytest.raises(ShapeError):
        forward_fast(np.zeros((cfg.max_seq + 1, cfg.hidden), dtype=np.int64),
                     [True] * (cfg.max_seq + 1), fp, cfg)
    bad = good.copy()
    bad[1, 3] = cfg.h_format.max + 1
    with pytest.raises(RangeError, match=r"h0\[1\]\[3\]"):
        forward_fast(bad, [True, True], fp, cfg)
    with pytest.raises(MaskError):
        forward_fast(good, [True], fp, cfg)
    with pytest.raises(MaskError):
        forward_fast(good, [1, 0], fp, cfg)
    with pytest.raises(ShapeError, match="another configuration"):
        forward_fast(good, [True, True], fp, TINY_ODD)


@settings(max_examples=200, deadline=None)
@given(
    xs=st.lists(st.integers(-(1 << 20), 1 << 20), min_size=1, max_size=40),
    mult=st.integers(1, (1 << 16) - 1),
    bias=st.integers(-(1 << 31), (1 << 31) - 1),
    shift=st.integers(0, 30),
)
@example(xs=[1, 3, 5, -1, -3], mult=1, bias=0, shift=1)  # every value a tie
def test_requant_float64_path_equals_integer_rule(
    xs: list[int], mult: int, bias: int, shift: int
) -> None:
    """The float64 requantization path gives the canonical integers (round half even)."""
    x = np.array(xs, dtype=np.float64)
    got = ops.requant(x, mult, bias, shift, -(1 << 40), 1 << 40, dtype=np.int64,
                      x_bound=1 << 20)
    want = [arith.clamp(PY, arith.shift_round(PY, v * mult + bias, shift,
                                              arith.Rounding.HALF_EVEN), -(1 << 40), 1 << 40)
            for v in xs]
    assert got.tolist() == want
