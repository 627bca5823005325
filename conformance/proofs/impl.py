"""The implementation under proof: the reference's functions, replaceable in tests.

Every obligation evaluates the functions named here.  By default they are the
reference's own (:mod:`reference.arith`, :mod:`reference.ptsoftmax`, ...); a
test replaces one with a deliberately broken variant, or tightens a claimed
bound, with :func:`dataclasses.replace`, and the obligation must then come out
as a counterexample (spec/09-theorems.md, "Method").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from reference import arith, binary_linear, bspn, ptsoftmax, quantizer, spikes


@dataclass(frozen=True)
class Impl:
    """Functions and claimed bounds the obligations use."""

    floor_log2: Callable[..., Any] = arith.floor_log2
    ceil_log2: Callable[..., Any] = arith.ceil_log2
    nearest_pow2_exp: Callable[..., Any] = arith.nearest_pow2_exp
    log_nearest_pow2_exp: Callable[..., Any] = arith.log_nearest_pow2_exp
    shift_round: Callable[..., Any] = arith.shift_round
    clamp: Callable[..., Any] = arith.clamp
    ceil_score: Callable[..., Any] = ptsoftmax.ceil_score
    term: Callable[..., Any] = ptsoftmax.term
    partition_exp: Callable[..., Any] = ptsoftmax.partition_exp
    output: Callable[..., Any] = ptsoftmax.output
    divisor_j: Callable[..., Any] = bspn.divisor_j
    requantize: Callable[..., Any] = quantizer.requantize
    if_run: Callable[..., Any] = spikes.if_run
    dot_count: Callable[..., Any] = binary_linear.dot_count
    dot_time: Callable[..., Any] = binary_linear.dot_time
    partition_ratio: tuple[Fraction, Fraction] = (Fraction(3, 4), Fraction(3, 2))
    """Claimed ``[lo, hi)`` of ``Z / 2**K`` (theorem ptsm.partition_ratio)."""
    log_factor_sq: int = 2
    """Claimed square of the log-rounding factor: ``2**(1/2)`` squared (bspn.log_round)."""


DEFAULT = Impl()
"""The reference as it runs."""
