"""What a Python backend is (spec/11-backend-protocol.md, "Python object"): the
:class:`Backend` protocol, the exceptions it raises, how its results become JSON
values, and how ``python:MODULE:ATTR`` is imported.

Shared by the runner (conformance/runner/backends.py) and the worker process that
serves a Python backend out of the runner's process (conformance/runner/pyworker.py).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import operator
import os
import sys
from pathlib import Path
from typing import Any, Protocol, SupportsIndex, runtime_checkable

JSON = Any

MAX_MESSAGE = 2000
"""Characters of a message taken from a backend (rejection message, error text)."""

MAX_INT_BITS = 256
"""Width beyond which a Python backend's integer output is reported by its width."""

class Rejected(Exception):
    """Raised by a Python backend to reject an input (``cls``: config, range, shape, mask)."""

    def __init__(self, cls: str, message: str = "") -> None:
        super().__init__(f"{cls}: {message}" if message else cls)
        self.cls = cls
        self.message = message


class Unsupported(Exception):
    """Raised by a Python backend for an operator (or profile) it does not implement.

    The runner reports the vector as ``error``, like a JSON-lines ``{"error": ...}``
    answer: a failure of that vector, not a crash of the backend.
    """


@runtime_checkable
class Backend(Protocol):
    """The Python backend protocol (spec/11-backend-protocol.md, "Python object")."""

    name: str

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        """Outputs of ``op`` (normative and any profile outputs), or raise Rejected."""
        ...


def copy_json(value: JSON) -> JSON:
    """A deep copy of JSON data, so a backend that mutates its inputs cannot alter a vector."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def normalize_outputs(value: object) -> JSON:
    """Python backend results to JSON values: tuples and arrays to lists, integer types to int.

    Floats, booleans and strings are kept as they are, so the comparison reports them; an
    integer wider than :data:`MAX_INT_BITS` bits becomes a string naming its width (no
    output is that wide, and its decimal text would be unbounded).
    """
    if isinstance(value, dict):
        return {str(k): normalize_outputs(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize_outputs(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and not isinstance(value, (int, float, str, bool)):
        return normalize_outputs(tolist())
    if isinstance(value, (bool, float, str)) or value is None:
        return value
    if isinstance(value, SupportsIndex):
        number = operator.index(value)
        if number.bit_length() > MAX_INT_BITS:
            return f"an integer of {number.bit_length()} bits"
        return number
    return repr(value)[:200]


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


class BackendSpecError(ValueError):
    """A ``--backend`` value that names no usable backend."""


def load_python(spec: str) -> Backend:
    """Import the backend ``MODULE:ATTR`` names (spec/11, "Python object"), in this process."""
    parts = spec.split(":")
    if len(parts) != 2 or not all(parts):
        raise BackendSpecError(f"python backend {spec!r}: expected python:MODULE:ATTR "
                               "(MODULE a module name or a .py file)")
    mod_name, attr = parts
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            mspec = importlib.util.spec_from_file_location(path.stem, path)
            if mspec is None or mspec.loader is None:
                raise BackendSpecError(f"python backend: cannot load {path}")
            module = importlib.util.module_from_spec(mspec)
            mspec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(mod_name)
    except BackendSpecError:
        raise
    except Exception as exc:
        raise BackendSpecError(f"python backend: cannot import {mod_name!r}: "
                               f"{type(exc).__name__}: {exc}") from None
    if not hasattr(module, attr):
        raise BackendSpecError(f"python backend: module {mod_name!r} has no attribute {attr!r}")
    obj = getattr(module, attr)
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "run")):
        try:
            obj = obj()
        except Exception as exc:
            raise BackendSpecError(f"python backend: {mod_name}:{attr}() failed: "
                                   f"{type(exc).__name__}: {exc}") from None
    if not callable(getattr(obj, "run", None)):
        raise BackendSpecError(f"python backend: {mod_name}:{attr} has no run(op, config, "
                               "inputs) method")
    if not hasattr(obj, "name"):
        with contextlib.suppress(AttributeError):
            obj.name = f"{mod_name}:{attr}"
    backend: Backend = obj
    return backend
