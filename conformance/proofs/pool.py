"""Discharge obligations in parallel worker processes (spec/09-theorems.md, "Running the
proofs").

Each worker is ``python -m conformance.proofs.worker PRESET``
(:mod:`conformance.proofs.worker`): it receives theorem names and answers with
plain JSON results.  A worker takes the next name in registry order whenever it
finishes one, and results are handed back in registry order, so what is printed
and written does not depend on the number of workers or on which finished first
(times aside).  Z3 runs in each worker's own context; witnesses and
counterexamples are found from their queries' SMT-LIB text in fresh contexts
(:func:`conformance.proofs.core.model_of_text`), so they do not depend on which
worker found them or what it solved before.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import IO

from conformance.proofs.core import Result
from conformance.proofs.worker import result_from_json

STDERR_TAIL = 2000
"""Characters of a dead worker's stderr quoted in the error."""


class ProofWorkerError(RuntimeError):
    """A worker could not discharge an obligation (it raised, died or answered garbage)."""


def default_jobs() -> int:
    """Worker processes by default: the CPUs this process may use that are idle.

    That is the CPU count less the one-minute load average (rounded), at least 1.  On
    a busy machine more workers only contend with the other work (measured in
    benchmarks/bench_prove.py), while one process avoids their start-up.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        cpus = os.cpu_count() or 1
    try:
        busy = round(os.getloadavg()[0])
    except (AttributeError, OSError):  # pragma: no cover - no load average
        busy = 0
    return max(1, cpus - busy)


class _Worker:
    """One worker process and the thread that feeds it names."""

    def __init__(self, preset: str) -> None:
        # Closed in close(); a file, not a pipe, so a chatty worker cannot block on it.
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conformance.proofs.worker", preset],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True, encoding="utf-8")

    def ask(self, name: str) -> Result:
        """Discharge ``name`` in the worker; ProofWorkerError when that fails."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(name + "\n")
            self.proc.stdin.flush()
        except OSError:
            raise ProofWorkerError(f"{name}: {self._died()}") from None
        line = self.proc.stdout.readline()
        if not line:
            raise ProofWorkerError(f"{name}: {self._died()}")
        try:
            answer = json.loads(line)
            if not isinstance(answer, dict) or answer.get("name") != name:
                raise ValueError(f"answer for another theorem: {line[:200]!r}")
            if "error" in answer:
                raise ProofWorkerError(f"{name}: {answer['error']}")
            return result_from_json(answer["result"])
        except (ValueError, KeyError) as exc:
            raise ProofWorkerError(f"{name}: worker answered garbage: {exc}") from None

    def _died(self) -> str:
        code = self.proc.wait()
        self.stderr.seek(0)
        tail = self.stderr.read().decode("utf-8", "replace")[-STDERR_TAIL:].strip()
        return f"worker process exited with status {code}" + (f": {tail}" if tail else "")

    def end_input(self) -> None:
        """Close the worker's input: it exits after its current obligation."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass

    def kill(self) -> None:
        """End the worker now (its feeding thread then reads the end of its output)."""
        if self.proc.poll() is None:
            self.proc.kill()

    def close(self) -> None:
        """Wait for the exit (a kill if it takes long) and release the pipes."""
        self.end_input()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def discharge_all(preset: str, names: Sequence[str], jobs: int) -> Iterator[Result]:
    """Results of ``names`` for ``preset`` from ``jobs`` workers, in the order of ``names``.

    The first failure raises :class:`ProofWorkerError` naming the theorem, after the
    results before it were yielded; the workers are ended either way.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    workers = [_Worker(preset) for _ in range(min(jobs, len(names)))]
    answers: queue.Queue[tuple[int, Result | ProofWorkerError]] = queue.Queue()
    lock = threading.Lock()
    next_index = [0]
    stop = threading.Event()

    def feed(w: _Worker) -> None:
        while not stop.is_set():
            with lock:
                i = next_index[0]
                if i >= len(names):
                    return
                next_index[0] = i + 1
            try:
                answers.put((i, w.ask(names[i])))
            except ProofWorkerError as exc:
                answers.put((i, exc))
                return

    threads = [threading.Thread(target=feed, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    done: dict[int, Result | ProofWorkerError] = {}
    finished = False
    try:
        for i in range(len(names)):
            while i not in done:
                j, got = answers.get()
                done[j] = got
            got = done.pop(i)
            if isinstance(got, ProofWorkerError):
                raise got
            yield got
        finished = True
    finally:
        stop.set()
        for w in workers:
            if finished:
                w.end_input()
            else:
                w.kill()
        for t in threads:
            t.join()
        for w in workers:
            w.close()

