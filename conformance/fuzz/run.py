"""One fuzz run (one shard): build batches, send them, judge, shrink, report.

``fuzz(options)`` never raises for what a backend does: a backend that cannot start,
dies, hangs or answers garbage is reported (per case, and as a run-level problem
when it is given up), the run stops early after ``max_failures`` failures or on an
interrupt, and the result always carries what was judged so far.  The verdict is
PASS only when every case sent passed, the fast tier agreed with the canonical tier
on every sampled case, and nothing stopped the run before its planned cases (a run
bounded by ``--time-budget`` alone is complete when its time is up); INCOMPLETE when
nothing failed but the time budget ended a run of ``--cases N`` early; else FAIL.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from conformance.fuzz.batch import FuzzCase, build_batch
from conformance.fuzz.engine import Engine
from conformance.fuzz.export import Exported, export_shrunk
from conformance.fuzz.jobs import Job
from conformance.fuzz.plan import Plan
from conformance.fuzz.shrink import ShrinkBudget, Shrunk, shrink
from conformance.runner.backends import Answer, Executor
from conformance.runner.check import abbreviate

JSON = Any

MAX_REPORTED = 50
"""Failing cases described in full in the report (all are counted)."""


@dataclass
class Options:
    """How to run a plan."""

    plan: Plan
    window: int = 256
    timeout: float | None = 30.0
    max_failures: int = 1000
    shrink_max: int = 3
    """Failing cases shrunk (the first of each operator and status, up to this many)."""
    shrink_budget: ShrinkBudget = field(default_factory=ShrinkBudget)
    save_requests: Path | None = None
    shrunk_dir: Path | None = None


@dataclass
class FuzzResult:
    """Everything one shard found; the reports are written from this."""

    backend: str
    backend_kind: str
    options: Options
    counts: dict[str, int] = field(default_factory=dict)
    per_job: dict[str, dict[str, int]] = field(default_factory=dict)
    per_operator: dict[str, dict[str, int]] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    failures: list[dict[str, JSON]] = field(default_factory=list)
    shrunk: list[dict[str, JSON]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None
    canonical_checked: int = 0
    fast_path: int = 0
    judged: int = 0
    stream_failures: int = 0
    elapsed_s: float = 0.0
    send_s: float = 0.0
    shrink_s: float = 0.0
    verdict: str = "FAIL"
    exit_code: int = 1
    stderr_tail: str = ""
    exported: list[Exported] = field(default_factory=list)

    @property
    def cases(self) -> int:
        """Cases judged."""
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        """Cases that did not pass."""
        return sum(n for s, n in self.counts.items() if s != "pass")


def _bump(table: dict[str, dict[str, int]], key: str, status: str) -> None:
    row = table.setdefault(key, {"cases": 0, "pass": 0, "fail": 0})
    row["cases"] += 1
    if status == "pass":
        row["pass"] += 1
    else:
        row["fail"] += 1
        row[status] = row.get(status, 0) + 1


def fuzz(options: Options, executor: Executor | None, backend_spec: str,
         backend_error: str | None = None,
         progress: Callable[[str], None] | None = None) -> FuzzResult:
    """Run one shard of ``options.plan`` against ``executor`` (None: it could not be opened)."""
    start = time.monotonic()
    plan = options.plan
    res = FuzzResult(executor.name if executor else backend_spec,
                     executor.kind if executor else "unavailable", options)
    if executor is None:
        res.problems.append(backend_error or "no backend")
        res.stopped = "the backend could not be opened"
        _finish(res, start)
        return res
    jobs = plan.jobs
    job_of = {j.name: j for j in jobs}
    passed: dict[str, int] = {}
    """Passing cases per job (counted apart: the common case must stay cheap)."""
    to_shrink: list[tuple[FuzzCase, str, str, list[dict[str, JSON]]]] = []
    shrink_keys: set[tuple[str, str]] = set()

    def verdict(case: FuzzCase, status: str, message: str, mismatches: list[dict[str, JSON]],
                answer: Answer | None) -> None:
        if status == "pass":
            passed[case.job] = passed.get(case.job, 0) + 1
            return
        res.counts[status] = res.counts.get(status, 0) + 1
        job = job_of[case.job]
        _bump(res.per_job, job.name, status)
        _bump(res.per_operator, case.op, status)
        if len(res.failures) < MAX_REPORTED:
            res.failures.append({
                "id": case.id, "job": job.name, "op": case.op, "status": status,
                "message": message, "origin": case.origin, "mismatches": mismatches[:8],
                "config": case.config,
                "inputs": {k: abbreviate(v) for k, v in case.inputs.items()},
                "stderr": (answer.stderr[-2000:] if answer is not None else ""),
            })
        key = (case.op, status)
        if status not in ("not_run",) and key not in shrink_keys \
                and len(to_shrink) < options.shrink_max:
            shrink_keys.add(key)
            to_shrink.append((case, status, message, mismatches))

    log_file: IO[bytes] | None = None
    if options.save_requests is not None:
        try:
            options.save_requests.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(options.save_requests, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            res.problems.append(f"--save-requests {options.save_requests}: cannot write: "
                                f"{exc.strerror or exc}")
    log = None
    if log_file is not None:
        write = log_file.write

        def log(line: bytes) -> None:
            write(line + b"\n")

    engine = Engine(executor, verdict, options.window, options.timeout, log)
    deadline = None if plan.time_budget is None else start + plan.time_budget
    last_report = start
    try:
        for b in plan.batches():
            if deadline is not None and time.monotonic() >= deadline:
                res.notes.append(f"the time budget of {plan.time_budget:g} s ended the run "
                                 f"after {len(res.batches)} batches")
                if plan.cases is not None:
                    res.stopped = "the time budget ended before every planned case ran"
                break
            job = plan.job_of(b, jobs)
            size = plan.size_of(b)
            built = build_batch(job, plan.seed, b, size, plan.canonical_every, plan.source)
            res.batches.append(b)
            res.canonical_checked += built.canonical_checked
            for d in built.disagreements:
                res.problems.append(f"the fast tier disagrees with the canonical tier: {d}")
            for case in built.cases:
                engine.run(case)
            if engine.stats.gave_up:
                res.stopped = "the backend was given up"
                break
            if res.failed >= options.max_failures:
                res.stopped = f"stopped after {res.failed} failing cases (--max-failures)"
                break
            now = time.monotonic()
            if progress is not None and now - last_report >= 5:
                last_report = now
                progress(f"fuzz: {engine.stats.sent} cases sent, {res.failed} failing")
        engine.drain()
    except KeyboardInterrupt:
        res.stopped = "interrupted"
        res.problems.append("the run was interrupted; the cases judged so far are reported")
    finally:
        res.send_s = time.monotonic() - start
        if log_file is not None:
            with contextlib.suppress(OSError):
                log_file.close()
    for name, n in passed.items():
        res.counts["pass"] = res.counts.get("pass", 0) + n
        for table, key in ((res.per_job, name), (res.per_operator, job_of[name].op)):
            row = table.setdefault(key, {"cases": 0, "pass": 0, "fail": 0})
            row["cases"] += n
            row["pass"] += n
    res.fast_path = engine.stats.fast_path
    res.judged = engine.stats.judged
    res.stream_failures = engine.stats.stream_failures
    if engine.stats.gave_up:
        res.problems.append(engine.stats.gave_up)
    if res.stopped == "interrupted" and to_shrink:
        res.notes.append("the failing cases were not shrunk: the run was interrupted")
        to_shrink.clear()
    try:
        _shrink_all(res, options, executor, to_shrink, job_of, progress)
    except KeyboardInterrupt:
        res.problems.append("shrinking was interrupted")
    finally:
        res.stderr_tail = executor.stderr_tail()
        executor.close()
    _finish(res, start)
    return res


def _shrink_all(res: FuzzResult, options: Options, executor: Executor,
                to_shrink: list[tuple[FuzzCase, str, str, list[dict[str, JSON]]]],
                job_of: dict[str, Job],
                progress: Callable[[str], None] | None) -> None:
    if not to_shrink:
        return
    t0 = time.monotonic()
    items: list[tuple[Shrunk, Job]] = []
    for case, status, message, mismatches in to_shrink:
        if getattr(executor, "gave_up", None):
            res.notes.append(f"{case.id} was not shrunk: the backend was given up")
            continue
        if progress is not None:
            progress(f"fuzz: shrinking {case.id} ({status})")
        job = job_of[case.job]
        sh = shrink(case, status, message, executor, options.shrink_budget)
        if not sh.mismatches:
            sh.mismatches = mismatches
        items.append((sh, job))
    res.shrink_s = time.monotonic() - t0
    exported: list[Exported] = []
    if options.shrunk_dir is not None and items:
        try:
            exported = export_shrunk(options.shrunk_dir,
                                     [(sh, job.preset, job.config) for sh, job in items],
                                     options.plan.seed)
        except Exception as exc:  # a report without the file beats no report
            res.problems.append(f"the shrunk cases could not be written to "
                                f"{options.shrunk_dir}: {type(exc).__name__}: {exc}")
    res.exported = exported
    for n, (sh, job) in enumerate(items):
        entry: dict[str, JSON] = {
            "original_id": sh.original_id, "job": job.name, "op": sh.op, "status": sh.status,
            "message": sh.message, "config": sh.config, "inputs": sh.inputs,
            "mismatches": sh.mismatches[:8],
            "budget": {"calls": options.shrink_budget.calls,
                       "seconds": options.shrink_budget.seconds},
            "calls": sh.calls, "seconds": round(sh.seconds, 3), "steps": sh.accepted,
            "stopped_by_budget": sh.exhausted, "size_before": sh.size_before,
            "size_after": sh.size_after,
        }
        if n < len(exported):
            ex = exported[n]
            entry.update({"vector_file": str(ex.path), "vector_id": ex.vector["id"],
                          "rule": ex.vector["rule"], "section": ex.rule_section,
                          "rule_text": ex.rule_text, "expected": ex.vector["expected"]})
        res.shrunk.append(entry)


def _finish(res: FuzzResult, start: float) -> None:
    plan = res.options.plan
    if res.cases == 0:
        res.problems.append("no case was judged; an empty run is a failure")
    planned = plan.planned_cases()
    if planned is not None and res.cases < planned and res.stopped is None:
        res.stopped = f"{res.cases} of {planned} planned cases ran"
    if res.failed or res.problems:
        res.verdict, res.exit_code = "FAIL", 1
    elif res.stopped:
        res.verdict, res.exit_code = "INCOMPLETE", 1
    else:
        res.verdict, res.exit_code = "PASS", 0
    res.elapsed_s = time.monotonic() - start
