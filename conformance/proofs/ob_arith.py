"""Obligations on the arithmetic primitives (spec/01-formats.md, "Primitives").

Each evaluates a function of :mod:`reference.arith` on :class:`Z3Algebra` terms
and proves it equal to its mathematical definition, stated with constant
thresholds (``2**k``, ``3 * 2**(k-1)``, ``ceil(sqrt(2) * 2**k)``) so that every
constraint is linear.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import z3

from conformance.proofs import rows
from conformance.proofs.core import Built, Model, Obligation, Part, Witness, bv, in_range
from conformance.proofs.impl import Impl
from conformance.proofs.z3algebra import Z3Algebra
from reference.arith import Rounding
from reference.presets import OperatorPreset

MAX_SHIFT = 62
"""Largest shift a primitive is proven for (QuantParams.shift allows up to 62)."""


def log2_widths(pre: OperatorPreset) -> list[int]:
    """Widths at which floor/ceil log2 are proven: 32 and the partition width."""
    return sorted({32, pre.ptsoftmax.partition_width})


def round_width(pre: OperatorPreset) -> int:
    """Signed width of the values shift_round is proven on: scores and quantizer products."""
    return max(pre.ptsoftmax.score_width, pre.quant_signed.product_width,
               pre.quant_unsigned.product_width)


def _uvar(width: int, name: str = "x") -> tuple[Z3Algebra, Any, list[Any]]:
    """An algebra two bits wider than ``width`` and ``x`` in ``[1, 2**width)``."""
    alg = Z3Algebra(width + 2)
    x = alg.var(name)
    return alg, x, [x >= 1, x < (1 << width)]


# -- floor / ceil log2 ------------------------------------------------------------


def _build_floor(pre: OperatorPreset, impl: Impl) -> Built:
    parts, wits = [], []
    for w in log2_widths(pre):
        alg, x, prem = _uvar(w)
        r = impl.floor_log2(alg, x, w)
        claim = z3.And(*[
            z3.Implies(z3.And(x >= (1 << k), x < (1 << (k + 1))), r == k) for k in range(w)
        ])
        parts.append(Part(f"bv{w + 2}, x:u{w}", prem, claim, {"x": x, "r": r}, alg.no_overflow))
        wits.append(Witness(f"top power of two at width {w}: floor_log2(2^{w - 1}) = {w - 1}",
                            prem, z3.And(x == (1 << (w - 1)), r == w - 1), {"x": x, "r": r}))
    return Built(", ".join(f"x:u{w}" for w in log2_widths(pre)), parts, wits)


def _build_ceil(pre: OperatorPreset, impl: Impl) -> Built:
    parts, wits = [], []
    for w in log2_widths(pre):
        alg, x, prem = _uvar(w)
        r = impl.ceil_log2(alg, x, w)
        cases = [z3.Implies(x == 1, r == 0)]
        for k in range(1, w + 1):
            cases.append(z3.Implies(z3.And(x > (1 << (k - 1)), x <= (1 << k)), r == k))
        claim = z3.And(*cases)
        parts.append(Part(f"bv{w + 2}, x:u{w}", prem, claim, {"x": x, "r": r}, alg.no_overflow))
        wits.append(Witness("a power of two stays: ceil_log2(2^k) = k, and 2^k + 1 goes up",
                            prem, z3.And(x == (1 << (w - 1)) + 1, r == w), {"x": x, "r": r}))
    return Built(", ".join(f"x:u{w}" for w in log2_widths(pre)), parts, wits)


# -- nearest power of two, linear distance, ties up ----------------------------------


def nearest_def(x: Any, r: Any, w: int) -> Any:
    """``r`` is the linear-nearest exponent of ``x`` (ties up): for ``2**k <= x < 2**(k+1)``,
    ``r = k`` iff ``2x < 3 * 2**k``."""
    cases = []
    for k in range(w):
        inside = z3.And(x >= (1 << k), x < (1 << (k + 1)))
        cases.append(z3.Implies(inside, z3.If(2 * x < 3 * (1 << k), r == k, r == k + 1)))
    return z3.And(*cases)


def _build_nearest(pre: OperatorPreset, impl: Impl) -> Built:
    w = pre.ptsoftmax.partition_width
    alg, x, prem = _uvar(w + 1)  # room for 2x
    prem = [x >= 1, x < (1 << w)]
    r = impl.nearest_pow2_exp(alg, x, w)
    show = {"x": x, "K": r}
    cfg = pre.ptsoftmax

    def regress(m: Model) -> list[dict[str, Any]]:
        row = rows.row_for_partition(int(m["x"]), cfg)
        return [] if row is None else [rows.ptsm_case(cfg, row, "counterexample of "
                                                      "arith.nearest_pow2 as a partition",
                                                      ["partition_tie", "proof_regression"])]

    part = Part(f"bv{w + 3}, x:u{w}", prem, nearest_def(x, r, w), show, alg.no_overflow, regress)
    # intervals [2^k, 2^(k+1)) of the width: ties at 3 * 2^(k-1) go up
    tie = z3.Or(*[x == 3 * (1 << (k - 1)) for k in range(max(cfg.k_min, 1), w - 1)])
    wit = Witness("a tie Z = 3*2^(k-1) rounds up to 2^(k+1), so Z/2^K = 3/4", prem, tie, show,
                  render=lambda m: f"Z/2^K = {Fraction(int(m['x']), 1 << int(m['K']))}")
    return Built(f"x:u{w} (partition width)", [part], [wit])


# -- nearest power of two, log domain ---------------------------------------------


def log_nearest_def(x: Any, r: Any, w: int, thr: Any) -> Any:
    """For ``2**k <= x < 2**(k+1)``: ``r = k + 1`` iff ``x >= thr(k)`` else ``k``."""
    cases = []
    for k in range(w):
        inside = z3.And(x >= (1 << k), x < (1 << (k + 1)))
        cases.append(z3.Implies(inside, z3.If(x >= thr(k), r == k + 1, r == k)))
    return z3.And(*cases)


def threshold_part(w: int) -> Part:
    """Over unbounded integers: ``t_k = ceil(sqrt(2) * 2**k)`` is the exact cut-over of the
    square comparison, ``(t_k - 1)**2 < 2**(2k+1) < t_k**2``, for every ``k < w``."""
    facts = []
    for k in range(w):
        t = arith_threshold(k)
        lo, hi, p = z3.IntVal(t - 1), z3.IntVal(t), z3.IntVal(1 << (2 * k + 1))
        facts.append(z3.And(lo * lo < p, p < hi * hi))
    k = z3.Int("k")
    return Part(f"int, k < {w}", [k == 0], z3.And(*facts), {"k": k})


def _build_log_nearest(pre: OperatorPreset, impl: Impl) -> Built:
    parts, wits = [], []
    ws = sorted({32, pre.bspn.n_width})
    for w in ws:
        alg, x, prem = _uvar(w)
        r = impl.log_nearest_pow2_exp(alg, x, w)
        claim = log_nearest_def(x, r, w, arith_threshold)
        parts.append(Part(f"bv{w + 2}, x:u{w}", prem, claim, {"x": x, "r": r}, alg.no_overflow))
        parts.append(threshold_part(w))
        cut = z3.Or(*[x == arith_threshold(k) for k in range(w - 1)])
        wits.append(Witness("the cut-over x = ceil(sqrt(2)*2^k) rounds up, x - 1 rounds down",
                            prem, cut, {"x": x, "r": r},
                            render=lambda m: f"2^r/x = {2 ** int(m['r']) / int(m['x']):.6f}"))
    return Built(", ".join(f"x:u{w}" for w in ws), parts, wits)


def arith_threshold(k: int) -> int:
    """``ceil(sqrt(2) * 2**k)`` computed independently of the reference."""
    return math.isqrt(2 << (2 * k)) + 1


# -- shift rounding ---------------------------------------------------------------


def round_def(x: Any, q: Any, s: int, mode: Rounding, width: int) -> Any:
    """``q = round_mode(x / 2**s)`` stated by the remainder ``r = x - q * 2**s``."""
    r = x - (q << s)
    one = bv(1 << s, width)
    half = bv(1 << (s - 1), width)
    if mode is Rounding.FLOOR:
        return z3.And(r >= 0, r < one)
    if mode is Rounding.CEIL:
        return z3.And(r <= 0, r > -one)
    if mode is Rounding.TRUNC:
        return z3.If(x >= 0, z3.And(r >= 0, r < one), z3.And(r <= 0, r > -one))
    if mode is Rounding.HALF_UP:
        return z3.And(r >= -half, r < half)
    even = z3.Extract(0, 0, q) == 0
    return z3.And(r >= -half, r <= half, z3.Implies(z3.Or(r == half, r == -half), even))


def _build_shift_round(mode: Rounding) -> Any:
    def build(pre: OperatorPreset, impl: Impl) -> Built:
        w = round_width(pre)
        aw = MAX_SHIFT + 3
        parts: list[Part] = []
        for s in range(1, MAX_SHIFT + 1):
            alg = Z3Algebra(aw)
            x = alg.var("x")
            prem = [in_range(x, -(1 << (w - 1)), (1 << (w - 1)) - 1)]
            q = impl.shift_round(alg, x, s, mode)
            qlim = ((1 << (w - 1)) >> s) + 1
            claim = z3.And(in_range(q, -qlim, qlim), round_def(x, q, s, mode, aw))
            parts.append(Part(f"bv{aw}, x:s{w}, s={s}", prem, claim,
                              {"x": x, "q": q, "s": bv(s, aw)}, alg.no_overflow,
                              _shift_regress(pre, mode, s)))
        alg = Z3Algebra(aw)
        x = alg.var("x")
        s = 2
        q = impl.shift_round(alg, x, s, mode)
        prem = [in_range(x, -(1 << (w - 1)), (1 << (w - 1)) - 1)]
        what = {
            Rounding.FLOOR: ("a negative non-multiple goes down", z3.And(x < 0, x % 4 != 0)),
            Rounding.CEIL: ("a positive non-multiple goes up", z3.And(x > 0, x % 4 != 0)),
            Rounding.TRUNC: ("a negative non-multiple goes toward zero", z3.And(x < 0, x % 4 != 0)),
            Rounding.HALF_UP: ("a negative tie -x.5 goes up", z3.And(x < 0, x % 4 == 2)),
            Rounding.HALF_EVEN: ("an odd tie goes up, an even tie down",
                                 z3.And(x > 0, x % 4 == 2, z3.Extract(0, 0, q) == 0)),
        }[mode]
        wit = Witness(what[0] + " (s = 2)", prem, what[1], {"x": x, "q": q},
                      inputs=_shift_witness_inputs(pre, mode))
        return Built(f"x:s{w}, s in 1..{MAX_SHIFT}, internal s{aw}", parts, [wit])

    return build


def _shift_regress(pre: OperatorPreset, mode: Rounding, s: int) -> Any:
    def regress(m: Model) -> list[dict[str, Any]]:
        x = int(m["x"])
        out: list[dict[str, Any]] = []
        if mode is Rounding.HALF_EVEN:
            qc = pre.quant_signed
            xx = x % (1 << (s + 1))
            if xx < (1 << (qc.in_width - 1)):
                out.append(rows.quant_case(qc, [xx], 1, s, 0,
                                           f"counterexample of shift_round.half_even, s={s}",
                                           ["rounding_tie", "proof_regression"]))
        if mode is Rounding.CEIL and s == pre.ptsoftmax.score_frac:
            cfg = pre.ptsoftmax
            if cfg.score_format.min <= x <= cfg.score_format.max:
                out.append(rows.ptsm_case(cfg, [x, 0], "counterexample of shift_round.ceil "
                                          "as a score", ["proof_regression"]))
        return out

    return regress


def _shift_witness_inputs(pre: OperatorPreset, mode: Rounding) -> Any:
    def inputs(m: Model) -> list[dict[str, Any]]:
        if mode is not Rounding.HALF_EVEN:
            return []
        qc = pre.quant_signed
        xs = [-6, -2, 2, 6, 30, 34, -34, -30]
        return [rows.quant_case(qc, xs, 1, 2, 0, "quantizer ties at s=2: x/4 = +-0.5, "
                                "+-1.5, 7.5, 8.5 go to even, then clamp",
                                ["rounding_tie", "saturation", "proof_witness"])]

    return inputs


# -- clamp ------------------------------------------------------------------------


def _build_clamp(pre: OperatorPreset, impl: Impl) -> Built:
    w = round_width(pre)
    parts, wits = [], []
    for qc in (pre.quant_signed, pre.quant_unsigned):
        lo, hi = qc.q_min, qc.q_max
        alg = Z3Algebra(w)
        x = alg.var("x")
        prem: list[Any] = []
        r = impl.clamp(alg, x, lo, hi)
        claim = z3.And(in_range(r, lo, hi), z3.Implies(in_range(x, lo, hi), r == x),
                       z3.Implies(x < lo, r == lo), z3.Implies(x > hi, r == hi))
        parts.append(Part(f"bv{w}, [{lo}, {hi}]", prem, claim, {"x": x, "r": r},
                          alg.no_overflow))
        wits.append(Witness(f"x = {hi} stays, x = {hi + 1} saturates to {hi}",
                            prem, x == hi + 1, {"x": x, "r": r}))
    return Built(f"x:s{w}, the quantizer ranges", parts, wits)


OBLIGATIONS: list[Obligation] = [
    Obligation("arith.floor_log2", "floor_log2 returns the position of the leading one",
               "2^r <= x < 2^(r+1) for 1 <= x < 2^w", 'spec/01-formats.md, "floor log2"',
               _build_floor),
    Obligation("arith.ceil_log2", "ceil_log2 returns the least r with x <= 2^r",
               "2^(r-1) < x <= 2^r for 1 <= x < 2^w", 'spec/01-formats.md, "ceil log2"',
               _build_ceil),
    Obligation("arith.nearest_pow2",
               "the bit trick (leading one, plus one if the next bit is set) equals the "
               "nearest power of two in linear distance with ties up",
               "2^k <= x < 2^(k+1): K = k iff x - 2^k < 2^(k+1) - x",
               'spec/01-formats.md, "Nearest power of two, linear distance (ties up)"',
               _build_nearest),
    Obligation("arith.log_nearest_pow2",
               "the constant cut-over comparison equals round(log2 x), decided by squares",
               "K = k+1 iff x^2 > 2^(2k+1); t_k = ceil(sqrt(2)*2^k) is the exact cut-over",
               'spec/01-formats.md, "Nearest power of two, log domain"', _build_log_nearest),
] + [
    Obligation(f"arith.shift_round.{m.value}",
               f"shift_round({m.value}) equals the {m.value} rounding of x / 2^s",
               {
                   Rounding.FLOOR: "q*2^s <= x < (q+1)*2^s",
                   Rounding.CEIL: "(q-1)*2^s < x <= q*2^s",
                   Rounding.TRUNC: "floor for x >= 0, ceil for x < 0",
                   Rounding.HALF_UP: "-2^(s-1) <= x - q*2^s < 2^(s-1)",
                   Rounding.HALF_EVEN: "|x - q*2^s| <= 2^(s-1), q even on equality",
               }[m],
               'spec/01-formats.md, "Shifts with a named rounding"', _build_shift_round(m))
    for m in Rounding
] + [
    Obligation("arith.clamp", "clamp returns min(max(x, lo), hi)",
               "r = lo if x < lo, hi if x > hi, else x", 'spec/01-formats.md, "Clamping"',
               _build_clamp),
]
