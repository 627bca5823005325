"""Named edge cases and negative cases of every operator (spec/10-vectors.md, "Generation").

Hand-picked inputs that random drawing rarely hits: ties, saturation, masked and
all-masked rows, rows of the largest length, sign(0) weights, comparisons
exactly at a threshold, divisors on a power-of-two boundary, accumulator
extremes; and, per operator, inputs outside the domain whose expected result is
a rejection.  Each :class:`Case` says what it targets; the generator computes
the expected result with the reference and checks any rejection class a case
declares.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from conformance.operators import config_to_dict
from conformance.vectors.strategies import expand
from reference import arith
from reference.binary_linear import BinaryLinearConfig
from reference.bspn import BSPNConfig
from reference.ptsoftmax import PTSoftmaxConfig
from reference.quantizer import QuantizerConfig
from reference.spikes import SpikeConfig

JSON = Any


@dataclass(frozen=True)
class Case:
    """One vector to be: inputs, what it targets, and optionally its own configuration."""

    inputs: dict[str, JSON]
    comment: str
    flags: tuple[str, ...] = ()
    rule: str | None = None
    """Spec rule; None lets the generator choose it from the flags."""
    config: dict[str, JSON] | None = None
    """Configuration; None means the suite's."""
    reject: str | None = None
    """The rejection class the case is built to provoke (checked against the reference)."""
    extra: dict[str, JSON] = field(default_factory=dict)
    """Free annotations (not written); e.g. where a proof witness came from."""


def _with(cfg: object, **changes: JSON) -> dict[str, JSON]:
    """The JSON configuration of ``cfg`` with some fields changed (may be invalid)."""
    d = config_to_dict(cfg)
    d.update(changes)
    return d


# --- PTsoftmax -------------------------------------------------------------------


def ptsoftmax_cases(cfg: PTSoftmaxConfig) -> list[Case]:
    """Edge cases of PTsoftmax (spec/02-ptsoftmax.md)."""
    u = 1 << cfg.score_frac
    f = cfg.partition_frac
    fmt = cfg.score_format
    n_max = cfg.max_len
    top = min(fmt.max, 3 * u)
    cases: list[Case] = []

    def row(scores: list[int], mask: list[int] | None, comment: str, *flags: str,
            rule: str | None = None) -> None:
        m = [1] * len(scores) if mask is None else mask
        cases.append(Case({"mask": m, "scores": scores}, comment, flags, rule))

    row([0], None, "a single entry: Z = 2^F, K = F, probability one", rule="ptsoftmax.output")
    if n_max >= 2:
        row([top, top - u], None, "terms 1 and 1/2: Z = 1.5 * 2^F exactly, the tie rounds up "
            "to K = F + 1", "partition_tie", rule="ptsoftmax.partition")
    if n_max >= 3:
        row([top] * 3, None, "three equal scores: Z = 3 * 2^F = 1.5 * 2^(F+1), a tie that "
            "rounds up; each output is 1/4", "partition_tie", rule="ptsoftmax.partition")
        row([top, top - u, top - f * u], None, "terms 1, 1/2 and 2^-F: Z just above the tie "
            "1.5 * 2^F", rule="ptsoftmax.partition")
    if n_max >= f and f >= 2:
        scores = [top] + [top - d * u for d in range(2, f + 1)]
        row(scores, None, "terms 1, 1/4, ..., 2^-F: Z = 1.5 * 2^F - 1, one below the tie, "
            "rounds down to K = F", rule="ptsoftmax.partition")
    if n_max >= 3:
        row([top, top, top - f * u], None, "terms 1, 1, 2^-F: Z = 2^(F+1) + 1, the smallest "
            "term's output underflows to zero", "underflow", rule="ptsoftmax.output")
        row([top, top - f * u, top - (f + 1) * u], None, "d = F keeps the term 2^0, d = F + 1 "
            "drops it", "truncated_term", rule="ptsoftmax.terms")
    if cfg.score_frac > 0 and n_max >= 2:
        row([u + 1, 2 * u], None, "1 + 2^-frac and 2 both ceil to 2: equal terms "
            "(floor or round-to-nearest would differ)", rule="ptsoftmax.ceil")
        row([-u - 1, -u + 1, -2 * u + 1], None, "negative scores with fractions: ceil rounds "
            "toward zero (-1.25 -> -1), not away from it", "sign_extension",
            rule="ptsoftmax.ceil")
        row([-1, 0], None, "-2^-frac ceils to 0, equal to the score 0", "sign_extension",
            rule="ptsoftmax.ceil")
    row([fmt.min, fmt.max] if n_max >= 2 else [fmt.max], None,
        "scores at both ends of the score format", "format_extreme", rule="ptsoftmax.ceil")
    if n_max >= 2:
        row([fmt.max, fmt.max], None, "two scores at the format's maximum", "format_extreme",
            rule="ptsoftmax.ceil")
    n4 = min(4, n_max)
    row([top - i * u for i in range(n4)], [0] * n4, "every entry masked: all outputs zero, "
        "partition 0, k = -1", "all_masked", rule="ptsoftmax.mask")
    if n_max >= 3:
        row([fmt.max, 0, -u], [0, 1, 1], "the masked entry holds the largest score: it must "
            "not set the row maximum", "masked_row", rule="ptsoftmax.mask")
        row([0, 0, 0], [1, 0, 1], "a masked entry between two equal scores: Z = 2 * 2^F, "
            "not a tie", "masked_row", rule="ptsoftmax.mask")
    if n_max >= 2:
        row([fmt.min, fmt.min], [0, 1], "one live entry at the format's minimum: "
            "probability one", "masked_row", rule="ptsoftmax.mask")
    row([top] * n_max, None, f"{n_max} equal scores (the largest row): Z = {n_max} * 2^F",
        "max_length", rule="ptsoftmax.partition")
    row([fmt.max if i % 2 else fmt.min for i in range(n_max)], None,
        "the largest row alternating the format's ends", "max_length", "format_extreme",
        rule="ptsoftmax.terms")
    for value, where in ((fmt.max, "maximum"), (fmt.min, "minimum"), (-1, "-2^-frac")):
        row([value] * n_max, None, f"{n_max} equal scores at the format's {where} "
            "(the largest row): every term 1", "max_length", rule="ptsoftmax.partition")
    if n_max >= 2:
        half = n_max // 2
        row([fmt.max] * n_max, [1] * (n_max - half) + [0] * half, f"{n_max} equal scores, "
            f"the last {half} masked", "max_length", "masked_row", rule="ptsoftmax.mask")
    for length, s in ((128, 1), (n_max, 2)):
        if length > n_max or (length == n_max and s == 1 and n_max != 128):
            continue
        deltas = expand("uniform", 0x5EED0000 + s, length, 0, (f + 2) * u)
        mask = [1] * length
        mask[length // 3] = 0
        row([top - d for d in deltas], mask, f"a row of {length} scores within F + 2 of the "
            "top, one masked", "masked_row", rule="ptsoftmax.terms")
    if n_max >= 128:
        row([top - (i % 3) * u for i in range(128)], [1] * 100 + [0] * 28,
            "a 128-entry row padded with 28 masked entries (GLUE length)", "masked_row",
            rule="ptsoftmax.mask")
    return cases


def ptsoftmax_negative(cfg: PTSoftmaxConfig) -> list[Case]:
    """Inputs outside PTsoftmax's domain (spec/02-ptsoftmax.md, "Errors")."""
    fmt = cfg.score_format
    n = min(3, cfg.max_len)
    ok = [0] * n
    cases = [
        Case({"mask": [1] * n, "scores": [*ok[:-1], fmt.max + 1]},
             "a score one above the score format", reject="range"),
        Case({"mask": [1] * n, "scores": [fmt.min - 1, *ok[1:]]},
             "a score one below the score format", reject="range"),
        Case({"mask": [1] * (n + 1), "scores": ok}, "a mask longer than the row",
             reject="mask"),
        Case({"mask": [1] * (n - 1) + [2], "scores": ok}, "a mask entry 2 (not 0/1)",
             reject="mask"),
        Case({"mask": [], "scores": []}, "an empty row", reject="shape"),
        Case({"mask": [1] * (cfg.max_len + 1), "scores": [0] * (cfg.max_len + 1)},
             "a row one longer than max_len", ("max_length",), reject="shape"),
        Case({"mask": [1] * n}, "the field scores is missing", reject="shape"),
        Case({"mask": [1] * n, "scores": ok}, "partition_frac 31 is outside [0, 30]",
             config=_with(cfg, partition_frac=31), reject="config"),
        Case({"mask": [1] * n, "scores": ok}, "score_frac equal to score_width",
             config=_with(cfg, score_frac=cfg.score_width), reject="config"),
    ]
    return cases


# --- BSPN ------------------------------------------------------------------------


def _bspn_inputs(cfg: BSPNConfig, x: list[int], sign: int | list[int] = 1,
                 wexp: int | list[int] = 0, bias: int | list[int] = 0) -> dict[str, JSON]:
    c = cfg.channels

    def full(v: int | list[int]) -> list[int]:
        return list(v) if isinstance(v, list) else [v] * c

    wclamp = [min(max(w, cfg.weight_exp_min), cfg.weight_exp_max) for w in full(wexp)]
    return {"bias": full(bias), "weight_exp": wclamp, "weight_sign": full(sign), "x": x}


def _spread(total: int, g: int, lim: int, negate_odd: bool = True) -> list[int]:
    """``g`` values of magnitude at most ``lim`` whose absolute values sum to ``total``."""
    out = []
    rest = total
    for i in range(g):
        neg = negate_odd and i % 2 == 1
        v = min(rest, lim if neg else lim - 1)  # -lim is in the format, +lim is not
        rest -= v
        out.append(-v if neg else v)
    if rest:
        raise ValueError("total does not fit the group")
    return out


def bspn_cases(cfg: BSPNConfig) -> list[Case]:
    """Edge cases of BSPN (spec/03-bspn.md)."""
    c, g = cfg.channels, cfg.group_size
    fmt = cfg.in_format
    lim = -fmt.min  # largest magnitude
    cases: list[Case] = []
    zero = [0] * c
    cases.append(Case(_bspn_inputs(cfg, zero), "an all-zero token: eps alone sets the "
                      "divisor, every output is zero", ("eps_dominant", "zero_input"),
                      "bspn.divisor"))
    bias_vals = [(i % 7 - 3) << cfg.bias_frac for i in range(c)]
    bias_vals = [min(max(b, cfg.bias_format.min), cfg.bias_format.max) for b in bias_vals]
    cases.append(Case(_bspn_inputs(cfg, zero, bias=bias_vals), "an all-zero token with "
                      "biases: the outputs are the biases rounded to powers of two",
                      ("eps_dominant", "zero_input"), "bspn.affine"))
    # divisor boundaries: per group, the sum whose mean + eps is (or straddles) 2^j
    x: list[int] = []
    x_below: list[int] = []
    for grp in range(cfg.groups):
        j = min(cfg.in_frac + 1 + grp, cfg.j_max)
        num = (g << j) - (g << cfg.in_frac)
        s_hi = -((-num) >> cfg.eps_exp)  # ceil: smallest S reaching G * 2^j
        s_hi = min(s_hi, g * lim - (g + 1) // 2)  # the largest sum _spread can place
        x.extend(_spread(s_hi, g, lim))
        x_below.extend(_spread(max(s_hi - 1, 0), g, lim))
    cases.append(Case(_bspn_inputs(cfg, x), "each group's mean + eps reaches a power of two "
                      "2^k (k = 1, 2, ... by group) at the smallest |x| sum that does",
                      ("divisor_boundary",), "bspn.divisor"))
    cases.append(Case(_bspn_inputs(cfg, x_below), "each group's |x| sum one below reaching "
                      "a power of two: the divisor stays one power lower",
                      ("divisor_boundary",), "bspn.divisor"))
    # log-domain rounding boundaries: x = ceil(sqrt2 * 2^k) and one below
    vals: list[int] = []
    k = 2
    while len(vals) < c and arith.sqrt2_threshold(2) <= lim - 1:
        t = arith.sqrt2_threshold(k)
        if t > lim - 1:
            k = 2
            t = arith.sqrt2_threshold(k)
        vals.extend([t, -(t - 1)])
        k += 1
    if vals:
        cases.append(Case(_bspn_inputs(cfg, vals[:c]), "values at ceil(sqrt(2) * 2^k) and one "
                          "below: the log-domain rounding decides exactly",
                          ("log_round_boundary",), "bspn.output"))
    # saturation: one large channel per group, largest weight
    sat = [(lim - 1) if i % g == 0 else 0 for i in range(c)]
    cases.append(Case(_bspn_inputs(cfg, sat, wexp=cfg.weight_exp_max, bias=cfg.bias_format.max),
                      "one large channel per group with the largest weight and bias: "
                      "the output exponent saturates", ("saturation",), "bspn.output"))
    # underflow: a tiny channel beside a large one, smallest weight
    und = [(lim - 1) if i % g == 0 else 1 for i in range(c)]
    cases.append(Case(_bspn_inputs(cfg, und, wexp=cfg.weight_exp_min), "small channels beside "
                      "a large one with the smallest weight: outputs flush to zero",
                      ("underflow",), "bspn.output"))
    # sign(0) weights
    signs = [(0, 1, -1)[i % 3] for i in range(c)]
    ramp = [min(max((i - c // 2) << cfg.in_frac, fmt.min), fmt.max) for i in range(c)]
    cases.append(Case(_bspn_inputs(cfg, ramp, sign=signs, bias=bias_vals), "weights with sign "
                      "0 (the authors' sign(0)): the output is the rounded bias alone",
                      ("zero_weight",), "bspn.affine"))
    cases.append(Case(_bspn_inputs(cfg, [fmt.min] * c), "every input at the format's "
                      "minimum: the largest divisor", ("format_extreme",), "bspn.divisor"))
    cases.append(Case(_bspn_inputs(cfg, [fmt.max if i % 2 else fmt.min for i in range(c)],
                                   sign=-1, wexp=cfg.weight_exp_max),
                      "alternating format extremes with negative weights",
                      ("format_extreme",), "bspn.affine"))
    bmix = [cfg.bias_format.min if i % 2 else cfg.bias_format.max for i in range(c)]
    cases.append(Case(_bspn_inputs(cfg, ramp, sign=-1, wexp=cfg.weight_exp_min, bias=bmix),
                      "biases at the ends of their format dominate small scaled inputs",
                      ("format_extreme",), "bspn.affine"))
    return cases


def bspn_negative(cfg: BSPNConfig) -> list[Case]:
    """Inputs outside BSPN's domain (spec/03-bspn.md, "Errors")."""
    c = cfg.channels
    base = _bspn_inputs(cfg, [0] * c)

    def changed(**kw: JSON) -> dict[str, JSON]:
        d = dict(base)
        d.update(kw)
        return d

    no_bias = {k: v for k, v in base.items() if k != "bias"}
    return [
        Case(changed(x=[0] * (c - 1)), "x one channel short", reject="shape"),
        Case(changed(x=[0] * (c - 1) + [cfg.in_format.max + 1]),
             "an x value one above the input format", reject="range"),
        Case(changed(x=[cfg.in_format.min - 1] + [0] * (c - 1)),
             "an x value one below the input format", reject="range"),
        Case(changed(weight_sign=[2] + [1] * (c - 1)), "a weight sign 2 (only -1, 0, 1)",
             reject="range"),
        Case(changed(weight_exp=[cfg.weight_exp_max + 1] + [0] * (c - 1)),
             "a weight exponent above weight_exp_max", reject="range"),
        Case(changed(bias=[cfg.bias_format.max + 1] + [0] * (c - 1)),
             "a bias above its format", reject="range"),
        Case(changed(weight_sign=[1] * (c + 1)), "weight_sign one entry too long",
             reject="shape"),
        Case(no_bias, "the field bias is missing", reject="shape"),
        Case(base, "group_size does not divide channels",
             config=_with(cfg, group_size=c + 1 if c > 1 else 2), reject="config"),
        Case(base, "out_frac above out_width - 2",
             config=_with(cfg, out_frac=cfg.out_width - 1), reject="config"),
    ]


# --- quantizer -------------------------------------------------------------------


def _q(x: list[int], m: int = 1, shift: int = 0, bias: int = 0) -> dict[str, JSON]:
    return {"bias": bias, "multiplier": m, "shift": shift, "x": x}


def quantize_cases(cfg: QuantizerConfig) -> list[Case]:
    """Edge cases of the quantizer (spec/04-quantizer-spikes.md, "Quantizer")."""
    fmt = cfg.in_format
    hi = cfg.q_max
    lo = cfg.q_min
    cases = [
        Case(_q([v for v in range(-7, 8) if fmt.min <= v <= fmt.max], shift=1),
             "x / 2 for x in -7..7: every odd x is a tie, rounded to even",
             ("rounding_tie", "sign_extension"), "quantize.round"),
        Case(_q([2, 6, 10, -2, -6, -10], shift=2), "x / 4 = +-0.5, +-1.5, +-2.5: ties to even",
             ("rounding_tie", "sign_extension"), "quantize.round"),
        Case(_q([1, 3, 5, -1, -3], m=1, shift=3, bias=-4), "(x - 4) / 8: a negative bias "
             "moves values onto and off ties", ("rounding_tie",), "quantize.round"),
        Case(_q([2 * hi + 1, 2 * hi - 1, 2 * lo - 1, 2 * lo + 1, 2 * hi + 3], shift=1),
             "ties at the clamp bounds: q_max + 1/2 rounds to even then clamps",
             ("rounding_tie", "saturation"), "quantize.clamp"),
        Case(_q([fmt.min, fmt.max, 0]), "shift 0: the format's ends clamp to q_min and q_max",
             ("format_extreme", "saturation"), "quantize.clamp"),
        Case(_q([fmt.min, fmt.max, 1, -1], m=(1 << cfg.multiplier_bits) - 1,
                shift=cfg.product_width - 2, bias=(1 << (cfg.bias_width - 1)) - 1),
             "the largest multiplier and bias: x * M + bias at its widest",
             ("format_extreme",), "quantize.round"),
        Case(_q([fmt.min, fmt.max, 0, -1], shift=cfg.product_width,
                bias=-(1 << (cfg.bias_width - 1))),
             "a shift as wide as the product: everything rounds to 0 or -1",
             ("shift_at_width",), "quantize.round"),
        Case(_q([fmt.min, fmt.max, 3], shift=62), "the largest shift, 62",
             ("shift_at_width",), "quantize.round"),
        Case(_q([0, 0, 0], shift=4), "all-zero input", ("zero_input",), "quantize.round"),
        Case(_q([-1, -2, -3, -4, -5], shift=1, bias=0), "negative values: an arithmetic "
             "shift floors, a truncating division would not", ("sign_extension",),
             "quantize.round"),
    ]
    return cases


def quantize_negative(cfg: QuantizerConfig) -> list[Case]:
    """Inputs outside the quantizer's domain."""
    fmt = cfg.in_format
    bmax = (1 << (cfg.bias_width - 1)) - 1
    return [
        Case(_q([0, fmt.max + 1]), "an x value one above the input format", reject="range"),
        Case(_q([fmt.min - 1]), "an x value one below the input format", reject="range"),
        Case(_q([1], m=0), "multiplier 0 (must be >= 1)", reject="range"),
        Case(_q([1], m=1 << cfg.multiplier_bits), "multiplier one above multiplier_bits",
             reject="range"),
        Case(_q([1], shift=-1), "a negative shift", reject="range"),
        Case(_q([1], shift=63), "shift 63 (at most 62)", reject="range"),
        Case(_q([1], bias=bmax + 1), "a bias one above bias_width", reject="range"),
        Case({"bias": 0, "multiplier": 1, "shift": 0}, "the field x is missing",
             reject="shape"),
        Case({"bias": 0, "multiplier": 1, "shift": 0, "x": 5}, "x is a scalar, not a list",
             reject="shape"),
        Case(_q([1]), "bits 9 is outside [1, 8]", config=_with(cfg, bits=9), reject="config"),
    ]


# --- IF encoder ------------------------------------------------------------------


def if_encode_cases(cfg: SpikeConfig) -> list[Case]:
    """Every count of the encoder (spec/04-quantizer-spikes.md, "IF encoder")."""
    return [Case({"count": c}, f"count {c}: exactly {c} spikes in T = {cfg.steps} steps",
                 (), "if.encode") for c in range(cfg.count_max + 1)]


def if_encode_negative(cfg: SpikeConfig) -> list[Case]:
    """Inputs outside the encoder's domain."""
    return [
        Case({"count": -1}, "count -1", ("count_extreme",), reject="range"),
        Case({"count": cfg.count_max + 1}, "count one above 2^bits - 1", ("count_extreme",),
             reject="range"),
        Case({}, "the field count is missing", reject="shape"),
        Case({"count": 1}, "T below the largest count",
             config=_with(cfg, steps=cfg.count_max - 1) if cfg.count_max > 1
             else _with(cfg, steps=0), reject="config"),
        Case({"count": 0}, "bits 0 is outside [1, 8]", config=_with(cfg, bits=0),
             reject="config"),
    ]


# --- binary linear ---------------------------------------------------------------


def binary_linear_cases(cfg: BinaryLinearConfig) -> list[Case]:
    """Edge cases of the binary linear layer (spec/05-binary-linear.md)."""
    n, o = cfg.in_features, cfg.out_features
    cmax = (1 << cfg.bits) - 1
    plus = [1] * (n * o)
    minus = [-1] * (n * o)
    rows = [1 if r % 2 == 0 else -1 for r in range(o) for _ in range(n)]
    alt = [1 if (r + j) % 2 == 0 else -1 for r in range(o) for j in range(n)]
    ramp = [j % (cmax + 1) for j in range(n)]
    cases = [
        Case({"counts": [cmax] * n, "signs": plus}, "every count at its largest, every sign "
             "+1", ("accumulator_extreme", "count_extreme"), "linear.count"),
        Case({"counts": [0] * n, "signs": plus}, "every count 0, every sign +1 (signed input: "
             "every term -2^(bits-1))", ("count_extreme",), "linear.count"),
        Case({"counts": [cmax] * n, "signs": minus}, "every count at its largest, every sign "
             "-1", ("accumulator_extreme", "count_extreme"), "linear.count"),
        Case({"counts": [0] * n, "signs": minus}, "every count 0, every sign -1",
             ("count_extreme",), "linear.count"),
        Case({"counts": [cfg.offset] * n, "signs": alt}, "every count equal to the offset: "
             "the accumulator is zero (signed) or the count sum", (), "linear.count"),
        Case({"counts": ramp, "signs": rows}, "a ramp of counts; rows alternate all +1 and "
             "all -1", (), "linear.time"),
        Case({"counts": ramp[::-1], "signs": alt}, "a falling ramp against a checkerboard of "
             "signs", (), "linear.time"),
    ]
    return cases


def binary_linear_negative(cfg: BinaryLinearConfig) -> list[Case]:
    """Inputs outside the binary linear layer's domain."""
    n, o = cfg.in_features, cfg.out_features
    cmax = (1 << cfg.bits) - 1
    ok = {"counts": [0] * n, "signs": [1] * (n * o)}

    def changed(**kw: JSON) -> dict[str, JSON]:
        d = dict(ok)
        d.update(kw)
        return d

    zero_sign = [1] * (n * o)
    zero_sign[n * o // 2] = 0
    return [
        Case(changed(counts=[0] * (n - 1) + [cmax + 1]), "a count one above 2^bits - 1",
             ("count_extreme",), reject="range"),
        Case(changed(counts=[-1] + [0] * (n - 1)), "a count -1", ("count_extreme",),
             reject="range"),
        Case(changed(signs=zero_sign), "a sign 0 (sign(0) must be resolved to +-1 before "
             "the layer)", ("zero_weight",), reject="range"),
        Case(changed(counts=[0] * (n + 1)), "counts one longer than in_features",
             reject="shape"),
        Case(changed(signs=[1] * (n * o - 1)), "signs one short of out x in",
             reject="shape"),
        Case({"counts": [0] * n}, "the field signs is missing", reject="shape"),
        Case(ok, "in_features 0", config=_with(cfg, in_features=0), reject="config"),
    ]


def small_config(cfg: BinaryLinearConfig, max_out: int = 4) -> BinaryLinearConfig:
    """``cfg`` with at most ``max_out`` outputs (fan-in kept): small vectors, same rules."""
    if cfg.out_features <= max_out:
        return cfg
    return dataclasses.replace(cfg, out_features=2)
