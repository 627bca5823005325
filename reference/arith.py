"""Arithmetic primitives (spec/01-formats.md, "Primitives").

Each primitive is written once over :class:`reference.algebra.Algebra`, so the
same function runs on Python integers (``PY``) and on Z3 bit-vectors (the
proofs).  Loop bounds and shift amounts are constants: a primitive on an
argument of declared width ``w`` unrolls into ``w`` selects, which is what a
priority encoder in hardware does too.

Preconditions (for example ``1 <= x < 2**width``) are the caller's to check;
the operators check them with :mod:`reference.formats` before calling.
"""

from __future__ import annotations

import enum
import math
from typing import TypeVar

from reference.algebra import Algebra

V = TypeVar("V")
B = TypeVar("B")


class Rounding(enum.Enum):
    """Named rounding modes of a right shift (spec/01, "Shifts with a named rounding")."""

    FLOOR = "floor"
    """Toward minus infinity: the arithmetic shift itself."""
    CEIL = "ceil"
    """Toward plus infinity."""
    TRUNC = "trunc"
    """Toward zero."""
    HALF_UP = "half_up"
    """To nearest, ties toward plus infinity."""
    HALF_EVEN = "half_even"
    """To nearest, ties to the even neighbour (the authors' ``round``)."""


def shift_round(a: Algebra[V, B], x: V, s: int, mode: Rounding) -> V:
    """``round_mode(x / 2**s)`` for a constant ``s >= 0`` (spec 01, "Shifts with a named rounding").

    - FLOOR: ``x >> s``
    - CEIL: ``-((-x) >> s)``
    - TRUNC: CEIL for negative ``x``, FLOOR otherwise
    - HALF_UP: ``(x + 2**(s-1)) >> s``
    - HALF_EVEN: ``q = x >> s``, ``r = x - q*2**s``; ``q + 1`` if ``r > 2**(s-1)``
      or (``r == 2**(s-1)`` and ``q`` is odd), else ``q``
    """
    if s < 0:
        raise ValueError(f"shift_round: shift must be >= 0, got {s}")
    if s == 0:
        return x
    zero = a.const(0)
    if mode is Rounding.FLOOR:
        return a.shr(x, s)
    if mode is Rounding.CEIL:
        return a.sub(zero, a.shr(a.sub(zero, x), s))
    if mode is Rounding.TRUNC:
        return a.select(
            a.lt(x, zero), a.sub(zero, a.shr(a.sub(zero, x), s)), a.shr(x, s)
        )
    half = a.const(1 << (s - 1))
    if mode is Rounding.HALF_UP:
        return a.shr(a.add(x, half), s)
    q = a.shr(x, s)
    r = a.sub(x, a.shl(q, s))
    up = a.or_(a.lt(half, r), a.and_(a.eq(r, half), a.bit(q, 0)))
    return a.select(up, a.add(q, a.const(1)), q)


def clamp(a: Algebra[V, B], x: V, lo: int, hi: int) -> V:
    """``min(max(x, lo), hi)`` for constants ``lo <= hi`` (spec 01, "Clamping")."""
    if lo > hi:
        raise ValueError(f"clamp: lo={lo} > hi={hi}")
    clo, chi = a.const(lo), a.const(hi)
    return a.select(a.lt(x, clo), clo, a.select(a.lt(chi, x), chi, x))


def floor_log2(a: Algebra[V, B], x: V, width: int) -> V:
    """``floor(log2 x)`` for ``1 <= x < 2**width``: the position of the leading one."""
    r = a.const(0)
    for i in range(width):
        r = a.select(a.bit(x, i), a.const(i), r)
    return r


def ceil_log2(a: Algebra[V, B], x: V, width: int) -> V:
    """``ceil(log2 x)`` for ``1 <= x < 2**width``.

    The leading one's position, plus one unless ``x`` is that power of two.
    """
    r = a.const(0)
    p = a.const(1)
    for i in range(width):
        hit = a.bit(x, i)
        r = a.select(hit, a.const(i), r)
        p = a.select(hit, a.const(1 << i), p)
    return a.select(a.eq(x, p), r, a.add(r, a.const(1)))


def nearest_pow2_exp(a: Algebra[V, B], x: V, width: int) -> V:
    """Exponent ``K`` of the power of two nearest ``x`` in linear distance, ties up.

    For ``1 <= x < 2**width`` with ``2**k <= x < 2**(k+1)``: ``K = k`` if
    ``x - 2**k < 2**(k+1) - x`` else ``k + 1``.  In bits: the leading one's
    position, plus one if the next lower bit is set (spec 01, "Nearest power of
    two, linear distance").
    """
    r = a.const(0)
    for i in range(width):
        low = a.bit(x, i - 1) if i > 0 else a.not_(a.true())
        candidate = a.select(low, a.const(i + 1), a.const(i))
        r = a.select(a.bit(x, i), candidate, r)
    return r


def sqrt2_threshold(k: int) -> int:
    """``ceil(sqrt(2) * 2**k)``, the smallest integer above ``sqrt(2) * 2**k``.

    Equals ``isqrt(2**(2k+1)) + 1`` because ``2**(2k+1)`` is never a square.
    """
    if k < 0:
        raise ValueError(f"sqrt2_threshold: k must be >= 0, got {k}")
    return math.isqrt(1 << (2 * k + 1)) + 1


def log_nearest_pow2_exp(a: Algebra[V, B], x: V, width: int) -> V:
    """``round(log2 x)`` for ``1 <= x < 2**width``, decided exactly.

    With ``2**k <= x < 2**(k+1)``, the result is ``k + 1`` iff ``x**2 > 2**(2k+1)``
    (no ties: ``2**(2k+1)`` is not a square), else ``k``.  Implemented with the
    constant thresholds ``sqrt2_threshold(k)``: ``k + 1`` iff
    ``x >= sqrt2_threshold(k)`` (spec 01, "Nearest power of two, log domain").
    """
    r = a.const(0)
    for i in range(width):
        up = a.le(a.const(sqrt2_threshold(i)), x)
        r = a.select(a.bit(x, i), a.select(up, a.const(i + 1), a.const(i)), r)
    return r
