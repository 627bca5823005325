"""``sorbet-ref check --backend ...``: run the conformance vectors against a port (spec/12)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance.commands.argtypes import count, seconds
from conformance.runner.backends import BackendSpecError, Executor, open_backend
from conformance.runner.check import (
    Options,
    RerunError,
    Result,
    XfailFileError,
    failed_ids,
    load_xfail,
    run,
)
from conformance.runner.report import to_text, write_reports
from conformance.vectors.manifest import default_vectors_dir


def register(sub: Any) -> None:
    """Add the ``check`` subcommand."""
    p = sub.add_parser(
        "check", help="run the conformance vectors against a backend and report",
        description="Backends: reference | python:MODULE:ATTR | exec:'COMMAND ARGS' | "
                    "offline:DIR (spec/11-backend-protocol.md). Exit code 0 on PASS, 1 on "
                    "FAIL, INCOMPLETE or WAIVED, 3 when everything passed on a suite that is "
                    "not the published one (spec/12-conformance-levels.md), 2 on a usage "
                    "error. "
                    "The JSON and JUnit reports are written in every case but a usage error.")
    p.add_argument("--backend", required=True, metavar="SPEC",
                   help="reference, python:MODULE:ATTR, exec:'COMMAND ARGS' or offline:DIR")
    p.add_argument("--vectors", type=Path, default=None, metavar="DIR",
                   help="vectors directory with manifest.json (default: the committed vectors/)")
    p.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="run only vectors whose id, operator or suite matches GLOB (repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out vectors whose id, operator or suite matches GLOB (repeatable)")
    p.add_argument("--xfail", type=Path, default=None, metavar="FILE",
                   help="JSON list of {\"id\" or \"pattern\": ..., \"reason\": ...}: expected "
                   "failures")
    p.add_argument("--timeout", type=seconds, default=30.0, metavar="SECONDS",
                   help="per-vector timeout (default 30; 0 disables it)")
    p.add_argument("--report-dir", type=Path, default=Path("reports"), metavar="DIR",
                   help="where check-report.json and check-junit.xml go (default: reports/)")
    p.add_argument("--once", action="store_true",
                   help="run each vector once (no second pass in reverse order, so state kept "
                   "between calls goes unnoticed; for debugging only, not for a claim)")
    p.add_argument("--show", type=count, default=20, metavar="N",
                   help="failures printed in full (default 20; all are in the JSON report)")
    p.add_argument("--no-flags", action="store_true", help="omit the per-flag table")
    p.add_argument("--flag", action="append", default=[], metavar="GLOB",
                   help="run only vectors carrying a flag matching GLOB, e.g. rounding_tie "
                   "(repeatable; vectors/COVERAGE.md lists the flags)")
    p.add_argument("--rule", action="append", default=[], metavar="GLOB",
                   help="run only vectors of a spec rule matching GLOB, e.g. 'bspn.config.*' "
                   "(repeatable; spec/11 and vectors/COVERAGE.md list the rules)")
    p.add_argument("--rerun-failures", type=Path, default=None, metavar="REPORT",
                   help="run only the vectors a previous check-report.json did not pass")
    p.set_defaults(handler=run_check)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a CI job's timeout) interrupts the run like Ctrl-C, so the reports are written."""
    try:
        old = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_check(args: argparse.Namespace) -> int:
    """Run, print the summary, write the reports (always), return the exit code.

    Whatever happens after the arguments are parsed (a bad --xfail file, a backend that
    cannot be opened, an interrupt at any point, a defect of the runner) the reports are
    written, and the exit code is 0 only for a PASS."""
    vectors: Path = args.vectors or default_vectors_dir()
    opts = Options(vectors, args.include, args.exclude, (), 1 if args.once else 2,
                   flags=args.flag, rules=args.rule)
    problems: list[str] = []
    if args.rerun_failures is not None:
        try:
            opts.ids = failed_ids(args.rerun_failures)
        except RerunError as exc:
            problems.append(str(exc))
    executor: Executor | None = None
    interrupted = False
    res: Result | None = None
    try:
        with _sigterm_interrupts():
            try:
                if args.xfail is not None:
                    try:
                        opts.xfail = load_xfail(args.xfail)
                    except XfailFileError as exc:
                        problems.append(str(exc))
                if not problems:
                    try:
                        executor = open_backend(args.backend, args.timeout or None)
                    except BackendSpecError as exc:
                        problems.append(str(exc))
            except KeyboardInterrupt:
                interrupted = True
                problems.append("the run was interrupted while starting the backend")
            res = run(opts, executor, progress=lambda m: print(m, file=sys.stderr),
                      backend_error="; ".join(problems) or None, backend_spec=args.backend)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:  # never leave without reports
        if res is None:
            res = Result(args.backend, "unavailable", str(vectors), opts)
        res.problems.append(f"the runner failed: {type(exc).__name__}: {exc}"[:2000])
        if executor is not None:
            with contextlib.suppress(Exception):
                executor.close()
    if interrupted:
        res.aborted = "interrupted"
    if res.aborted or res.problems:
        res.verdict, res.exit_code = "FAIL", 1
    try:
        paths = write_reports(res, args.report_dir)
    except OSError as exc:
        print(f"check: cannot write reports to {args.report_dir}: {exc}", file=sys.stderr)
        paths = []
        res.exit_code = 1
    print(to_text(res, paths, failures=args.show, flags=not args.no_flags))
    return res.exit_code
