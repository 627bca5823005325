"""Obligations on PTsoftmax (spec/02-ptsoftmax.md).

Notation: ``F`` = partition_frac, ``o`` = out_frac, ``n`` <= max_len live
entries, ``d_i = max_j s_j - s_i``, ``e_i = term(d_i)``, ``Z = sum e_i``,
``K = partition_exp(Z)``, ``p_i = output(e_i, K)``.  Per-term lemmas are proven
on the reference's functions over bit-vectors for every input of their widths;
rows are composed over a small symbolic length on the same code, and for every
length up to ``max_len`` by a linear argument proven over unbounded integers
or reals (spec/09-theorems.md says which is which).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import z3

from conformance.proofs import rows
from conformance.proofs.core import Built, Model, Obligation, Part, Witness, in_range, pow2_of, sext
from conformance.proofs.impl import Impl
from conformance.proofs.z3algebra import Z3Algebra
from reference.presets import OperatorPreset
from reference.ptsoftmax import PTSoftmaxConfig

ROW = 4
"""Symbolic row length of the bit-vector compositions."""


def d_max(cfg: PTSoftmaxConfig) -> int:
    """Largest ``d = max s - s``: the span of ceil'd scores."""
    s_max = -((-cfg.score_format.max) >> cfg.score_frac)
    s_min = -((-cfg.score_format.min) >> cfg.score_frac)
    return s_max - s_min


def _alg_width(cfg: PTSoftmaxConfig) -> int:
    return max(cfg.partition_width, cfg.partition_frac + cfg.out_frac + 1,
               d_max(cfg).bit_length()) + 2


def claim_width(cfg: PTSoftmaxConfig) -> int:
    """Width of the claims' products such as ``p * 2**K`` and ``Z * 2**o``."""
    return cfg.out_frac + cfg.k_max + cfg.len_bits + 6


def ks(cfg: PTSoftmaxConfig) -> list[int]:
    """Exponents an unmasked row's partition can take."""
    return list(range(cfg.k_min, cfg.k_max + 1))


def _times_pow2(x: Any, k: Any, kk: list[int], width: int) -> Any:
    """``x * 2**k`` for ``k`` among the constants ``kk`` (no symbolic product)."""
    xw = sext(x, width)
    r = z3.BitVecVal(0, width)
    for c in kk:
        r = z3.If(k == c, xw << c, r)
    return r


def lost_terms(cfg: PTSoftmaxConfig, n: int) -> int:
    """How many outputs of a row of ``n`` can be truncated: all but the maximum's when
    ``o >= ceil(log2 max_len)`` (then the maximum's output is at least 1), else all."""
    return n - 1 if cfg.out_frac >= cfg.len_bits else n


def _row(alg: Z3Algebra, cfg: PTSoftmaxConfig, impl: Impl, n: int, tag: str = "d",
         outputs: bool = True) -> Any:
    ds = [alg.const(0)] + [alg.var(f"{tag}{i}") for i in range(1, n)]
    prem = [in_range(d, 0, d_max(cfg)) for d in ds[1:]]
    es = [impl.term(alg, d, cfg.partition_frac) for d in ds]
    z = es[0]
    for e in es[1:]:
        z = alg.add(z, e)
    k = impl.partition_exp(alg, z, cfg)
    ps = [impl.output(alg, e, k, cfg) for e in es] if outputs else []
    return ds, prem, es, z, k, ps


def _scores_of(m: Model, n: int, cfg: PTSoftmaxConfig, tag: str = "d") -> list[int]:
    ds = [0] + [int(m[f"{tag}{i}"]) for i in range(1, n)]
    top = rows.s_max(cfg)
    return [rows.score_for(top - d, cfg) for d in ds]


def _row_regress(cfg: PTSoftmaxConfig, n: int, what: str) -> Any:
    def regress(m: Model) -> list[dict[str, Any]]:
        sc = _scores_of(m, n, cfg)
        if min(sc) < cfg.score_format.min:
            return []
        return [rows.ptsm_case(cfg, sc, f"counterexample of {what}", ["proof_regression"])]

    return regress


# -- ptsm.partition_ratio ---------------------------------------------------------


def _build_partition_ratio(pre: OperatorPreset, impl: Impl) -> Built:
    cfg = pre.ptsoftmax
    lo, hi = impl.partition_ratio
    w = cfg.partition_width + 8
    alg = Z3Algebra(w)
    z = alg.var("Z")
    prem = [in_range(z, 1 << cfg.partition_frac, cfg.max_len << cfg.partition_frac)]
    k = impl.partition_exp(alg, z, cfg)
    p = pow2_of(k, ks(cfg), w)
    claim = z3.And(in_range(k, cfg.k_min, cfg.k_max),
                   lo.numerator * p <= lo.denominator * z, hi.denominator * z < hi.numerator * p)
    show = {"Z": z, "K": k}

    def regress(m: Model) -> list[dict[str, Any]]:
        row = rows.row_for_partition(int(m["Z"]), cfg)
        return [] if row is None else [rows.ptsm_case(
            cfg, row, "counterexample of ptsm.partition_ratio", ["proof_regression"])]

    bvpart = Part(f"bv{w}, Z in [2^F, max_len*2^F]", prem, claim, show, alg.no_overflow, regress)
    zi, pi = z3.Ints("Z p")
    big = z3.If(2 * zi < 3 * pi, pi, 2 * pi)
    ipart = Part("int, any 2^k <= Z < 2^(k+1) (p abstracts 2^k)",
                 [pi >= 1, pi <= zi, zi < 2 * pi],
                 z3.And(lo.numerator * big <= lo.denominator * zi,
                        hi.denominator * zi < hi.numerator * big), {"Z": zi, "p": pi})
    # largest Z just below a tie that the partition can hold
    best = max((3 << (kk - 1)) - 1 for kk in ks(cfg)
               if (3 << (kk - 1)) - 1 <= cfg.max_len << cfg.partition_frac and kk >= 1)

    def ratio(m: Model) -> str:
        return f"Z/2^K = {int(m['Z']) / (1 << int(m['K'])):.8f}"

    def as_row(what: str, flags: list[str]) -> Any:
        def inputs(m: Model) -> list[dict[str, Any]]:
            row = rows.row_for_partition(int(m["Z"]), cfg)
            return [] if row is None else [rows.ptsm_case(cfg, row, what, flags)]
        return inputs

    wits = [
        Witness("lower bound reached: a tie Z = 3*2^(K-2) gives Z/2^K = 3/4", prem,
                4 * z == 3 * p, show, ratio,
                as_row("PTsoftmax row whose partition is the tie 3*2^(k-1): Z/2^K = 3/4",
                       ["partition_tie", "proof_witness"])),
        Witness("upper bound approached: Z = 3*2^(K-1) - 1, one below the tie", prem,
                z3.And(2 * z == 3 * p - 2, z == best), show, ratio,
                as_row("PTsoftmax row whose partition is one below a tie: Z/2^K = 3/2 - 2^-K",
                       ["partition_tie", "proof_witness"])),
    ]
    return Built(f"Z:u{cfg.partition_width} in [2^{cfg.partition_frac}, "
                 f"{cfg.max_len}*2^{cfg.partition_frac}]; lemma over unbounded integers",
                 [bvpart, ipart], wits)


# -- ptsm.acc_width ---------------------------------------------------------------


def _build_acc_width(pre: OperatorPreset, impl: Impl) -> Built:
    cfg = pre.ptsoftmax
    f, o = cfg.partition_frac, cfg.out_frac
    aw = _alg_width(cfg)
    alg = Z3Algebra(aw)
    d, k = alg.var("d"), alg.var("K")
    e = impl.term(alg, d, f)
    p = impl.output(alg, e, k, cfg)
    prem = [in_range(d, 0, d_max(cfg)), in_range(k, cfg.k_min, cfg.k_max)]
    claim = z3.And(in_range(e, 0, 1 << f), z3.Implies(d == 0, e == 1 << f),
                   in_range(p, 0, cfg.out_format.max))
    term_part = Part(f"bv{aw}, one term: d in [0, {d_max(cfg)}], K in [k_min, k_max]",
                     prem, claim, {"d": d, "K": k, "e": e, "p": p}, alg.no_overflow)
    # a row of ROW entries summed in the declared partition width (overflow tracked)
    ralg = Z3Algebra(aw)
    ds, rprem, _es, z, kr, _ps = _row(ralg, cfg, impl, ROW, outputs=False)
    row_part = Part(f"bv{aw}, row of {ROW}: Z in u{cfg.partition_width}", rprem,
                    z3.And(in_range(z, 1 << f, ROW << f), z < 1 << cfg.partition_width,
                           in_range(kr, cfg.k_min, cfg.k_max)),
                    {f"d{i}": ds[i] for i in range(1, ROW)} | {"Z": z}, ralg.no_overflow,
                    _row_regress(cfg, ROW, "ptsm.acc_width"))
    n, zi = z3.Ints("n Z")
    iprem = [n >= 1, n <= cfg.max_len, zi >= 1 << f, zi <= n * (1 << f)]
    ipart = Part(f"int, any n <= {cfg.max_len}: Z <= n * 2^F (sum of terms <= 2^F)", iprem,
                 zi < 1 << cfg.partition_width, {"n": n, "Z": zi})
    zmax = cfg.max_len << f
    spare = cfg.partition_width - zmax.bit_length()
    wit = Witness(f"all {cfg.max_len} scores equal: the linear bound Z = max_len*2^F is "
                  f"reached", iprem, zi == cfg.max_len * (1 << f), {"n": n, "Z": zi},
                  lambda m: f"Z needs {zmax.bit_length()} bits; partition_width = "
                  f"{cfg.partition_width}" + ("" if spare == 0 else f" ({spare} spare)"),
                  inputs=lambda m: [rows.ptsm_case(
                      cfg, [0] * cfg.max_len, "longest row of equal scores: the largest "
                      "partition", ["max_length", "proof_witness"])])
    return Built(f"d:s{d_max(cfg).bit_length() + 1}, Z:u{cfg.partition_width}, "
                 f"out u{o + 1}; linear bound over unbounded integers for n <= {cfg.max_len}",
                 [term_part, row_part, ipart], [wit])


# -- ptsm.sum_bounds --------------------------------------------------------------


def _build_sum_bounds(pre: OperatorPreset, impl: Impl) -> Built:
    cfg = pre.ptsoftmax
    f, o = cfg.partition_frac, cfg.out_frac
    cw = claim_width(cfg)
    kk = ks(cfg)
    aw = _alg_width(cfg)
    # per-term: loss of the output rounding is 0 or the whole term, at most half an ulp
    alg = Z3Algebra(aw)
    d, k = alg.var("d"), alg.var("K")
    e = impl.term(alg, d, f)
    p = impl.output(alg, e, k, cfg)
    prem = [in_range(d, 0, d_max(cfg)), in_range(k, cfg.k_min, cfg.k_max)]
    pk = _times_pow2(p, k, kk, cw)
    eo = sext(e, cw) << o
    half = _times_pow2(z3.BitVecVal(1, aw), k, kk, cw) >> 1
    claim = z3.And(pk <= eo, eo - half <= pk, z3.Or(pk == eo, p == 0))
    if o >= cfg.len_bits:  # the row maximum's output (d = 0) is at least 1 and exact
        claim = z3.And(claim, z3.Implies(d == 0, z3.And(p >= 1, pk == eo)))
    term_part = Part(f"bv{aw}, one term" + (", d = 0 exact" if o >= cfg.len_bits else ""),
                     prem, claim, {"d": d, "K": k, "p": p}, alg.no_overflow)
    # a row of ROW symbolic entries through the reference's functions
    ralg = Z3Algebra(aw)
    ds, rprem, _es, z, kr, ps = _row(ralg, cfg, impl, ROW)
    s = ps[0]
    for q in ps[1:]:
        s = ralg.add(s, q)
    sw = sext(s, cw)
    lost = lost_terms(cfg, ROW)
    low = z3.BitVecVal(3 << (o + 1), cw) - 4 * lost
    rclaim = z3.And(8 * sw >= low, 2 * sw < 3 << o)
    show = {f"d{i}": ds[i] for i in range(1, ROW)} | {"Z": z, "K": kr, "S": s}
    row_part = Part(f"bv{aw}, row of {ROW}", rprem, rclaim, show, ralg.no_overflow,
                    _row_regress(cfg, ROW, "ptsm.sum_bounds"))
    # every n <= max_len: linear composition of the per-term lemma and partition_ratio
    rho, sig = z3.Reals("rho sigma")
    n = z3.Int("n")
    ulp = Fraction(1, 1 << (o + 1))
    nl = n - 1 if cfg.out_frac >= cfg.len_bits else n
    cprem = [n >= 1, n <= cfg.max_len, 4 * rho >= 3, 2 * rho < 3,
             sig <= rho, sig >= rho - nl * z3.RealVal(ulp)]
    cpart = Part(f"real, any n <= {cfg.max_len}", cprem,
                 z3.And(sig >= Fraction(3, 4) - nl * z3.RealVal(ulp), 2 * sig < 3),
                 {"n": n, "rho": rho, "sigma": sig})
    # witnesses
    wn = min(cfg.max_len, f + 1)
    walg = Z3Algebra(aw)
    wds, wprem, _we, wz, wk, wps = _row(walg, cfg, impl, wn, "w")
    ws = wps[0]
    for q in wps[1:]:
        ws = walg.add(ws, q)
    wshow = {f"w{i}": wds[i] for i in range(1, wn)} | {"Z": wz, "K": wk, "S": ws}
    pk_r = _times_pow2(p, k, kk, cw)

    def sum_text(m: Model) -> str:
        return f"sum p = {int(m['S'])}/2^{o} = {int(m['S']) / (1 << o):.8f}"

    def row_inputs(what: str, flags: list[str], tag: str, nn: int) -> Any:
        def inputs(m: Model) -> list[dict[str, Any]]:
            return [rows.ptsm_case(cfg, _scores_of(m, nn, cfg, tag), what, flags)]
        return inputs

    wits = [
        Witness("lower end 3/4 reached exactly (a tie, nothing truncated)", rprem,
                4 * sw == 3 << o, show, sum_text,
                row_inputs("PTsoftmax outputs summing to exactly 3/4", ["partition_tie",
                           "proof_witness"], "d", ROW)),
        Witness("a truncated term loses exactly half an output ulp", prem,
                z3.And(p == 0, e > 0, 2 * eo == _times_pow2(z3.BitVecVal(1, aw), k, kk, cw)),
                {"d": d, "K": k, "e": e, "p": pk_r}),
        Witness(f"upper end approached with a row of {wn}: Z = 3*2^(F-1) - 1, K = F, "
                f"nothing truncated: sum = 3/2 - 2^-F", wprem,
                z3.And(2 * wz == (3 << f) - 2, wk == f,
                       sext(ws, cw) << f == sext(wz, cw) << o), wshow, sum_text,
                row_inputs("PTsoftmax outputs summing to one ulp below 3/2",
                           ["partition_tie", "proof_witness"], "w", wn)),
    ]
    return Built(f"d:s{d_max(cfg).bit_length() + 1}, Z:u{cfg.partition_width}, "
                 f"out u{o + 1}.{o}; rows of {ROW} on bit-vectors, n <= {cfg.max_len} over reals",
                 [term_part, row_part, cpart], wits)


# -- ptsm.ratio_rounded -----------------------------------------------------------


def drop_slack(cfg: PTSoftmaxConfig) -> Fraction:
    """``(max_len - 1) * 2**-(F+1)``: how far dropped terms can lift the exact partition."""
    return Fraction(cfg.max_len - 1, 1 << (cfg.partition_frac + 1))


def _term_part(cfg: PTSoftmaxConfig, impl: Impl) -> tuple[Part, dict[str, Any]]:
    f, o = cfg.partition_frac, cfg.out_frac
    aw = _alg_width(cfg)
    cw = claim_width(cfg)
    kk = ks(cfg)
    alg = Z3Algebra(aw)
    d, k = alg.var("d"), alg.var("K")
    e = impl.term(alg, d, f)
    p = impl.output(alg, e, k, cfg)
    exact = z3.BitVecVal(0, aw)
    for j in range(f + 1):
        exact = z3.If(d == j, z3.BitVecVal(1 << (f - j), aw), exact)
    pk = _times_pow2(p, k, kk, cw)
    one_k = _times_pow2(z3.BitVecVal(1, aw), k, kk, cw)
    eo = sext(e, cw) << o
    claim = z3.And(e == exact, z3.Implies(p > 0, pk == eo), z3.Implies(p == 0, eo < one_k))
    prem = [in_range(d, 0, d_max(cfg)), in_range(k, cfg.k_min, cfg.k_max)]
    show = {"d": d, "K": k, "e": e, "p": p}
    return Part(f"bv{aw}, one term: e = 2^(F-d) or 0; p*2^K = e*2^o or p = 0", prem, claim,
                show, alg.no_overflow), show


def _build_ratio_rounded(pre: OperatorPreset, impl: Impl) -> Built:
    cfg = pre.ptsoftmax
    f, o = cfg.partition_frac, cfg.out_frac
    term_part, _ = _term_part(cfg, impl)
    zx, u, pp = z3.Reals("Zx u P")
    z, n = z3.Ints("Z n")
    base = [n >= 1, n <= cfg.max_len, z3.Or(*[pp == 1 << kk for kk in ks(cfg)]),
            3 * pp <= 4 * z, 2 * z < 3 * pp,
            z >= 1 << f, z <= n * (1 << f), z <= (1 << f) * zx,
            (1 << f) * zx <= z + (n - 1) * z3.RealVal("1/2")]
    slack = drop_slack(cfg)
    ratio = (1 << f) * zx / pp
    kept = z3.And(3 * pp <= 4 * (1 << f) * zx,
                  (1 << f) * zx < z3.RealVal(Fraction(3, 2) + slack) * pp)
    kpart = Part(f"real, any n <= {cfg.max_len}: output > 0, ratio = 2^F*Zx/2^K", base, kept,
                 {"Z": z, "Zx": zx, "P": pp, "n": n})
    tprem = [*base, u > 0, u * (1 << (f + o)) < pp]
    trunc = 3 * u < 4 * zx * z3.RealVal(Fraction(1, 1 << o))
    tpart = Part("real: output truncated to 0, q < (4/3)*2^-o", tprem, trunc,
                 {"Z": z, "Zx": zx, "P": pp, "u": u})
    dprem = [*base, u > 0, u <= z3.RealVal(Fraction(1, 1 << (f + 1)))]
    dpart = Part("real: term dropped from Z (d > F), q <= 2^-(F+1)", dprem,
                 u <= zx * z3.RealVal(Fraction(1, 1 << (f + 1))), {"u": u, "Zx": zx})
    show = {"Z": z, "Zx": zx, "P": pp, "n": n}

    def render(m: Model) -> str:
        r = Fraction(m["Zx"]) * (1 << f) / Fraction(m["P"])
        return f"p/(2^o q) = {float(r):.8f}"

    wits = [
        Witness("3/4 reached: a tie row with nothing dropped", base,
                z3.And(4 * z == 3 * pp, (1 << f) * zx == z), show, render,
                lambda m: [rows.ptsm_case(cfg, [0, -1 << cfg.score_frac],
                                          "scores 0, -1: Z = 1.5*2^F ties up, p = (1/2, 1/4)",
                                          ["partition_tie", "proof_witness"])]),
        Witness("above 3/2: dropped terms lift the exact partition past the tie", base,
                ratio > Fraction(3, 2), show, render, lambda m: _drop_row(cfg)),
    ]
    return Built(f"per term on bit-vectors (d, K of the preset); composition for n <= "
                 f"{cfg.max_len} over reals", [term_part, kpart, tpart, dpart], wits)


def _drop_row(cfg: PTSoftmaxConfig) -> list[dict[str, Any]]:
    """Z = 3*2^F - 1 from kept terms, plus three terms at d = F + 1 (dropped)."""
    f = cfg.partition_frac
    ds = [0, 0] + list(range(1, f + 1)) + [f + 1] * 3
    if len(ds) > cfg.max_len:
        return []
    sc = [-d << cfg.score_frac for d in ds]
    if min(sc) < cfg.score_format.min:
        return []
    return [rows.ptsm_case(cfg, sc, "partition one below the tie 3*2^F, with three terms "
                           "below 2^-F dropped: output exceeds 3/2 of the exact softmax",
                           ["partition_tie", "truncated_term", "proof_witness"])]


# -- ptsm.ratio_unrounded ---------------------------------------------------------


def _build_ratio_unrounded(pre: OperatorPreset, impl: Impl) -> Built:
    cfg = pre.ptsoftmax
    sf = cfg.score_frac
    aw = cfg.score_width + 2
    alg = Z3Algebra(aw)
    x = alg.var("x")
    prem = [in_range(x, cfg.score_format.min, cfg.score_format.max)]
    s = impl.ceil_score(alg, x, sf)
    gap = (s << sf) - x
    cpart = Part(f"bv{aw}, x:s{cfg.score_width}.{sf}: 0 <= s - x/2^sf < 1", prem,
                 z3.And(gap >= 0, gap < 1 << sf), {"x": x, "s": s}, alg.no_overflow,
                 lambda m: [rows.ptsm_case(cfg, [int(m["x"]), 0], "counterexample of "
                                           "ptsm.ratio_unrounded (ceil)",
                                           ["proof_regression"])])
    # rows of 3: a_j = 2^(x_j) > 0, b_j = 2^(s_j) in [a_j, 2 a_j); q/q' in (1/2, 2)
    a = z3.Reals("a0 a1 a2")
    b = z3.Reals("b0 b1 b2")
    rp = [v > 0 for v in a] + [z3.And(b[j] >= a[j], b[j] < 2 * a[j]) for j in range(3)]
    sa, sb = z3.Sum(*a), z3.Sum(*b)
    rclaim = z3.And(b[0] * sa < 2 * a[0] * sb, 2 * b[0] * sa > a[0] * sb)
    rpart = Part("real (nonlinear), rows of 3: (b_i/sum b) / (a_i/sum a) in (1/2, 2)", rp,
                 rclaim, {"a0": a[0], "b0": b[0]})
    # every row length: by induction over the entries, the sums keep
    # sum a <= sum b <= 2 sum a (strict once an entry is in), then the ratio follows
    sa, sb, a1, b1 = z3.Reals("sa sb a b")
    inv = z3.And(sa >= 0, sa <= sb, sb <= 2 * sa, z3.Implies(sa > 0, sb < 2 * sa))
    step = z3.substitute(inv, (sa, sa + a1), (sb, sb + b1))
    ipart = Part("real, any n: induction step of sum a <= sum b < 2 sum a (base: 0, 0)",
                 [inv, a1 > 0, b1 >= a1, b1 < 2 * a1], z3.And(step, sa + a1 > 0),
                 {"sa": sa, "sb": sb})
    gprem = [a1 > 0, b1 >= a1, b1 < 2 * a1, sa >= a1, sb >= b1, sa <= sb, sb < 2 * sa]
    gpart = Part("real (nonlinear), any n: (b_i/sum b) / (a_i/sum a) in (1/2, 2)", gprem,
                 z3.And(b1 * sa < 2 * a1 * sb, 2 * b1 * sa > a1 * sb), {"a": a1, "b": b1})
    r1, r2 = z3.Reals("r1 r2")
    slack = drop_slack(cfg)
    mprem = [4 * r1 >= 3, r1 < Fraction(3, 2) + slack, 2 * r2 > 1, r2 < 2]
    mpart = Part("real: product of the two ratios", mprem,
                 z3.And(8 * r1 * r2 > 3, r1 * r2 < 2 * (Fraction(3, 2) + slack)),
                 {"r1": r1, "r2": r2})
    nn = cfg.max_len
    rho = Fraction(1, 1 << sf)
    far = (2 ** (rho - 1) + nn - 1) / (nn * 2 ** (rho - 1))

    def render(m: Model) -> str:
        return (f"ceil moves x by {1 - rho} of a unit; a row with one such entry among "
                f"{nn - 1} exact ones has q/q' = {float(far):.6f} (sup 2^(1-2^-sf) = "
                f"{2 ** (1 - float(rho)):.6f})")

    wit = Witness("the largest ceil step: x = s - 1 + 2^-sf", prem, gap == (1 << sf) - 1,
                  {"x": x, "s": s}, render,
                  lambda m: [rows.ptsm_case(cfg, [-(1 << sf) + 1] + [0] * (nn - 1),
                                            "one score just above -1 among zeros: ceil "
                                            "moves it by almost a unit",
                                            ["proof_witness"])])
    return Built(f"x:s{cfg.score_width}.{sf} on bit-vectors; ratios over reals",
                 [cpart, rpart, ipart, gpart, mpart], [wit])


OBLIGATIONS: list[Obligation] = [
    Obligation("ptsm.partition_ratio",
               "the partition's nearest power of two is within [3/4, 3/2) of Z",
               "3/4 <= Z / 2^K < 3/2",
               'spec/02-ptsoftmax.md, "Algorithm" and "Bounds"', _build_partition_ratio),
    Obligation("ptsm.sum_bounds",
               "the outputs sum to at most 3/2 and at least 3/4 less half an ulp per "
               "truncated output",
               "3/4 - Lt*2^-(o+1) <= sum p_i * 2^-o < 3/2, Lt = n-1 if o >= ceil(log2 N) else n",
               'spec/02-ptsoftmax.md, "Outputs" and "Bounds"',
               _build_sum_bounds),
    Obligation("ptsm.ratio_rounded",
               "each nonzero output is within [3/4, 3/2 + (max_len-1)*2^-(F+1)) of the exact "
               "base-2 softmax of the ceil'd scores; a zero output stands for q < 4/3*2^-o",
               "p_i > 0: 3/4 <= p_i*2^-o / q_i < 3/2 + (N-1)2^-(F+1); p_i = 0: "
               "q_i < max(4/3*2^-o, 2^-(F+1))", 'spec/02-ptsoftmax.md, "Algorithm" and "Bounds"',
               _build_ratio_rounded),
    Obligation("ptsm.ratio_unrounded",
               "ceil moves each score up by less than 1, so the rounded-score softmax is "
               "within (1/2, 2) of the unrounded one, and each nonzero output within "
               "(3/8, 3 + 2*(N-1)*2^-(F+1))",
               "0 <= s - x < 1;  q/q' in (1/2, 2);  p*2^-o/q' in (3/8, 3 + (N-1)2^-F)",
               'spec/02-ptsoftmax.md, "Algorithm" and "Bounds"', _build_ratio_unrounded),
    Obligation("ptsm.acc_width",
               "terms are in [0, 2^F], Z fits partition_width for rows up to max_len, "
               "K stays in [k_min, k_max] and outputs fit out_frac + 1 bits",
               "Z <= max_len*2^F < 2^partition_width",
               'spec/02-ptsoftmax.md, "Parameters" and "Bounds"',
               _build_acc_width),
]
