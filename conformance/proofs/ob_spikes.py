"""Obligations on the quantizer, the IF encoder and the binary linear layer
(spec/04-quantizer-spikes.md, spec/05-binary-linear.md)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import z3

from conformance.proofs import rows
from conformance.proofs.core import (
    Bound,
    Built,
    Model,
    Obligation,
    Part,
    Witness,
    bv,
    in_range,
    sext,
)
from conformance.proofs.impl import Impl
from conformance.proofs.ob_arith import MAX_SHIFT, round_def
from conformance.proofs.z3algebra import Z3Algebra, Z3IntAlgebra
from reference.arith import Rounding
from reference.binary_linear import BinaryLinearConfig
from reference.formats import signed_width_for
from reference.presets import OperatorPreset
from reference.quantizer import QuantizerConfig
from reference.spikes import SpikeConfig

LIN_FAN_IN = 2
"""Fan-in of the time-versus-count proof evaluated whole on bit-vectors (3 takes about 30 s)."""

LIN_STEP_FAN_IN = 4
"""Fan-in of the step-by-step proof over unbounded integers (spikes abstracted)."""

ACC_FAN_IN = 4
"""Symbolic fan-in of the accumulator-width composition."""


def time_acc_width(cfg: BinaryLinearConfig) -> int:
    """Signed width of the time-level running sum before the offset correction:
    ``|sum| <= in_features * (2**bits - 1)`` (theorem lin.acc_width)."""
    return signed_width_for(cfg.in_features * ((1 << cfg.bits) - 1))


# -- quantizer --------------------------------------------------------------------


def _small_x(v: int, s: int, qc: QuantizerConfig) -> tuple[int, int] | None:
    """``(x, bias)`` with ``x + bias`` rounding like ``v`` at shift ``s`` inside the formats."""
    m = 1 << (s + 4)
    x = ((v + (m >> 1)) % m) - (m >> 1)
    if qc.in_format.min <= x <= qc.in_format.max:
        return x, 0
    return None


def _build_quant_rounding(pre: OperatorPreset, impl: Impl) -> Built:
    qs, qu = pre.quant_signed, pre.quant_unsigned
    pw = max(qs.product_width, qu.product_width)
    aw = MAX_SHIFT + 3
    parts: list[Part] = []
    for s in range(0, MAX_SHIFT + 1):
        alg = Z3Algebra(aw)
        v, q = alg.var("v"), z3.BitVec("q", aw)
        prem = [in_range(v, -(1 << (pw - 1)), (1 << (pw - 1)) - 1)]
        if s > 0:
            qlim = ((1 << (pw - 1)) >> s) + 1
            prem.append(in_range(q, -qlim, qlim))
            prem.append(round_def(v, q, s, Rounding.HALF_EVEN, aw))
        else:
            prem.append(q == v)
        claims = []
        for qc in (qs, qu):
            r = impl.requantize(alg, v, 1, 0, s, qc.q_min, qc.q_max)
            want = z3.If(q < qc.q_min, bv(qc.q_min, aw), z3.If(q > qc.q_max, bv(qc.q_max, aw), q))
            claims.append(r == want)

        def regress(m: Model, s: int = s) -> list[dict[str, Any]]:
            got = _small_x(int(m["v"]), s, qs)
            if got is None:
                return []
            return [rows.quant_case(qs, [got[0]], 1, s, got[1],
                                    f"counterexample of quant.rounding at shift {s}",
                                    ["rounding_tie", "proof_regression"])]

        parts.append(Part(f"bv{aw}, v:s{pw}, shift={s}", prem, z3.And(*claims),
                          {"v": v, "q": q}, alg.no_overflow, regress))
    alg = Z3Algebra(aw)
    v = alg.var("v")
    r = impl.requantize(alg, v, 1, 0, 2, qs.q_min, qs.q_max)
    wprem = [in_range(v, -(1 << (pw - 1)), (1 << (pw - 1)) - 1)]
    xs = [-6, -2, 2, 6, 10, 14, 26, 30, 34, -30, -34]
    wit = Witness("ties go to even: v/4 = 1/2 gives 0 (round half up would give 1)", wprem,
                  z3.And(v == 2, r == 0), {"v": v, "q": r},
                  inputs=lambda m: [
                      rows.quant_case(qc, xs, 1, 2, 0, "ties x/4 = k + 1/2 in both directions "
                                      "and at the clamp limits", ["rounding_tie", "saturation",
                                                                  "proof_witness"])
                      for qc in (qs, qu)])
    return Built(f"v = x*M + bias:s{pw}, shift in 0..{MAX_SHIFT}", parts, [wit])


def _build_quant_no_overflow(pre: OperatorPreset, impl: Impl) -> Built:
    parts, wits = [], []
    for qc in (pre.quant_signed, pre.quant_unsigned):
        pw = qc.product_width
        alg = Z3Algebra(pw)
        x, m, b = alg.var("x"), alg.var("M"), alg.var("bias")
        prem = [in_range(x, qc.in_format.min, qc.in_format.max),
                in_range(m, 1, (1 << qc.multiplier_bits) - 1),
                in_range(b, -(1 << (qc.bias_width - 1)), (1 << (qc.bias_width - 1)) - 1)]
        impl.requantize(alg, x, m, b, 1, qc.q_min, qc.q_max)
        tag = "signed" if qc.signed else "unsigned"
        parts.append(Part(f"bv{pw} ({tag}): x*M + bias with x:s{qc.in_width}, "
                          f"M:u{qc.multiplier_bits}, bias:s{qc.bias_width}", prem,
                          z3.BoolVal(True), {"x": x, "M": m, "bias": b}, alg.no_overflow,
                          bounds=[_product_bound(x, m, qc)]))
        if tag == "signed":
            ww = pw + qc.multiplier_bits + 2
            wide = sext(x, ww) * sext(m, ww) + sext(b, ww)
            bound = ((1 << (qc.in_width - 1)) * ((1 << qc.multiplier_bits) - 1)
                     + (1 << (qc.bias_width - 1)))
            wits.append(Witness("the linear bound |x*M + bias| = 2^(in-1)*(2^mb - 1) + "
                                "2^(bw-1) is reached", prem, wide == -bound,
                                {"x": x, "M": m, "bias": b},
                                _bound_text(pw, bound), _extreme_inputs(qc)))
    return Built(", ".join(f"s{q.product_width}" for q in (pre.quant_signed, pre.quant_unsigned)),
                 parts, wits)


def _build_context_offset(pre: OperatorPreset, impl: Impl) -> Built:
    """x*M + (B + E) of the output projection's input quantizer (spec/06, step 6 and "Widths").

    Part 1 (reals, so every integer): ``|W| <= W_max``, ``|V| <= n o`` and the validated
    ``W_max n o <= limit`` give ``|E| = |W V| <= limit`` (nonlinear, decided in milliseconds
    over the reals and in tenths of a second over the integers).  Part 2 (bit-vectors of the product
    width): ``requantize`` with the bias ``B + E``, every ``|E| <= limit``, does not overflow.
    """
    qc = pre.quant_signed
    pw, lim = qc.product_width, qc.extra_bias_limit
    span = pre.ptsoftmax.max_len * (1 << (qc.bits - 1))
    w, wmax, vs = z3.Real("W"), z3.Real("W_max"), z3.Real("V")
    iprem = [in_range(w, -wmax, wmax), in_range(vs, -span, span), wmax >= 0,
             wmax * span <= lim]
    e = w * vs  # E[d] = W * V[d]: the exact integer product of reference.layers.context_offset
    offset = Part(f"real: |W| <= W_max, |V| <= {span}, W_max * {span} <= {lim}", iprem,
                  in_range(e, -lim, lim), {"W": w, "W_max": wmax, "V": vs})
    ewit = Witness(f"|E| = W_max * max_seq * o is reached: W = W_max = floor(limit / "
                   f"{span}), V = -{span}", iprem,
                   z3.And(w == wmax, vs == -span, wmax == lim // span, e == -wmax * span),
                   {"W": w, "W_max": wmax, "V": vs, "E": e})
    alg = Z3Algebra(pw)
    x, m, b, eb = alg.var("x"), alg.var("M"), alg.var("bias"), alg.var("E")
    prem = [in_range(x, qc.in_format.min, qc.in_format.max),
            in_range(m, 1, (1 << qc.multiplier_bits) - 1),
            in_range(b, -(1 << (qc.bias_width - 1)), (1 << (qc.bias_width - 1)) - 1),
            in_range(eb, -lim, lim)]
    # reference.layers.quantize_input adds E to the bias, then requantize forms x*M + bias.
    impl.requantize(alg, x, m, alg.add(b, eb), 1, qc.q_min, qc.q_max)
    show = {"x": x, "M": m, "bias": b, "E": eb}
    fits = Part(f"bv{pw}: x*M + (bias + E) with x:s{qc.in_width}, M:u{qc.multiplier_bits}, "
                f"bias:s{qc.bias_width}, |E| <= {lim}", prem, z3.BoolVal(True), show,
                alg.no_overflow, bounds=[_product_bound(x, m, qc)])
    ww = pw + qc.multiplier_bits + 2
    wide = sext(x, ww) * sext(m, ww) + sext(b, ww) + sext(eb, ww)
    extremes = z3.And(x == qc.in_format.min, m == (1 << qc.multiplier_bits) - 1,
                      b == -(1 << (qc.bias_width - 1)))
    vwit = Witness(f"the limit is the exact headroom: x*M + bias + E = -2^{pw - 1} at "
                   f"E = -{lim} (one less overflows s{pw})", prem,
                   z3.And(extremes, wide == -(1 << (pw - 1))), show)
    return Built(f"W, V: real; x*M + bias + E: s{pw}, |E| <= {lim} = 2^{pw - 1} - "
                 f"{qc.linear_bound}", [offset, fits], [ewit, vwit])


def _product_bound(x: Any, m: Any, qc: QuantizerConfig) -> Bound:
    """``x*M`` lies between the products of the extremes of ``x`` and ``M``.

    The lemma lets the no-overflow check of ``x*M + bias`` see the product as any value
    in that range (:func:`conformance.proofs.core.check_part`); it is clipped to the
    product width so that its constants are the numbers they say.
    """
    corners = [xe * me for xe in (qc.in_format.min, qc.in_format.max)
               for me in (1, (1 << qc.multiplier_bits) - 1)]
    half = 1 << (qc.product_width - 1)
    return Bound(x * m, max(min(corners), -half), min(max(corners), half - 1))


def _bound_text(pw: int, bound: int) -> Any:
    def text(m: Model) -> str:
        return f"x*M + bias = {-bound}, product_width = {pw}"
    return text


def _extreme_inputs(qc: QuantizerConfig) -> Any:
    def inputs(m: Model) -> list[dict[str, Any]]:
        return [rows.quant_case(qc, [qc.in_format.min, qc.in_format.max],
                                (1 << qc.multiplier_bits) - 1, 40, -(1 << (qc.bias_width - 1)),
                                "extreme x*M + bias: the widest product",
                                ["format_extreme", "proof_witness"])]
    return inputs


# -- IF encoder -------------------------------------------------------------------


def _if_setup(sc: SpikeConfig, impl: Impl) -> tuple[Z3Algebra, Any, list[Any], Any, Any]:
    alg = Z3Algebra(sc.membrane_width + 2)
    c = alg.var("c")
    prem = [in_range(c, 0, sc.count_max)]
    spikes, trace = impl.if_run(alg, c, sc.steps)
    return alg, c, prem, spikes, trace


def _if_regress(sc: SpikeConfig, what: str) -> Any:
    def regress(m: Model) -> list[dict[str, Any]]:
        return [rows.if_case(sc, int(m["c"]), f"counterexample of {what}",
                             ["threshold_equality", "proof_regression"])]
    return regress


def _counts(spikes: list[Any], w: int) -> list[Any]:
    """Cumulative spike counts ``N(0..T)`` as ``w``-bit terms."""
    n = [bv(0, w)]
    for sp in spikes:
        n.append(n[-1] + z3.If(sp, bv(1, w), bv(0, w)))
    return n


def _build_if_count(pre: OperatorPreset, impl: Impl) -> Built:
    sc = pre.spikes
    alg, c, prem, spikes, trace = _if_setup(sc, impl)
    total = _counts(spikes, alg.width)[-1]
    part = Part(f"bv{alg.width}, c in [0, {sc.count_max}], T = {sc.steps}", prem, total == c,
                {"c": c}, alg.no_overflow, _if_regress(sc, "if.count"))
    before = [c] + [trace[t] + c for t in range(sc.steps - 1)]
    wits = [Witness("the membrane meets the threshold exactly and fires (a strict compare "
                    "would not)", prem, z3.And(c == sc.count_max,
                                               z3.Or(*[b == sc.steps for b in before])),
                    {"c": c},
                    inputs=lambda m: [rows.if_case(sc, int(m["c"]), "membrane equals the "
                                                   "threshold", ["threshold_equality",
                                                                 "proof_witness"])])]
    return Built(f"c:u{sc.bits}, membrane u{sc.membrane_width}", [part], wits)


def _build_if_membrane(pre: OperatorPreset, impl: Impl) -> Built:
    sc = pre.spikes
    alg, c, prem, _spikes, trace = _if_setup(sc, impl)
    before = [c] + [trace[t] + c for t in range(sc.steps - 1)]
    lim = 1 << sc.membrane_width
    claim = z3.And(*[in_range(b, 0, 2 * sc.steps - 1) for b in before],
                   *[in_range(v, 0, sc.steps - 1) for v in trace], 2 * sc.steps - 1 < lim)
    part = Part(f"bv{alg.width}, c in [0, {sc.count_max}]", prem, claim, {"c": c},
                alg.no_overflow, _if_regress(sc, "if.membrane"))
    top = 1 << (sc.membrane_width - 1)
    wit = Witness(f"the membrane reaches {top} or more: u{sc.membrane_width - 1} would not do",
                  prem, z3.Or(*[b >= top for b in before]), {"c": c},
                  inputs=lambda m: [rows.if_case(sc, int(m["c"]), "largest membrane value",
                                                 ["count_extreme", "proof_witness"])])
    return Built(f"membrane u{sc.membrane_width} (pre-reset [0, 2T)), T = {sc.steps}",
                 [part], [wit])


def _build_if_times(pre: OperatorPreset, impl: Impl) -> Built:
    sc = pre.spikes
    tt = sc.steps
    alg, c, prem, spikes, _trace = _if_setup(sc, impl)
    w = max(alg.width, (tt * (sc.count_max + 1)).bit_length() + 2)
    cw = sext(c, w)
    n = _counts(spikes, w)
    cases = []
    for k in range(1, sc.count_max + 1):
        cases.append(z3.Implies(cw >= k, n[tt] >= k))
        for t in range(1, tt + 1):
            first = z3.And(n[t] >= k, n[t - 1] < k)
            cases.append(z3.Implies(first, z3.And((t - 1) * cw < k * tt, k * tt <= t * cw)))
    part = Part(f"bv{w}, k-th spike at t with (t-1)c < kT <= tc", prem, z3.And(*cases),
                {"c": c}, alg.no_overflow, _if_regress(sc, "if.spike_times"))
    exact = z3.Or(*[z3.And(first_spike(n, k, t), k * tt == t * cw)
                    for k in range(1, sc.count_max + 1) for t in range(1, tt + 1)])
    wit = Witness("a spike exactly at t = kT/c (the ceil is exact)", [*prem, c >= 2], exact,
                  {"c": c}, inputs=lambda m: [rows.if_case(sc, int(m["c"]), "spike time kT/c "
                                                           "is an integer",
                                                           ["threshold_equality",
                                                            "proof_witness"])])
    return Built(f"c:u{sc.bits}, T = {sc.steps}", [part], [wit])


def first_spike(n: list[Any], k: int, t: int) -> Any:
    """The ``k``-th spike falls at step ``t``."""
    return z3.And(n[t] >= k, n[t - 1] < k)


# -- binary linear ----------------------------------------------------------------


def _lin_inputs(cfg: BinaryLinearConfig, nin: int, comment: str, flags: list[str]) -> Any:
    def inputs(m: Model) -> list[dict[str, Any]]:
        counts = [int(m[f"c{i}"]) for i in range(nin)]
        signs = [1 if m[f"s{i}"] is True else -1 for i in range(nin)]
        return [rows.lin_case(cfg, counts, signs, comment, flags)]
    return inputs


def _lin_regress(cfg: BinaryLinearConfig, nin: int, what: str) -> Any:
    return _lin_inputs(cfg, nin, f"counterexample of {what}", ["proof_regression"])


class _AnySpikes(Z3IntAlgebra):
    """Unbounded integers where every comparison (in ``dot_time`` only the IF neuron's fire
    decision) is a fresh Boolean: the accumulation is proven for *any* spike trains."""

    def __init__(self) -> None:
        self.spikes: list[Any] = []

    def le(self, a: Any, b: Any) -> Any:
        v = z3.Bool(f"spike{len(self.spikes)}")
        self.spikes.append(v)
        return v


def _step_parts(cfg: BinaryLinearConfig, impl: Impl, n: int) -> list[Part]:
    """Induction over the steps of ``dot_time`` with any spike trains, then the offset
    correction: if train ``j`` holds ``c_j`` spikes (if.count), time level = count level."""
    tt = cfg.steps
    alg = _AnySpikes()
    cs = [alg.var(f"c{i}") for i in range(n)]
    ss = [z3.Bool(f"s{i}") for i in range(n)]
    final, partial = impl.dot_time(alg, cs, ss, cfg.offset, tt)
    if len(alg.spikes) != n * tt:
        raise ValueError(f"dot_time made {len(alg.spikes)} fire decisions, expected {n * tt}")
    trains = [alg.spikes[j * tt:(j + 1) * tt] for j in range(n)]
    ms = [z3.Int(f"N{j}") for j in range(n)]
    p = z3.Int("A")
    tag = "signed" if cfg.signed_input else "unsigned"

    def signed_sum(vals: list[Any]) -> Any:
        return z3.Sum(*[z3.If(ss[j], vals[j], -vals[j]) for j in range(n)])

    parts: list[Part] = []
    for t in range(tt):
        y = [z3.If(trains[j][t], 1, 0) for j in range(n)]
        if t == 0:
            prem: list[Any] = [z3.BoolVal(True)]
            claim = partial[0] == signed_sum(y)
        else:
            prem = [*[in_range(m, 0, t) for m in ms], p == signed_sum(ms)]
            stepped = z3.substitute(partial[t], (partial[t - 1], p))
            claim = stepped == signed_sum([ms[j] + y[j] for j in range(n)])
        parts.append(Part(f"int ({tag}), fan-in {n}, step {t + 1}: A(t) = sum_j s_j N_j(t)",
                          prem, claim, {"A": p}))
    prem = [*[in_range(c, 0, cfg.spike_config.count_max) for c in cs], p == signed_sum(cs)]
    ends = z3.substitute(final, (partial[tt - 1], p))
    count = impl.dot_count(Z3IntAlgebra(), cs, ss, cfg.offset)
    parts.append(Part(f"int ({tag}), fan-in {n}: A(T) = sum_j s_j c_j gives the count level",
                      prem, ends == count, {f"c{i}": cs[i] for i in range(n)}))
    return parts


def _build_lin_time(pre: OperatorPreset, impl: Impl) -> Built:
    parts, wits = [], []
    for cfg in (pre.linear_signed, pre.linear_unsigned):
        nin = LIN_FAN_IN
        w = max(signed_width_for(nin * ((1 << cfg.bits) - 1)), cfg.spike_config.membrane_width
                + 1) + 2
        alg = Z3Algebra(w)
        cs = [alg.var(f"c{i}") for i in range(nin)]
        ss = [z3.Bool(f"s{i}") for i in range(nin)]
        prem = [in_range(c, 0, cfg.spike_config.count_max) for c in cs]
        a_count = impl.dot_count(alg, cs, ss, cfg.offset)
        a_time, _partial = impl.dot_time(alg, cs, ss, cfg.offset, cfg.steps)
        tag = "signed" if cfg.signed_input else "unsigned"
        show: dict[str, Any] = {f"c{i}": cs[i] for i in range(nin)} | {
            f"s{i}": ss[i] for i in range(nin)}
        parts.append(Part(f"bv{w} ({tag}), fan-in {nin}, T = {cfg.steps}", prem,
                          a_count == a_time, show, alg.no_overflow,
                          _lin_regress(cfg, nin, "lin.time_eq_count")))
        parts.extend(_step_parts(cfg, impl, LIN_STEP_FAN_IN))
        extreme = nin * cfg.max_abs_term
        wits.append(Witness(f"{tag}: the extreme |acc| = {extreme} is reached on both levels",
                            prem, z3.Or(a_time == extreme, a_time == -extreme), show,
                            inputs=_lin_inputs(cfg, nin, "extreme accumulator, time and count "
                                               "level", ["accumulator_extreme",
                                                         "proof_witness"])))
    return Built(f"fan-in {LIN_FAN_IN} whole on bit-vectors, fan-in {LIN_STEP_FAN_IN} step by "
                 f"step over integers; bits = {pre.linear_signed.bits}, "
                 f"T = {pre.linear_signed.steps}", parts, wits)


def _build_lin_acc(pre: OperatorPreset, impl: Impl) -> Built:
    parts, wits = [], []
    for cfg in (pre.linear_signed, pre.linear_unsigned):
        tag = "signed" if cfg.signed_input else "unsigned"
        aw = cfg.acc_format.width
        # one term of the code, in the accumulator width
        alg = Z3Algebra(aw)
        c = alg.var("c0")
        s = z3.Bool("s0")
        t = impl.dot_count(alg, [c], [s], cfg.offset)
        prem = [in_range(c, 0, cfg.spike_config.count_max)]
        parts.append(Part(f"bv{aw} ({tag}): one term |c - o| <= {cfg.max_abs_term}", prem,
                          in_range(t, -cfg.max_abs_term, cfg.max_abs_term), {"c0": c, "s0": s},
                          alg.no_overflow))
        # a fan-in of LIN_FAN_IN summed in the declared accumulator width
        ralg = Z3Algebra(aw)
        cs = [ralg.var(f"c{i}") for i in range(ACC_FAN_IN)]
        ss = [z3.Bool(f"s{i}") for i in range(ACC_FAN_IN)]
        rprem = [in_range(x, 0, cfg.spike_config.count_max) for x in cs]
        acc = impl.dot_count(ralg, cs, ss, cfg.offset)
        lim = min(ACC_FAN_IN, cfg.in_features) * cfg.max_abs_term
        if cfg.in_features >= ACC_FAN_IN:
            parts.append(Part(f"bv{aw} ({tag}): fan-in {ACC_FAN_IN} in s{aw}", rprem,
                              in_range(acc, -lim, lim), {}, ralg.no_overflow))
        # every fan-in up to the declared one: linear bound over unbounded integers
        n, a, p = z3.Ints("n acc partial")
        tw = time_acc_width(cfg)
        cmax = cfg.spike_config.count_max
        iprem = [n >= 1, n <= cfg.in_features, a <= n * cfg.max_abs_term,
                 a >= -n * cfg.max_abs_term, p <= n * cmax, p >= -n * cmax]
        half, thalf = 1 << (aw - 1), 1 << (tw - 1)
        parts.append(Part(f"int ({tag}): n <= {cfg.in_features}: acc in s{aw}, time-level "
                          f"running sum in s{tw}", iprem,
                          z3.And(a >= -half, a < half, p >= -thalf, p < thalf),
                          {"n": n, "acc": a, "partial": p}))
        wits.append(Witness(f"{tag}: all {cfg.in_features} terms extreme: |acc| >= 2^{aw - 2}",
                            iprem, z3.And(n == cfg.in_features, a == n * cfg.max_abs_term,
                                          a >= 1 << (aw - 2)), {"n": n, "acc": a}))
    ls, lu = pre.linear_signed, pre.linear_unsigned
    return Built(f"acc s{ls.acc_format.width}/s{lu.acc_format.width} for fan-in "
                 f"{ls.in_features}/{lu.in_features}; time-level running sum "
                 f"s{time_acc_width(ls)}/s{time_acc_width(lu)}", parts, wits)


def _build_multiplier_error(pre: OperatorPreset, impl: Impl) -> Built:
    mb = pre.quant_signed.multiplier_bits
    m, r = z3.Reals("M R")
    near = [m >= 1, 2 * (m - r) <= 1, 2 * (r - m) <= 1]
    err = z3.If(m >= r, m - r, r - m)
    gpart = Part("real (nonlinear), any M >= 1 with |M - R| <= 1/2: |M - R| (2M - 1) <= R",
                 near, err * (2 * m - 1) <= r, {"M": m, "R": r})
    lo, hi = 1 << (mb - 1), (1 << mb) - 1
    bprem = [*near, m >= lo, m <= hi]
    bpart = Part(f"real, {lo} <= M <= {hi}: |M - R| ({hi}) <= R", bprem, err * hi <= r,
                 {"M": m, "R": r})

    def rel(mm: Model) -> str:
        mv, rv = Fraction(mm["M"]), Fraction(mm["R"])
        return f"|M - R|/R = {abs(mv - rv) / rv} = 1/(2M - 1)"

    wits = [Witness(f"reached: R = M - 1/2 with M = 2^{mb - 1} (even, so half-even rounding "
                    "gives M)", bprem, z3.And(m == lo, 2 * r == 2 * m - 1), {"M": m, "R": r},
                    rel)] if mb >= 2 else [
        Witness("reached: R = 1/2 + 1 rounds to 2 = M (even); R = M - 1/2", near,
                z3.And(m == 2, 2 * r == 3), {"M": m, "R": r}, rel)]
    return Built(f"reals; multiplier_bits = {mb}", [gpart, bpart], wits)


OBLIGATIONS: list[Obligation] = [
    Obligation("quant.rounding",
               "requantize's shift rounding equals round-half-even of (x*M + bias)/2^shift, "
               "then the clamp", "q = clamp(round_half_even(v / 2^s), q_min, q_max)",
               'spec/04-quantizer-spikes.md, "Quantizer"', _build_quant_rounding),
    Obligation("quant.no_overflow", "x*M + bias fits product_width",
               "|x*M + bias| < 2^(product_width-1)", 'spec/04-quantizer-spikes.md, "Quantizer"',
               _build_quant_no_overflow),
    Obligation("quant.context_offset",
               "the context offset E = W*V joins the bias of o's input quantizer and "
               "x*M + bias + E still fits product_width",
               "|W V| <= W_max max_seq o <= 2^(product_width-1) - (2^(in-1) (2^mb - 1) + "
               "2^(bw-1))", 'spec/06-layers.md, "Widths"', _build_context_offset),
    Obligation("quant.multiplier_error",
               "a multiplier M = round(ratio * 2^s) represents the ratio within a relative error "
               "of 1/(2M - 1), at most 1/(2^multiplier_bits - 1) when M >= 2^(multiplier_bits-1)",
               "|M/2^s - ratio| / ratio <= 1/(2M - 1)",
               'spec/06-layers.md, "Requantization"', _build_multiplier_error),
    Obligation("if.count", "the IF encoder emits exactly c spikes in T steps",
               "sum_t spike(t) = c for 0 <= c <= 2^bits - 1",
               'spec/04-quantizer-spikes.md, "Theorems and closed form"', _build_if_count),
    Obligation("if.membrane", "the membrane stays in [0, 2T) before reset and [0, T) after, "
               "within membrane_width", "0 <= V_t + c < 2T <= 2^membrane_width",
               'spec/04-quantizer-spikes.md, "Theorems and closed form"', _build_if_membrane),
    Obligation("if.spike_times", "the k-th spike falls at step ceil(k*T/c)",
               "(t_k - 1)*c < k*T <= t_k*c",
               'spec/04-quantizer-spikes.md, "Theorems and closed form"',
               _build_if_times),
    Obligation("lin.time_eq_count", "time-level and count-level accumulation agree",
               "sum_t sum_j spike_j(t)*s_j - o*sum_j s_j = sum_j (c_j - o)*s_j",
               'spec/05-binary-linear.md, "Time level (profile)"', _build_lin_time),
    Obligation("lin.acc_width", "the accumulator fits acc_format for the declared fan-in",
               "|acc| <= in_features * max|c - o| < 2^(acc_width-1)",
               'spec/05-binary-linear.md, "Parameters" and "Count level (normative)"',
               _build_lin_acc),
]
