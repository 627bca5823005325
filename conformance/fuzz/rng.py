"""Counter-based SplitMix64 in numpy: many draws at once, fixed by a published formula.

Output ``i`` of a stream with key ``k`` is SplitMix64's output for the state
``k + (i + 1) * 0x9E3779B97F4A7C15`` (the same mixing as
:class:`conformance.vectors.strategies.SplitMix64`, whose ``n``-th output it equals for
the same seed), so a stream is a pure function of its key and the index: the same key
gives the same numbers on every machine and numpy version.  Integers in a range are
taken by reduction modulo the range (a bias below ``range / 2**64``, irrelevant for
test generation).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def key_of(*parts: object) -> int:
    """A 64-bit stream key: the first 8 bytes of SHA-256 of the parts joined by ``:``."""
    text = ":".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(f"sorbet-ref-fuzz:{text}".encode()).digest()[:8], "big")


class Stream:
    """Draws from one key, in order; every method consumes as many outputs as it returns."""

    def __init__(self, key: int) -> None:
        self.key = np.uint64(key & ((1 << 64) - 1))
        self.pos = 0

    def raw(self, n: int) -> U64:
        """The next ``n`` 64-bit outputs."""
        idx = np.arange(self.pos + 1, self.pos + n + 1, dtype=np.uint64)
        self.pos += n
        with np.errstate(over="ignore"):
            z = self.key + idx * GAMMA
            z = (z ^ (z >> np.uint64(30))) * _M1
            z = (z ^ (z >> np.uint64(27))) * _M2
        out: U64 = z ^ (z >> np.uint64(31))
        return out

    def ints(self, lo: int | I64, hi: int | I64, shape: tuple[int, ...]) -> I64:
        """Integers in ``[lo, hi]`` (bounds broadcast against ``shape``; ``hi - lo < 2**63``)."""
        n = int(np.prod(shape)) if shape else 1
        u = self.raw(n).reshape(shape)
        lo_a = np.broadcast_to(np.asarray(lo, dtype=np.int64), shape)
        span = (np.broadcast_to(np.asarray(hi, dtype=np.int64), shape) - lo_a).astype(
            np.uint64) + np.uint64(1)
        span = np.where(span == 0, np.uint64(1 << 63), span)  # only for a full 64-bit range
        out: I64 = lo_a + (u % span).astype(np.int64)
        return out

    def below(self, n: int, shape: tuple[int, ...]) -> I64:
        """Integers in ``[0, n)``."""
        return self.ints(0, n - 1, shape)

    def signs(self, shape: tuple[int, ...]) -> I64:
        """Entries +1 or -1: the bits of the outputs, least significant byte first (64 per
        output)."""
        n = int(np.prod(shape)) if shape else 1
        words = self.raw(-(-n // 64))
        bits = np.unpackbits(words.astype("<u8").view(np.uint8), bitorder="little")[:n]
        out: I64 = bits.astype(np.int64).reshape(shape) * 2 - 1
        return out

    def choice(self, values: Sequence[int], shape: tuple[int, ...]) -> I64:
        """Entries drawn from ``values``."""
        table = np.asarray(values, dtype=np.int64)
        picked: I64 = table[self.below(len(values), shape)]
        return picked


REGIMES = ("uniform", "small", "extremes", "constant", "sparse")
"""Value regimes of a drawn row: those of :func:`conformance.vectors.strategies.expand`."""


def regime_rows(s: Stream, rows: int, n: int, lo: int | I64, hi: int | I64) -> I64:
    """``rows`` rows of ``n`` integers in ``[lo, hi]`` (bounds broadcast per row, shape
    ``(rows, 1)`` or scalars), each row in one regime of :data:`REGIMES` drawn per row, with
    the definitions of :func:`conformance.vectors.strategies.expand`:

    - uniform: every value uniform in the range;
    - small: magnitudes below ``2**b``, ``b`` drawn per row up to half the bound's width,
      clamped into the range;
    - extremes: each value one of ``lo``, ``hi``, ``0`` (clamped), ``lo + 1``, ``hi - 1``;
    - constant: one drawn value repeated;
    - sparse: mostly the value nearest 0, one in eight uniform.

    One 64-bit output per entry feeds every regime (the row's regime picks which use of
    it counts): its value modulo the range gives the uniform value, its top three bits
    the sparse choice, and it modulo 5 or the small range the other regimes.
    """
    shape = (rows, n)
    lo_a = np.broadcast_to(np.asarray(lo, dtype=np.int64), shape)
    hi_a = np.broadcast_to(np.asarray(hi, dtype=np.int64), shape)
    lo1, hi1 = lo_a[:, :1], hi_a[:, :1]
    regime = s.below(len(REGIMES), (rows, 1))
    width = np.maximum(np.abs(lo1), np.abs(hi1))
    bits = np.floor(np.log2(np.maximum(width, 1).astype(np.float64))).astype(np.int64) + 1
    b = s.ints(0, np.maximum(1, bits // 2), (rows, 1))
    u = s.raw(rows * n).reshape(shape)
    span = (hi_a - lo_a).astype(np.uint64) + np.uint64(1)
    uniform = lo_a + (u % span).astype(np.int64)
    out = uniform
    pick = regime[:, 0]
    if (pick == 1).any():
        r = pick == 1
        half = np.left_shift(np.int64(1), b[r])
        small = (u[r] % (2 * half + 1).astype(np.uint64)).astype(np.int64) - half
        out[r] = np.clip(small, lo_a[r], hi_a[r])
    if (pick == 2).any():
        r = pick == 2
        lo_r, hi_r = lo_a[r], hi_a[r]
        zero = np.minimum(np.maximum(0, lo_r), hi_r)
        pool = np.stack([lo_r, hi_r, zero, np.minimum(lo_r + 1, hi_r),
                         np.maximum(hi_r - 1, lo_r)])
        idx = (u[r] % np.uint64(5)).astype(np.int64)
        out[r] = np.take_along_axis(pool, idx[None], axis=0)[0]
    if (pick == 3).any():
        r = pick == 3
        out[r] = uniform[r][:, :1]
    if (pick == 4).any():
        r = pick == 4
        lo_r, hi_r = lo_a[r], hi_a[r]
        zero = np.minimum(np.maximum(0, lo_r), hi_r)
        out[r] = np.where((u[r] >> np.uint64(61)) == 0, uniform[r], zero)
    return out
