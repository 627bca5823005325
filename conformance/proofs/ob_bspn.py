"""Obligations on BSPN (spec/03-bspn.md).

Notation: ``G`` = group_size, ``S = sum |x_i|`` over a group, ``e`` = eps_exp,
``f`` = in_frac, ``A = S * 2**e + G * 2**f`` so that
``mean|x| + eps = A / (G * 2**(f+e))``; ``j = divisor_j(S)`` and the divisor
is ``2**k`` with ``k = j - f - e``.
"""

from __future__ import annotations

from typing import Any

import z3

from conformance.proofs import rows
from conformance.proofs.core import Built, Model, Obligation, Part, Witness, bv, in_range, sext
from conformance.proofs.impl import Impl
from conformance.proofs.ob_arith import arith_threshold, threshold_part
from conformance.proofs.z3algebra import Z3Algebra
from reference import bspn
from reference.bspn import BSPNConfig
from reference.presets import OperatorPreset


def s_max(cfg: BSPNConfig) -> int:
    """Largest group absolute sum: ``G * 2**(in_width-1)``."""
    return cfg.group_size << (cfg.in_width - 1)


def _j_setup(cfg: BSPNConfig, impl: Impl) -> tuple[Z3Algebra, Any, Any, Any, list[Any], int]:
    w = cfg.a_width + 3
    alg = Z3Algebra(w)
    s = alg.var("S")
    prem = [in_range(s, 0, s_max(cfg))]
    j = impl.divisor_j(alg, s, cfg)
    big_a = (s << cfg.eps_exp) + (cfg.group_size << cfg.in_frac)
    return alg, s, j, big_a, prem, w


def _g_pow(j: Any, cfg: BSPNConfig, w: int) -> Any:
    r = bv(0, w)
    for jj in range(cfg.j_max + 1):
        r = z3.If(j == jj, bv(cfg.group_size << jj, w), r)
    return r


def _group_inputs(cfg: BSPNConfig, what: str, flags: list[str]) -> Any:
    def inputs(m: Model) -> list[dict[str, Any]]:
        g = rows.group_for_abs_sum(int(m["S"]), cfg)
        return [] if g is None else [rows.bspn_case(cfg, g, what, flags)]
    return inputs


def _build_divisor_range(pre: OperatorPreset, impl: Impl) -> Built:
    cfg = pre.bspn
    alg, s, j, big_a, prem, w = _j_setup(cfg, impl)
    gp = _g_pow(j, cfg, w)
    claim = z3.And(in_range(j, cfg.in_frac, cfg.j_max), big_a <= gp, gp < 2 * big_a)
    show = {"S": s, "j": j, "A": big_a}
    part = Part(f"bv{w}, S in [0, {s_max(cfg)}]", prem, claim, show, alg.no_overflow,
                _group_inputs(cfg, "counterexample of bspn.divisor_range",
                              ["proof_regression"]))
    unit = 1 << cfg.eps_exp  # one step of S moves A by this much

    def ratio(m: Model) -> str:
        g = cfg.group_size << int(m["j"])
        return f"2^k/(mean+eps) = {g / int(m['A']):.8f}"

    wits = [
        Witness("lower end: 2^k - (mean+eps) is below one step of S", prem,
                gp - big_a < unit, show, ratio,
                _group_inputs(cfg, "group whose mean+eps is just at or below a power of two",
                              ["divisor_boundary", "proof_witness"])),
        Witness("upper end: one step of S above half the divisor", prem,
                z3.And(gp < 2 * big_a, 2 * big_a - gp <= 2 * unit), show, ratio,
                _group_inputs(cfg, "group whose mean+eps is just above a power of two",
                              ["divisor_boundary", "proof_witness"])),
    ]
    return Built(f"S:u{s_max(cfg).bit_length()}, A:u{cfg.a_width}, internal s{w}", [part], wits)


def _build_divisor_exact(pre: OperatorPreset, impl: Impl) -> Built:
    cfg = pre.bspn
    alg, s, j, big_a, prem, w = _j_setup(cfg, impl)
    # j is the least integer with G * 2**j >= A (= ceil(log2((mean+eps) * 2**(f+e))))
    cases = [z3.Implies(bv(cfg.group_size << jj, w) >= big_a, j <= jj)
             for jj in range(cfg.j_max + 1)]
    claim = z3.And(_g_pow(j, cfg, w) >= big_a, *cases,
                   j - cfg.in_frac - cfg.eps_exp >= -cfg.eps_exp)
    show = {"S": s, "j": j}
    part = Part(f"bv{w}, S in [0, {s_max(cfg)}]", prem, claim, show, alg.no_overflow,
                _group_inputs(cfg, "counterexample of bspn.divisor_exact",
                              ["proof_regression"]))
    jj = z3.Int("jj")
    n = z3.Int("n")
    # over unbounded integers: the least j with G*2^j >= A is ceil(log2(A/G)), i.e.
    # 2^(j-1) * G < A <= 2^j * G, for any power p = 2^(j-1) (abstract p > 0)
    p, a = z3.Ints("p A")
    ipart = Part("int: least j with G*2^j >= A  <=>  G*2^(j-1) < A <= G*2^j",
                 [p >= 1, a >= 1, cfg.group_size * p < a],
                 z3.Implies(a <= 2 * cfg.group_size * p, z3.Not(a <= cfg.group_size * p)),
                 {"p": p, "A": a, "jj": jj, "n": n})
    wit = Witness("S at a power-of-two boundary of mean+eps: S and S + 1 get different j",
                  [*prem, s >= 1], z3.Or(*[z3.And(big_a <= bv(cfg.group_size << q, w),
                                       big_a + (1 << cfg.eps_exp) > bv(cfg.group_size << q, w))
                                for q in range(cfg.in_frac + 2, cfg.j_max)]),
                  show, inputs=_group_inputs(cfg, "group at a divisor boundary (float log2 "
                                             "may land on the wrong side)",
                                             ["divisor_boundary", "proof_witness"]))
    return Built(f"S:u{s_max(cfg).bit_length()}, A:u{cfg.a_width}", [part, ipart], [wit])


def _build_log_round(pre: OperatorPreset, impl: Impl) -> Built:
    parts: list[Part] = []
    wits: list[Witness] = []
    fsq = impl.log_factor_sq
    for w in sorted({32, pre.bspn.n_width}):
        alg = Z3Algebra(w + 2)
        x = alg.var("x")
        prem = [x >= 1, x < (1 << w)]
        r = impl.log_nearest_pow2_exp(alg, x, w)
        # 2^r in (x / 2^(1/2), x * 2^(1/2)): by cases on the constant k = floor(log2 x),
        # r = k needs x < t_k and r = k+1 needs x >= t_k (t_k the exact cut-over, proven
        # over integers); with a factor c^2 = fsq the cut-overs are recomputed.
        cases = []
        for k in range(w):
            inside = z3.And(x >= (1 << k), x < (1 << (k + 1)))
            lo_ok = _cut(fsq, k)  # smallest x with x^2 * fsq > 2^(2k+2)... see _cut
            hi_ok = _cut_up(fsq, k)
            cases.append(z3.Implies(inside, z3.Or(z3.And(r == k, x < hi_ok),
                                                  z3.And(r == k + 1, x >= lo_ok))))
        parts.append(Part(f"bv{w + 2}, x:u{w}", prem, z3.And(*cases), {"x": x, "r": r},
                          alg.no_overflow))
        parts.append(threshold_part(w))
        top = max(w // 2, 1)
        wits.append(Witness("relative error approaches sqrt(2)-1: x = ceil(sqrt(2)*2^k) "
                            "rounds up", prem,
                            z3.Or(*[x == arith_threshold(k) for k in range(top, w - 1)]),
                            {"x": x, "r": r},
                            lambda m: f"2^r/x - 1 = {2 ** int(m['r']) / int(m['x']) - 1:.8f} "
                            f"(sqrt(2)-1 = 0.41421356)", _cut_inputs(pre.bspn)))
    return Built(", ".join(f"x:u{w}" for w in sorted({32, pre.bspn.n_width})) +
                 " (weights, outputs N)", parts, wits)


def _cut_inputs(cfg: BSPNConfig) -> Any:
    """A group ``[t_k, t_k - 1]``: the two inputs straddle the cut-over, so (with weight 1,
    bias 0) their outputs differ by a factor 2; the largest ``k`` whose outputs are neither
    flushed nor saturated."""
    def inputs(m: Model) -> list[dict[str, Any]]:
        from reference import bspn as ref

        for k in range(cfg.in_width - 2, 0, -1):
            t = arith_threshold(k)
            if t > cfg.in_format.max:
                continue
            group = [t, t - 1]
            case = rows.bspn_case(cfg, group, f"inputs ceil(sqrt(2)*2^{k}) = {t} and {t - 1} "
                                  "straddle the log-domain cut-over",
                                  ["log_round_boundary", "proof_witness"])
            res = ref.bspn(case["inputs"]["x"], ref.BSPNParams(
                tuple(case["inputs"]["weight_sign"]), tuple(case["inputs"]["weight_exp"]),
                tuple(case["inputs"]["bias"])), cfg)
            a, b = res.out[0], res.out[1]
            if a == 2 * b and b > 0 and a < (1 << cfg.r_max):
                return [case]
        return []
    return inputs


def _cut(fsq: int, k: int) -> int:
    """Smallest integer x with ``fsq * x**2 > 2**(2k+2)``: rounding up to ``2**(k+1)`` is
    within the factor ``sqrt(fsq)``."""
    import math

    t = math.isqrt((1 << (2 * k + 2)) // fsq)
    while fsq * t * t <= 1 << (2 * k + 2):
        t += 1
    while t > 1 and fsq * (t - 1) * (t - 1) > 1 << (2 * k + 2):
        t -= 1
    return t


def _cut_up(fsq: int, k: int) -> int:
    """One above the largest x with ``x**2 < fsq * 2**(2k)``: rounding down to ``2**k`` is
    within the factor ``sqrt(fsq)``."""
    import math

    t = math.isqrt(fsq << (2 * k))
    while t * t >= fsq << (2 * k):
        t -= 1
    return t + 1


def _build_exact_width(pre: OperatorPreset, impl: Impl) -> Built:
    cfg = pre.bspn
    nw = cfg.n_width
    alg, s, j, _big_a, prem, w = _j_setup(cfg, impl)
    wexp = z3.BitVec("wexp", w)
    shift = bv(cfg.exact_frac + cfg.eps_exp, w) + wexp - j
    prem2 = [*prem, in_range(wexp, cfg.weight_exp_min, cfg.weight_exp_max)]
    p1 = Part(f"bv{w}: every shift P + wexp + e - j >= 0", prem2,
              z3.And(shift >= 0, cfg.exact_frac >= cfg.bias_frac),
              {"S": s, "j": j, "wexp": wexp}, alg.no_overflow)
    # N = sign * x * 2^shift + bias * 2^(P - bias_frac), computed wide, fits s{nw}
    smax = cfg.shift_max
    big = cfg.in_width + smax + cfg.bias_width + 4
    x = z3.BitVec("x", cfg.in_width)
    b = z3.BitVec("b", cfg.bias_width)
    sh = z3.BitVec("sh", big)
    sg = z3.BitVec("sign", 2)
    prem3 = [in_range(sh, 0, smax), in_range(sg, -1, 1)]
    xv = sext(x, big) << sh
    nval = z3.If(sg == 1, xv, z3.If(sg == -1, -xv, bv(0, big))) + (
        sext(b, big) << (cfg.exact_frac - cfg.bias_frac))
    lim = 1 << (nw - 1)
    p2 = Part(f"bv{big}: N fits s{nw}", prem3, in_range(nval, -lim, lim - 1),
              {"x": x, "b": b, "sh": sh, "sign": sg})
    wit = Witness(f"N reaches beyond 2^{nw - 2}: s{nw - 1} would overflow", prem3,
                  z3.Or(nval >= 1 << (nw - 2), nval < -(1 << (nw - 2))),
                  {"x": x, "b": b, "sh": sh, "sign": sg},
                  inputs=lambda m: [rows.bspn_case(
                      cfg, [cfg.in_format.min], "smallest input alone in its group with the "
                      "largest weight exponent: the widest exact value N",
                      ["format_extreme", "proof_witness"], weight_exp=cfg.weight_exp_max,
                      bias=cfg.bias_format.min)])
    return Built(f"j in [{cfg.in_frac}, {cfg.j_max}], P = {cfg.exact_frac}, N:s{nw}",
                 [p1, p2], [wit])


# -- bspn.output_range ------------------------------------------------------------


def flush_threshold(cfg: BSPNConfig) -> int:
    """Least ``|N|`` that is not flushed: ``t(P - o - 1)`` (``|y| >= 2**(-o-1/2)``), or 1."""
    k = cfg.exact_frac - cfg.out_frac - 1
    return arith_threshold(k) if k >= 0 else 1


def saturation_threshold(cfg: BSPNConfig) -> int:
    """Least ``|N|`` that saturates: ``t(r_max + P - o)`` (``|y| > 2**(r_max - o + 1/2)``)."""
    return arith_threshold(cfg.r_max + cfg.exact_frac - cfg.out_frac)


def _build_output_range(pre: OperatorPreset, impl: Impl) -> Built:
    cfg = pre.bspn
    nw = cfg.n_width
    alg = Z3Algebra(nw + 2)
    x = alg.var("x")
    prem = [x >= 1, x <= 1 << (nw - 1)]
    mag, r = bspn.output_magnitude(alg, x, cfg, cfg.n_width, impl.log_nearest_pow2_exp)
    tf, ts = flush_threshold(cfg), saturation_threshold(cfg)
    top = 1 << cfg.r_max
    claim = z3.And((mag == 0) == (x < tf), (r < 0) == (x < tf), (r > cfg.r_max) == (x >= ts),
                   z3.Implies(x >= ts, mag == top),
                   z3.Or(*[mag == v for v in [0] + [1 << k for k in range(cfg.r_max + 1)]]))
    show = {"x": x, "r": r, "out": mag}
    part = Part(f"bv{nw + 2}, |N| in [1, 2^{nw - 1}] (N:s{nw})", prem, claim, show,
                alg.no_overflow)
    ks = sorted({k for k in (cfg.exact_frac - cfg.out_frac - 1,
                             cfg.r_max + cfg.exact_frac - cfg.out_frac) if k >= 0})
    facts = []
    for k in ks:
        t, p = z3.IntVal(arith_threshold(k)), z3.IntVal(1 << (2 * k + 1))
        facts.append(z3.And((t - 1) * (t - 1) < p, p < t * t))
    kk = z3.Int("k")
    ipart = Part(f"int: t(k)^2 > 2^(2k+1) > (t(k)-1)^2 for k in {ks}", [kk == 0],
                 z3.And(*facts), {"k": kk})
    wits = []
    if tf > 1:
        wits.append(Witness(f"flush edge: |N| = t({cfg.exact_frac - cfg.out_frac - 1}) - 1 "
                            "flushes, one more gives the smallest output", prem,
                            z3.And(x == tf - 1, mag == 0), show,
                            lambda m: f"|y| = |N|/2^P = {int(m['x']) / 2 ** cfg.exact_frac:.6g}"
                            f" < 2^(-o-1/2) = {2 ** (-cfg.out_frac - 0.5):.6g}"))
    if ts <= 1 << (nw - 1):
        wits.append(Witness("saturation edge: |N| = t(r_max + P - o) saturates, one less "
                            "gives 2^r_max unsaturated", prem,
                            z3.And(x == ts, r == cfg.r_max + 1), show,
                            lambda m: f"|y| = {int(m['x']) / 2 ** cfg.exact_frac:.6g} > "
                            f"2^(r_max - o + 1/2) = "
                            f"{2 ** (cfg.r_max - cfg.out_frac + 0.5):.6g}"))
    return Built(f"|N| <= 2^{nw - 1}, out s{cfg.out_width}.{cfg.out_frac}, r_max = {cfg.r_max}",
                 [part, ipart], wits)


# -- bspn.general_widths -----------------------------------------------------------

GENERAL_BOUNDS: dict[str, int] = {"j_max": 72, "a_width": 89, "P": 64, "shift_max": 136,
                                  "n_width": 169, "n_value_width": 114}
"""The widest BSPN intermediates over every valid configuration (spec/03-bspn.md, "Widths
over every valid configuration"); ``a_width`` is ``17 + j_max`` (``G <= 2^16``)."""


def general_terms() -> tuple[list[Any], dict[str, Any]]:
    """Every valid configuration (integers, unbounded) and its derived exponents.

    ``n_width = max(in_width - 1 + shift_max, bias_width - 1 + P - bias_frac) + 2`` (a
    sum ``2^a + 2^b`` needs ``max(a, b) + 2`` signed bits); the smaller bound of step 4,
    ``|N| < G 2^(P + wmax) + 2^(bias_width - 1 + P - bias_frac)`` with ``G <= 2^16``, needs
    ``max(16 + P + wmax, bias_width - 1 + P - bias_frac) + 2``.
    """
    iw, f, e, wmin, wmax, bw, bf = z3.Ints("in_width in_frac eps_exp wexp_min wexp_max "
                                           "bias_width bias_frac")
    prem = [in_range(iw, 2, 32), in_range(f, 0, 31), in_range(e, 0, 40),
            in_range(wmin, -32, 32), in_range(wmax, -32, 32), wmin <= wmax,
            in_range(bw, 2, 32), in_range(bf, 0, 31)]

    def mx(a: Any, b: Any) -> Any:
        return z3.If(a >= b, a, b)

    jm = mx(iw - 1 + e, f) + 1
    p = mx(mx(bf, jm - wmin - e), z3.IntVal(0))
    shift = p + wmax + e - f
    terms = {"in_width": iw, "in_frac": f, "eps_exp": e, "wexp_min": wmin, "wexp_max": wmax,
             "bias_width": bw, "bias_frac": bf, "j_max": jm, "a_width": jm + 17, "P": p,
             "shift_max": shift, "n_width": mx(iw - 1 + shift, bw - 1 + p - bf) + 2,
             "n_value_width": mx(16 + p + wmax, bw - 1 + p - bf) + 2}
    return prem, terms


def _build_general_widths(pre: OperatorPreset, impl: Impl) -> Built:
    prem, t = general_terms()
    claim = z3.And(*[t[k] <= v for k, v in GENERAL_BOUNDS.items()])
    part = Part("int: every valid configuration", prem, claim, t)
    wits = [Witness(f"{k} = {v} reached", prem, t[k] == v, t) for k, v in GENERAL_BOUNDS.items()]
    return Built(", ".join(f"{k} <= {v}" for k, v in GENERAL_BOUNDS.items()), [part], wits)


OBLIGATIONS: list[Obligation] = [
    Obligation("bspn.divisor_range", "the group divisor 2^k lies in [mean+eps, 2(mean+eps))",
               "A <= G*2^j < 2A, i.e. mean+eps <= 2^k < 2(mean+eps)",
               'spec/03-bspn.md, "Algorithm" and "Bounds"', _build_divisor_range),
    Obligation("bspn.divisor_exact",
               "divisor_j, found without division, equals ceil(log2(mean|x| + eps)) + f + e",
               "j = min { j : G*2^j >= A }  <=>  G*2^(j-1) < A <= G*2^j",
               'spec/03-bspn.md, "Algorithm" and "Bounds"', _build_divisor_exact),
    Obligation("bspn.log_round",
               "log-domain rounding to a power of two is within a factor 2^(1/2): relative "
               "error below sqrt(2) - 1, for weights and outputs",
               "2^(2r) < 2 x^2  and  x^2 < 2^(2r+1)", 'spec/03-bspn.md, "Algorithm" and "Bounds"',
               _build_log_round),
    Obligation("bspn.exact_width",
               "P = exact_frac makes every shift non-negative and N fits its width",
               "P + wexp + e - j >= 0;  |N| < 2^(n_width-1)",
               'spec/03-bspn.md, "Parameters", "Algorithm" and "Bounds"',
               _build_exact_width),
    Obligation("bspn.output_range",
               "the output rounding flushes exactly the values below 2^(-o-1/2), saturates "
               "exactly those above 2^(r_max-o+1/2), and every output is 0 or +-2^r with "
               "0 <= r <= r_max",
               "out = 0 iff |N| < t(P-o-1);  |out| = 2^r_max iff |N| >= t(r_max+P-o)",
               'spec/03-bspn.md, "Algorithm" and "Bounds"', _build_output_range),
    Obligation("bspn.general_widths",
               "over every valid configuration, A needs at most 89 bits, P is at most 64, "
               "the shift of step 4 at most 136, n_width at most 169, and the values N "
               "valid inputs produce fit 114 signed bits",
               "j_max <= 72; a_width <= 89; P <= 64; shift_max <= 136; n_width <= 169; "
               "|N| < 2^113",
               'spec/03-bspn.md, "Widths over every valid configuration"',
               _build_general_widths),
]
