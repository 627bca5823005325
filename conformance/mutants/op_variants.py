"""Parameterised re-implementations of the operators, for the mutant catalog.

Each operator is written a second time here, in plain Python integers and
independently of :mod:`reference`, with knobs that select a plausible hardware
bug.  With every knob at its default a variant computes exactly what the
reference computes (normative and profile outputs; tests/test_mutants.py checks
it with Hypothesis), so a mutant differs from the reference only by the bug its
knobs name.  The catalog itself is :mod:`conformance.mutants.catalog`.

Variants take an already validated configuration dataclass and inputs the
reference accepted; validation stays with the reference (a mutant must be killed
by its arithmetic, not by what it rejects).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reference.binary_linear import BinaryLinearConfig
from reference.bspn import BSPNConfig
from reference.ptsoftmax import PTSoftmaxConfig
from reference.quantizer import QuantizerConfig
from reference.spikes import SpikeConfig

JSON = Any
"""A value decoded from JSON."""


def _wrap(v: int, bits: int) -> int:
    """``v`` reduced to a ``bits``-bit two's complement integer (what a register keeps)."""
    half = 1 << (bits - 1)
    return ((v + half) % (1 << bits)) - half


def _shift(v: int, s: int) -> int:
    """``v * 2**s`` for ``s >= 0``, ``floor(v / 2**-s)`` otherwise (a barrel shifter)."""
    return v << s if s >= 0 else v >> -s


def _div_pow2(x: int, s: int, mode: str) -> int:
    """``round_mode(x / 2**s)`` for ``s >= 0`` (spec/01-formats.md, "Shifts with a named
    rounding")."""
    if s == 0:
        return x
    q, r = x >> s, x & ((1 << s) - 1)  # x = q * 2**s + r, 0 <= r < 2**s
    half = 1 << (s - 1)
    if mode == "floor":
        return q
    if mode == "ceil":
        return q + (r != 0)
    if mode == "trunc":
        return q + (r != 0 and x < 0)
    if mode == "half_up":
        return q + (r >= half)
    if mode == "half_even":
        return q + (r > half or (r == half and q % 2 == 1))
    if mode == "half_away":
        m = abs(x)
        return (m + half) >> s if x >= 0 else -((m + half) >> s)
    raise ValueError(f"unknown rounding mode {mode!r}")


def _pow2_exp(z: int, mode: str) -> int:
    """Exponent of the power of two chosen for ``z >= 1``.

    ``linear_up``: nearest in linear distance, ties up (spec 01); ``linear_down``:
    ties down; ``log``: nearest in the log domain; ``floor``: the leading one.
    """
    k = z.bit_length() - 1
    if mode == "linear_up":
        return k + (2 * z >= 3 << k)
    if mode == "linear_down":
        return k + (2 * z > 3 << k)
    if mode == "log":
        return k + (z * z > 1 << (2 * k + 1))
    if mode == "floor":
        return k
    raise ValueError(f"unknown power-of-two mode {mode!r}")


# --------------------------------------------------------------------- PTsoftmax


@dataclass(frozen=True)
class PTSoftmaxKnobs:
    """Bugs of PTsoftmax (spec/02-ptsoftmax.md); defaults are the spec."""

    score_rounding: str = "ceil"
    """Rounding of ``x / 2**score_frac`` to an integer score (spec: ``ceil``);
    ``ceil_logical`` is ``(x + 2**score_frac - 1) >> score_frac`` with a logical
    shift of the ``score_width``-bit register (no sign extension)."""
    partition_pow2: str = "linear_up"
    """How ``Z`` becomes ``2**K``: see :func:`_pow2_exp` (spec: ``linear_up``)."""
    masked_in_max: bool = False
    """Masked entries take part in the row maximum."""
    masked_in_partition: bool = False
    """Masked entries' terms are added to ``Z`` (they still output 0)."""
    all_masked_uniform: bool = False
    """An all-masked row is computed as if every entry took part with equal scores."""
    partition_frac_delta: int = 0
    """Terms and ``Z`` use ``F + delta`` fractional bits."""
    out_shift_delta: int = 0
    """Outputs are shifted by ``K + delta`` instead of ``K``."""
    small_terms: str = "drop"
    """Terms ``2**(F-d)`` with ``d > F``: ``drop`` (spec), ``saturate`` (kept as
    the smallest unit 1) or ``mod32`` (``2**F >> (d mod 32)``, a 5-bit shifter)."""


def ptsoftmax(
    cfg: PTSoftmaxConfig, inputs: Mapping[str, JSON], kn: PTSoftmaxKnobs
) -> dict[str, JSON]:
    """PTsoftmax of one row under ``kn``: outputs ``out``, ``partition``, ``k``."""
    scores: list[int] = list(inputs["scores"])
    n = len(scores)
    mask_raw = inputs.get("mask")
    valid = [True] * n if mask_raw is None else [m == 1 for m in mask_raw]
    if kn.score_rounding == "ceil_logical":
        reg = (1 << cfg.score_width) - 1
        s = [((x & reg) + (1 << cfg.score_frac) - 1) >> cfg.score_frac for x in scores]
    else:
        s = [_div_pow2(x, cfg.score_frac, kn.score_rounding) for x in scores]
    if not any(valid):
        if not kn.all_masked_uniform:
            return {"out": [0] * n, "partition": 0, "k": -1}
        valid = [True] * n
        s = [0] * n
    f = max(cfg.partition_frac + kn.partition_frac_delta, 0)
    in_max = [valid[i] or kn.masked_in_max for i in range(n)]
    top = max(s[i] for i in range(n) if in_max[i])

    def term(d: int) -> int:
        # d < 0 only for a masked entry above the maximum; a port's term register
        # holds at most 2^F there (the value never reaches an output unless a
        # masking knob lets it into Z)
        if d <= f:
            return 1 << (f - max(d, 0))
        if kn.small_terms == "saturate":
            return 1
        if kn.small_terms == "mod32":
            return (1 << f) >> (d % 32)
        return 0

    e = [term(top - s[i]) for i in range(n)]
    z = sum(e[i] for i in range(n) if valid[i] or kn.masked_in_partition)
    k = _pow2_exp(z, kn.partition_pow2) if z > 0 else 0
    shift = k + kn.out_shift_delta
    out = [_shift(e[i] << cfg.out_frac, -shift) if valid[i] else 0 for i in range(n)]
    return {"out": out, "partition": z, "k": k}


# --------------------------------------------------------------------- BSPN


@dataclass(frozen=True)
class BSPNKnobs:
    """Bugs of BSPN (spec/03-bspn.md); defaults are the spec."""

    eps: bool = True
    """``eps = 2**-eps_exp`` is added to the mean (False: dropped)."""
    divisor: str = "ceil"
    """Group exponent ``j``: ``ceil`` (smallest ``j`` with ``G*2**j >= A``, spec),
    ``strict`` (smallest ``j`` with ``G*2**j > A``) or ``floor`` (largest ``j`` with
    ``G*2**j <= A``, i.e. floor log2)."""
    grouping: str = "spec"
    """``spec`` (groups of ``group_size``), ``token`` (one group per token) or
    ``pow2`` (groups of ``group_size`` rounded up to a power of two)."""
    mean_by_shift: bool = False
    """The mean divides by ``2**floor(log2 G)`` (a shift) instead of ``G``."""
    abs_ones_complement: bool = False
    """``|x|`` of a negative ``x`` taken as ``~x = -x - 1``."""
    zero_weight_as_plus: bool = False
    """A weight sign 0 is applied as +1."""
    out_rounding: str = "log"
    """Output exponent: ``log`` (spec), ``linear_up`` or ``floor`` (see :func:`_pow2_exp`)."""
    saturate: bool = True
    """Exponents above ``out_width - 2`` saturate (False: the value wraps at ``out_width``)."""
    underflow_to_min: bool = False
    """Exponents below 0 give ``sign * 1`` (the smallest power) instead of 0."""
    bias: bool = True
    """The bias is added (False: ignored)."""
    intermediate_frac: int | None = None
    """``y`` is floored to ``out_frac + this`` fractional bits before the log-domain
    rounding (None: exact at ``P`` bits, the spec)."""
    register_bits: int | None = None
    """``A``, the constants ``G * 2**j`` and ``N`` held in two's complement registers of
    this many bits, wrapping (None: exact, the spec; 64: an int64 port, right where the
    registers fit 64 bits and wrong on Sorbet's widest inputs and the general
    configurations, spec/03-bspn.md, "Widths")."""


def bspn(cfg: BSPNConfig, inputs: Mapping[str, JSON], kn: BSPNKnobs) -> dict[str, JSON]:
    """BSPN of one token under ``kn``: outputs ``out`` and ``divisor_exp``."""
    x: list[int] = list(inputs["x"])
    wsign: list[int] = list(inputs["weight_sign"])
    wexp: list[int] = list(inputs["weight_exp"])
    bias: list[int] = list(inputs["bias"])
    p = cfg.exact_frac
    size = cfg.group_size
    if kn.grouping == "token":
        size = cfg.channels
    elif kn.grouping == "pow2":
        size = 1 << (size - 1).bit_length()
    out: list[int] = []
    ks: list[int] = []
    for lo in range(0, cfg.channels, size):
        idx = range(lo, min(lo + size, cfg.channels))
        g = len(idx)
        if kn.mean_by_shift:
            g = 1 << (g.bit_length() - 1)
        s = sum(x[i] if x[i] >= 0 else (-x[i] - 1 if kn.abs_ones_complement else -x[i])
                for i in idx)
        big_a = (s << cfg.eps_exp) + ((g << cfg.in_frac) if kn.eps else 0)
        j = 0
        if kn.register_bits is not None:
            bits = kn.register_bits
            big_a = _wrap(big_a, bits)
            j = next((jj for jj in range(cfg.j_max + 1) if _wrap(g << jj, bits) >= big_a),
                     cfg.j_max)
        elif kn.divisor == "ceil":
            while g << j < big_a:
                j += 1
        elif kn.divisor == "strict":
            while g << j <= big_a:
                j += 1
        else:  # floor
            while g << (j + 1) <= big_a:
                j += 1
        ks.append(j - cfg.in_frac - cfg.eps_exp)
        for i in idx:
            sign = 1 if (wsign[i] == 0 and kn.zero_weight_as_plus) else wsign[i]
            n = _shift(sign * x[i], p + wexp[i] + cfg.eps_exp - j)
            if kn.bias:
                n += bias[i] << (p - cfg.bias_frac)
            if kn.register_bits is not None:
                n = _wrap(_wrap(_shift(sign * x[i], p + wexp[i] + cfg.eps_exp - j),
                                kn.register_bits)
                          + _wrap(bias[i] << (p - cfg.bias_frac), kn.register_bits),
                          kn.register_bits)
            frac = p
            if kn.intermediate_frac is not None and cfg.out_frac + kn.intermediate_frac < p:
                frac = cfg.out_frac + kn.intermediate_frac
                n >>= p - frac
            out.append(_bspn_round(n, frac, cfg, kn))
    return {"out": out, "divisor_exp": ks}


def _bspn_round(n: int, frac: int, cfg: BSPNConfig, kn: BSPNKnobs) -> int:
    """Step 4 of BSPN: ``N`` (``frac`` fractional bits) to ``0`` or ``+-2**r``."""
    if n == 0:
        return 0
    sign = 1 if n > 0 else -1
    r = _pow2_exp(abs(n), kn.out_rounding) - frac + cfg.out_frac
    if r < 0:
        return sign if kn.underflow_to_min else 0
    if r > cfg.out_width - 2:
        if kn.saturate:
            r = cfg.out_width - 2
        else:
            return _wrap(sign << r, cfg.out_width)
    return sign << r


# --------------------------------------------------------------------- quantizer


@dataclass(frozen=True)
class QuantKnobs:
    """Bugs of the quantizer (spec/04-quantizer-spikes.md); defaults are the spec."""

    rounding: str = "half_even"
    """Rounding of ``(x*M + bias) / 2**shift``: see :func:`_div_pow2`."""
    clamp: str = "both"
    """``both`` (spec), ``wrap`` (no clamp: ``q`` wraps at ``bits``) or
    ``upper_only`` (negative values of an unsigned quantizer are not clamped)."""
    signed_offset_delta: int = 0
    """Added to the signed offset ``2**(bits-1)``."""
    shift_mask: int | None = None
    """The shift amount is ANDed with this mask (31: a 5-bit shifter)."""
    bias_rounded_apart: bool = False
    """``round(x*M / 2**shift) + round(bias / 2**shift)``: two roundings instead of one."""


def quantize(cfg: QuantizerConfig, inputs: Mapping[str, JSON], kn: QuantKnobs) -> dict[str, JSON]:
    """Counts of every ``x`` under ``kn``: output ``counts``."""
    m, s, b = int(inputs["multiplier"]), int(inputs["shift"]), int(inputs["bias"])
    if cfg.signed:
        lo, hi = -(1 << (cfg.bits - 1)), (1 << (cfg.bits - 1)) - 1
    else:
        lo, hi = 0, (1 << cfg.bits) - 1
    offset = -lo + (kn.signed_offset_delta if cfg.signed else 0)
    counts: list[int] = []
    if kn.shift_mask is not None:
        s &= kn.shift_mask
    for x in inputs["x"]:
        if kn.bias_rounded_apart:
            q = _div_pow2(x * m, s, kn.rounding) + _div_pow2(b, s, kn.rounding)
        else:
            q = _div_pow2(x * m + b, s, kn.rounding)
        if kn.clamp == "wrap":
            q = lo + (q - lo) % (1 << cfg.bits)
        elif kn.clamp == "upper_only" and not cfg.signed:
            q = min(q, hi)
        else:
            q = min(max(q, lo), hi)
        counts.append(q + offset)
    return {"counts": counts}


# --------------------------------------------------------------------- IF encoder


@dataclass(frozen=True)
class IFKnobs:
    """Bugs of the IF encoder (spec/04-quantizer-spikes.md); defaults are the spec."""

    strict: bool = False
    """Fire when ``V > threshold`` instead of ``V >= threshold``."""
    reset_to_zero: bool = False
    """On a spike set ``V = 0`` instead of subtracting the threshold."""
    initial_half: bool = False
    """Start at ``V_0 = floor(T/2)`` instead of 0."""
    threshold_delta: int = 0
    """Threshold ``T + delta`` (compare and subtraction)."""
    fire_before_integrate: bool = False
    """Compare (and reset) before adding the input in each step."""


def if_train(count: int, steps: int, kn: IFKnobs) -> tuple[list[int], list[int]]:
    """Spikes (0/1) and membrane after each step of the encoder of ``count``."""
    theta = steps + kn.threshold_delta
    v = steps // 2 if kn.initial_half else 0
    spikes: list[int] = []
    trace: list[int] = []
    for _ in range(steps):
        if not kn.fire_before_integrate:
            v += count
        fire = v > theta if kn.strict else v >= theta
        if fire:
            v = 0 if kn.reset_to_zero else v - theta
        if kn.fire_before_integrate:
            v += count
        spikes.append(1 if fire else 0)
        trace.append(v)
    return spikes, trace


def if_encode(cfg: SpikeConfig, inputs: Mapping[str, JSON], kn: IFKnobs) -> dict[str, JSON]:
    """The spike train of ``count`` under ``kn``: outputs ``spikes`` and ``membrane``."""
    spikes, trace = if_train(int(inputs["count"]), cfg.steps, kn)
    return {"spikes": spikes, "membrane": trace}


# --------------------------------------------------------------------- binary linear


@dataclass(frozen=True)
class LinearKnobs:
    """Bugs of the binary-weight linear layer (spec/05-binary-linear.md); defaults are the spec."""

    acc_bits: int | None = None
    """The accumulator wraps at this many bits (None: exact)."""
    acc_bits_below_declared: int = 0
    """The accumulator wraps at ``acc_format.width - this`` bits (0: exact)."""
    minus_as_zero: bool = False
    """A sign bit 0 is decoded as weight 0 instead of -1 (``sign(0) = 0``)."""
    inverted_sign_bits: bool = False
    """Sign bits read with the opposite polarity (bit 1 as -1)."""
    offset_per_step: bool = False
    """Time level: ``o * sum_j s_j`` subtracted at every step instead of once."""
    offset_delta: int = 0
    """Added to the signed-input offset ``2**(bits-1)``."""
    offset_for_unsigned: bool = False
    """The offset ``2**(bits-1)`` is applied to unsigned input too."""


def binary_linear(
    cfg: BinaryLinearConfig, inputs: Mapping[str, JSON], kn: LinearKnobs
) -> dict[str, JSON]:
    """Accumulators under ``kn``: outputs ``acc`` and ``partial`` (out x T)."""
    counts: list[int] = list(inputs["counts"])
    flat: list[int] = list(inputs["signs"])
    n, steps = cfg.in_features, cfg.steps
    offset = 0
    if cfg.signed_input or kn.offset_for_unsigned:
        offset = (1 << (cfg.bits - 1)) + (kn.offset_delta if cfg.signed_input else 0)
    width: int | None = kn.acc_bits
    if kn.acc_bits_below_declared:
        width = cfg.acc_format.width - kn.acc_bits_below_declared

    def reg(v: int) -> int:
        return v if width is None else _wrap(v, width)

    trains = [if_train(c, steps, IFKnobs())[0] for c in counts]
    accs: list[int] = []
    partial: list[int] = []
    for r in range(cfg.out_features):
        w = []
        for s in flat[r * n : (r + 1) * n]:
            bit = (s == 1) != kn.inverted_sign_bits
            w.append(1 if bit else (0 if kn.minus_as_zero else -1))
        correction = offset * sum(w)
        acc = 0
        for t in range(steps):
            acc = reg(acc + sum(trains[j][t] * w[j] for j in range(n)))
            if kn.offset_per_step:
                acc = reg(acc - correction)
            partial.append(acc)
        accs.append(acc if kn.offset_per_step else reg(acc - correction))
    return {"acc": accs, "partial": partial}


# --------------------------------------------------------------------- dispatch

Knobs = PTSoftmaxKnobs | BSPNKnobs | QuantKnobs | IFKnobs | LinearKnobs
"""The knobs of any operator."""

VARIANTS: dict[str, tuple[type[Any], Callable[[Any, Mapping[str, JSON], Any], dict[str, JSON]]]] = {
    "ptsoftmax": (PTSoftmaxKnobs, ptsoftmax),
    "bspn": (BSPNKnobs, bspn),
    "quantize": (QuantKnobs, quantize),
    "if_encode": (IFKnobs, if_encode),
    "binary_linear": (LinearKnobs, binary_linear),
}
"""Operator name -> (its knobs dataclass, its variant)."""


def run_variant(op: str, cfg: object, inputs: Mapping[str, JSON], knobs: Knobs | None = None
                ) -> dict[str, JSON]:
    """Run ``op``'s variant on a validated configuration and accepted inputs.

    ``knobs`` defaults to the operator's all-default knobs, which compute the
    reference's outputs exactly.
    """
    knob_type, fn = VARIANTS[op]
    kn = knob_type() if knobs is None else knobs
    if not isinstance(kn, knob_type):
        raise TypeError(f"{op}: knobs must be {knob_type.__name__}, got {type(kn).__name__}")
    return fn(cfg, inputs, kn)
