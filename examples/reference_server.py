#!/usr/bin/env python3
"""A JSON-lines backend serving the reference (spec/11-backend-protocol.md).

A port writer's template: read one request a line from stdin, answer one line
on stdout, in order, flush after each answer; reject inputs outside the domain
with their class; exit 0 when stdin closes.

    sorbet-ref check --backend "exec:.venv/bin/python examples/reference_server.py"
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.operators import OPS, run_reference


def answer(request: object) -> dict[str, object]:
    """The answer object of one decoded request."""
    if not isinstance(request, dict) or not isinstance(request.get("id"), str):
        return {"id": None, "error": "a request is an object with a string id"}
    rid = request["id"]
    op = request.get("op")
    if op not in OPS:
        return {"id": rid, "error": f"unsupported op {op!r}"}
    result = run_reference(str(op), request.get("config"), request.get("inputs") or {})
    if "reject" in result:
        return {"id": rid, "reject": result["reject"], "message": result.get("message", "")}
    return {"id": rid, "outputs": result["outputs"]}


def main() -> int:
    """Serve until stdin closes."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            reply: dict[str, object] = {"id": None, "error": f"malformed request: {exc}"}
        else:
            reply = answer(request)
        sys.stdout.write(json.dumps(reply, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
