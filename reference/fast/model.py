"""The whole integer Sorbet model on numpy arrays (fast tier; spec/06-layers.md, spec/08-model.md).

Computes the same integers as :mod:`reference.layers` / :mod:`reference.model`
(the canonical tier), vectorized over tokens, channels and heads, with the same
trace keys.  Every function names the step of spec/06 it implements; the
integer rules are those of :mod:`reference.fast.ops`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from reference.errors import MaskError, RangeError, ShapeError
from reference.fast.fused import F64, requant_into, row_pool
from reference.fast.ops import (
    I64,
    bspn,
    context_offset,
    exact_matmul,
    matmul_dtype,
    prob_offset,
    ptsoftmax,
    requant,
)
from reference.fast.params import FastBSPN, FastLayer, FastLinear, FastParams, prepare
from reference.fast.stages import attention_fused, ffn_fused, layer_fused
from reference.model import TRACE_LAYER_NAMES
from reference.model_config import ModelConfig, ModelParams

Trace = dict[str, I64]
"""Tensor name -> int64 array."""

BoolArray = npt.NDArray[np.bool_]
"""A boolean array."""


@dataclass(frozen=True)
class FastOutput:
    """Result of :func:`forward_fast` (the arrays of :class:`reference.model.ModelOutput`)."""

    hidden: I64
    """Final hidden states (seq x hidden)."""
    pooled: I64
    """Pooler output (hidden,)."""
    logits: I64
    """Classifier output (num_labels,), ``h_frac + cls_frac`` fractional bits."""
    trace: Trace = field(default_factory=dict)
    """Intermediate tensors by key (empty unless ``trace=True``)."""


def check_h(h: object, cfg: ModelConfig, name: str) -> I64:
    """``h`` as an int64 ``seq x hidden`` array in the hidden format (ShapeError/RangeError)."""
    arr = np.asarray(h)
    if arr.ndim != 2 or arr.shape[1] != cfg.hidden:
        raise ShapeError(f"{name}: expected shape (seq, {cfg.hidden}), got {arr.shape}")
    if not 1 <= arr.shape[0] <= cfg.max_seq:
        raise ShapeError(
            f"{name}: sequence length {arr.shape[0]} is outside [1, max_seq={cfg.max_seq}]"
        )
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise RangeError(f"{name}: expected integers, got dtype {arr.dtype}")
    fmt = cfg.h_format
    bad = np.argwhere((arr < fmt.min) | (arr > fmt.max))
    if bad.size:
        t, c = (int(v) for v in bad[0])
        raise RangeError(
            f"{name}[{t}][{c}]: {int(arr[t, c])} is outside format {fmt.describe()} "
            f"[{fmt.min}, {fmt.max}]"
        )
    return arr.astype(np.int64)


def check_mask(mask: object, seq: int, name: str = "mask") -> BoolArray:
    """``mask`` as a bool array of length ``seq`` (True = real token); MaskError otherwise."""
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise MaskError(f"{name}: expected booleans, got dtype {arr.dtype}")
    if arr.shape != (seq,):
        raise MaskError(f"{name}: expected length {seq} (the sequence length), got {arr.shape}")
    return arr


def linear(
    x: npt.NDArray[Any], lin: FastLinear, lo: int, hi: int, trace: bool = False,
    out_dtype: type[np.generic] = np.int64, x_bound: int | None = None,
    extra_bias: I64 | None = None,
) -> tuple[I64 | None, I64 | None, npt.NDArray[Any]]:
    """Quantize, accumulate, requantize: ``(cin, acc, out)`` (spec/06, "Binary linear layer").

    ``q = requant(x; M_in, B_in[j] + E[j], s_in, q_lo, q_hi)`` (``E = extra_bias``, the
    context offset of spec/06 step 6, or 0), ``cin = q - q_lo``;
    ``acc = (cin - o) @ W^T = q @ W^T`` (``q_lo = -o``, or ``0 = o`` unsigned), exact by
    :func:`reference.fast.ops.exact_matmul`; ``out = requant(acc; M_out, B_out[i], s_out,
    lo, hi)`` written as ``out_dtype``.  ``cin`` and ``acc`` are returned (else None)
    only when ``trace``.
    """
    bias = lin.in_bias if extra_bias is None else lin.in_bias + extra_bias
    q = requant(x, lin.in_mult, bias, lin.in_shift, lin.q_lo, lin.q_hi,
                dtype=lin.weight_t.dtype.type, x_bound=x_bound)
    acc = exact_matmul(q, lin.weight_t, lin.bound, raw=True)
    out = requant(acc, lin.out_mult, lin.out_bias, lin.out_shift, lo, hi, dtype=out_dtype,
                  x_bound=lin.bound)
    if not trace:
        return None, None, out
    return q.astype(np.int64) - lin.q_lo, acc.astype(np.int64), out


def split_heads(x: npt.NDArray[Any], heads: int) -> npt.NDArray[Any]:
    """``seq x hidden`` -> ``heads x seq x D`` (head ``n`` owns channels ``n*D .. n*D+D-1``)."""
    seq, hidden = x.shape
    return x.reshape(seq, heads, hidden // heads).transpose(1, 0, 2)


def merge_heads(x: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Inverse of :func:`split_heads`."""
    heads, seq, d = x.shape
    return np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(seq, heads * d)


def residual_bspn(a: I64, h: I64, p: FastBSPN, cfg: ModelConfig) -> tuple[I64, I64]:
    """``r = saturate_r(a + h)``; ``BSPN(r)`` per token (spec/06, step 7; spec/03)."""
    rf = cfg.r_format
    r = np.clip(a + h, rf.min, rf.max)
    return r, bspn(r, p.sign, p.wexp, p.bias, cfg.bspn)


def attention_block(
    h: I64, mask: BoolArray, layer: FastLayer, cfg: ModelConfig, trace: bool = False,
    threads: int | None = None,
) -> tuple[I64, Trace]:
    """Spiking self-attention, output projection, residual, BSPN_1 (spec/06, steps 1-7).

    Per head ``n``: ``x = score_mult * (cQ - o) @ (cK - o)^T``; ``p = PTsoftmax(x, mask)``
    over keys; ``pm`` = :func:`reference.fast.ops.prob_offset`;
    ``cP = requant(p; prob_mult, -pm * prob_mult, prob_shift, 0, 2**bits - 1)``;
    ``ctx = cP @ (cV - o)``.  Then ``a = requant_r(Lin_O(ctx))`` with the context offset
    ``W * V`` added to ``Lin_O``'s input bias (:func:`reference.fast.ops.context_offset`),
    ``h1 = BSPN_1(sat_r(a + h))``.
    Without a trace a fusable layer runs :func:`reference.fast.stages.attention_fused`
    on ``threads`` threads (default :func:`reference.fast.fused.default_threads`).
    """
    if not trace and layer.fused:
        hf, _ = attention_fused(_f64(h), mask, layer, cfg, row_pool(threads))
        return hf.astype(np.int64), {}
    o = 1 << (cfg.bits - 1)
    cmax = (1 << cfg.bits) - 1
    seq = h.shape[0]
    s_bound = cfg.head_dim * o * o
    c_bound = seq * cmax * o
    tr: Trace = {}
    sq: dict[str, npt.NDArray[Any]] = {}
    for name, lin in (("q", layer.q), ("k", layer.k), ("v", layer.v)):
        dt = matmul_dtype(c_bound if name == "v" else s_bound)
        cin, acc, sq[name] = linear(h, lin, -o, o - 1, trace, out_dtype=dt)
        if cin is not None and acc is not None:
            tr[f"cin_{name}"], tr[f"acc_{name}"] = cin, acc
    qh = split_heads(sq["q"], cfg.heads)
    kh = split_heads(sq["k"], cfg.heads)
    vh = split_heads(sq["v"], cfg.heads)
    s_raw = exact_matmul(qh, kh.transpose(0, 2, 1), s_bound, raw=True)
    scores = np.multiply(s_raw, np.int64(layer.score_mult), dtype=np.int64, casting="unsafe")
    probs = ptsoftmax(scores, mask, cfg.ptsoftmax)
    pm = prob_offset(int(probs.min()))
    cp = requant(probs, layer.prob_mult, -pm * layer.prob_mult, layer.prob_shift, 0, cmax,
                 dtype=matmul_dtype(c_bound))
    ctx = merge_heads(exact_matmul(cp, vh, c_bound, raw=True))
    ctx_off = context_offset(sq["v"], pm, layer.prob_mult, layer.prob_shift,
                             layer.o.in_mult)
    rf = cfg.r_format
    cin_o, acc_o, a_o = linear(ctx, layer.o, rf.min, rf.max, trace, x_bound=c_bound,
                               extra_bias=ctx_off)
    r1, h1 = residual_bspn(a_o, h, layer.bspn1, cfg)
    if cin_o is not None:
        for name in ("q", "k", "v"):
            tr[f"c_{name}"] = sq[name].astype(np.int64) + o
        tr.update(scores=scores, probs=probs, prob_offset=np.array([pm], dtype=np.int64),
                  c_prob=cp.astype(np.int64), ctx=ctx.astype(np.int64), ctx_offset=ctx_off,
                  cin_o=cin_o, acc_o=_i64(acc_o), a_o=a_o,
                  r1=r1, h1=h1)
    return h1, tr


def _f64(h: npt.NDArray[Any]) -> F64:
    """Hidden states as float64 (exact: integers below ``2**53``)."""
    return np.asarray(h, dtype=np.float64)


def _i64(x: I64 | None) -> I64:
    if x is None:  # pragma: no cover - only called when tracing
        raise ValueError("missing trace tensor")
    return x


def ffn_block(
    h1: I64, layer: FastLayer, cfg: ModelConfig, trace: bool = False,
    threads: int | None = None,
) -> tuple[I64, Trace]:
    """Feed-forward, residual, BSPN_2 (spec/06, steps 8-9).

    ``u = requant(Lin_1(h1)) clamped to [0, u_max]`` (ReLU); ``a2 = requant_r(Lin_2(u))``
    with ``u`` quantized unsigned; ``h2 = BSPN_2(sat_r(a2 + h1))``.  Without a trace a
    fusable layer runs :func:`reference.fast.stages.ffn_fused`.
    """
    if not trace and layer.fused:
        x = _f64(h1)
        q1 = np.empty(x.shape, layer.ffn1.weight_t.dtype)
        requant_into(q1, x, layer.ffn1.in_scale, layer.ffn1.in_bias_f, layer.ffn1.q_lo,
                     layer.ffn1.q_hi)
        return ffn_fused(x, q1, layer, cfg, row_pool(threads)).astype(np.int64), {}
    rf = cfg.r_format
    umax = cfg.u_format.max
    # Without a trace, u stays in float64 (integers below 2**53: exact) for the next requant.
    cin1, acc1, u = linear(h1, layer.ffn1, 0, umax, trace,
                           out_dtype=np.int64 if trace else np.float64)
    cin2, acc2, a2 = linear(u, layer.ffn2, rf.min, rf.max, trace, x_bound=umax)
    r2, h2 = residual_bspn(a2, h1, layer.bspn2, cfg)
    tr: Trace = {}
    if cin1 is not None and cin2 is not None:
        tr.update(cin_ffn1=cin1, acc_ffn1=_i64(acc1), u=u, cin_ffn2=cin2, acc_ffn2=_i64(acc2),
                  a_ffn2=a2, r2=r2, h2=h2)
    return h2, tr


def encoder_layer(
    h: I64, mask: BoolArray, layer: FastLayer, cfg: ModelConfig, trace: bool = False,
    threads: int | None = None,
) -> tuple[I64, Trace]:
    """One encoder layer: :func:`attention_block` then :func:`ffn_block`.

    Without a trace a fusable layer runs :func:`reference.fast.stages.layer_fused`.
    """
    if not trace and layer.fused:
        out = layer_fused(_f64(h), mask, layer, cfg, row_pool(threads))
        return out.astype(np.int64), {}
    h1, t1 = attention_block(h, mask, layer, cfg, trace)
    h2, t2 = ffn_block(h1, layer, cfg, trace)
    t1.update(t2)
    return h2, t1


def pooler(h: I64, fp: FastParams) -> tuple[I64, I64, I64]:
    """Pooler on the first token: ``(cin, acc, pooled)``, ``pooled`` clamped to ``[0, h_max]``."""
    cin, acc, pooled = linear(h[:1], fp.pooler, 0, fp.cfg.h_format.max, True)
    return _i64(cin)[0], _i64(acc)[0], pooled[0]


def classifier(pooled: I64, fp: FastParams) -> I64:
    """``logits[k] = sum_i pooled[i] * Wc[k][i] + bc[k]`` in int64 (bounded by check_widths)."""
    return (fp.cls_weight @ pooled + fp.cls_bias).astype(np.int64)


def as_fast(params: FastParams | ModelParams, cfg: ModelConfig) -> FastParams:
    """``params`` prepared for the fast tier (validated; converted unless already)."""
    if isinstance(params, FastParams):
        if params.cfg != cfg:
            raise ShapeError("forward_fast: the parameters were prepared for another configuration")
        return params
    return prepare(params, cfg)


def forward_fast(
    h0: object,
    mask: object,
    params: FastParams | ModelParams,
    cfg: ModelConfig,
    trace: bool = False,
    threads: int | None = None,
) -> FastOutput:
    """The model from ``h0`` and the mask to the logits (spec/08, "Stack"), on arrays.

    Same checks and results as :func:`reference.model.forward`; trace keys
    ``layer.{i}.{name}``, ``pooler.cin``, ``pooler.acc``, ``pooled``, ``logits``.
    Without a trace, runs of fusable layers keep the hidden state in float64 and run
    :func:`reference.fast.stages.layer_fused` on ``threads`` threads.
    """
    fp = as_fast(params, cfg)
    h = check_h(h0, cfg, "h0")
    m = check_mask(mask, h.shape[0], "mask")
    tr: Trace = {}
    hf: F64 | None = None
    for i, layer in enumerate(fp.layers):
        if not trace and layer.fused:
            hf = layer_fused(_f64(h) if hf is None else hf, m, layer, cfg, row_pool(threads))
            continue
        if hf is not None:
            h, hf = hf.astype(np.int64), None
        h, lt = encoder_layer(h, m, layer, cfg, trace)
        for name in TRACE_LAYER_NAMES if trace else ():
            tr[f"layer.{i}.{name}"] = lt[name]
    if hf is not None:
        h = hf.astype(np.int64)
    cin, acc, pooled = pooler(h, fp)
    logits = classifier(pooled, fp)
    if trace:
        tr["pooler.cin"], tr["pooler.acc"], tr["pooled"], tr["logits"] = cin, acc, pooled, logits
    return FastOutput(hidden=h, pooled=pooled, logits=logits, trace=tr)
