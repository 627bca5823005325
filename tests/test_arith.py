"""Arithmetic primitives against brute-force definitions (spec/01-formats.md).

Exhaustive over every input of widths up to 12 bits; Hypothesis beyond that.
The brute-force definitions are written from the spec's words (distances,
ratios, exact rationals), not from the bit tricks the primitives use.
"""

from __future__ import annotations

import math
from decimal import Decimal, getcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import arith
from reference.algebra import PY
from reference.arith import Rounding

EXHAUSTIVE_WIDTH = 12


def brute_floor_log2(x: int) -> int:
    """Largest k with 2**k <= x."""
    k = 0
    while 2 ** (k + 1) <= x:
        k += 1
    return k


def brute_ceil_log2(x: int) -> int:
    """Smallest k >= 0 with 2**k >= x."""
    k = 0
    while 2**k < x:
        k += 1
    return k


def brute_nearest_linear(x: int) -> int:
    """Exponent of the power of two nearest x in linear distance; a tie takes the larger."""
    best = 0
    for k in range(x.bit_length() + 2):
        d_k, d_best = abs(x - 2**k), abs(x - 2**best)
        if d_k < d_best or (d_k == d_best and k > best):
            best = k
    return best


def _log_distance(x: int, k: int) -> Fraction:
    """The ratio max(x, 2**k) / min(x, 2**k): exp2 of |log2 x - k|."""
    p = 2**k
    return Fraction(max(x, p), min(x, p))


def brute_nearest_log(x: int) -> int:
    """Exponent minimizing |log2 x - k|, compared through exact ratios."""
    best = 0
    for k in range(x.bit_length() + 2):
        if _log_distance(x, k) < _log_distance(x, best):
            best = k
    return best


def brute_shift_round(x: int, s: int, mode: Rounding) -> int:
    """round_mode(x / 2**s) on exact rationals."""
    v = Fraction(x, 2**s)
    if mode is Rounding.FLOOR:
        return math.floor(v)
    if mode is Rounding.CEIL:
        return math.ceil(v)
    if mode is Rounding.TRUNC:
        return math.trunc(v)
    if mode is Rounding.HALF_UP:
        return math.floor(v + Fraction(1, 2))
    return round(v)  # Fraction.__round__ rounds half to even


@pytest.mark.parametrize("width", range(1, EXHAUSTIVE_WIDTH + 1))
def test_log2_and_nearest_exhaustive(width: int) -> None:
    for x in range(1, 2**width):
        assert arith.floor_log2(PY, x, width) == brute_floor_log2(x), x
        assert arith.ceil_log2(PY, x, width) == brute_ceil_log2(x), x
        assert arith.nearest_pow2_exp(PY, x, width) == brute_nearest_linear(x), x
        assert arith.log_nearest_pow2_exp(PY, x, width) == brute_nearest_log(x), x


@settings(max_examples=300, deadline=None)
@given(st.integers(13, 64).flatmap(lambda w: st.tuples(st.just(w), st.integers(1, 2**w - 1))))
def test_log2_and_nearest_wide(wx: tuple[int, int]) -> None:
    width, x = wx
    k = x.bit_length() - 1
    assert arith.floor_log2(PY, x, width) == k
    assert arith.ceil_log2(PY, x, width) == (k if x == 2**k else k + 1)
    assert arith.nearest_pow2_exp(PY, x, width) == brute_nearest_linear(x)
    assert arith.log_nearest_pow2_exp(PY, x, width) == (k + 1 if x * x > 2 ** (2 * k + 1) else k)


def test_nearest_linear_bit_rule() -> None:
    """The leading one, plus one if the next bit is set (spec 01 examples)."""
    assert [arith.nearest_pow2_exp(PY, x, 8) for x in (1, 2, 3, 5, 6, 29, 24, 23)] == [
        0, 1, 2, 2, 3, 5, 5, 4,
    ]


def test_sqrt2_threshold_definition() -> None:
    getcontext().prec = 60
    root2 = Decimal(2).sqrt()
    for k in range(40):
        t = arith.sqrt2_threshold(k)
        assert t == math.ceil(root2 * 2**k)
        assert t * t > 2 ** (2 * k + 1) >= (t - 1) ** 2
    with pytest.raises(ValueError, match="k must be >= 0"):
        arith.sqrt2_threshold(-1)


def test_linear_and_log_differ_exactly_where_spec_says() -> None:
    """Spec 01: they differ exactly for t(k) <= x < 3 * 2**(k-1), first at x = 23."""
    differ = [
        x for x in range(1, 2**EXHAUSTIVE_WIDTH)
        if arith.nearest_pow2_exp(PY, x, EXHAUSTIVE_WIDTH)
        != arith.log_nearest_pow2_exp(PY, x, EXHAUSTIVE_WIDTH)
    ]
    expected = [
        x for x in range(1, 2**EXHAUSTIVE_WIDTH)
        if x.bit_length() >= 2
        and arith.sqrt2_threshold(x.bit_length() - 1) <= x < 3 * 2 ** (x.bit_length() - 2)
    ]
    assert differ == expected
    assert differ[0] == 23


@pytest.mark.parametrize("mode", list(Rounding))
def test_shift_round_exhaustive(mode: Rounding) -> None:
    lo, hi = -(2 ** (EXHAUSTIVE_WIDTH - 1)), 2 ** (EXHAUSTIVE_WIDTH - 1)
    for s in range(EXHAUSTIVE_WIDTH + 2):
        for x in range(lo, hi):
            assert arith.shift_round(PY, x, s, mode) == brute_shift_round(x, s, mode), (x, s)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**63), 2**63 - 1), st.integers(0, 70), st.sampled_from(list(Rounding)))
def test_shift_round_wide(x: int, s: int, mode: Rounding) -> None:
    assert arith.shift_round(PY, x, s, mode) == brute_shift_round(x, s, mode)


def test_shift_round_rejects_negative_shift() -> None:
    with pytest.raises(ValueError, match="shift must be >= 0"):
        arith.shift_round(PY, 5, -1, Rounding.FLOOR)


def test_clamp_exhaustive() -> None:
    for lo in range(-6, 7):
        for hi in range(lo, 7):
            for x in range(-10, 11):
                assert arith.clamp(PY, x, lo, hi) == min(max(x, lo), hi)
    with pytest.raises(ValueError, match="lo=3 > hi=2"):
        arith.clamp(PY, 0, 3, 2)
