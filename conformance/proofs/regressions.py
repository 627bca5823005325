"""Counterexamples as regression inputs, and proof witnesses as boundary inputs.

Files ``vectors/regressions/<theorem>.json`` hold::

    {"theorem": NAME, "preset": PRESET, "counterexamples": [{"part", "model"}...],
     "cases": [{"op", "config", "inputs", "comment", "flags"}, ...]}

:func:`load_regressions` returns every case of every file in a deterministic
order; :func:`boundary_inputs` returns the operator inputs realizing the proof
witnesses of a preset.  The vector generator (spec/10-vectors.md) reads both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.proofs.core import Result, find_witness, sorted_unique
from conformance.proofs.impl import DEFAULT, Impl

REGRESSION_DIR = Path(__file__).resolve().parents[2] / "vectors" / "regressions"
"""Where counterexamples are written and read by default."""

CASE_KEYS = ("op", "config", "inputs", "comment", "flags")


def write_regression(result: Result, preset: str, directory: Path = REGRESSION_DIR) -> Path:
    """Write (or extend) the regression file of ``result``'s theorem; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.name}.json"
    data: dict[str, Any] = {"theorem": result.name, "preset": preset, "counterexamples": [],
                            "cases": []}
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        data["counterexamples"] = list(old.get("counterexamples", []))
        data["cases"] = list(old.get("cases", []))
    for p in result.parts:
        if p.status == "counterexample":
            data["counterexamples"].append({"preset": preset, "part": p.label,
                                            "model": p.counterexample})
            data["cases"].extend(p.regression)
    data["counterexamples"] = sorted_unique(data["counterexamples"])
    data["cases"] = sorted_unique(data["cases"])
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_regressions(directory: Path = REGRESSION_DIR) -> list[dict[str, Any]]:
    """Every regression case under ``directory``, sorted by file name then canonical JSON.

    Raises ValueError naming the file and field when a file is malformed.
    """
    out: list[dict[str, Any]] = []
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("theorem"), str):
            raise ValueError(f"{path}: expected an object with a string field 'theorem'")
        cases = data.get("cases", [])
        if not isinstance(cases, list):
            raise ValueError(f"{path}: field 'cases' must be a list")
        for i, c in enumerate(cases):
            if not isinstance(c, dict) or set(c) != set(CASE_KEYS):
                raise ValueError(f"{path}: cases[{i}]: expected exactly the keys {CASE_KEYS}")
        out.extend(sorted_unique(cases))
    return out


def boundary_inputs(preset_name: str, impl: Impl = DEFAULT) -> list[dict[str, Any]]:
    """Operator inputs realizing every theorem's tightness witnesses for a preset.

    Each item has the keys of :data:`CASE_KEYS`; the order is deterministic (sorted
    by canonical JSON, duplicates removed).
    """
    from conformance.proofs.registry import OBLIGATIONS
    from reference.presets import get_preset

    pre = get_preset(preset_name)
    cases: list[dict[str, Any]] = []
    for ob in OBLIGATIONS:
        built = ob.build(pre, impl)
        for w in built.witnesses:
            if w.inputs is None:
                continue
            res = find_witness(w)
            for c in res.inputs:
                c = dict(c)
                c["comment"] = f"{ob.name}: {c['comment']}"
                cases.append(c)
    return sorted_unique(cases)
