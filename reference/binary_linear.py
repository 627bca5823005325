"""The binary-weight spiking linear layer (spec/05-binary-linear.md).

Weights are signs ``s_ij`` in {-1, +1}, stored one bit each (1 for +1, 0 for -1).
Inputs are counts ``c_j`` in ``[0, 2**bits - 1]``; ``o = 2**(bits-1)`` for a
signed input (the count stands for ``c_j - o``) and ``o = 0`` for an unsigned one.

- count level (normative):  ``acc_i = sum_j (c_j - o) * s_ij``
- time level (profile):     ``acc_i = sum_t sum_j spike_j(t) * s_ij - o * sum_j s_ij``

where ``spike_j(t)`` is the IF encoder's train of ``c_j``.  They agree because
the train of ``c_j`` holds exactly ``c_j`` spikes (theorem lin.time_eq_count).
The layer's scale and real bias are applied by the requantization that follows
(spec/06-layers.md); this operator's output is the integer accumulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from reference.algebra import PY, Algebra
from reference.errors import RangeError, ShapeError
from reference.formats import IntFormat, check_bool, check_int, check_length, check_sequence
from reference.spikes import SpikeConfig, if_run

V = TypeVar("V")
B = TypeVar("B")


@dataclass(frozen=True)
class BinaryLinearConfig:
    """Shape and input encoding (spec/05, "Parameters")."""

    in_features: int
    out_features: int
    bits: int
    steps: int
    signed_input: bool

    def __post_init__(self) -> None:
        check_int(self.in_features, "BinaryLinearConfig.in_features", 1, 1 << 16)
        check_int(self.out_features, "BinaryLinearConfig.out_features", 1, 1 << 16)
        check_bool(self.signed_input, "BinaryLinearConfig.signed_input")
        SpikeConfig(self.bits, self.steps)  # validates bits and steps together

    @property
    def spike_config(self) -> SpikeConfig:
        """The encoder of the inputs."""
        return SpikeConfig(self.bits, self.steps)

    @property
    def offset(self) -> int:
        """``o``: ``2**(bits-1)`` for signed input, else 0."""
        return 1 << (self.bits - 1) if self.signed_input else 0

    @property
    def max_abs_term(self) -> int:
        """Largest ``|c - o|``."""
        return max(self.offset, (1 << self.bits) - 1 - self.offset)

    @property
    def acc_format(self) -> IntFormat:
        """Signed accumulator: holds ``+-in_features * max|c - o|`` (theorem lin.acc_width)."""
        return IntFormat(max(2, (self.in_features * self.max_abs_term).bit_length() + 1), True)


def dot_count(a: Algebra[V, B], counts: Sequence[V], sign_bits: Sequence[B], offset: int) -> V:
    """Count level: ``sum_j (c_j - o) * s_j`` with ``s_j = +1`` where the bit is set."""
    acc = a.const(0)
    off = a.const(offset)
    for c, s in zip(counts, sign_bits, strict=True):
        acc = a.add(acc, a.select(s, a.sub(c, off), a.sub(off, c)))
    return acc


def dot_time(
    a: Algebra[V, B], counts: Sequence[V], sign_bits: Sequence[B], offset: int, steps: int
) -> tuple[V, list[V]]:
    """Time level: per step add ``s_j`` for every spike; subtract ``o * sum_j s_j`` at the end.

    Returns the final accumulator and the running sum after each step (before
    the offset correction).
    """
    one, minus_one, zero = a.const(1), a.const(-1), a.const(0)
    trains = [if_run(a, c, steps)[0] for c in counts]
    acc = zero
    partial: list[V] = []
    for t in range(steps):
        for train, s in zip(trains, sign_bits, strict=True):
            acc = a.add(acc, a.select(train[t], a.select(s, one, minus_one), zero))
        partial.append(acc)
    correction = zero
    for s in sign_bits:
        correction = a.add(correction, a.select(s, a.const(offset), a.const(-offset)))
    return a.sub(acc, correction), partial


def _check(
    counts: Sequence[int], signs: Sequence[Sequence[int]], cfg: BinaryLinearConfig, who: str
) -> tuple[list[int], list[list[bool]]]:
    check_length(counts, cfg.in_features, f"{who}: counts")
    cs = cfg.spike_config.count_format.check_all(counts, f"{who}: counts")
    check_length(signs, cfg.out_features, f"{who}: signs")
    bits: list[list[bool]] = []
    for i, row in enumerate(signs):
        check_length(row, cfg.in_features, f"{who}: signs[{i}]")
        for j, s in enumerate(row):
            if isinstance(s, bool) or s not in (-1, 1):
                raise RangeError(f"{who}: signs[{i}][{j}]: expected -1 or +1, got {s!r}")
        bits.append([s == 1 for s in row])
    return cs, bits


def linear_count(
    counts: Sequence[int], signs: Sequence[Sequence[int]], cfg: BinaryLinearConfig
) -> list[int]:
    """Count-level accumulators ``acc_i`` (normative)."""
    cs, bits = _check(counts, signs, cfg, "linear_count")
    return [dot_count(PY, cs, row, cfg.offset) for row in bits]


def linear_time(
    counts: Sequence[int], signs: Sequence[Sequence[int]], cfg: BinaryLinearConfig
) -> tuple[list[int], list[list[int]]]:
    """Time-level accumulators and, per output, the running sum after each step (profile)."""
    cs, bits = _check(counts, signs, cfg, "linear_time")
    finals: list[int] = []
    traces: list[list[int]] = []
    for row in bits:
        final, partial = dot_time(PY, cs, row, cfg.offset, cfg.steps)
        finals.append(final)
        traces.append(partial)
    return finals, traces


def pack_signs(signs: Sequence[Sequence[int]]) -> bytes:
    """Row-major bits, 1 for +1 and 0 for -1, least significant bit first in each byte.

    Every row must have the same length (ShapeError) and every entry must be -1
    or +1 (RangeError): a zero sign has no encoding (spec/05, "Sign storage").
    """
    check_sequence(signs, "pack_signs: signs")
    width = len(signs[0]) if signs else 0
    for i, row in enumerate(signs):
        check_length(row, width, f"pack_signs: signs[{i}]")
        for j, s in enumerate(row):
            if isinstance(s, bool) or s not in (-1, 1):
                raise RangeError(f"pack_signs: signs[{i}][{j}]: expected -1 or +1, got {s!r}")
    flat = [1 if s == 1 else 0 for row in signs for s in row]
    out = bytearray((len(flat) + 7) // 8)
    for n, b in enumerate(flat):
        out[n >> 3] |= b << (n & 7)
    return bytes(out)


def unpack_signs(data: bytes, rows: int, cols: int) -> list[list[int]]:
    """Inverse of :func:`pack_signs`; raises ShapeError if ``data`` has the wrong size."""
    need = (rows * cols + 7) // 8
    if len(data) != need:
        raise ShapeError(f"unpack_signs: expected {need} bytes for {rows}x{cols}, got {len(data)}")
    return [
        [1 if (data[(r * cols + c) >> 3] >> ((r * cols + c) & 7)) & 1 else -1 for c in range(cols)]
        for r in range(rows)
    ]
