"""The worker that runs a Python backend out of the runner's process (spec/11-backend-protocol.md,
"Python object").

``python -m conformance.runner.pyworker MODULE:ATTR`` imports the backend (as
``--backend python:MODULE:ATTR`` names it) and serves the JSON-lines protocol of
spec/11 on its stdin and stdout, so the runner drives it exactly like an ``exec:``
backend: same timeouts, same restart and give-up rule, and nothing the backend does
(``os._exit``, ``SystemExit``, a hang, a crash of the interpreter) can end the runner.
:func:`fork_target` serves a Backend *object* the same way from a forked child
(``conformance.api.check(obj)``).

The worker's stream adds two things to spec/11, read only by the runner's
``PythonWorker`` (conformance/runner/backends.py):

- its first line is ``{"ready": NAME}`` once the backend is loaded, or
  ``{"load_error": TEXT}`` (then it exits with status 3);
- an exception other than ``Rejected`` and ``Unsupported`` (``SystemExit`` and
  ``KeyboardInterrupt`` included) answers ``{"id": ID, "crash": TEXT}``: a ``crash``
  of that vector, after which the worker serves the next request.

The backend's own prints to stdout go to stderr (the worker keeps a private copy of
the original stdout for its answers), so they cannot garble the stream.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from typing import IO, Any

from conformance.runner.protocol import (
    Backend,
    BackendSpecError,
    Rejected,
    Unsupported,
    copy_json,
    load_python,
    normalize_outputs,
)

JSON = Any

MAX_TEXT = 2000
"""Characters of an exception or rejection message sent to the runner."""

LOAD_ERROR_STATUS = 3
"""Exit status of a worker whose backend could not be loaded."""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"... ({len(text)} characters)"


def _finite(value: JSON) -> JSON:
    """NaN and infinities as strings (JSON has no such numbers; the runner reports them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def answer(backend: Backend, request: dict[str, JSON]) -> dict[str, JSON]:
    """The protocol answer of ``backend`` to one request (never raises)."""
    rid = request.get("id")
    try:
        out = backend.run(str(request["op"]), copy_json(request["config"]),
                          copy_json(request["inputs"]))
    except Rejected as exc:
        return {"id": rid, "reject": _clip(str(exc.cls)), "message": _clip(str(exc.message))}
    except Unsupported as exc:
        return {"id": rid, "error": _clip(f"the backend does not support this: {exc}")}
    except BaseException as exc:
        return {"id": rid, "crash": _clip(f"the backend raised {type(exc).__name__}: {exc}")}
    try:
        norm = _finite(normalize_outputs(out))
    except (RecursionError, ValueError, TypeError) as exc:
        return {"id": rid, "crash": _clip(f"the backend's outputs cannot be read as JSON "
                                          f"values: {type(exc).__name__}: {exc}")}
    if not isinstance(norm, dict):
        return {"id": rid, "crash": f"run() returned {type(out).__name__}, expected a dict of "
                "outputs"}
    return {"id": rid, "outputs": norm}


def _write(out: IO[bytes], obj: dict[str, JSON]) -> None:
    out.write(json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n")
    out.flush()


def serve(backend: Backend, inp: IO[bytes], out: IO[bytes]) -> int:
    """Announce ``backend`` and answer one request a line until end of input; returns 0."""
    _write(out, {"ready": str(getattr(backend, "name", type(backend).__name__))})
    for raw in iter(inp.readline, b""):
        try:
            request = json.loads(raw)
        except ValueError as exc:
            _write(out, {"id": None, "crash": f"the worker got a request that is not JSON: {exc}"})
            continue
        reply = answer(backend, request)
        try:
            _write(out, reply)
        except (ValueError, TypeError, RecursionError) as exc:
            _write(out, {"id": reply.get("id"), "crash": _clip(
                f"the backend's outputs cannot be written as JSON: {type(exc).__name__}: {exc}")})
    return 0


def _private_stdout() -> IO[bytes]:
    """A copy of fd 1 for the answers; fd 1 itself is pointed at stderr."""
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return proto


def fork_target(backend: Backend) -> Callable[[], int]:
    """What a forked child runs to serve ``backend`` (see LineProcess.fork)."""
    def target() -> int:
        proto = _private_stdout()
        sys.stdout = sys.stderr
        return serve(backend, os.fdopen(0, "rb"), proto)
    return target


def main(argv: list[str] | None = None) -> int:
    """Load ``MODULE:ATTR`` and serve it; exit status 3 when it cannot be loaded."""
    args = sys.argv[1:] if argv is None else argv
    proto = _private_stdout()
    sys.stdout = sys.stderr
    if len(args) != 1:
        _write(proto, {"load_error": "usage: python -m conformance.runner.pyworker MODULE:ATTR"})
        return LOAD_ERROR_STATUS
    try:
        backend = load_python(args[0])
    except BackendSpecError as exc:
        _write(proto, {"load_error": _clip(str(exc))})
        return LOAD_ERROR_STATUS
    except BaseException as exc:
        _write(proto, {"load_error": _clip(f"python backend {args[0]!r}: loading raised "
                                           f"{type(exc).__name__}: {exc}")})
        return LOAD_ERROR_STATUS
    return serve(backend, sys.stdin.buffer, proto)


if __name__ == "__main__":
    sys.exit(main())
