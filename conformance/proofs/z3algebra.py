"""The :class:`reference.algebra.Algebra` on Z3 bit-vectors (spec/09-theorems.md, "Method").

``Z3Algebra(width)`` evaluates the reference's own primitives on ``width``-bit
two's complement Z3 terms with signed comparisons.  Python integers are
unbounded while bit-vectors wrap, so every operation that could wrap records a
side condition "this operation did not overflow" (:attr:`Z3Algebra.no_overflow`).
A proof obligation asserts those conditions together with its claim: when all
of them hold, the bit-vector evaluation equals the Python-integer evaluation,
so what is proven is a property of the code that runs.
"""

from __future__ import annotations

from typing import Any

import z3

Term = Any
"""A Z3 expression (the z3 package ships no type stubs)."""


class _Z3Logic:
    """Comparisons, booleans and ``select``: the same Z3 terms for both algebras below.

    z3py's ``<`` and ``<=`` are signed on bit-vectors and ordinary on integers.
    """

    def lt(self, a: Term, b: Term) -> Term:
        return a < b

    def le(self, a: Term, b: Term) -> Term:
        return a <= b

    def eq(self, a: Term, b: Term) -> Term:
        return a == b

    def and_(self, a: Term, b: Term) -> Term:
        return z3.And(a, b)

    def or_(self, a: Term, b: Term) -> Term:
        return z3.Or(a, b)

    def not_(self, a: Term) -> Term:
        return z3.Not(a)

    def true(self) -> Term:
        return z3.BoolVal(True)

    def select(self, c: Term, a: Term, b: Term) -> Term:
        return z3.If(c, a, b)


class Z3Algebra(_Z3Logic):
    """Two's complement integers of a fixed ``width`` as Z3 bit-vector terms.

    ``const``, ``mul_const`` and ``shl`` also accept a Z3 term where the
    protocol says "constant", so a parameter can be made symbolic where a
    theorem wants it (for example the quantizer's multiplier).
    """

    def __init__(self, width: int, track_overflow: bool = True) -> None:
        if width < 2:
            raise ValueError(f"Z3Algebra: width must be >= 2, got {width}")
        self.width = width
        self.track_overflow = track_overflow
        self.no_overflow: list[Term] = []
        """Side conditions: every recorded operation stayed inside ``width`` bits."""

    # -- values -----------------------------------------------------------
    def var(self, name: str) -> Term:
        """A fresh symbolic value of this width."""
        return z3.BitVec(name, self.width)

    def const(self, n: int | Term) -> Term:
        if isinstance(n, int):
            lo, hi = -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
            if not lo <= n <= hi:
                raise ValueError(f"Z3Algebra: constant {n} does not fit {self.width} signed bits")
            return z3.BitVecVal(n, self.width)
        return n

    def _note(self, cond: Term) -> None:
        if self.track_overflow:
            self.no_overflow.append(cond)

    def add(self, a: Term, b: Term) -> Term:
        self._note(z3.And(z3.BVAddNoOverflow(a, b, True), z3.BVAddNoUnderflow(a, b)))
        return a + b

    def sub(self, a: Term, b: Term) -> Term:
        self._note(z3.And(z3.BVSubNoOverflow(a, b), z3.BVSubNoUnderflow(a, b, True)))
        return a - b

    def mul_const(self, a: Term, k: int | Term) -> Term:
        kk = self.const(k)
        if isinstance(k, int) and k in (0, 1):
            return a * kk
        self._note(z3.And(z3.BVMulNoOverflow(a, kk, True), z3.BVMulNoUnderflow(a, kk)))
        return a * kk

    def shl(self, a: Term, k: int) -> Term:
        if k < 0:
            raise ValueError(f"Z3Algebra.shl: shift must be >= 0, got {k}")
        if k >= self.width:
            self._note(a == 0)
            return z3.BitVecVal(0, self.width)
        r = a << k
        self._note((r >> k) == a)
        return r

    def shr(self, a: Term, k: int) -> Term:
        if k < 0:
            raise ValueError(f"Z3Algebra.shr: shift must be >= 0, got {k}")
        if k >= self.width:
            return a >> (self.width - 1)
        return a >> k

    # -- bits ---------------------------------------------------------------
    def bit(self, a: Term, i: int) -> Term:
        if i < 0:
            raise ValueError(f"Z3Algebra.bit: index must be >= 0, got {i}")
        j = min(i, self.width - 1)  # bits above the width repeat the sign bit
        return z3.Extract(j, j, a) == 1


class Z3IntAlgebra(_Z3Logic):
    """The algebra on unbounded Z3 integers: exactly Python's ``int`` semantics.

    Used where a linear argument is proven for every width (no overflow can
    occur).  ``bit`` is not available on unbounded integers.
    """

    def var(self, name: str) -> Term:
        """A fresh symbolic integer."""
        return z3.Int(name)

    def const(self, n: int | Term) -> Term:
        return z3.IntVal(n) if isinstance(n, int) else n

    def add(self, a: Term, b: Term) -> Term:
        return a + b

    def sub(self, a: Term, b: Term) -> Term:
        return a - b

    def mul_const(self, a: Term, k: int | Term) -> Term:
        return a * self.const(k)

    def shl(self, a: Term, k: int) -> Term:
        return a * (1 << k)

    def shr(self, a: Term, k: int) -> Term:
        raise NotImplementedError("Z3IntAlgebra.shr: floor division is not linear here")

    def bit(self, a: Term, i: int) -> Term:
        raise NotImplementedError("Z3IntAlgebra.bit: no bits on unbounded integers")
