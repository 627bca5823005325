"""Errors raised by the reference (spec/01-formats.md, "Errors").

Every invalid input raises a subclass of :class:`SorbetError` whose message
names the argument, what was found and what was expected.
"""

from __future__ import annotations


class SorbetError(Exception):
    """Base class of every error the reference raises on invalid input."""


class ConfigError(SorbetError, ValueError):
    """A configuration or parameter set violates its declared ranges."""


class RangeError(SorbetError, ValueError):
    """An integer lies outside the declared format of its tensor."""


class ShapeError(SorbetError, ValueError):
    """A tensor has the wrong length or shape."""


class MaskError(ShapeError):
    """A mask has the wrong length or a non-boolean entry."""


class OverflowDetected(SorbetError, ArithmeticError):
    """An intermediate left the width the spec proves sufficient.

    The proofs say this cannot happen for valid configurations; raising it
    instead of wrapping makes any gap between proof and code visible.
    """
