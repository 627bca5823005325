"""The small integer algebra the arithmetic primitives are written over.

The primitives of :mod:`reference.arith` are written once, against the
:class:`Algebra` protocol.  :data:`PY` evaluates them on Python integers (the
reference); ``conformance.proofs.z3algebra`` evaluates the very same functions
on Z3 bit-vector terms, so the theorems of spec/09-theorems.md are proven about
the code that runs (DESIGN principle 1).

Rules for code written against the protocol: no Python ``if`` on a value (use
:meth:`Algebra.select`), shift amounts and loop bounds are Python constants,
multiplication only by constants except where a theorem says otherwise.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

V = TypeVar("V")
B = TypeVar("B")


class Algebra(Protocol, Generic[V, B]):
    """Two's complement integers of unbounded (Python) or fixed (Z3) width."""

    def const(self, n: int) -> V:
        """The integer constant ``n``."""
        ...

    def add(self, a: V, b: V) -> V:
        """``a + b``."""
        ...

    def sub(self, a: V, b: V) -> V:
        """``a - b``."""
        ...

    def mul_const(self, a: V, k: int) -> V:
        """``a * k`` for a constant ``k``."""
        ...

    def shl(self, a: V, k: int) -> V:
        """``a * 2**k`` for a constant ``k >= 0``."""
        ...

    def shr(self, a: V, k: int) -> V:
        """``floor(a / 2**k)`` for a constant ``k >= 0`` (arithmetic shift)."""
        ...

    def lt(self, a: V, b: V) -> B:
        """``a < b`` (signed)."""
        ...

    def le(self, a: V, b: V) -> B:
        """``a <= b`` (signed)."""
        ...

    def eq(self, a: V, b: V) -> B:
        """``a == b``."""
        ...

    def bit(self, a: V, i: int) -> B:
        """Bit ``i`` (constant) of the two's complement form of ``a``."""
        ...

    def and_(self, a: B, b: B) -> B:
        """Boolean and."""
        ...

    def or_(self, a: B, b: B) -> B:
        """Boolean or."""
        ...

    def not_(self, a: B) -> B:
        """Boolean not."""
        ...

    def true(self) -> B:
        """The constant true."""
        ...

    def select(self, c: B, a: V, b: V) -> V:
        """``a`` if ``c`` else ``b``."""
        ...


class PyAlgebra:
    """:class:`Algebra` on Python ``int`` and ``bool``: the reference itself."""

    def const(self, n: int) -> int:
        return n

    def add(self, a: int, b: int) -> int:
        return a + b

    def sub(self, a: int, b: int) -> int:
        return a - b

    def mul_const(self, a: int, k: int) -> int:
        return a * k

    def shl(self, a: int, k: int) -> int:
        return a << k

    def shr(self, a: int, k: int) -> int:
        return a >> k

    def lt(self, a: int, b: int) -> bool:
        return a < b

    def le(self, a: int, b: int) -> bool:
        return a <= b

    def eq(self, a: int, b: int) -> bool:
        return a == b

    def bit(self, a: int, i: int) -> bool:
        return (a >> i) & 1 == 1

    def and_(self, a: bool, b: bool) -> bool:
        return a and b

    def or_(self, a: bool, b: bool) -> bool:
        return a or b

    def not_(self, a: bool) -> bool:
        return not a

    def true(self) -> bool:
        return True

    def select(self, c: bool, a: int, b: int) -> int:
        return a if c else b


PY = PyAlgebra()
"""The algebra the reference runs on."""
