"""Strict, bounded JSON decoding shared by every reader of untrusted text.

Vector files and the manifest (spec/10-vectors.md), the model file's
``meta.json`` (spec/14-model-file.md), checkpoint headers (spec/13-converter.md)
and the answers of a backend (spec/11-backend-protocol.md) accept only UTF-8
JSON without duplicate object keys and without the non-standard constants
``NaN`` and ``Infinity``, so that one file cannot be read two ways.

The text is also bounded before it is decoded, so a hostile file or port cannot
make the decoder recurse or spend quadratic time: arrays and objects nest at most
``max_depth`` deep and a number has at most ``max_digits`` digits in a row
(:class:`JsonLimits`; the defaults hold every committed file and answer with a
wide margin: the deepest nests 5 levels, the longest integer has 20 digits).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
"""A complete JSON string (its contents may hold brackets and digits that are not structure)."""

_KEEP_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
"""Every byte but the four brackets (deleted to measure the nesting)."""


@dataclass(frozen=True)
class JsonLimits:
    """Bounds on the structure of a JSON text."""

    max_depth: int = 64
    """Arrays and objects nested inside each other."""
    max_digits: int = 64
    """Digits in a row in one number (an integer, or the integer, fraction or exponent
    part of another)."""

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_digits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"JsonLimits.{name}: expected a positive integer, got {value!r}")


DEFAULT_LIMITS = JsonLimits()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def check_bounds(raw: bytes, limits: JsonLimits = DEFAULT_LIMITS) -> None:
    """ValueError when ``raw`` nests deeper than ``limits.max_depth`` or has a number with
    more than ``limits.max_digits`` digits (strings are skipped: their contents are text)."""
    bare = _STRING.sub(b'""', raw)
    long_number = re.search(rb"[0-9]{%d,}" % (limits.max_digits + 1), bare)
    if long_number:
        run = re.match(rb"[0-9]*", bare[long_number.start():])
        size = len(run.group()) if run else limits.max_digits + 1
        raise ValueError(f"a number with {size} digits (at most {limits.max_digits} are read)")
    depth = 0
    for b in bare.translate(None, _KEEP_BRACKETS):
        if b in b"[{":
            depth += 1
            if depth > limits.max_depth:
                raise ValueError(f"arrays or objects nested more than {limits.max_depth} deep")
        else:
            depth -= 1


def loads(raw: bytes, limits: JsonLimits = DEFAULT_LIMITS) -> Any:
    """Decode ``raw`` within ``limits``; ValueError (UnicodeDecodeError,
    json.JSONDecodeError, a duplicate key, a constant, or a bound passed) says what is wrong."""
    text = raw.decode("utf-8")
    check_bounds(raw, limits)
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
