#!/usr/bin/env python3
"""A port skeleton speaking the JSON-lines protocol (spec/11-backend-protocol.md).

Run it as ``sorbet-ref check --backend exec:'python3 examples/skeleton_py/port.py'``.
Every request gets a well-formed answer: an operator listed in ``OPERATORS`` is
computed by its function, every other one is answered ``{"id": ..., "error": "not
implemented: <op>"}``, which the runner reports as ``error`` for that vector only.
Add an operator by writing ``def my_op(config, inputs) -> dict`` returning its
normative outputs (docs/wire.md lists them), raising ``Reject(cls, message)`` for
an input outside the domain, and listing it in ``OPERATORS``.  Standard output
carries answers only; write logs to standard error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any


class Reject(Exception):
    """An input outside the operator's domain: ``cls`` is config, range, shape or mask."""

    def __init__(self, cls: str, message: str) -> None:
        super().__init__(message)
        self.cls = cls


Operator = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]

OPERATORS: dict[str, Operator] = {}
"""Operator name -> function(config, inputs) -> outputs; empty: nothing implemented yet."""


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The answer object of one request."""
    rid, op = request.get("id"), request.get("op")
    fn = OPERATORS.get(str(op))
    if fn is None:
        return {"id": rid, "error": f"not implemented: {op}"}
    try:
        return {"id": rid, "outputs": fn(request["config"], request["inputs"])}
    except Reject as exc:
        return {"id": rid, "reject": exc.cls, "message": str(exc)}


def main() -> int:
    """Answer each request line with one answer line, flushed, until end of input."""
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except ValueError as exc:
            print(f"port: unreadable request: {exc}", file=sys.stderr)
            request = {}
        if not isinstance(request, dict):
            request = {}
        sys.stdout.write(json.dumps(answer(request)) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
