"""The fused float kernels of the fast tier's untraced path against the canonical tier."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_fast import bspn_case, model_input

from conformance.model.randmodel import random_model
from reference import arith, layers, model
from reference.algebra import PY
from reference.bspn import BSPNConfig, BSPNParams, divisor_j
from reference.bspn import bspn as canonical_bspn
from reference.fast import forward_fast, fused, ops, prepare
from reference.fast import model as fm
from reference.fast.params import requant_inputs
from reference.model_presets import SORBET_BASE, TINY, TINY_ODD
from reference.ptsoftmax import PTSoftmaxConfig
from reference.ptsoftmax import ptsoftmax as canonical_ptsoftmax
from reference.quantizer import requantize

TINY_SORBET_WIDTHS = replace(TINY, **{name: getattr(SORBET_BASE, name) for name in (
    "h_width", "h_frac", "r_width", "u_width", "u_frac", "eps_exp", "bspn_wexp_min",
    "bspn_wexp_max", "bspn_bias_width", "bspn_bias_frac", "bias_width")})
"""TINY's shapes with Sorbet-base's hidden-path formats: a fused layer whose BSPN sum can
pass ``2**53``, so ``bspn_into`` checks its rounding (``bspn_sum_exact`` fails)."""
PRESETS = {"tiny": TINY, "tiny-odd": TINY_ODD, "tiny-sorbet-widths": TINY_SORBET_WIDTHS}
LONG = replace(TINY, max_positions=64, max_seq=64)
"""TINY with sequences long enough to be split over threads."""


def _arr(v: Any) -> np.ndarray[Any, Any]:
    return np.asarray(v, dtype=np.int64)


def test_presets_take_the_paths_the_differential_tests_expect() -> None:
    """TINY and Sorbet-base layers are fused; TINY_ODD (out_frac > F) runs the int64 path."""
    assert all(lay.fused for lay in prepare(random_model(TINY, 3, embeddings=False).params,
                                            TINY).layers)
    assert not any(lay.fused for lay in prepare(random_model(TINY_ODD, 3, embeddings=False)
                                                .params, TINY_ODD).layers)
    pc = SORBET_BASE.ptsoftmax
    o = 1 << (SORBET_BASE.bits - 1)
    worst = (1 << SORBET_BASE.multiplier_bits) - 1
    assert fused.ptsoftmax_fusable(SORBET_BASE.head_dim * o * o, worst, pc.score_frac,
                                   pc.max_len, pc.partition_frac, pc.out_frac)
    # Sorbet-base's BSPN sum can pass 2**53: bspn_into runs with its rounding check, which
    # the block tests below and test_bspn_into_falls_back_near_sqrt2 exercise
    for bc in (SORBET_BASE.bspn, TINY_SORBET_WIDTHS.bspn):
        assert fused.bspn_fusable(bc) and not fused.bspn_sum_exact(bc)
        assert fused.bspn_rounding_j(bc) <= bc.j_max
    assert fused.bspn_sum_exact(TINY.bspn)
    assert fused.bspn_rounding_j(TINY.bspn) == TINY.bspn.j_max + 1
    assert all(lay.fused for lay in prepare(random_model(TINY_SORBET_WIDTHS, 3,
                                                         embeddings=False).params,
                                            TINY_SORBET_WIDTHS).layers)
    base = prepare(random_model(SORBET_BASE, 3, embeddings=False).params, SORBET_BASE).layers
    assert all(lay.fused and lay.prob_scale is not None for lay in base)
    bmax = 1 << (SORBET_BASE.bias_width - 1)
    for place, x_bound in requant_inputs(SORBET_BASE).items():
        assert fused.requant_exact(x_bound, worst, bmax), place


@pytest.mark.parametrize("name", list(PRESETS))
@settings(max_examples=20, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), threads=st.integers(1, 3))
def test_untraced_blocks_match_canonical(
    name: str, data: st.DataObject, seed: int, threads: int
) -> None:
    cfg = PRESETS[name]
    params = random_model(cfg, seed, embeddings=False).params
    fp = prepare(params, cfg)
    h0, mask = data.draw(model_input(cfg))
    m = np.array(mask, dtype=np.bool_)
    layer, flayer = params.layers[0], fp.layers[0]
    h1, _ = layers.attention_block(h0.tolist(), mask, layer, cfg)
    g1, t1 = fm.attention_block(h0, m, flayer, cfg, threads=threads)
    assert g1.tolist() == [list(r) for r in h1] and t1 == {}
    h2, _ = layers.ffn_block(h1, layer, cfg)
    g2, _ = fm.ffn_block(g1, flayer, cfg, threads=threads)
    assert g2.tolist() == [list(r) for r in h2]
    g3, _ = fm.encoder_layer(h0, m, flayer, cfg, threads=threads)
    assert g3.tolist() == g2.tolist()


@settings(max_examples=20, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_untraced_blocks_saturate_like_canonical(data: st.DataObject, seed: int) -> None:
    """O and FFN_2 at the widest multiplier and no shift: FFN_2's requantization and its
    residual sum can pass the ``r`` bounds, so the fused stages clamp (``out_reach`` too
    large to skip it) and must still give the canonical integers."""
    cfg = TINY
    params = random_model(cfg, seed, embeddings=False).params
    top = (1 << cfg.multiplier_bits) - 1
    layer = params.layers[0]
    layer = replace(layer, o=replace(layer.o, out_mult=top, out_shift=0),
                    ffn2=replace(layer.ffn2, out_mult=top, out_shift=0))
    params = replace(params, layers=(layer, *params.layers[1:]))
    fp = prepare(params, cfg)
    flayer = fp.layers[0]
    rf = cfg.r_format
    assert flayer.fused and flayer.ffn2.out_reach > rf.max
    h0, mask = data.draw(model_input(cfg))
    h1, _ = layers.attention_block(h0.tolist(), mask, layer, cfg)
    h2, _ = layers.ffn_block(h1, layer, cfg)
    got, _ = fm.encoder_layer(h0, np.array(mask, dtype=np.bool_), flayer, cfg, threads=1)
    assert got.tolist() == [list(r) for r in h2]


@settings(max_examples=6, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_long_sequences_split_over_threads_and_blocks(data: st.DataObject, seed: int) -> None:
    """Row blocks of several sizes on 1-3 threads give the canonical model's integers."""
    cfg = LONG
    params = random_model(cfg, seed, embeddings=False).params
    fp = prepare(params, cfg)
    seq = data.draw(st.integers(16, cfg.max_seq))
    h0 = _arr(data.draw(st.lists(st.lists(st.integers(cfg.h_format.min, cfg.h_format.max),
                                          min_size=cfg.hidden, max_size=cfg.hidden),
                                 min_size=seq, max_size=seq)))
    mask = data.draw(st.lists(st.booleans(), min_size=seq, max_size=seq))
    want = model.forward(h0.tolist(), mask, params, cfg)
    for threads, block in ((1, fused.MIN_BLOCK_ELEMS), (2, 3 * cfg.hidden), (3, cfg.ffn)):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fused, "MIN_BLOCK_ELEMS", block)
            got = forward_fast(h0, np.array(mask, dtype=np.bool_), fp, cfg, threads=threads)
        assert got.logits.tolist() == list(want.logits)
        assert got.hidden.tolist() == [list(r) for r in want.hidden]


@st.composite
def fusable_ptsm_case(
    draw: st.DrawFn,
) -> tuple[PTSoftmaxConfig, int, int, int, list[list[int]], list[bool]]:
    f = draw(st.integers(0, 20))
    cfg = PTSoftmaxConfig(max_len=draw(st.integers(1, 40)), score_width=48,
                          score_frac=draw(st.integers(0, 12)), partition_frac=f,
                          out_frac=draw(st.integers(0, f)))
    mult = draw(st.integers(1, (1 << 20) - 1))
    # products up to 2**30 << score_frac: beyond int32 once the multiplier is wide; rows
    # below 2**24 so that their float32 copies are exact, as the BLAS scores are
    s_bound = min((1 << 24) - 1, (((1 << 30) - 2) << cfg.score_frac) // mult)
    prob_mult = draw(st.integers(1, (1 << 16) - 1))
    prob_shift = draw(st.integers(0, 40))
    n = draw(st.integers(1, cfg.max_len))
    small = st.integers(-64, 64)
    row = st.lists(st.one_of(st.integers(-s_bound, s_bound), small), min_size=n, max_size=n)
    rows = draw(st.lists(row, min_size=1, max_size=3))
    mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return cfg, mult, prob_mult, prob_shift, rows, mask


@settings(max_examples=200, deadline=None)
@given(fusable_ptsm_case())
@example(case=(PTSoftmaxConfig(max_len=8, score_width=48, score_frac=0, partition_frac=16,
                               out_frac=16), 1, 1, 0, [[0, -16, -17, -31, -32, -33, -64, 5]],
               [True] * 7 + [False]))  # distances 32 and more: an int32 shift of 2**16 is 0
@example(case=(PTSoftmaxConfig(max_len=8, score_width=48, score_frac=0, partition_frac=4,
                               out_frac=4), 1, 16, 4, [[0, -1, -2, -3, -4, -5, -6, -40]],
               [True] * 8))  # prob_mult = 2**prob_shift: p = 0 is coded as 1/2, rounds to 0
@example(case=(PTSoftmaxConfig(max_len=8, score_width=48, score_frac=0, partition_frac=4,
                               out_frac=4), 1, 17, 4, [[0, -1, -2, -3, -4, -5, -6, -40]],
               [True] * 8))  # one above: p = 0 would round to 1, so the counts are looked up
def test_ptsoftmax_counts_match_canonical(
    case: tuple[PTSoftmaxConfig, int, int, int, list[list[int]], list[bool]],
) -> None:
    cfg, mult, prob_mult, prob_shift, rows, mask = case
    s_bound = max(abs(v) for r in rows for v in r)
    assert fused.ptsoftmax_fusable(s_bound, mult, cfg.score_frac, cfg.max_len,
                                   cfg.partition_frac, cfg.out_frac)
    want = [[requantize(PY, p, prob_mult, 0, prob_shift, 0, 15)
             for p in canonical_ptsoftmax([v * mult for v in r], mask, cfg).out] for r in rows]
    counts = fused.prob_count_table(prob_mult, prob_shift, cfg.out_frac, 15, np.float32)
    scale = fused.prob_scale(prob_mult, prob_shift, cfg.out_frac, 15)
    # the computed counts where prob_scale allows them, and the table lookup always
    for sc in {scale, None}:
        out = np.empty((len(rows), len(mask)), np.float32)
        fused.ptsoftmax_counts(out, np.array(rows, dtype=np.float32),
                               np.array(mask, dtype=np.bool_), mult, cfg.score_frac,
                               cfg.partition_frac, cfg.out_frac, counts, sc, 15)
        assert out.astype(np.int64).tolist() == want


def _exact_bspn(p: BSPNParams, cfg: BSPNConfig) -> Callable[[Any], Any]:
    return lambda x: ops.bspn(x, _arr(p.weight_sign), _arr(p.weight_exp), _arr(p.bias), cfg)


@settings(max_examples=300, deadline=None)
@given(bspn_case())
def test_bspn_into_matches_canonical(case: tuple[BSPNConfig, list[int], BSPNParams]) -> None:
    cfg, x, p = case
    if (not fused.bspn_fusable(cfg) or (cfg.group_size << cfg.j_max) >= 1 << 62
            or ops.bspn_exact_bound(cfg) >= ops.I64_LIMIT):
        return
    want = canonical_bspn(x, p, cfg).out
    w, b, th = fused.bspn_tables(_arr(p.weight_sign), _arr(p.weight_exp), _arr(p.bias), cfg)
    out = np.empty((2, cfg.channels), np.float64)
    fused.bspn_into(out, np.array([x, x], dtype=np.float64), w, b, th, cfg, _exact_bspn(p, cfg))
    assert out.astype(np.int64).tolist() == [list(want)] * 2


def _near_sqrt2_rows() -> tuple[BSPNConfig, BSPNParams, list[list[int]]]:
    """BSPN rows whose exact values lie within a few units of ``sqrt(2) * 2**e``, ``e = 54..56``.

    Sorbet-base's BSPN widened to 32-bit outputs and biases, so that a float sum can
    round next to a threshold without the output saturating.  In each
    row, group ``k`` (``k = 0..5``) holds 63 inputs at the ``r`` maximum (so ``j = 48``)
    and one input ``x`` on a channel with ``wexp = wexp_min``, where
    ``N / 2**e1 = x + beta * 2**27``: ``+-n`` for ``n`` around ``sqrt(2) * 2**(54 + k % 3)``
    (doubles there are multiples of 4, 8, 16, so some ``n`` round across the
    threshold), consecutive from row to row, and two rows 256 away.
    """
    cfg = replace(SORBET_BASE.bspn, out_width=32, bias_width=32)
    g = cfg.group_size
    top = cfg.in_format.max
    j = divisor_j(PY, (g - 1) * top, cfg)
    assert j == 48
    shift = j - cfg.weight_exp_min - cfg.eps_exp - cfg.bias_frac
    sign = [1] * cfg.channels
    wexp = [0] * cfg.channels
    bias = [0] * cfg.channels
    targets = [math.isqrt(1 << (2 * e + 1)) for e in (54, 55, 56)]  # floor(sqrt(2) * 2**e)
    for k in range(6):
        beta = (targets[k % 3] - 64) >> shift
        wexp[k * g] = cfg.weight_exp_min
        bias[k * g] = beta if k < 3 else -beta - 1
    rows = []
    for step in (-256, *range(-12, 13), 256):
        row = [0] * cfg.channels
        for k in range(6):
            x0 = targets[k % 3] + step - (bias[k * g] << shift) if k < 3 else \
                (1 << shift) - (targets[k % 3] + step - (bias[(k - 3) * g] << shift))
            row[k * g:(k + 1) * g] = [x0] + [top] * (g - 1)
        rows.append(row)
    return cfg, BSPNParams(tuple(sign), tuple(wexp), tuple(bias)), rows


def test_bspn_into_falls_back_near_sqrt2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows whose float sum rounds next to sqrt(2) * 2**e are recomputed exactly."""
    cfg, p, rows = _near_sqrt2_rows()
    want = [list(canonical_bspn(r, p, cfg).out) for r in rows]
    w, b, th = fused.bspn_tables(_arr(p.weight_sign), _arr(p.weight_exp), _arr(p.bias), cfg)
    x = np.array(rows, dtype=np.float64)
    out = np.empty(x.shape, np.float64)
    redone = fused.bspn_into(out, x, w, b, th, cfg, _exact_bspn(p, cfg))
    assert out.astype(np.int64).tolist() == want
    assert 0 < redone < len(rows)
    # without the check, the float rounding alone gives a wrong power of two on some row
    monkeypatch.setattr(fused, "bspn_sum_exact", lambda c: True)
    assert fused.bspn_into(out, x, w, b, th, cfg, _exact_bspn(p, cfg)) == 0
    assert out.astype(np.int64).tolist() != want


def test_log2_rounding_bits_at_every_threshold() -> None:
    """The carry of ROUND_LOG2_CARRY happens exactly from ceil(sqrt(2) * 2**k) on."""
    for k in range(52):
        t = arith.sqrt2_threshold(k)
        y = np.array([t - 1, t, -t, 1 << k, (1 << (k + 1)) - 1, 0], dtype=np.float64)
        bits = y.view(np.int64)
        bits += fused.ROUND_LOG2_CARRY
        bits &= fused.SIGN_EXP_MASK
        want = [(1 if v >= 0 else -1) * (1 << arith.log_nearest_pow2_exp(PY, abs(v), 62))
                if v else 0 for v in (t - 1, t, -t, 1 << k, (1 << (k + 1)) - 1)] + [0]
        assert y.astype(np.int64).tolist() == want


@settings(max_examples=200, deadline=None)
@given(xs=st.lists(st.integers(-(1 << 20), 1 << 20), min_size=1, max_size=40),
       mult=st.integers(1, (1 << 16) - 1), bias=st.integers(-(1 << 31), (1 << 31) - 1),
       shift=st.integers(0, 62), as_f32=st.booleans())
@example(xs=[1, 3, 5, -1, -3], mult=1, bias=0, shift=1, as_f32=False)  # every value a tie
def test_requant_into_matches_canonical(
    xs: list[int], mult: int, bias: int, shift: int, as_f32: bool
) -> None:
    assert fused.requant_exact(1 << 20, mult, abs(bias))
    x = np.array(xs, dtype=np.float32 if as_f32 and max(map(abs, xs)) < 1 << 24 else np.float64)
    out = np.empty(len(xs), np.float64)
    fused.requant_into(out, x, mult * 2.0**-shift,
                       np.full(len(xs), bias * 2.0**-shift) if bias else None, -(1 << 40), 1 << 40)
    assert out.astype(np.int64).tolist() == [
        requantize(PY, v, mult, bias, shift, -(1 << 40), 1 << 40) for v in xs]


def test_pool_raises_a_block_error_and_rejects_zero_threads() -> None:
    pool = fused.RowPool(2)

    def fail(lo: int, hi: int) -> None:
        if lo > 0:
            raise ValueError("block failed")

    with pytest.raises(ValueError, match="block failed"):
        pool.run(fail, 4 * fused.MIN_BLOCK_ELEMS, 1)
    with pytest.raises(ValueError, match="at least 1"):
        fused.RowPool(0)


def test_threads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused.os, "cpu_count", lambda: 8)
    for var in ("SORBET_REF_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    assert fused.default_threads() == 1  # BLAS takes every core by default
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert fused.default_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert fused.default_threads() == 1
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert fused.default_threads() == 4
    monkeypatch.setattr(fused.os, "cpu_count", lambda: 2)
    assert fused.default_threads() == 1  # one BLAS thread on 2 cores: stages on one
    monkeypatch.setattr(fused.os, "cpu_count", lambda: 8)
    monkeypatch.setenv("SORBET_REF_THREADS", "3")
    assert fused.default_threads() == 3
    monkeypatch.setenv("SORBET_REF_THREADS", "zero")
    with pytest.raises(ValueError, match="SORBET_REF_THREADS"):
        fused.default_threads()
