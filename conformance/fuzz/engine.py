"""Sending fuzz cases to a backend with a bounded window of requests in flight.

A backend started as a child process (``exec:``, ``python:``; the runner's
:class:`~conformance.runner.backends.SubprocessBackend` and its
:class:`~conformance.runner.process.LineProcess`) gets up to ``window`` requests ahead
of its answers, written in blocks of up to :data:`BLOCK_LINES` lines: the requests are
written while its answers are read into the process's bounded buffer, so neither side
blocks the other, and the bytes of the answers in flight stay under
:data:`WINDOW_BYTES`.  Waits are bounded by ``timeout``:
a request that cannot be written within it (the port does not read its stdin) or an
answer that does not come within it of the previous one (the port hangs, or answers
slower than that) is a ``timeout`` of the case at the head of the window.

After any failure of the stream (timeout, the process ended, a line that is not an
answer to the head's id, an overlong line) the process is stopped, the head case is
reported with that failure, and every other case that was in flight is run again one
at a time through the backend's own ``call`` (which restarts the process, with the
runner's limit on restarts in a row), so a failure is pinned on the case that caused
it; pipelining then resumes on the new process.  A backend that is not a child
process (``reference``) is called one case at a time.

Judging: an answer line equal byte for byte to the case's precomputed line
(conformance/fuzz/batch.py) passes at once; any other line is decoded and judged by
the runner's ``decode_answer`` and ``judge``, exactly as ``check`` does.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.fuzz.batch import FuzzCase
from conformance.runner.backends import Answer, Executor, SubprocessBackend, decode_answer
from conformance.runner.check import judge

JSON = Any

WINDOW_BYTES = 8 * 1024 * 1024
"""Bytes of expected answers in flight at most (half the process's pending-line bound)."""

BLOCK_LINES = 64
"""Requests queued before they are written together (fewer writes, fewer wake-ups)."""

BLOCK_BYTES = 32 * 1024
"""Bytes of requests queued before they are written together."""

FALLBACK_COST = 4096
"""Bytes counted for an answer in flight whose expected line is not known (a rejection)."""

Verdict = Callable[[FuzzCase, str, str, list[dict[str, JSON]], Answer | None], None]
"""Called with every judged case: (case, status, message, mismatches, answer or None)."""


def vector_of(case: FuzzCase) -> dict[str, JSON]:
    """The case as a vector the runner's ``judge`` reads."""
    exp = case.expected
    if "reject" in exp:
        expected: dict[str, JSON] = {"reject": exp["reject"]}
        shapes: dict[str, JSON] = {}
    else:
        expected = {"outputs": exp["outputs"], "profile": exp["profile"]}
        shapes = {k: _shape(case, k, v) for part in ("outputs", "profile")
                  for k, v in exp[part].items()}
    return {"id": case.id, "op": case.op, "config": case.config, "inputs": case.inputs,
            "expected": expected, "shapes": {"outputs": shapes}, "comment": case.origin}


def _shape(case: FuzzCase, name: str, value: JSON) -> list[int]:
    if case.op == "binary_linear" and name == "partial":
        out, steps = case.config.get("out_features"), case.config.get("steps")
        if isinstance(out, int) and isinstance(steps, int):
            return [out, steps]
    return [len(value)] if isinstance(value, list) else []


@dataclass
class EngineStats:
    """What the engine did."""

    sent: int = 0
    fast_path: int = 0
    """Answers that matched their precomputed line byte for byte."""
    judged: int = 0
    """Answers decoded and judged in full."""
    stream_failures: int = 0
    """Times the pipelined stream failed and in-flight cases were run again one at a time."""
    gave_up: str | None = None
    notes: list[str] = field(default_factory=list)


class Engine:
    """Runs cases against one executor; reports every judged case to ``verdict``."""

    def __init__(self, executor: Executor, verdict: Verdict, window: int, timeout: float | None,
                 log: Callable[[bytes], None] | None = None) -> None:
        self.executor = executor
        self.verdict = verdict
        self.window = max(1, window)
        self.timeout = timeout
        self.log = log
        self.stats = EngineStats()
        self._inflight: collections.deque[FuzzCase] = collections.deque()
        self._inflight_bytes = 0
        self._block: list[FuzzCase] = []
        self._block_bytes = 0
        self.pipelined = isinstance(executor, SubprocessBackend)

    # --- one at a time ---------------------------------------------------------------

    def _judge(self, case: FuzzCase, answer: Answer) -> None:
        self.stats.judged += 1
        status, message, mismatches, _, _ = judge(vector_of(case), answer)
        self.verdict(case, status, message, mismatches, answer)

    def _call(self, case: FuzzCase) -> None:
        """One case through the executor's own ``call`` (restarts, limits, isolation)."""
        answer = self.executor.call(vector_of(case))
        self._judge(case, answer)
        gave_up = getattr(self.executor, "gave_up", None)
        if isinstance(gave_up, str) and gave_up:
            self.stats.gave_up = gave_up

    # --- pipelined -------------------------------------------------------------------

    def run(self, case: FuzzCase) -> None:
        """Queue ``case``: it is sent with the next block of requests (or now when the
        backend is not pipelined) and its answer judged when it comes."""
        if self.stats.gave_up:
            self.verdict(case, "not_run", self.stats.gave_up, [], None)
            return
        if self.log is not None:
            self.log(case.request)
        self.stats.sent += 1
        ex = self.executor
        if not self.pipelined or not isinstance(ex, SubprocessBackend):
            self._call(case)
            return
        cost = len(case.fast) if case.fast is not None else FALLBACK_COST
        while (self._inflight or self._block) and (
                len(self._inflight) + len(self._block) >= self.window
                or self._inflight_bytes + cost > WINDOW_BYTES):
            # make room by reading answers (the queued block goes out whole), or, with
            # nothing in flight, send the block
            if self._inflight:
                self._receive()
            else:
                self._flush()
        if self.stats.gave_up:
            self.verdict(case, "not_run", self.stats.gave_up, [], None)
            return
        if not self._inflight and not self._block:
            proc = ex.proc
            if proc is None or proc.poll() is not None:
                self._call(case)  # starts (or restarts) the process
                return
        self._block.append(case)
        self._block_bytes += len(case.request)
        self._inflight_bytes += cost
        if len(self._block) >= min(BLOCK_LINES, self.window) or self._block_bytes >= BLOCK_BYTES:
            self._flush()

    def _flush(self) -> None:
        """Send the queued block of requests in as few writes as the pipe allows."""
        ex = self.executor
        assert isinstance(ex, SubprocessBackend)
        block, self._block, self._block_bytes = self._block, [], 0
        if not block:
            return
        proc = ex.proc
        if proc is None:  # nothing of the block was sent: run it through the executor
            for case in block:
                self._inflight_bytes -= len(case.fast) if case.fast is not None else \
                    FALLBACK_COST
                if self.stats.gave_up:
                    self.verdict(case, "not_run", self.stats.gave_up, [], None)
                else:
                    self._call(case)
            return
        self._inflight.extend(block)
        sent = proc.send_lines([c.request for c in block], self.timeout)
        if sent != "sent":
            what = ("the backend closed its stdin (it " + proc.status() + ")"
                    if sent == "closed" else
                    f"requests could not be written within {self.timeout:g} s (the backend "
                    "does not read its stdin while its answers wait: it answers slower than "
                    "the window allows, or hangs)")
            self._stream_failed("crash" if sent == "closed" else "timeout", what)

    def _receive(self) -> bool:
        """Read and judge the answer of the head case; False after a stream failure."""
        ex = self.executor
        assert isinstance(ex, SubprocessBackend)
        proc = ex.proc
        if proc is None:
            self._stream_failed("crash", "the backend process ended")
            return False
        got = proc.read_line(self.timeout)
        case = self._inflight[0]
        if got.kind == "line":
            if got.data == case.fast:
                self._pop()
                ex.failures_in_a_row = 0
                self.stats.fast_path += 1
                self.verdict(case, "pass", "", [], None)
                return True
            answer = decode_answer(got.data, case.id, ex.extra_answers)
            if answer.kind != "garbage":
                self._pop()
                ex.failures_in_a_row = 0
                self._judge(case, answer)
                return True
            self._stream_failed("garbage", answer.message)
            return False
        if got.kind == "timeout":
            hint = ("nothing arrived" if got.size == 0
                    else f"{got.size} bytes arrived without a line end")
            self._stream_failed("timeout", f"no answer to {case.id} within {self.timeout:g} s "
                                f"of the previous one ({hint}; {len(self._inflight)} requests "
                                "were in flight)")
        elif got.kind == "eof":
            proc.wait_exit(1.0)
            self._stream_failed("crash", f"the backend closed its stdout without answering "
                                f"{case.id} and {proc.status()}")
        else:
            self._stream_failed("garbage", f"the answer to {case.id} passed "
                                f"{proc.limits.max_line} bytes without a line end")
        return False

    def _pop(self) -> FuzzCase:
        case = self._inflight.popleft()
        self._inflight_bytes -= len(case.fast) if case.fast is not None else FALLBACK_COST
        return case

    def _stream_failed(self, kind: str, message: str) -> None:
        """Pin the failure on the head case, restart, run the rest of the window singly."""
        ex = self.executor
        assert isinstance(ex, SubprocessBackend)
        self.stats.stream_failures += 1
        proc = ex.proc
        stderr = proc.stderr_tail()[-4000:] if proc is not None else ""
        ex.failures_in_a_row += 1
        ex.close()
        head = self._pop()
        self.verdict(head, kind, f"{message}; the backend was restarted and the "
                     f"{len(self._inflight)} other request(s) in flight were run again one "
                     "at a time", [], Answer(kind, message=message, stderr=stderr))
        rest = [*self._inflight, *self._block]
        self._inflight.clear()
        self._block, self._block_bytes = [], 0
        self._inflight_bytes = 0
        for case in rest:
            if self.stats.gave_up:
                self.verdict(case, "not_run", self.stats.gave_up, [], None)
            else:
                self._call(case)

    def drain(self) -> None:
        """Send what is queued and read the answers of every case still in flight."""
        if self._block:
            self._flush()
        while self._inflight:
            self._receive()

    def close(self) -> None:
        """Drain, then close the executor."""
        try:
            self.drain()
        finally:
            self.executor.close()

