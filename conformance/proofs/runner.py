"""Run proof obligations for a preset; table, JSON report, regression files
(spec/09-theorems.md, "Running the proofs")."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import z3

from conformance.proofs.core import Result, discharge
from conformance.proofs.impl import DEFAULT, Impl
from conformance.proofs.pool import discharge_all
from conformance.proofs.registry import select
from conformance.proofs.regressions import write_regression
from reference.presets import get_preset
from reference.version import SPEC_VERSION


def run(preset: str, only: Sequence[str] | None = None, impl: Impl = DEFAULT,
        regress_dir: Path | None = None, progress: Any = None,
        jobs: int = 1) -> tuple[list[Result], float]:
    """Discharge the selected obligations; write a regression file per counterexample.

    ``progress(result)`` is called after each obligation when given, in registry
    order.  ``jobs > 1`` discharges them in that many worker processes
    (:mod:`conformance.proofs.pool`), which use the reference's own functions, so
    it needs ``impl`` to be :data:`DEFAULT`; the results are the same as with one
    job (times aside).
    """
    pre = get_preset(preset)
    obligations = select(list(only) if only else None)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if jobs > 1 and impl is not DEFAULT:
        raise ValueError("jobs > 1 runs the reference's own functions: a replaced "
                         "implementation needs jobs = 1")
    t0 = time.perf_counter()
    if jobs > 1 and len(obligations) > 1:
        stream: Iterable[Result] = discharge_all(pre.name, [o.name for o in obligations],
                                                 jobs)
    else:
        stream = (discharge(ob, pre, impl) for ob in obligations)
    results: list[Result] = []
    for r in stream:
        results.append(r)
        if regress_dir is not None and any(p.status == "counterexample" for p in r.parts):
            write_regression(r, preset, regress_dir)
        if progress is not None:
            progress(r)
    return results, time.perf_counter() - t0


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


HEADER = f"{'theorem':<28} {'result':<15} {'time':>7}  widths"


def table_row(r: Result) -> str:
    """One theorem: a row, then its statement and each witness or counterexample."""
    lines = [f"{r.name:<28} {r.status:<15} {r.seconds:6.2f}s  {r.widths}",
             f"    statement: {r.statement}  [{r.formula}]",
             f"    rule: {r.rule}"]
    for p in r.parts:
        if p.status != "proved":
            lines.append(f"    {p.status} in part '{p.label}': {p.counterexample}")
    for w in r.witnesses:
        mark = "witness" if w.found else "NO WITNESS"
        lines.append(f"    {mark}: {w.what}: {_clip(w.text, 160)}")
    return "\n".join(lines)


def report(results: Sequence[Result], preset: str, seconds: float) -> dict[str, Any]:
    """The JSON report: every obligation with its parts and witnesses."""
    return {
        "spec_version": SPEC_VERSION,
        "preset": preset,
        "z3_version": z3.get_version_string(),
        "total_seconds": round(seconds, 3),
        "passed": all(r.ok for r in results),
        "results": [
            {
                "theorem": r.name,
                "statement": r.statement,
                "formula": r.formula,
                "rule": r.rule,
                "widths": r.widths,
                "result": r.status,
                "seconds": round(r.seconds, 3),
                "parts": [
                    {k: (round(v, 4) if k == "seconds" else v) for k, v in asdict(p).items()}
                    for p in r.parts
                ],
                "witnesses": [asdict(w) for w in r.witnesses],
            }
            for r in results
        ],
    }


def write_report(data: dict[str, Any], path: Path) -> None:
    """Write the JSON report (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
