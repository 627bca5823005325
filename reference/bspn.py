"""BSPN, bit shifting PowerNorm, inference form (spec/03-bspn.md).

For one token ``x`` (``channels`` signed integers with ``in_frac`` fractional
bits) split into groups of ``group_size`` channels, and for each group:

1.-2. ``S = sum |x_i|``; ``A = S * 2**eps_exp + G * 2**in_frac``, so that
   ``mean|x| + eps = A / (G * 2**(in_frac + eps_exp))`` with ``eps = 2**-eps_exp``.
3. ``j = min { j >= 0 : G * 2**j >= A }``; the divisor is ``2**k`` with
   ``k = j - in_frac - eps_exp = ceil(log2(mean|x| + eps))``.
4. per channel, exactly: ``y_i = w_i * x_i / 2**k + beta_i`` with
   ``w_i = sign_i * 2**wexp_i`` and ``beta_i`` of ``bias_frac`` fractional bits:
   ``N_i = sign_i * x_i * 2**(P + wexp_i + eps_exp - j) + beta_i * 2**(P - bias_frac)``
   is the integer ``y_i * 2**P`` for the constant ``P = cfg.exact_frac``; it fits
   ``cfg.n_width`` signed bits (theorem bspn.exact_width; OverflowDetected otherwise).
5. ``N_i = 0`` gives 0; else ``r = round(log2 |N_i|) - P + out_frac`` (log-domain
   nearest); ``r < 0`` flushes to 0; ``r > out_width - 2`` saturates to
   ``out_width - 2``; the output integer is ``sign(N_i) * 2**r`` with
   ``out_frac`` fractional bits.

The step numbers are those of spec/03-bspn.md, "Algorithm".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from reference import arith
from reference.algebra import PY, Algebra
from reference.errors import ConfigError, OverflowDetected
from reference.formats import IntFormat, check_int, check_length, check_range

V = TypeVar("V")
B = TypeVar("B")


@dataclass(frozen=True)
class BSPNConfig:
    """Parameters of BSPN (spec/03-bspn.md, "Parameters")."""

    channels: int
    group_size: int
    in_width: int
    in_frac: int
    eps_exp: int
    """eps = 2**-eps_exp."""
    weight_exp_min: int
    weight_exp_max: int
    bias_width: int
    bias_frac: int
    out_width: int
    out_frac: int

    def __post_init__(self) -> None:
        check_int(self.channels, "BSPNConfig.channels", 1, 1 << 16)
        check_int(self.group_size, "BSPNConfig.group_size", 1, self.channels)
        if self.channels % self.group_size != 0:
            raise ConfigError(
                f"BSPNConfig.group_size: {self.group_size} does not divide "
                f"channels={self.channels}"
            )
        check_int(self.in_width, "BSPNConfig.in_width", 2, 32)
        check_int(self.in_frac, "BSPNConfig.in_frac", 0, 31)
        check_int(self.eps_exp, "BSPNConfig.eps_exp", 0, 40)
        check_int(self.weight_exp_min, "BSPNConfig.weight_exp_min", -32, 32)
        check_int(self.weight_exp_max, "BSPNConfig.weight_exp_max", self.weight_exp_min, 32)
        check_int(self.bias_width, "BSPNConfig.bias_width", 2, 32)
        check_int(self.bias_frac, "BSPNConfig.bias_frac", 0, 31)
        check_int(self.out_width, "BSPNConfig.out_width", 2, 32)
        check_int(self.out_frac, "BSPNConfig.out_frac", 0, self.out_width - 2)

    @property
    def groups(self) -> int:
        """Number of groups: ``channels / group_size``."""
        return self.channels // self.group_size

    @property
    def in_format(self) -> IntFormat:
        """Signed input format."""
        return IntFormat(self.in_width, True, self.in_frac)

    @property
    def bias_format(self) -> IntFormat:
        """Signed bias format."""
        return IntFormat(self.bias_width, True, self.bias_frac)

    @property
    def out_format(self) -> IntFormat:
        """Signed output format; every output is 0 or ``+-2**r``, ``0 <= r <= out_width-2``."""
        return IntFormat(self.out_width, True, self.out_frac)

    @property
    def j_max(self) -> int:
        """Largest ``j`` of step 3: ``max(in_width - 1 + eps_exp, in_frac) + 1``."""
        return max(self.in_width - 1 + self.eps_exp, self.in_frac) + 1

    @property
    def a_width(self) -> int:
        """Unsigned width holding ``A`` (and ``G * 2**j_max``)."""
        return (self.group_size << self.j_max).bit_length()

    @property
    def exact_frac(self) -> int:
        """``P``: fractional bits at which ``y`` is exact for every ``j`` and weight."""
        return max(self.bias_frac, self.j_max - self.weight_exp_min - self.eps_exp, 0)

    @property
    def shift_max(self) -> int:
        """Largest shift ``P + wexp + eps_exp - j`` of ``N``: largest ``wexp``, ``j = in_frac``."""
        return self.exact_frac + self.weight_exp_max + self.eps_exp - self.in_frac

    @property
    def n_width(self) -> int:
        """Signed width of the exact value ``N`` (theorem bspn.exact_width).

        The least ``w`` with ``|N| <= 2**(w-1)`` for the linear bound
        ``|N| <= 2**(in_width-1) * 2**shift_max + 2**(bias_width-1) * 2**(P - bias_frac)``,
        which treats the input and the shift as independent; real inputs stay below
        it (a large ``|x|`` also raises ``j``, spec/03-bspn.md, step 4), so it is
        sufficient, and tight only for that bound.
        """
        big = ((1 << (self.in_width - 1)) << self.shift_max) + (
            (1 << (self.bias_width - 1)) << (self.exact_frac - self.bias_frac))
        return (big - 1).bit_length() + 1

    @property
    def r_max(self) -> int:
        """Largest output exponent code: ``out_width - 2``."""
        return self.out_width - 2


@dataclass(frozen=True)
class BSPNParams:
    """Per-channel affine parameters (spec/03-bspn.md, "Parameters").

    The weight of channel ``i`` is ``weight_sign[i] * 2**weight_exp[i]``
    (``weight_sign`` in {-1, 0, 1}); the bias is ``bias[i] * 2**-bias_frac``.
    """

    weight_sign: tuple[int, ...]
    weight_exp: tuple[int, ...]
    bias: tuple[int, ...]

    def validate(self, cfg: BSPNConfig) -> None:
        """Raise ShapeError (wrong length) or RangeError (entry out of range) unless they fit."""
        check_length(self.weight_sign, cfg.channels, "BSPNParams.weight_sign")
        check_length(self.weight_exp, cfg.channels, "BSPNParams.weight_exp")
        check_length(self.bias, cfg.channels, "BSPNParams.bias")
        for i, s in enumerate(self.weight_sign):
            check_range(s, f"BSPNParams.weight_sign[{i}]", -1, 1)
        for i, w in enumerate(self.weight_exp):
            check_range(w, f"BSPNParams.weight_exp[{i}]", cfg.weight_exp_min, cfg.weight_exp_max)
        cfg.bias_format.check_all(self.bias, "BSPNParams.bias")


@dataclass(frozen=True)
class BSPNResult:
    """Outputs of one token with the per-group divisor exponents."""

    out: tuple[int, ...]
    """Outputs with ``out_frac`` fractional bits: 0 or signed powers of two."""
    divisor_exp: tuple[int, ...]
    """Per group ``k = ceil(log2(mean|x| + eps))``: the group was divided by ``2**k``."""


def divisor_j(a: Algebra[V, B], abs_sum: V, cfg: BSPNConfig) -> V:
    """Steps 1-3: ``j = min { j >= 0 : G * 2**j >= S * 2**eps_exp + G * 2**in_frac }``."""
    big_a = a.add(a.shl(abs_sum, cfg.eps_exp), a.const(cfg.group_size << cfg.in_frac))
    j = a.const(cfg.j_max)
    for jj in reversed(range(cfg.j_max + 1)):
        j = a.select(a.le(big_a, a.const(cfg.group_size << jj)), a.const(jj), j)
    return j


def output_magnitude(
    a: Algebra[V, B],
    mag: V,
    cfg: BSPNConfig,
    width: int,
    log_nearest: Callable[[Algebra[V, B], V, int], V] = arith.log_nearest_pow2_exp,
) -> tuple[V, V]:
    """Step 5 on ``|N| = mag`` (``1 <= mag < 2**width``): ``(|output|, r)``.

    ``r = round(log2 mag) - P + out_frac`` (log-domain nearest); the magnitude is 0
    for ``r < 0`` (flush), ``2**r_max`` for ``r > r_max`` (saturation), else ``2**r``.
    ``log_nearest`` is the primitive used (the proofs pass a broken one to show a
    shifted cut-over is caught).
    """
    r = a.add(log_nearest(a, mag, width), a.const(cfg.out_frac - cfg.exact_frac))
    out = a.const(1 << cfg.r_max)
    for rr in reversed(range(cfg.r_max)):
        out = a.select(a.eq(r, a.const(rr)), a.const(1 << rr), out)
    return a.select(a.lt(r, a.const(0)), a.const(0), out), r


def round_output(n: int, cfg: BSPNConfig) -> int:
    """Step 5: ``sign(N) * 2**r`` with ``r = round(log2|N|) - P + out_frac``, flushed/saturated."""
    if n == 0:
        return 0
    mag, _ = output_magnitude(PY, abs(n), cfg, abs(n).bit_length())
    return mag if n > 0 else -mag


def bspn(x: Sequence[int], params: BSPNParams, cfg: BSPNConfig) -> BSPNResult:
    """BSPN of one token (spec/03-bspn.md, "Algorithm")."""
    check_length(x, cfg.channels, "bspn: x")
    xs = cfg.in_format.check_all(x, "bspn: x")
    params.validate(cfg)
    p = cfg.exact_frac
    n_lo, n_hi = -(1 << (cfg.n_width - 1)), (1 << (cfg.n_width - 1)) - 1
    out: list[int] = []
    ks: list[int] = []
    for g in range(cfg.groups):
        lo = g * cfg.group_size
        group = xs[lo : lo + cfg.group_size]
        j = divisor_j(PY, sum(abs(v) for v in group), cfg)
        ks.append(j - cfg.in_frac - cfg.eps_exp)
        for i, v in enumerate(group, start=lo):
            shift = p + params.weight_exp[i] + cfg.eps_exp - j
            n = params.weight_sign[i] * v * (1 << shift) + params.bias[i] * (
                1 << (p - cfg.bias_frac)
            )
            if not n_lo <= n <= n_hi:
                raise OverflowDetected(
                    f"bspn: channel {i}: exact value N = {n} leaves s{cfg.n_width} "
                    f"(BSPNConfig.n_width; theorem bspn.exact_width)"
                )
            out.append(round_output(n, cfg))
    return BSPNResult(tuple(out), tuple(ks))
