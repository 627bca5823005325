"""The vectors the RTL flow runs: the one module of examples/rtl/ that uses sorbet-ref.

It reads a vectors directory through the manifest (every check of
``sorbet-ref vectors verify`` applies) and selects the vectors of the operators the
units implement, at the preset they are built for. Nothing else of the package is used:
the verdict comes from ``sorbet-ref check --backend offline:DIR`` on the answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance import api

JSON = Any

#: The operators the units implement (spec/12 "operators" level at one preset).
OPERATORS = ("ptsoftmax", "bspn", "quantize", "if_encode", "binary_linear")
PRESET = "sorbet"


class SuiteError(Exception):
    """The vectors directory fails a check, or holds no suite of the operators."""


def load(root: Path, preset: str = PRESET) -> list[tuple[str, dict[str, JSON]]]:
    """``(suite, vector)`` of every vector of the implemented operators at ``preset``.

    In file order, as ``sorbet-ref check`` runs them; raises SuiteError naming every
    problem when a file fails the manifest's checks.
    """
    try:
        suite = api.load_vectors(root)
    except api.VectorsError as exc:
        raise SuiteError("; ".join(exc.problems)) from None
    out: list[tuple[str, dict[str, JSON]]] = []
    for data in suite.files:
        if data["op"] in OPERATORS and data["preset"] == preset:
            out.extend((str(data["suite"]), dict(v)) for v in data["vectors"])
    if not out:
        raise SuiteError(f"{root}: no suite of {', '.join(OPERATORS)} at preset {preset!r}")
    return out
