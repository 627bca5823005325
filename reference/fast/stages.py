"""The untraced encoder layer as BLAS products and fused row stages (spec/06-layers.md).

Computes the same integers as :func:`reference.fast.model.encoder_layer` without a
trace, for a layer whose bounds hold (:attr:`reference.fast.params.FastLayer.fused`).
Activations stay float arrays of integer values: the hidden state and the residual
in float64, counts in the dtype of the product they feed.  Each product is one BLAS
call on the calling thread (exact by :func:`reference.fast.ops.exact_matmul`'s bound);
the elementwise work between two products is one stage, run over row blocks on a
:class:`reference.fast.fused.RowPool`.  Rows are independent in every stage (tokens,
or (head, query) rows of PTsoftmax), so the blocks write disjoint rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from reference.fast.fused import (
    F64,
    RowPool,
    bias_tile,
    bspn_fusable,
    bspn_into,
    prob_count_table,
    ptsoftmax_counts,
    requant_into,
)
from reference.fast.ops import bspn, context_offset, matmul_dtype, prob_offset
from reference.fast.params import FastBSPN, FastLayer, FastLinear
from reference.model_config import ModelConfig


def _in_quant(
    out: npt.NDArray[Any], x: npt.NDArray[Any], lin: FastLinear, scratch: F64 | None = None
) -> None:
    """The input quantizer of ``lin`` (``q`` in ``[q_lo, q_hi]``, spec/06 "Binary linear layer").

    ``scratch``: float64 space of ``x``'s shape the caller gives up (may be ``x``)."""
    requant_into(out, x, lin.in_scale, lin.in_bias_f, lin.q_lo, lin.q_hi, scratch=scratch)


def _out_quant(
    out: npt.NDArray[Any], acc: npt.NDArray[Any], lin: FastLinear, lo: int, hi: int,
    scratch: F64 | None = None,
) -> None:
    """The output requantization of ``lin`` into ``[lo, hi]`` (no clamp where it cannot bind)."""
    requant_into(out, acc, lin.out_scale, lin.out_bias_f, lo, hi, lin.out_reach, scratch)


def _residual_bspn(
    out: F64, a: F64, h: F64, p: FastBSPN, cfg: ModelConfig, a_reach: int
) -> None:
    """``out = BSPN(saturate_r(a + h))`` on rows (spec/06, step 7); ``a`` is overwritten.

    ``a_reach`` bounds ``|a|`` (:attr:`reference.fast.params.FastLinear.out_reach`); when
    ``a_reach + 2**(h_width - 1)`` lies within the ``r`` format, so does every sum and
    the saturation is skipped.

    BSPN runs on the float64 bits (:func:`reference.fast.fused.bspn_into`, with the
    int64 :func:`reference.fast.ops.bspn` for the rows whose rounding it cannot decide)
    where :func:`reference.fast.fused.bspn_fusable` holds, else on int64; ``a`` and
    ``out`` hold integers below ``2**53`` (the ``r`` and ``h`` formats), so the
    conversions are exact either way.
    """
    a += h
    rf = cfg.r_format
    reach = a_reach + (1 << (cfg.h_width - 1))
    if not rf.min <= -reach <= reach <= rf.max:
        np.clip(a, rf.min, rf.max, out=a)
    if bspn_fusable(cfg.bspn):
        bspn_into(out, a, p.w, p.b, p.thresholds, cfg.bspn,
                  lambda x: bspn(x, p.sign, p.wexp, p.bias, cfg.bspn))
    else:
        out[...] = bspn(a.astype(np.int64), p.sign, p.wexp, p.bias, cfg.bspn)


def attention_fused(
    h: F64, mask: npt.NDArray[np.bool_], layer: FastLayer, cfg: ModelConfig, pool: RowPool
) -> tuple[F64, npt.NDArray[Any]]:
    """Steps 1-7 of spec/06 and the FFN_1 input quantizer: ``(h1, q_ffn1)``."""
    seq, hidden = h.shape
    o = 1 << (cfg.bits - 1)
    cmax = (1 << cfg.bits) - 1
    heads, d = cfg.heads, cfg.head_dim
    s_dt = matmul_dtype(d * o * o)
    c_dt = matmul_dtype(cfg.max_seq * cmax * o)
    lins = (layer.q, layer.k, layer.v)
    qin = [np.empty((seq, hidden), lin.weight_t.dtype) for lin in lins]

    def quant_qkv(lo: int, hi: int) -> None:
        scratch = np.empty((hi - lo, hidden), np.float64)
        for buf, lin in zip(qin, lins, strict=True):
            _in_quant(buf[lo:hi], h[lo:hi], lin, scratch)

    pool.run(quant_qkv, seq, hidden)
    accs = [np.matmul(buf, lin.weight_t) for buf, lin in zip(qin, lins, strict=True)]
    qkv = [np.empty((seq, hidden), dt) for dt in (s_dt, s_dt, c_dt)]

    def requant_qkv(lo: int, hi: int) -> None:
        scratch = np.empty((hi - lo, hidden), np.float64)
        for buf, acc, lin in zip(qkv, accs, lins, strict=True):
            _out_quant(buf[lo:hi], acc[lo:hi], lin, -o, o - 1, scratch)

    pool.run(requant_qkv, seq, hidden)
    qh, kh, vh = (x.reshape(seq, heads, d).transpose(1, 0, 2) for x in qkv)
    scores = np.matmul(qh, kh.transpose(0, 2, 1)).reshape(heads * seq, seq)
    pc = cfg.ptsoftmax
    pm = 0
    if not mask.all():
        # A padded key has probability 0, so the layer's P_min is 0 and there is no
        # offset (step 4): the counts are computed straight from the scores.
        cp = np.empty((heads * seq, seq), c_dt)

        def softmax(lo: int, hi: int) -> None:
            ptsoftmax_counts(cp[lo:hi], scores[lo:hi], mask, layer.score_mult, pc.score_frac,
                             pc.partition_frac, pc.out_frac, layer.prob_counts,
                             layer.prob_scale, cmax)

        pool.run(softmax, heads * seq, seq)
    else:
        idx = np.empty((heads * seq, seq), np.int32)

        def softmax_index(lo: int, hi: int) -> None:
            ptsoftmax_counts(idx[lo:hi], scores[lo:hi], mask, layer.score_mult, pc.score_frac,
                             pc.partition_frac, pc.out_frac, None)

        pool.run(softmax_index, heads * seq, seq)
        # Step 4: every probability is 0 (index 0) or 2**(index - 1), so the layer's
        # smallest is known from the smallest index, and the counts come from a table of
        # p - pm.
        i_min = int(idx.min())
        pm = prob_offset(0 if i_min == 0 else 1 << (i_min - 1))
        counts = layer.prob_counts if pm == 0 else prob_count_table(
            layer.prob_mult, layer.prob_shift, pc.out_frac, cmax, c_dt, pm)
        cp = np.take(counts, idx)
    ctx = np.matmul(cp.reshape(heads, seq, seq), vh).transpose(1, 0, 2).reshape(seq, hidden)
    qo = np.empty((seq, hidden), layer.o.weight_t.dtype)
    o_bias = layer.o.in_bias_f
    if pm:  # step 6: the context offset joins o's input bias (exact: fused_problems)
        total = layer.o.in_bias + context_offset(qkv[2], pm, layer.prob_mult,
                                                   layer.prob_shift, layer.o.in_mult)
        o_bias = bias_tile(np.ldexp(total.astype(np.float64), np.int32(-layer.o.in_shift)))

    def quant_o(lo: int, hi: int) -> None:
        requant_into(qo[lo:hi], ctx[lo:hi], layer.o.in_scale, o_bias, layer.o.q_lo,
                     layer.o.q_hi)

    pool.run(quant_o, seq, hidden)
    acc_o = np.matmul(qo, layer.o.weight_t)
    rf = cfg.r_format
    h1 = np.empty((seq, hidden), np.float64)
    q1 = np.empty((seq, hidden), layer.ffn1.weight_t.dtype)

    def residual(lo: int, hi: int) -> None:
        a = np.empty((hi - lo, hidden), np.float64)
        _out_quant(a, acc_o[lo:hi], layer.o, rf.min, rf.max)
        _residual_bspn(h1[lo:hi], a, h[lo:hi], layer.bspn1, cfg, layer.o.out_reach)
        _in_quant(q1[lo:hi], h1[lo:hi], layer.ffn1, a)

    pool.run(residual, seq, hidden)
    return h1, q1


def ffn_fused(h1: F64, q1: npt.NDArray[Any], layer: FastLayer, cfg: ModelConfig,
              pool: RowPool) -> F64:
    """Steps 8-9 of spec/06 from ``h1`` and its FFN_1 input counts ``q1``: ``h2``."""
    seq, hidden = h1.shape
    acc1 = np.matmul(q1, layer.ffn1.weight_t)
    q2 = np.empty((seq, cfg.ffn), layer.ffn2.weight_t.dtype)
    umax = cfg.u_format.max

    def relu_requant(lo: int, hi: int) -> None:
        # u = requant(acc1) clamped to [0, u_max] stays float64 (integers below 2**53).
        u = np.empty((hi - lo, cfg.ffn), np.float64)
        _out_quant(u, acc1[lo:hi], layer.ffn1, 0, umax)
        _in_quant(q2[lo:hi], u, layer.ffn2, u)

    pool.run(relu_requant, seq, cfg.ffn)
    acc2 = np.matmul(q2, layer.ffn2.weight_t)
    rf = cfg.r_format
    h2 = np.empty((seq, hidden), np.float64)

    def residual(lo: int, hi: int) -> None:
        a = np.empty((hi - lo, hidden), np.float64)
        _out_quant(a, acc2[lo:hi], layer.ffn2, rf.min, rf.max)
        _residual_bspn(h2[lo:hi], a, h1[lo:hi], layer.bspn2, cfg, layer.ffn2.out_reach)

    pool.run(residual, seq, hidden)
    return h2


def layer_fused(
    h: F64, mask: npt.NDArray[np.bool_], layer: FastLayer, cfg: ModelConfig, pool: RowPool
) -> F64:
    """One encoder layer on float64 hidden states (``h`` in the hidden format)."""
    h1, q1 = attention_fused(h, mask, layer, cfg, pool)
    return ffn_fused(h1, q1, layer, cfg, pool)
