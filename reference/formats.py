"""Integer formats and input validation (spec/01-formats.md, "Formats").

A format is a width ``w``, a signedness and a number ``f`` of fractional bits:
the integer ``n`` stands for the real ``n * 2**-f``; a signed format holds
``-2**(w-1) .. 2**(w-1)-1``, an unsigned one ``0 .. 2**w - 1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from reference.errors import ConfigError, RangeError, ShapeError

MAX_WIDTH = 64
"""Widest format the spec admits."""


@dataclass(frozen=True)
class IntFormat:
    """A declared integer format: ``width`` bits, ``signed``, ``frac`` fractional bits."""

    width: int
    signed: bool
    frac: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.width, bool) or not isinstance(self.width, int):
            raise ConfigError(f"IntFormat.width must be an int, got {self.width!r}")
        if not 1 <= self.width <= MAX_WIDTH:
            raise ConfigError(
                f"IntFormat.width must be in [1, {MAX_WIDTH}], got {self.width}"
            )
        if self.signed and self.width < 2:
            raise ConfigError("IntFormat.width must be >= 2 for a signed format")
        if isinstance(self.frac, bool) or not isinstance(self.frac, int):
            raise ConfigError(f"IntFormat.frac must be an int, got {self.frac!r}")
        if not -MAX_WIDTH <= self.frac <= MAX_WIDTH:
            raise ConfigError(
                f"IntFormat.frac must be in [-{MAX_WIDTH}, {MAX_WIDTH}], got {self.frac}"
            )

    @property
    def min(self) -> int:
        """Smallest representable integer."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        """Largest representable integer."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def describe(self) -> str:
        """Short text such as ``s16.8`` (signed, 16 bits, 8 fractional)."""
        return f"{'s' if self.signed else 'u'}{self.width}.{self.frac}"

    def real(self, n: int) -> Fraction:
        """The exact real value ``n * 2**-frac``."""
        return Fraction(n) / Fraction(2) ** self.frac

    def check(self, value: object, name: str) -> int:
        """Return ``value`` if it is an int inside the format, else raise RangeError."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise RangeError(
                f"{name}: expected an integer of format {self.describe()}, "
                f"got {type(value).__name__} {value!r}"
            )
        if not self.min <= value <= self.max:
            raise RangeError(
                f"{name}: {value} is outside format {self.describe()} "
                f"[{self.min}, {self.max}]"
            )
        return value

    def check_all(self, values: Sequence[object], name: str) -> list[int]:
        """Check every element; the error names the first bad index."""
        check_sequence(values, name)
        return [self.check(v, f"{name}[{i}]") for i, v in enumerate(values)]


def check_sequence(values: object, name: str) -> Sequence[object]:
    """Return ``values`` if it is a sequence (not a string); else ShapeError naming ``name``."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise ShapeError(f"{name}: expected a list, got {type(values).__name__}")
    return values


def check_length(values: Sequence[object], expected: int, name: str) -> None:
    """Raise ShapeError unless ``values`` is a sequence of length ``expected``."""
    check_sequence(values, name)
    if len(values) != expected:
        raise ShapeError(f"{name}: expected length {expected}, got {len(values)}")


def check_int(value: object, name: str, lo: int, hi: int) -> int:
    """Check a configuration integer lies in ``[lo, hi]``; raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: {value} is outside the valid range [{lo}, {hi}]")
    return value


def check_bool(value: object, name: str) -> bool:
    """Check a configuration flag is a bool (not 0/1 or a string); raise ConfigError."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    return value


def check_range(value: object, name: str, lo: int, hi: int) -> int:
    """Check an input integer lies in ``[lo, hi]``; raise RangeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RangeError(f"{name}: expected an integer in [{lo}, {hi}], got {value!r}")
    if not lo <= value <= hi:
        raise RangeError(f"{name}: {value} is outside its declared range [{lo}, {hi}]")
    return value


def signed_width_for(max_abs: int) -> int:
    """Smallest signed width holding every integer in ``[-max_abs, max_abs]``."""
    return max(2, max_abs.bit_length() + 1)
