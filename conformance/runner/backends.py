"""Backends: how the runner reaches an implementation under test (spec/11-backend-protocol.md).

Every kind has one interface (:class:`Executor`), so the runner treats them alike:

- :class:`SubprocessBackend` speaks JSON lines to any executable through
  :class:`conformance.runner.process.LineProcess` (own session, bounded reads, writes
  and shutdown); it is restarted after a crash, a timeout or a garbled answer, so one
  bad vector never takes the others with it, and given up after
  :data:`MAX_CONSECUTIVE_RESTARTS` failures in a row;
- :class:`PythonWorker` runs a ``python:MODULE:ATTR`` backend in a worker process
  (conformance/runner/pyworker.py) and :class:`ForkedBackend` a Backend object in a
  forked child, both driven like an exec backend: nothing a Python backend does
  (exit, hang, crash) reaches the runner;
- :class:`InProcess` calls a trusted Python object in the runner's process (the
  reference, the mutants of the catalog);
- :class:`OfflineBackend` reads outputs a port wrote beforehand into a directory.

Every call returns an :class:`Answer`; nothing a backend does (raise, hang, exit,
print garbage) escapes as an exception.  Answers are read strictly (spec/11,
"Details of the JSON-lines protocol"): anything but exactly the allowed form fails
its vector as ``malformed`` or ``garbage`` with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from conformance import strictjson
from conformance.operators import run_reference
from conformance.runner.process import LineProcess, ProcessLimits, StartError
from conformance.runner.protocol import MAX_MESSAGE as MAX_MESSAGE
from conformance.runner.protocol import Backend as Backend
from conformance.runner.protocol import BackendSpecError as BackendSpecError
from conformance.runner.protocol import Rejected as Rejected
from conformance.runner.protocol import Unsupported as Unsupported
from conformance.runner.protocol import clip as clip
from conformance.runner.protocol import copy_json as copy_json
from conformance.runner.protocol import load_python as load_python
from conformance.runner.protocol import normalize_outputs as normalize_outputs
from conformance.runner.pyworker import fork_target
from conformance.vectors.manifest import read_bounded
from conformance.vectors.plain_export import ExportError, read_hex

JSON = Any

MAX_CONSECUTIVE_RESTARTS = 5
"""A subprocess that fails this many times in a row without one good answer is not restarted."""

STDERR_KEEP = 64 * 1024
"""Characters of a subprocess's stderr kept for the report."""

ANSWER_LIMITS = ProcessLimits(max_line=4 * 1024 * 1024, max_pending=16 * 1024 * 1024,
                              stderr_keep=STDERR_KEEP, shutdown_s=2.0)
"""Bounds on a backend's process: an answer line holds at most 4 MiB (the longest answer of
the committed vectors is under 40 KB)."""

ANSWER_JSON = strictjson.JsonLimits(max_depth=16, max_digits=64)
"""Bounds on the structure of an answer (outputs are flat lists of integers)."""

LOAD_TIMEOUT = 60.0
"""Seconds a Python worker may take to start and import its backend (not counted toward
the per-vector timeout)."""

BOM = "\ufeff"
"""A UTF-8 byte order mark; ignored at the start of an answer line or an offline file."""

EXPORT_MARKER = "vector.txt"
"""The file that marks a directory of the plain export (its ``*.out.hex`` are expected values)."""


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


ANSWER_KEYS = {"outputs": frozenset({"id", "outputs"}),
               "reject": frozenset({"id", "reject", "message"}),
               "error": frozenset({"id", "error"})}
"""The keys each kind of answer may carry (spec/11, "Details of the JSON-lines protocol")."""


def parse_answer(obj: object, vid: str, where: str,
                 extra: Mapping[str, frozenset[str]] | None = None) -> Answer:
    """Interpret one decoded protocol answer (subprocess line or offline file), strictly.

    A JSON object with the string ``id`` of the request and exactly one of ``outputs``
    (an object), ``reject`` (a string, with an optional string ``message``) or ``error``
    (a string), and no other key. Another ``id`` is ``garbage`` (the stream is out of
    step); anything else that breaks the form is ``malformed`` with the reason. ``extra``
    adds answer kinds (a private protocol's).
    """
    if not isinstance(obj, dict):
        return Answer("garbage", message=f"{where}: expected a JSON object, got "
                      f"{type(obj).__name__}")
    kinds = {**ANSWER_KEYS, **(extra or {})}
    if "id" not in obj:
        return Answer("malformed", message=f"{where}: the answer has no 'id' (expected {vid!r})")
    if obj["id"] != vid:
        return Answer("garbage", message=f"{where}: answer for id "
                      f"{clip(json.dumps(obj['id']), 120)}, expected {vid!r}")
    present = [k for k in kinds if k in obj]
    if len(present) != 1:
        what = "none" if not present else " and ".join(repr(k) for k in present)
        return Answer("malformed", message=f"{where}: an answer carries exactly one of "
                      f"{', '.join(repr(k) for k in kinds)}; got {what}")
    kind = present[0]
    unknown = sorted(set(obj) - kinds[kind])
    if unknown:
        return Answer("malformed", message=f"{where}: unknown field(s) "
                      f"{clip(repr(unknown), 200)} in a {kind!r} answer (allowed: "
                      f"{sorted(kinds[kind])})")
    value = obj[kind]
    if kind == "outputs":
        if not isinstance(value, dict):
            return Answer("malformed", message=f"{where}: field outputs: expected an object, "
                          f"got {type(value).__name__}")
        return Answer("outputs", outputs=value)
    if not isinstance(value, str):
        return Answer("malformed", message=f"{where}: field {kind}: expected a string, got "
                      f"{clip(json.dumps(value), 80)}")
    if kind == "reject":
        message = obj.get("message", "")
        if not isinstance(message, str):
            return Answer("malformed", message=f"{where}: field message: expected a string, "
                          f"got {type(message).__name__}")
        return Answer("reject", reject=clip(value, 80), message=clip(message))
    if kind == "error":
        return Answer("error", message=f"{where}: the backend reported an error: {clip(value)}")
    return Answer(kind, message=clip(value))


# --- in process -------------------------------------------------------------------------


class InProcess:
    """A trusted Python :class:`Backend` (the reference, a mutant of the catalog) called in
    the runner's process, in a worker thread with a per-call timeout.

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
            out = self.backend.run(str(vector["op"]), copy_json(vector["config"]),
                                   copy_json(vector["inputs"]))
        except Rejected as exc:
            return Answer("reject", reject=clip(str(exc.cls), 80), message=clip(str(exc.message)))
        except Unsupported as exc:
            return Answer("error", message=clip(f"the backend does not support this: {exc}"))
        except Exception as exc:  # the backend's own failure: reported, never raised
            return Answer("crash", message=clip(f"the backend raised {type(exc).__name__}: {exc}"))
        norm = normalize_outputs(out)
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
    """An executable speaking JSON lines (spec/11-backend-protocol.md, "JSON lines").

    The child runs in its own session through :class:`LineProcess` (every read, write
    and shutdown bounded, the whole process group killed); after a crash, a timeout or a
    garbled answer it is killed and started again for the next vector, and after
    :data:`MAX_CONSECUTIVE_RESTARTS` such failures in a row it is given up.
    """

    kind = "exec"
    extra_answers: ClassVar[Mapping[str, frozenset[str]]] = {}
    """Answer kinds beyond spec/11's (the Python worker's ``crash``)."""
    start_counts: ClassVar[bool] = True
    """Whether starting the process counts toward the per-vector timeout (spec/11: it does
    for a port; a Python worker's start-up is the tool's, bounded by LOAD_TIMEOUT)."""

    def __init__(self, argv: list[str], timeout: float | None, name: str | None = None,
                 limits: ProcessLimits = ANSWER_LIMITS) -> None:
        if not argv:
            raise ValueError("exec backend: empty command")
        self.argv = argv
        self.timeout = timeout
        self.limits = limits
        self.name = name or shlex.join(argv)
        self.proc: LineProcess | None = None
        self.starts = 0
        self.failures_in_a_row = 0
        self.start_error: str | None = None
        self.gave_up: str | None = None
        """Set when the backend is no longer restarted (a run-level problem)."""
        self._stderr_before = ""
        """The stderr tail of processes already ended (the live one's is added to it)."""

    def _spawn(self) -> LineProcess:
        """Start a new child (StartError when it cannot run)."""
        return LineProcess.spawn(self.argv, self.limits)

    def _ready(self, proc: LineProcess, deadline: float | None) -> str | None:
        """Wait for the child to be ready; an error text, or None (exec: nothing to wait for)."""
        return None

    def stderr_tail(self) -> str:
        """The last :data:`STDERR_KEEP` characters the backend wrote to stderr."""
        live = self.proc.stderr_tail() if self.proc is not None else ""
        return (self._stderr_before + live)[-STDERR_KEEP:]

    def _start(self, deadline: float | None) -> None:
        self.starts += 1
        try:
            self.proc = self._spawn()
        except StartError as exc:
            self.proc = None
            self.start_error = str(exc.strerror or exc)
            return
        self.start_error = self._ready(self.proc, deadline)
        if self.start_error is not None:
            self._kill()

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.kill()
        self._stderr_before = (self._stderr_before + proc.stderr_tail())[-STDERR_KEEP:]

    def _fail(self, answer: Answer) -> Answer:
        self.failures_in_a_row += 1
        self._kill()
        return answer

    @staticmethod
    def _left(deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def call(self, vector: Mapping[str, JSON]) -> Answer:
        """Send one request and wait for its line; restart the process after any failure."""
        if self.failures_in_a_row >= MAX_CONSECUTIVE_RESTARTS:
            if self.gave_up is None:
                self.gave_up = (f"{self.kind} backend {self.name!r}: failed "
                                f"{self.failures_in_a_row} times in a row without one good "
                                "answer; it was not restarted and the remaining vectors count "
                                "as crash (see the first failures for the cause)")
            return Answer("crash", message=f"not restarted: the backend failed "
                          f"{self.failures_in_a_row} times in a row")
        vid = str(vector["id"])
        wait = f"{self.timeout:g} s" if self.timeout else ""
        deadline = time.monotonic() + self.timeout if self.timeout else None
        if self.proc is not None and self.proc.poll() is not None:
            self._kill()
        if self.proc is None:
            self._start(deadline)
            if not self.start_counts and self.timeout:  # the worker's own start-up
                deadline = time.monotonic() + self.timeout
        proc = self.proc
        if proc is None:
            self.failures_in_a_row += 1
            return Answer("crash", message=self.start_error or "cannot start the backend",
                          stderr=self._stderr_before[-4000:])
        request = {"config": vector["config"], "id": vid, "inputs": vector["inputs"],
                   "op": vector["op"]}
        line = json.dumps(request, separators=(",", ":")).encode("utf-8")
        mark = proc.stderr_total
        sent = proc.send_line(line, self._left(deadline))
        if sent == "closed":
            proc.wait_exit(0.5)
            return self._fail(Answer("crash", message=f"the backend {proc.status()} before "
                                     f"reading the request for {vid}; it was restarted",
                                     stderr=proc.stderr_since(mark)))
        if sent == "timeout":
            return self._fail(Answer("timeout", message=f"the request for {vid} could not be "
                                     f"written within {wait}: the backend does not read its "
                                     "stdin; it was killed and restarted",
                                     stderr=proc.stderr_since(mark)))
        got = proc.read_line(self._left(deadline))
        if got.kind == "timeout":
            hint = ("nothing arrived on stdout: does the port flush stdout after each answer?"
                    if got.size == 0 else f"{got.size} bytes arrived without a line end "
                    "(each answer ends with \\n)")
            return self._fail(Answer("timeout", message=f"no answer to {vid} within {wait}; "
                                     f"{hint}; the backend was killed and restarted",
                                     stderr=proc.stderr_since(mark)))
        if got.kind == "eof":
            proc.wait_exit(1.0)
            return self._fail(Answer("crash", message=f"the backend closed its stdout without "
                                     f"answering {vid} and {proc.status()}; it was restarted",
                                     stderr=proc.stderr_since(mark)))
        if got.kind == "overlong":
            return self._fail(Answer("garbage", message=f"the answer to {vid} passed "
                                     f"{self.limits.max_line} bytes without a line end and was "
                                     "not read further; the backend was restarted",
                                     stderr=proc.stderr_since(mark)))
        answer = decode_answer(got.data, vid, self.extra_answers)
        answer.stderr = proc.stderr_since(mark)
        if answer.kind == "garbage":
            answer.message += "; the backend was restarted"
            return self._fail(answer)
        self.failures_in_a_row = 0
        return answer

    def close(self) -> None:
        """Close stdin (asking the backend to exit), then kill its group if it does not."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.close()
            self._stderr_before = (self._stderr_before + proc.stderr_tail())[-STDERR_KEEP:]


def decode_answer(raw: bytes, vid: str,
                  extra: Mapping[str, frozenset[str]] | None = None) -> Answer:
    """One answer line (without its newline) as an :class:`Answer`: a line that is not UTF-8
    JSON is ``garbage``; one past the structure bounds (:data:`ANSWER_JSON`) or off the form
    of spec/11 is ``malformed``."""
    text = _no_bom(raw.removesuffix(b"\r"))
    shown = clip(text.decode("utf-8", errors="replace"), 200)
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Answer("garbage", message=f"the answer line is not UTF-8 ({exc.reason} at byte "
                      f"{exc.start}): {shown!r}")
    try:
        strictjson.check_bounds(text, ANSWER_JSON)
    except ValueError as exc:
        return Answer("malformed", message=f"answer: {exc}")
    try:
        obj = strictjson.loads(text, ANSWER_JSON)
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return Answer("garbage", message=f"the answer line is not JSON ({reason}): {shown!r}; "
                      "stdout carries answer lines only (write logs to stderr)")
    answer = parse_answer(obj, vid, "answer", extra)
    if answer.kind == "garbage":
        answer.message += f": {shown!r}"
    return answer


def worker_handshake(proc: LineProcess, wait: float, what: str) -> str | None:
    """Read a Python worker's first line (conformance/runner/pyworker.py) within ``wait``
    seconds; None when the backend is ready, else why not."""
    got = proc.read_line(wait)
    if got.kind == "line":
        try:
            hello = strictjson.loads(got.data, ANSWER_JSON)
        except ValueError:
            hello = None
        if isinstance(hello, dict) and isinstance(hello.get("ready"), str):
            return None
        if isinstance(hello, dict) and isinstance(hello.get("load_error"), str):
            return clip(hello["load_error"])
        return f"{what}: the worker wrote {clip(repr(got.data), 200)} instead of its greeting"
    if got.kind == "timeout":
        return f"{what}: not loaded within {wait:g} s"
    if got.kind == "overlong":
        return f"{what}: the worker wrote a line longer than {proc.limits.max_line} bytes"
    proc.wait_exit(1.0)
    tail = proc.stderr_tail().strip().splitlines()[-3:]
    return (f"{what}: the worker {proc.status()} while loading it"
            + (f": {clip(' | '.join(tail), 1000)}" if tail else ""))


class PythonWorker(SubprocessBackend):
    """A Python backend (``python:MODULE:ATTR``) run in a worker process
    (``python -m conformance.runner.pyworker``) and driven like an exec backend; a
    ``crash`` answer (an exception the backend raised) fails its vector and the worker
    serves the next one."""

    kind = "python"
    extra_answers: ClassVar[Mapping[str, frozenset[str]]] = {
        "crash": frozenset({"id", "crash"})}
    start_counts: ClassVar[bool] = False

    def __init__(self, spec: str, timeout: float | None,
                 limits: ProcessLimits = ANSWER_LIMITS) -> None:
        super().__init__([sys.executable, "-m", "conformance.runner.pyworker", spec], timeout,
                         name=f"python:{spec}", limits=limits)
        self.spec = spec

    def _ready(self, proc: LineProcess, deadline: float | None) -> str | None:
        return worker_handshake(proc, LOAD_TIMEOUT, f"python backend {self.spec!r}")

    def open(self) -> None:
        """Start the worker now; BackendSpecError when the backend cannot be loaded."""
        self._start(None)
        if self.proc is None:
            raise BackendSpecError(self.start_error or f"python backend {self.spec!r}: cannot "
                                   "start the worker")


class ForkedBackend(SubprocessBackend):
    """A :class:`Backend` object served from a forked child (``conformance.api.check(obj)``):
    each (re)start forks a fresh copy of the object as it is in the caller, so nothing the
    backend does (exit, hang, state) reaches the caller. POSIX only."""

    kind = "python"
    extra_answers: ClassVar[Mapping[str, frozenset[str]]] = PythonWorker.extra_answers
    start_counts: ClassVar[bool] = False

    def __init__(self, backend: Backend, timeout: float | None,
                 limits: ProcessLimits = ANSWER_LIMITS) -> None:
        name = str(getattr(backend, "name", type(backend).__name__))
        super().__init__(["<fork>"], timeout, name=name, limits=limits)
        self.backend = backend

    def _spawn(self) -> LineProcess:
        for stream in (sys.stdout, sys.stderr):  # nothing buffered may be written twice
            with contextlib.suppress(Exception):
                stream.flush()
        return LineProcess.fork(fork_target(self.backend), self.limits)

    def _ready(self, proc: LineProcess, deadline: float | None) -> str | None:
        return worker_handshake(proc, LOAD_TIMEOUT, f"python backend {self.name!r}")


# --- offline ----------------------------------------------------------------------------


MAX_RESULTS_BYTES = 256 * 1024 * 1024
"""Largest offline ``results.json`` read."""

MAX_RESULT_BYTES = ANSWER_LIMITS.max_line
"""Largest offline ``<id>.json`` or ``*.out.hex`` read (as large as an answer line)."""

MAX_REJECT_BYTES = 1024
"""Largest offline ``reject.txt`` read."""

RESULTS_JSON = strictjson.JsonLimits(max_depth=ANSWER_JSON.max_depth + 2,
                                     max_digits=ANSWER_JSON.max_digits)
"""Bounds on ``results.json``: answers nested in a list in an object."""


def _no_bom(raw: bytes) -> bytes:
    return raw.removeprefix(BOM.encode("utf-8"))


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
                data = strictjson.loads(_no_bom(read_bounded(rfile, MAX_RESULTS_BYTES)),
                                        RESULTS_JSON)
            except OSError as exc:
                self.load_error = f"{rfile}: cannot read: {exc.strerror or exc}"
                return
            except ValueError as exc:
                self.load_error = clip(f"{rfile}: not a readable JSON file: {exc}")
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
            try:
                cls = _no_bom(read_bounded(rej, MAX_REJECT_BYTES)).decode("utf-8").strip()
            except (OSError, ValueError) as exc:
                reason = (f"not UTF-8 text ({exc.reason})" if isinstance(exc, UnicodeDecodeError)
                          else str(exc))
                return Answer("garbage", message=clip(f"{rej}: {reason}"))
            return Answer("reject", reject=clip(cls, 80))
        shapes = vector["shapes"]["outputs"]
        outputs: dict[str, JSON] = {}
        for f in sorted(d.glob("*.out.hex")):
            name = f.name[: -len(".out.hex")]
            try:
                if not f.is_file() or f.stat().st_size > MAX_RESULT_BYTES:
                    return Answer("garbage", message=f"{f}: not a regular file of at most "
                                  f"{MAX_RESULT_BYTES} bytes; not read")
                vals = read_hex(f)
            except (OSError, ExportError) as exc:
                return Answer("garbage", message=clip(str(exc)))
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
                    raw = _no_bom(read_bounded(f, MAX_RESULT_BYTES))
                except (OSError, ValueError) as exc:
                    return Answer("garbage", message=clip(f"{f}: cannot read: {exc}"))
                try:
                    strictjson.check_bounds(raw, ANSWER_JSON)
                except ValueError as exc:
                    return Answer("malformed", message=f"{f}: {exc}")
                try:
                    obj = strictjson.loads(raw, ANSWER_JSON)
                except ValueError as exc:
                    return Answer("garbage", message=clip(f"{f}: not JSON: {exc}"))
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
        worker = PythonWorker(rest, timeout)
        worker.open()
        return worker
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
