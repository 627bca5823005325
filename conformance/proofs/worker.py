"""A worker process that discharges obligations by name (spec/09-theorems.md, "Running
the proofs").

``python -m conformance.proofs.worker PRESET`` reads one theorem name a line on its
stdin and answers each with one JSON line on its stdout: ``{"name": NAME, "result":
RESULT}`` (:func:`result_to_json`) or ``{"name": NAME, "error": TEXT}`` when
building or discharging it raised.  It ends at the end of its input.  Only names go
in and plain JSON comes out; obligations always use the reference's own functions
(:data:`conformance.proofs.impl.DEFAULT`), which a worker imports itself.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import IO, Any

from conformance.proofs.core import PartResult, Result, WitnessResult, discharge
from conformance.proofs.impl import DEFAULT
from conformance.proofs.registry import get
from reference.presets import get_preset

MAX_ERROR = 2000
"""Characters of an exception's text sent back."""


def result_to_json(r: Result) -> dict[str, Any]:
    """A :class:`Result` as plain JSON values (every field, times included)."""
    return asdict(r)


def result_from_json(d: Any) -> Result:
    """The :class:`Result` that :func:`result_to_json` wrote; ValueError if malformed."""
    try:
        parts = [PartResult(**p) for p in d["parts"]]
        witnesses = [WitnessResult(**w) for w in d["witnesses"]]
        r = Result(**{**d, "parts": parts, "witnesses": witnesses})
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed proof result: {exc}") from None
    texts = (r.name, r.statement, r.formula, r.rule, r.widths)
    if not all(isinstance(t, str) for t in texts) or not isinstance(r.seconds, (int, float)):
        raise ValueError(f"malformed proof result for {r.name!r}: a field has the wrong type")
    return r


def serve(preset: str, inp: IO[str], out: IO[str]) -> None:
    """Answer every name read from ``inp`` on ``out`` until the end of ``inp``."""
    pre = get_preset(preset)
    for line in inp:
        name = line.strip()
        try:
            answer: dict[str, Any] = {"name": name,
                                      "result": result_to_json(discharge(get(name), pre,
                                                                         DEFAULT))}
        except Exception as exc:  # reported to the parent, which names the theorem
            answer = {"name": name, "error": f"{type(exc).__name__}: {exc}"[:MAX_ERROR]}
        out.write(json.dumps(answer) + "\n")
        out.flush()


def main(argv: list[str]) -> int:
    """Serve on stdin and stdout; stray prints of the proofs go to stderr."""
    if len(argv) != 1:
        print("usage: python -m conformance.proofs.worker PRESET", file=sys.stderr)
        return 2
    out = sys.stdout
    sys.stdout = sys.stderr
    serve(argv[0], sys.stdin, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
