"""PTsoftmax: power-of-two softmax over one row of scores (spec/02-ptsoftmax.md).

For the unmasked entries ``i`` of a row of integer scores ``x_i`` with
``score_frac`` fractional bits:

1. ``s_i = ceil(x_i / 2**score_frac)``                       (integer scores)
2. a row with every entry masked outputs all zeros
3. ``d_i = max_j s_j - s_i``                                   (``d_i >= 0``)
4. ``e_i = 2**(F - d_i)`` if ``d_i <= F`` else ``0``           (F = ``partition_frac``)
5. ``Z = sum_i e_i``
6. ``K = nearest_pow2_exp(Z)``                                 (linear distance, ties up)
7. ``p_i = floor(e_i * 2**out_frac / 2**K)``                   (``out_frac`` fractional bits)

Masked entries output 0 and take no part in the max or in ``Z``.  The step
numbers are those of spec/02-ptsoftmax.md, "Algorithm".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from reference import arith
from reference.algebra import PY, Algebra
from reference.errors import MaskError, ShapeError
from reference.formats import IntFormat, check_int, check_sequence

V = TypeVar("V")
B = TypeVar("B")


@dataclass(frozen=True)
class PTSoftmaxConfig:
    """Parameters of PTsoftmax (spec/02-ptsoftmax.md, "Parameters").

    ``score_width``/``score_frac``: signed format of the input scores.
    ``partition_frac`` (F): fractional bits of the terms and of ``Z``.
    ``out_frac``: fractional bits of the outputs.  ``max_len``: longest row.
    """

    max_len: int
    score_width: int
    score_frac: int
    partition_frac: int
    out_frac: int

    def __post_init__(self) -> None:
        check_int(self.max_len, "PTSoftmaxConfig.max_len", 1, 1 << 16)
        check_int(self.score_width, "PTSoftmaxConfig.score_width", 2, 48)
        check_int(self.score_frac, "PTSoftmaxConfig.score_frac", 0, self.score_width - 1)
        check_int(self.partition_frac, "PTSoftmaxConfig.partition_frac", 0, 30)
        check_int(self.out_frac, "PTSoftmaxConfig.out_frac", 0, 30)

    @property
    def score_format(self) -> IntFormat:
        """Signed input format."""
        return IntFormat(self.score_width, True, self.score_frac)

    @property
    def len_bits(self) -> int:
        """``ceil(log2 max_len)``: how far ``Z`` can grow above ``2**F``."""
        return (self.max_len - 1).bit_length()

    @property
    def partition_width(self) -> int:
        """Unsigned width of ``Z``: ``F + ceil(log2 max_len) + 1`` (theorem ptsm.acc_width)."""
        return self.partition_frac + self.len_bits + 1

    @property
    def k_min(self) -> int:
        """Smallest exponent ``K`` of an unmasked row's partition: ``F``."""
        return self.partition_frac

    @property
    def k_max(self) -> int:
        """Largest exponent ``K``: ``F + ceil(log2 max_len)``."""
        return self.partition_frac + self.len_bits

    @property
    def out_format(self) -> IntFormat:
        """Unsigned output format: ``out_frac + 1`` bits hold probability 1."""
        return IntFormat(self.out_frac + 1, False, self.out_frac)


@dataclass(frozen=True)
class PTSoftmaxResult:
    """Outputs of one row with the intermediates a port may be checked on."""

    out: tuple[int, ...]
    """``p_i`` with ``out_frac`` fractional bits (0 for masked entries)."""
    ceil_scores: tuple[int, ...]
    """``s_i`` (masked entries too, for debugging)."""
    partition: int
    """``Z`` with ``F`` fractional bits (0 for an all-masked row)."""
    k: int | None
    """``K``, the exponent of the partition's nearest power of two (None if all masked)."""


def ceil_score(a: Algebra[V, B], x: V, score_frac: int) -> V:
    """Step 1: ``s = ceil(x / 2**score_frac)``."""
    return arith.shift_round(a, x, score_frac, arith.Rounding.CEIL)


def term(a: Algebra[V, B], d: V, partition_frac: int) -> V:
    """Step 4: ``e = 2**(F - d)`` for ``0 <= d <= F``, else 0 (terms below 2**-F vanish)."""
    e = a.const(0)
    for j in range(partition_frac + 1):
        e = a.select(a.eq(d, a.const(j)), a.const(1 << (partition_frac - j)), e)
    return e


def partition_exp(a: Algebra[V, B], z: V, cfg: PTSoftmaxConfig) -> V:
    """Step 6: ``K``, the exponent of the power of two nearest ``Z`` (ties up)."""
    return arith.nearest_pow2_exp(a, z, cfg.partition_width)


def output(a: Algebra[V, B], e: V, k: V, cfg: PTSoftmaxConfig) -> V:
    """Step 7: ``p = floor(e * 2**out_frac / 2**K)`` for ``K`` in ``[k_min, k_max]``."""
    scaled = a.shl(e, cfg.out_frac)
    p = a.const(0)
    for kk in range(cfg.k_min, cfg.k_max + 1):
        p = a.select(a.eq(k, a.const(kk)), a.shr(scaled, kk), p)
    return p


def ptsoftmax(
    scores: Sequence[int],
    mask: Sequence[bool] | None,
    cfg: PTSoftmaxConfig,
) -> PTSoftmaxResult:
    """PTsoftmax of one row (spec/02-ptsoftmax.md, "Algorithm").

    ``mask[i]`` is True where entry ``i`` takes part (BERT's attention mask 1)
    and False where it is masked; ``None`` means every entry takes part.
    """
    check_sequence(scores, "ptsoftmax: scores")
    n = len(scores)
    if not 1 <= n <= cfg.max_len:
        raise ShapeError(
            f"ptsoftmax: scores: row length {n} is outside [1, max_len={cfg.max_len}]"
        )
    xs = cfg.score_format.check_all(scores, "ptsoftmax: scores")
    if mask is None:
        valid = [True] * n
    else:
        if isinstance(mask, (str, bytes)) or not isinstance(mask, Sequence):
            raise MaskError(
                f"ptsoftmax: mask: expected a list of bool, got {type(mask).__name__}"
            )
        if len(mask) != n:
            raise MaskError(f"ptsoftmax: mask: expected length {n}, got {len(mask)}")
        for i, m in enumerate(mask):
            if not isinstance(m, bool):
                raise MaskError(
                    f"ptsoftmax: mask[{i}]: expected a bool, got {type(m).__name__} {m!r}"
                )
        valid = list(mask)
    s = [ceil_score(PY, x, cfg.score_frac) for x in xs]
    live = [s[i] for i in range(n) if valid[i]]
    if not live:
        return PTSoftmaxResult(tuple([0] * n), tuple(s), 0, None)
    top = max(live)
    e = [term(PY, top - s[i], cfg.partition_frac) if valid[i] else 0 for i in range(n)]
    z = sum(e)
    k = partition_exp(PY, z, cfg)
    out = tuple(output(PY, e[i], k, cfg) if valid[i] else 0 for i in range(n))
    return PTSoftmaxResult(out, tuple(s), z, k)
