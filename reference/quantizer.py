"""Quantizer: an integer value to a spike count (spec/04-quantizer-spikes.md, "Quantizer").

One rule serves every place a value becomes a ``bits``-bit count:

``q = clamp(round_half_even((x * M + bias) / 2**shift), q_min, q_max)``

with ``[q_min, q_max] = [-2**(bits-1), 2**(bits-1) - 1]`` for a signed quantizer
and ``[0, 2**bits - 1]`` for an unsigned one, and the count ``c = q - q_min``
(so ``c = q + 2**(bits-1)`` in the signed case).  ``M / 2**shift`` is the exact
fixed-point form of ``2**in_frac / alpha`` (``M = 1`` when the step ``alpha`` is a
power of two); ``bias`` carries the learned "move", already in the scale of
``x * M``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from reference import arith
from reference.algebra import PY, Algebra
from reference.formats import IntFormat, check_bool, check_int, check_range

V = TypeVar("V")
B = TypeVar("B")

ROUNDING = arith.Rounding.HALF_EVEN
"""The quantizer's rounding: ties to even, as the authors' ``round``."""


@dataclass(frozen=True)
class QuantizerConfig:
    """Declared widths of a quantizer (spec/04, "Quantizer", "Parameters")."""

    bits: int
    signed: bool
    in_width: int
    multiplier_bits: int = 16
    bias_width: int = 32

    def __post_init__(self) -> None:
        check_int(self.bits, "QuantizerConfig.bits", 1, 8)
        check_bool(self.signed, "QuantizerConfig.signed")
        check_int(self.in_width, "QuantizerConfig.in_width", 2, 32)
        check_int(self.multiplier_bits, "QuantizerConfig.multiplier_bits", 1, 24)
        check_int(self.bias_width, "QuantizerConfig.bias_width", 2, 40)

    @property
    def in_format(self) -> IntFormat:
        """Signed input format."""
        return IntFormat(self.in_width, True, 0)

    @property
    def q_min(self) -> int:
        """Smallest quantized value."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def q_max(self) -> int:
        """Largest quantized value."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def offset(self) -> int:
        """``-q_min``: added to ``q`` to give the count."""
        return -self.q_min

    @property
    def count_max(self) -> int:
        """Largest count: ``2**bits - 1``."""
        return (1 << self.bits) - 1

    @property
    def product_width(self) -> int:
        """Signed width of ``x * M + bias`` (theorem quant.no_overflow)."""
        return self.linear_bound.bit_length() + 1

    @property
    def linear_bound(self) -> int:
        """Largest ``|x * M + bias|``: ``2**(in_width-1) * (2**multiplier_bits - 1) +
        2**(bias_width-1)``, reached at the smallest ``x`` and ``bias`` (quant.no_overflow)."""
        m = max((1 << (self.in_width - 1)) * ((1 << self.multiplier_bits) - 1), 1)
        return m + (1 << (self.bias_width - 1))

    @property
    def extra_bias_limit(self) -> int:
        """Largest ``|E|`` such that ``x * M + (bias + E)`` fits ``product_width`` for every
        ``x``, ``M`` and ``bias`` of the declared formats: ``2**(product_width-1) -
        linear_bound``, the headroom of the format (theorem quant.context_offset; spec/06,
        "Widths").  Exact: at ``E = -limit`` the smallest sum is ``-2**(product_width-1)``."""
        return (1 << (self.product_width - 1)) - self.linear_bound


@dataclass(frozen=True)
class QuantParams:
    """Per-quantizer constants: multiplier ``M >= 1``, ``shift``, ``bias``."""

    multiplier: int
    shift: int
    bias: int = 0

    def validate(self, cfg: QuantizerConfig) -> None:
        """Raise RangeError if a constant lies outside its declared range."""
        check_range(self.multiplier, "QuantParams.multiplier", 1, (1 << cfg.multiplier_bits) - 1)
        check_range(self.shift, "QuantParams.shift", 0, 62)
        IntFormat(cfg.bias_width, True).check(self.bias, "QuantParams.bias")


def requantize(
    a: Algebra[V, B],
    x: V,
    multiplier: int,
    bias: int,
    shift: int,
    lo: int,
    hi: int,
    rounding: arith.Rounding = ROUNDING,
) -> V:
    """``clamp(round((x * M + bias) / 2**shift), lo, hi)``; the one requantization rule."""
    v = a.add(a.mul_const(x, multiplier), a.const(bias))
    return arith.clamp(a, arith.shift_round(a, v, shift, rounding), lo, hi)


def quantize(x: Sequence[int], params: QuantParams, cfg: QuantizerConfig) -> list[int]:
    """Counts ``c_i = q_i - q_min`` in ``[0, 2**bits - 1]`` for every ``x_i``."""
    params.validate(cfg)
    xs = cfg.in_format.check_all(x, "quantize: x")
    return [
        requantize(PY, v, params.multiplier, params.bias, params.shift, cfg.q_min, cfg.q_max)
        + cfg.offset
        for v in xs
    ]
