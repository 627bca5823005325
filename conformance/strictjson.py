"""Strict JSON decoding shared by every reader of untrusted files.

Vector files (spec/10-vectors.md), the model file's ``meta.json``
(spec/14-model-file.md) and checkpoint headers (spec/13-converter.md) accept
only UTF-8 JSON without duplicate object keys and without the non-standard
constants ``NaN`` and ``Infinity``, so that one file cannot be read two ways.
"""

from __future__ import annotations

import json
from typing import Any


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def loads(raw: bytes) -> Any:
    """Decode ``raw``; ValueError (UnicodeDecodeError, json.JSONDecodeError or a
    duplicate key or constant) says what is wrong."""
    return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates,
                      parse_constant=_no_constants)
