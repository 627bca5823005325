"""Parameters of the fast tier and its up-front width checks.

:func:`prepare` turns validated :class:`reference.model_config.ModelParams` into
numpy arrays once (signs unpacked to a ``+-1`` matrix in the narrowest exact
dtype), and :func:`check_widths` proves, from the configuration alone, that no
``int64`` intermediate of :mod:`reference.fast.model` can overflow and that each
float BLAS product is exact (every partial sum below ``2**24`` in float32 or
``2**53`` in float64).  A configuration that fails raises ConfigError before
any arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from reference.bspn import BSPNParams
from reference.errors import ConfigError
from reference.fast import fused
from reference.fast.ops import F64_EXACT, I64, I64_LIMIT, bspn_exact_bound, matmul_dtype
from reference.model_config import (
    LINEAR_NAMES,
    LayerParams,
    LinearParams,
    ModelConfig,
    ModelParams,
)

F64 = npt.NDArray[np.float64]
"""A ``float64`` array."""

WeightArray = npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.int64]
"""A ``+-1`` matrix in the dtype its matmul runs in."""


@dataclass(frozen=True, eq=False)
class FastLinear:
    """One binary linear layer as arrays (see :class:`reference.model_config.LinearParams`)."""

    weight_t: WeightArray
    """``in x out`` matrix of the signs (+1/-1): ``acc = (cin - o) @ weight_t``."""
    in_mult: int
    in_shift: int
    in_bias: I64
    out_mult: int
    out_shift: int
    out_bias: I64
    offset: int
    """``o``: ``2**(bits-1)`` for a signed input, else 0."""
    q_lo: int
    """Smallest quantized input: ``-o`` (signed) or 0 (unsigned); ``cin = q - q_lo``."""
    q_hi: int
    """Largest quantized input: ``o - 1`` (signed) or ``2**bits - 1`` (unsigned)."""
    bound: int
    """Largest ``|partial sum|`` of the accumulation: ``in_features * max|c - o|``."""
    in_scale: float
    """``in_mult * 2**-in_shift`` (exact in float64), for :func:`.fused.requant_into`."""
    in_bias_f: F64 | None
    """``in_bias * 2**-in_shift`` (exact) as a :func:`.fused.bias_tile`, None when every
    bias is 0."""
    in_bias_max: int
    """``max |in_bias|``."""
    out_scale: float
    """``out_mult * 2**-out_shift`` (exact)."""
    out_bias_f: F64 | None
    """``out_bias * 2**-out_shift`` (exact) as a :func:`.fused.bias_tile`, None when every
    bias is 0."""
    out_bias_max: int
    """``max |out_bias|``."""
    out_reach: int
    """Bound on ``|round((acc * out_mult + out_bias) / 2**out_shift)|`` for ``|acc| <= bound``
    (:func:`.fused.requant_reach`)."""


@dataclass(frozen=True, eq=False)
class FastBSPN:
    """BSPN parameters as int64 arrays, and the tables of :func:`reference.fast.fused.bspn_into`."""

    sign: I64
    wexp: I64
    bias: I64
    w: F64
    """``sign * 2**(wexp + eps_exp + out_frac)`` by group, a tile of ``groups x G`` rows."""
    b: F64
    """``bias * 2**(out_frac - bias_frac)`` by group, a tile like ``w``."""
    thresholds: I64
    """``G * 2**jj`` for ``jj = 0..j_max``."""


@dataclass(frozen=True, eq=False)
class FastLayer:
    """One encoder layer as arrays."""

    q: FastLinear
    k: FastLinear
    v: FastLinear
    o: FastLinear
    ffn1: FastLinear
    ffn2: FastLinear
    score_mult: int
    prob_mult: int
    prob_shift: int
    bspn1: FastBSPN
    bspn2: FastBSPN
    prob_counts: npt.NDArray[Any]
    """:func:`reference.fast.fused.prob_count_table` in the dtype of the context product."""
    prob_scale: float | None
    """:func:`reference.fast.fused.prob_scale` (None: counts are looked up in ``prob_counts``)."""
    fused: bool
    """Whether every bound of :mod:`reference.fast.fused` holds (:func:`fused_problems`)."""
    ctx_offset_max: int = 0
    """Largest ``|W * V|`` of the context offset (spec/06, step 6; :func:`ctx_offset_max`)."""


@dataclass(frozen=True, eq=False)
class FastParams:
    """Every parameter of a model, ready for :func:`reference.fast.model.forward_fast`."""

    cfg: ModelConfig
    layers: tuple[FastLayer, ...]
    pooler: FastLinear
    cls_weight: I64
    """``num_labels x hidden``."""
    cls_bias: I64


def unpack_sign_matrix(signs: bytes, rows: int, cols: int) -> npt.NDArray[np.int8]:
    """``rows x cols`` matrix of +1/-1 from packed bits (row-major, least significant bit first)."""
    need = (rows * cols + 7) // 8
    if len(signs) != need:
        raise ConfigError(f"signs: expected {need} bytes for {rows}x{cols}, got {len(signs)}")
    bits = np.unpackbits(np.frombuffer(signs, dtype=np.uint8), bitorder="little")
    return (bits[: rows * cols].astype(np.int8) * 2 - 1).reshape(rows, cols)


def _linear(lin: LinearParams, name: str, cfg: ModelConfig) -> FastLinear:
    lc = cfg.linear(name)
    bound = lc.in_features * lc.max_abs_term
    w = unpack_sign_matrix(lin.signs, lc.out_features, lc.in_features)
    wt = np.ascontiguousarray(w.T.astype(matmul_dtype(bound)))
    in_bias_max = max((abs(v) for v in lin.in_bias), default=0)
    out_bias_max = max((abs(v) for v in lin.out_bias), default=0)
    return FastLinear(
        weight_t=wt,
        in_mult=lin.in_mult, in_shift=lin.in_shift,
        in_bias=np.array(lin.in_bias, dtype=np.int64),
        out_mult=lin.out_mult, out_shift=lin.out_shift,
        out_bias=np.array(lin.out_bias, dtype=np.int64),
        offset=lc.offset, bound=bound,
        q_lo=-lc.offset if lc.signed_input else 0,
        q_hi=lc.offset - 1 if lc.signed_input else (1 << lc.bits) - 1,
        in_scale=lin.in_mult * 2.0**-lin.in_shift,
        in_bias_f=_scaled(lin.in_bias, lin.in_shift) if in_bias_max else None,
        in_bias_max=in_bias_max,
        out_scale=lin.out_mult * 2.0**-lin.out_shift,
        out_bias_f=_scaled(lin.out_bias, lin.out_shift) if out_bias_max else None,
        out_bias_max=out_bias_max,
        out_reach=fused.requant_reach(bound, lin.out_mult, out_bias_max, lin.out_shift),
    )


def _scaled(bias: tuple[int, ...], shift: int) -> F64:
    """``bias * 2**-shift`` (exact: each bias is an integer below ``2**53``) as a tile."""
    return fused.bias_tile(np.ldexp(np.array(bias, dtype=np.float64), np.int32(-shift)))


def _bspn(p: BSPNParams, cfg: ModelConfig) -> FastBSPN:
    sign, wexp, bias = (np.array(v, dtype=np.int64) for v in (p.weight_sign, p.weight_exp, p.bias))
    w, b, th = fused.bspn_tables(sign, wexp, bias, cfg.bspn)
    return FastBSPN(sign, wexp, bias, w, b, th)


def ctx_offset_max(lp: LayerParams, cfg: ModelConfig) -> int:
    """The largest ``|W * V|`` (spec/06, "Widths"):
    :meth:`reference.model_config.LayerParams.context_offset_bound`."""
    return lp.context_offset_bound(cfg)


def fused_problems(
    lins: dict[str, FastLinear], score_mult: int, cfg: ModelConfig, ctx_offset: int = 0
) -> list[str]:
    """The bounds of :mod:`reference.fast.fused` that fail for one layer (empty: fusable).

    Every product runs in a float dtype (partial sums below ``2**53``); every
    requantization satisfies :func:`reference.fast.fused.requant_exact` for the
    largest input its place can see (:func:`requant_inputs`); PTsoftmax satisfies
    :func:`reference.fast.fused.ptsoftmax_fusable`; BSPN's input and output are exact in
    float64 (it runs fused where :func:`reference.fast.fused.bspn_fusable` holds, on int64
    otherwise, :func:`reference.fast.stages._residual_bspn`).  The input quantizer of ``o``
    also adds the context offset, at most ``ctx_offset`` (:func:`ctx_offset_max`).
    """
    o = 1 << (cfg.bits - 1)
    s_bound = cfg.head_dim * o * o
    c_bound = cfg.max_seq * ((1 << cfg.bits) - 1) * o
    problems = []
    if max(s_bound, c_bound, *(lin.bound for lin in lins.values())) >= F64_EXACT:
        problems.append("a product beyond float64")
    x_in = {"ffn2": cfg.u_format.max, "o": c_bound}
    for name, lin in lins.items():
        x = x_in.get(name, 1 << (cfg.h_width - 1))
        extra = ctx_offset if name == "o" else 0
        if not fused.requant_exact(x, lin.in_mult, lin.in_bias_max + extra):
            problems.append(f"{name} input requantization")
        if not fused.requant_exact(lin.bound, lin.out_mult, lin.out_bias_max):
            problems.append(f"{name} output requantization")
    pc = cfg.ptsoftmax
    if not fused.ptsoftmax_fusable(s_bound, score_mult, pc.score_frac, pc.max_len,
                                   pc.partition_frac, pc.out_frac):
        problems.append("PTsoftmax")
    if max(cfg.r_format.max, cfg.h_format.max) >= F64_EXACT:
        problems.append("BSPN's input or output beyond float64")
    return problems


def requant_inputs(cfg: ModelConfig) -> dict[str, int]:
    """Largest ``|x|`` entering each requantization of the model, by place."""
    o = 1 << (cfg.bits - 1)
    cmax = (1 << cfg.bits) - 1
    out = {
        "h (Q/K/V/FFN1/pooler in-quantizer)": 1 << (cfg.h_width - 1),
        "ctx (O in-quantizer)": cfg.max_seq * cmax * o,
        "u (FFN2 in-quantizer)": 1 << (cfg.u_width - 1),
        "probs (probability counts)": 1 << cfg.prob_frac,
    }
    for name in (*LINEAR_NAMES, "pooler"):
        lc = cfg.linear(name)
        out[f"acc_{name} (out requantization)"] = lc.in_features * lc.max_abs_term
    return out


def check_widths(cfg: ModelConfig) -> None:
    """Raise ConfigError unless every fast-tier intermediate fits ``int64`` for ``cfg``.

    - requantization: ``|x| * (2**multiplier_bits - 1) + 2**(bias_width - 1) < 2**62``
      for every input ``x`` (:func:`requant_inputs`);
    - matmuls: partial sums of scores (``D * o**2``), of the context
      (``max_seq * (2**bits - 1) * o``) and of each binary layer below ``2**62``;
    - PTsoftmax: ``2**(partition_frac + prob_frac)`` and ``Z`` below ``2**62``;
    - BSPN: ``G * 2**j_max`` and :func:`reference.fast.ops.bspn_exact_bound` below ``2**62``;
    - classifier: ``hidden * h_max * 2**(cls_width - 1) + 2**(bias_width - 1) < 2**62``.
    """
    mmax = (1 << cfg.multiplier_bits) - 1
    bmax = 1 << (cfg.bias_width - 1)
    problems: list[str] = []
    for place, xmax in requant_inputs(cfg).items():
        if xmax * mmax + bmax >= I64_LIMIT:
            problems.append(f"requantization of {place}: |x*M + B| up to {xmax * mmax + bmax}")
    o = 1 << (cfg.bits - 1)
    products = {
        "scores": cfg.head_dim * o * o * mmax,
        "context": cfg.max_seq * ((1 << cfg.bits) - 1) * o,
    }
    for name, bound in products.items():
        if bound >= I64_LIMIT:
            problems.append(f"{name}: partial sums up to {bound}")
    pc = cfg.ptsoftmax
    if (1 << (pc.partition_frac + pc.out_frac)) >= I64_LIMIT or (
        pc.max_len << pc.partition_frac
    ) >= I64_LIMIT:
        problems.append("PTsoftmax: terms or partition beyond 62 bits")
    bc = cfg.bspn
    if (bc.group_size << bc.j_max) >= I64_LIMIT:
        problems.append(f"BSPN: A up to {bc.group_size << bc.j_max}")
    if bspn_exact_bound(bc) >= I64_LIMIT:
        problems.append(f"BSPN: exact value up to {bspn_exact_bound(bc)}")
    cls = cfg.hidden * cfg.h_format.max * (1 << (cfg.cls_width - 1)) + bmax
    if cls >= I64_LIMIT:
        problems.append(f"classifier: logits up to {cls}")
    if problems:
        raise ConfigError(
            "the fast tier cannot run this configuration exactly in int64: " + "; ".join(problems)
        )


def prepare(params: ModelParams, cfg: ModelConfig) -> FastParams:
    """Validate ``params`` against ``cfg``, check the widths, and convert to arrays."""
    check_widths(cfg)
    params.validate(cfg)
    layers = []
    o = 1 << (cfg.bits - 1)
    cmax = (1 << cfg.bits) - 1
    ctx_dtype = matmul_dtype(cfg.max_seq * cmax * o)
    pc = cfg.ptsoftmax
    for lp in params.layers:
        lin = {name: _linear(p, name, cfg) for name, p in lp.linears().items()}
        offset_max = ctx_offset_max(lp, cfg)
        layers.append(FastLayer(
            q=lin["q"], k=lin["k"], v=lin["v"], o=lin["o"], ffn1=lin["ffn1"], ffn2=lin["ffn2"],
            score_mult=lp.score_mult, prob_mult=lp.prob_mult, prob_shift=lp.prob_shift,
            bspn1=_bspn(lp.bspn1, cfg), bspn2=_bspn(lp.bspn2, cfg),
            prob_counts=fused.prob_count_table(lp.prob_mult, lp.prob_shift, pc.out_frac, cmax,
                                               ctx_dtype),
            prob_scale=fused.prob_scale(lp.prob_mult, lp.prob_shift, pc.out_frac, cmax),
            fused=not fused_problems(lin, lp.score_mult, cfg, offset_max),
            ctx_offset_max=offset_max,
        ))
    head = params.head
    return FastParams(
        cfg=cfg,
        layers=tuple(layers),
        pooler=_linear(head.pooler, "pooler", cfg),
        cls_weight=np.array(head.cls_weight, dtype=np.int64).reshape(cfg.num_labels, cfg.hidden),
        cls_bias=np.array(head.cls_bias, dtype=np.int64),
    )
