"""Backends: how the runner reaches an implementation under test (spec/11-backend-protocol.md).

Three kinds, one interface (:class:`Executor`), so the runner treats them alike:

- :class:`InProcess` wraps a Python object implementing :class:`Backend`
  (``run(op, config, inputs) -> outputs``, raising :class:`Rejected`);
  :class:`ReferenceBackend` is one, running the reference itself;
- :class:`SubprocessBackend` speaks JSON lines to any executable: one request a
  line on its stdin, one answer a line on its stdout; it is restarted after a
  crash, a timeout or a garbled answer, so one bad vector never takes the others
  with it;
- :class:`OfflineBackend` reads outputs a port wrote beforehand into a directory.

Every call returns an :class:`Answer`; nothing a backend does (raise, hang, exit,
print garbage) escapes as an exception.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import importlib.util
import json
import operator
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, SupportsIndex, runtime_checkable

from conformance.operators import REJECT_CLASSES, run_reference
from conformance.vectors.plain_export import ExportError, read_hex

JSON = Any

MAX_CONSECUTIVE_RESTARTS = 5
"""A subprocess that fails this many times in a row without one good answer is not restarted."""

STDERR_KEEP = 64 * 1024
"""Characters of a subprocess's stderr kept for the report."""

BOM = "\ufeff"
"""A UTF-8 byte order mark; ignored at the start of an answer line or an offline file."""

EXPORT_MARKER = "vector.txt"
"""The file that marks a directory of the plain export (its ``*.out.hex`` are expected values)."""


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


class ReferenceBackend:
    """The reference itself as a backend (``--backend reference``)."""

    name = "reference"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        """Run ``conformance.operators.run_reference``; a rejection raises :class:`Rejected`."""
        result = run_reference(op, config, inputs)
        if "reject" in result:
            raise Rejected(str(result["reject"]), str(result.get("message", "")))
        outputs: dict[str, JSON] = result["outputs"]
        return outputs


@dataclass
class Answer:
    """What a backend did with one vector.

    ``kind`` is one of ``outputs``, ``reject``, ``error`` (the backend declined,
    e.g. an unsupported operator), ``crash``, ``timeout``, ``garbage`` (an
    answer that is not the protocol's) or ``missing`` (no offline result).
    """

    kind: str
    outputs: dict[str, JSON] | None = None
    reject: str | None = None
    message: str = ""
    stderr: str = ""

    def key(self) -> str:
        """A canonical text of the answer, for comparing the two passes."""
        if self.kind == "outputs":
            return "outputs:" + json.dumps(self.outputs, sort_keys=True, default=repr)
        if self.kind == "reject":
            return f"reject:{self.reject}"
        return self.kind


class Executor(Protocol):
    """What the runner calls: one vector in, one :class:`Answer` out."""

    name: str
    kind: str

    def call(self, vector: Mapping[str, JSON]) -> Answer:
        """Run one vector (only its id, op, config and inputs reach the backend)."""
        ...

    def close(self) -> None:
        """Release the backend (end a subprocess)."""
        ...

    def stderr_tail(self) -> str:
        """The last part of the backend's stderr (empty when it has none)."""
        ...


def _copy(value: JSON) -> JSON:
    """A deep copy of JSON data, so a backend that mutates its inputs cannot alter a vector."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _normalize(value: object) -> JSON:
    """Python backend results to JSON values: tuples and arrays to lists, integer types to int.

    Floats, booleans and strings are kept as they are, so the comparison reports them.
    """
    if isinstance(value, dict):
        return {str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and not isinstance(value, (int, float, str, bool)):
        return _normalize(tolist())
    if isinstance(value, (bool, float, str)) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, SupportsIndex):
        return operator.index(value)
    return repr(value)


def parse_answer(obj: object, vid: str, where: str) -> Answer:
    """Interpret one decoded protocol answer (subprocess line or offline file)."""
    if not isinstance(obj, dict):
        return Answer("garbage", message=f"{where}: expected a JSON object, got "
                      f"{type(obj).__name__}")
    if "id" in obj and obj["id"] != vid:
        return Answer("garbage", message=f"{where}: answer for id {obj['id']!r}, expected {vid!r}")
    if "outputs" in obj:
        if not isinstance(obj["outputs"], dict):
            return Answer("garbage", message=f"{where}: field outputs: expected an object, got "
                          f"{type(obj['outputs']).__name__}")
        return Answer("outputs", outputs=obj["outputs"])
    if "reject" in obj:
        cls = obj["reject"]
        if not isinstance(cls, str):
            return Answer("garbage", message=f"{where}: field reject: expected one of "
                          f"{list(REJECT_CLASSES)}, got {cls!r}")
        return Answer("reject", reject=cls, message=str(obj.get("message", "")))
    if "error" in obj:
        return Answer("error", message=f"{where}: the backend reported an error: {obj['error']}")
    return Answer("garbage", message=f"{where}: an answer needs 'outputs', 'reject' or 'error'; "
                  f"got keys {sorted(obj)}")


# --- in process -------------------------------------------------------------------------


class InProcess:
    """A Python :class:`Backend` called in a worker thread with a per-call timeout.

    A call that does not return in time is abandoned (its daemon thread is left
    behind) and a fresh worker serves the next vector.
    """

    kind = "python"

    def __init__(self, backend: Backend, timeout: float | None) -> None:
        self.backend = backend
        self.name = str(getattr(backend, "name", type(backend).__name__))
        self.timeout = timeout
        self._jobs: queue.Queue[tuple[Mapping[str, JSON], queue.Queue[Answer]]] | None = None

    def _invoke(self, vector: Mapping[str, JSON]) -> Answer:
        try:
            out = self.backend.run(str(vector["op"]), _copy(vector["config"]),
                                   _copy(vector["inputs"]))
        except Rejected as exc:
            return Answer("reject", reject=exc.cls, message=exc.message)
        except Unsupported as exc:
            return Answer("error", message=f"the backend does not support this: {exc}")
        except Exception as exc:  # the backend's own failure: reported, never raised
            return Answer("crash", message=f"the backend raised {type(exc).__name__}: {exc}")
        norm = _normalize(out)
        if not isinstance(norm, dict):
            return Answer("garbage", message=f"run() returned {type(out).__name__}, expected a "
                          "dict of outputs")
        return Answer("outputs", outputs=norm)

    def _worker(self, jobs: queue.Queue[tuple[Mapping[str, JSON], queue.Queue[Answer]]]) -> None:
        while True:
            vector, reply = jobs.get()
            reply.put(self._invoke(vector))

    def call(self, vector: Mapping[str, JSON]) -> Answer:
        """Run one vector, in this thread when there is no timeout."""
        if not self.timeout:
            return self._invoke(vector)
        if self._jobs is None:
            self._jobs = queue.Queue()
            threading.Thread(target=self._worker, args=(self._jobs,), daemon=True).start()
        reply: queue.Queue[Answer] = queue.Queue()
        self._jobs.put((vector, reply))
        try:
            return reply.get(timeout=self.timeout)
        except queue.Empty:
            self._jobs = None  # abandon the stuck worker
            return Answer("timeout", message=f"no result within {self.timeout:g} s")

    def close(self) -> None:
        """Nothing to release."""

    def stderr_tail(self) -> str:
        """In-process backends have no separate stderr."""
        return ""


# --- subprocess -------------------------------------------------------------------------


class SubprocessBackend:
    """An executable speaking JSON lines (spec/11-backend-protocol.md, "JSON lines")."""

    kind = "exec"

    def __init__(self, argv: list[str], timeout: float | None, name: str | None = None) -> None:
        if not argv:
            raise ValueError("exec backend: empty command")
        self.argv = argv
        self.timeout = timeout
        self.name = name or shlex.join(argv)
        self.proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque()
        self._stderr_len = 0
        self._stderr_total = 0
        self._lock = threading.Lock()
        self.starts = 0
        self.failures_in_a_row = 0
        self.start_error: str | None = None
        self.gave_up: str | None = None
        """Set when the backend is no longer restarted (a run-level problem)."""

    # stderr bookkeeping
    def _pump_stderr(self, stream: Any) -> None:
        with contextlib.suppress(OSError, ValueError):  # the stream closed under us
            for raw in iter(stream.readline, b""):
                text = raw.decode("utf-8", errors="replace")
                with self._lock:
                    self._stderr.append(text)
                    self._stderr_len += len(text)
                    self._stderr_total += len(text)
                    while self._stderr_len > STDERR_KEEP and len(self._stderr) > 1:
                        self._stderr_len -= len(self._stderr.popleft())

    def _pump_stdout(self, stream: Any, lines: queue.Queue[bytes | None]) -> None:
        with contextlib.suppress(OSError, ValueError):  # the stream closed under us
            for raw in iter(stream.readline, b""):
                lines.put(raw)
        lines.put(None)

    def stderr_tail(self) -> str:
        """The last :data:`STDERR_KEEP` characters the backend wrote to stderr."""
        with self._lock:
            return "".join(self._stderr)

    def _stderr_since(self, mark: int) -> str:
        with self._lock:
            text = "".join(self._stderr)
            new = self._stderr_total - mark
        return text[-new:] if new > 0 else ""

    def _start(self) -> None:
        self.starts += 1
        self._lines = queue.Queue()
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            self.proc = None
            self.start_error = f"cannot start {self.name!r}: {exc.strerror or exc}"
            return
        self.start_error = None
        threading.Thread(target=self._pump_stdout, args=(self.proc.stdout, self._lines),
                         daemon=True).start()
        threading.Thread(target=self._pump_stderr, args=(self.proc.stderr,),
                         daemon=True).start()

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # the session this backend started
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _fail(self, answer: Answer) -> Answer:
        self.failures_in_a_row += 1
        self._kill()
        return answer

    def call(self, vector: Mapping[str, JSON]) -> Answer:
        """Send one request and wait for its line; restart the process after any failure."""
        if self.failures_in_a_row >= MAX_CONSECUTIVE_RESTARTS:
            if self.gave_up is None:
                self.gave_up = (f"exec backend {self.name!r}: failed {self.failures_in_a_row} "
                                "times in a row without one good answer; it was not restarted "
                                "and the remaining vectors count as crash (see the first "
                                "failures for the cause)")
            return Answer("crash", message=f"not restarted: the backend failed "
                          f"{self.failures_in_a_row} times in a row")
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self._kill()
            self._start()
        if self.proc is None or self.proc.stdin is None:
            self.failures_in_a_row += 1
            return Answer("crash", message=self.start_error or "cannot start the backend")
        vid = str(vector["id"])
        request = {"config": vector["config"], "id": vid, "inputs": vector["inputs"],
                   "op": vector["op"]}
        line = (json.dumps(request, separators=(",", ":")) + "\n").encode("utf-8")
        mark = self._stderr_total
        try:
            self.proc.stdin.write(line)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            rc = self.proc.poll()
            time.sleep(0.05)
            return self._fail(Answer("crash", message=f"the backend exited (status {rc}) "
                                     "before reading the request",
                                     stderr=self._stderr_since(mark)))
        try:
            raw = self._lines.get(timeout=self.timeout or None)
        except queue.Empty:
            return self._fail(Answer("timeout", message=f"no answer within {self.timeout:g} s; "
                                     "the backend was killed and restarted",
                                     stderr=self._stderr_since(mark)))
        if raw is None:
            rc = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                rc = self.proc.wait(timeout=2)
            time.sleep(0.05)
            return self._fail(Answer("crash", message=f"the backend exited (status {rc}) "
                                     "without answering; it was restarted",
                                     stderr=self._stderr_since(mark)))
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n").removeprefix(BOM)
        shown = text if len(text) <= 200 else text[:200] + f"... ({len(text)} characters)"
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            return self._fail(Answer("garbage", message=f"the answer line is not JSON "
                                     f"({exc.msg}): {shown!r}; stdout carries answer lines "
                                     "only (write logs to stderr); the backend was restarted",
                                     stderr=self._stderr_since(mark)))
        answer = parse_answer(obj, vid, "answer")
        if answer.kind == "garbage":
            answer.message += f": {shown!r}; the backend was restarted"
            return self._fail(answer)
        self.failures_in_a_row = 0
        return answer

    def close(self) -> None:
        """Close stdin (asking the backend to exit), then kill it if it does not."""
        proc = self.proc
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        self._kill()


# --- offline ----------------------------------------------------------------------------


class OfflineBackend:
    """Outputs a port wrote beforehand (spec/10-vectors.md, "Offline results").

    Looks for the answer of vector ``id`` in ``results.json`` (an object
    ``{"results": [answer, ...]}``, a list of answers, or an object id ->
    answer), else in ``<id>.json``, else in the plain directory ``<id>/``
    (``reject.txt`` holding the class, or one ``<name>.out.hex`` per output);
    the last two also under ``<suite>/``.
    """

    kind = "offline"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"offline:{root}"
        self.index: dict[str, JSON] | None = None
        self.load_error: str | None = None
        if not root.is_dir():
            self.load_error = f"{root}: the offline results directory does not exist"
            return
        rfile = root / "results.json"
        if rfile.exists():
            try:
                data = json.loads(rfile.read_text(encoding="utf-8-sig"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                self.load_error = f"{rfile}: cannot read: {exc}"
                return
            if isinstance(data, dict) and isinstance(data.get("results"), list):
                data = data["results"]
            if isinstance(data, list):
                self.index = {}
                for n, a in enumerate(data):
                    if isinstance(a, dict) and isinstance(a.get("id"), str):
                        if a["id"] in self.index and self.index[a["id"]] != a:
                            self.load_error = (f"{rfile}: results[{n}]: a second, different "
                                               f"answer for {a['id']}")
                        self.index[a["id"]] = a
                    else:
                        self.load_error = (f"{rfile}: results[{n}]: expected an object with a "
                                           "string id")
            elif isinstance(data, dict):
                self.index = data
            else:
                self.load_error = f"{rfile}: expected a list of answers or an object"

    def _plain(self, d: Path, vector: Mapping[str, JSON]) -> Answer:
        if (d / EXPORT_MARKER).exists():
            return Answer("garbage", message=f"{d}: holds {EXPORT_MARKER}, so it is the plain "
                          "export of the vectors, whose *.out.hex files are the expected "
                          "outputs, not a port's results; write results to another directory")
        rej = d / "reject.txt"
        if rej.exists():
            return Answer("reject", reject=rej.read_text(encoding="utf-8-sig").strip())
        shapes = vector["shapes"]["outputs"]
        outputs: dict[str, JSON] = {}
        for f in sorted(d.glob("*.out.hex")):
            name = f.name[: -len(".out.hex")]
            try:
                vals = read_hex(f)
            except ExportError as exc:
                return Answer("garbage", message=str(exc))
            outputs[name] = vals[0] if shapes.get(name) == [] and len(vals) == 1 else vals
        if not outputs:
            return Answer("missing", message=f"{d}: neither reject.txt nor any *.out.hex")
        return Answer("outputs", outputs=outputs)

    def call(self, vector: Mapping[str, JSON]) -> Answer:
        """Look up the stored answer of one vector."""
        vid = str(vector["id"])
        if self.load_error:
            return Answer("missing", message=self.load_error)
        if self.index is not None:
            if vid not in self.index:
                return Answer("missing", message=f"{self.root / 'results.json'}: no answer for "
                              f"{vid}")
            return parse_answer(self.index[vid], vid, f"{self.root / 'results.json'}: {vid}")
        suite = str(vector.get("_suite", ""))
        for base in (self.root, self.root / suite) if suite else (self.root,):
            f = base / f"{vid}.json"
            if f.exists():
                try:
                    obj = json.loads(f.read_text(encoding="utf-8-sig"))
                except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                    return Answer("garbage", message=f"{f}: not JSON: {exc}")
                return parse_answer(obj, vid, str(f))
            if (base / vid).is_dir():
                return self._plain(base / vid, vector)
        return Answer("missing", message=f"{self.root}: no result for {vid} ({vid}.json, "
                      f"{vid}/ or results.json)")

    def close(self) -> None:
        """Nothing to release."""

    def stderr_tail(self) -> str:
        """Offline results have no stderr."""
        return ""


# --- parsing --backend ------------------------------------------------------------------


class BackendSpecError(ValueError):
    """A ``--backend`` value that names no usable backend."""


def _load_python(spec: str) -> Backend:
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


def _check_executable(program: str, spec: str) -> None:
    """Fail early, naming the program, when it is neither an executable file nor on PATH."""
    if os.sep in program or (os.altsep and os.altsep in program):
        path = Path(program)
        if not path.exists():
            raise BackendSpecError(f"--backend {spec!r}: the program {program!r} does not exist "
                                   f"(looked in {path.resolve().parent})")
        if path.is_dir() or not os.access(path, os.X_OK):
            raise BackendSpecError(f"--backend {spec!r}: {program!r} is not an executable file")
    elif shutil.which(program) is None:
        raise BackendSpecError(f"--backend {spec!r}: the program {program!r} is not on PATH")


def open_backend(spec: str, timeout: float | None) -> Executor:
    """The executor for a ``--backend`` value.

    ``reference`` | ``python:MODULE:ATTR`` | ``exec:COMMAND ARGS`` | ``offline:DIR``.
    """
    if spec == "reference":
        return InProcess(ReferenceBackend(), timeout)
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise BackendSpecError(f"--backend {spec!r}: expected reference, python:MODULE:ATTR, "
                               "exec:'COMMAND ARGS' or offline:DIR")
    if kind == "python":
        py = InProcess(_load_python(rest), timeout)
        return py
    if kind == "exec":
        try:
            argv = shlex.split(rest)
        except ValueError as exc:
            raise BackendSpecError(f"--backend {spec!r}: cannot split the command: {exc}") from None
        if not argv:
            raise BackendSpecError(f"--backend {spec!r}: empty command")
        _check_executable(argv[0], spec)
        return SubprocessBackend(argv, timeout, name=rest)
    if kind == "offline":
        return OfflineBackend(Path(rest))
    raise BackendSpecError(f"--backend {spec!r}: unknown kind {kind!r}; expected reference, "
                           "python, exec or offline")
