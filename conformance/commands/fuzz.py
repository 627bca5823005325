"""``sorbet-ref fuzz --backend ...``: live differential fuzzing with shrinking and shards;
``sorbet-ref fuzz merge DIR...``: one verdict from the shards' reports (docs/fuzzing.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from conformance.commands.argtypes import count, positive, seconds
from conformance.commands.check import _sigterm_interrupts
from conformance.fuzz.jobs import FUZZ_OPS, JobError
from conformance.fuzz.plan import SOURCES, Plan, PlanError, parse_shard
from conformance.fuzz.shrink import ShrinkBudget


def _seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 1 << 64:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**64), got {text!r}")
    return value


def _ops(text: str) -> tuple[str, ...]:
    ops = tuple(o.strip() for o in text.split(",") if o.strip())
    unknown = [o for o in ops if o not in FUZZ_OPS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown operator(s) {unknown}; expected names from "
                                         f"{list(FUZZ_OPS)}, comma-separated")
    return ops


def register(sub: Any) -> None:
    """Add the ``fuzz`` subcommand (and ``fuzz merge``)."""
    p = sub.add_parser(
        "fuzz", help="differential fuzzing of a backend against the reference, with shrinking",
        description="Draws operator cases (valid and out of the domain, plus the suites' named "
                    "edge cases) from a seeded stream, sends them to the backend with a bounded "
                    "window of requests in flight, judges every answer exactly, and shrinks "
                    "failing cases into a vectors directory that `check --vectors` runs. "
                    "`sorbet-ref fuzz merge DIR...` combines the reports of shards. Exit code "
                    "0 on PASS, 1 on FAIL or INCOMPLETE, 2 on a usage error. See "
                    "docs/fuzzing.md.")
    p.add_argument("--backend", metavar="SPEC",
                   help="reference, python:MODULE:ATTR or exec:'COMMAND ARGS' (spec/11)")
    p.add_argument("--ops", type=_ops, default=(), metavar="OP[,OP...]",
                   help=f"operators to draw (default: all of {', '.join(FUZZ_OPS)})")
    p.add_argument("--preset", action="append", default=[], metavar="NAME",
                   help="configuration class: an operator preset (sorbet, tiny, tiny-b2; "
                   "repeatable; default sorbet)")
    p.add_argument("--cases", type=count, default=None, metavar="N",
                   help="cases in the whole stream, all shards together (default 10000 "
                   "without --time-budget)")
    p.add_argument("--time-budget", type=seconds, default=None, metavar="SECONDS",
                   help="stop sending new cases after this long (shrinking has its own budget)")
    p.add_argument("--seed", type=_seed, default=0, metavar="S", help="stream seed (default 0)")
    p.add_argument("--shard", default="0/1", metavar="I/N",
                   help="run part I of N disjoint parts of the stream (default 0/1)")
    p.add_argument("--source", choices=SOURCES, default="fast",
                   help="fast: vectorized draws, expected results by the fast tier (default); "
                   "hypothesis: the suites' Hypothesis strategies, canonical tier (slow)")
    p.add_argument("--canonical-every", type=positive, default=4096, metavar="N",
                   help="re-check one fast-tier result in N with the canonical tier "
                   "(default 4096)")
    p.add_argument("--window", type=positive, default=256, metavar="N",
                   help="requests in flight at most (default 256; 1 = one at a time)")
    p.add_argument("--timeout", type=seconds, default=30.0, metavar="SECONDS",
                   help="longest wait for one answer, or to write one request (default 30; "
                   "0 disables it)")
    p.add_argument("--max-failures", type=positive, default=1000, metavar="N",
                   help="stop after N failing cases (default 1000)")
    p.add_argument("--shrink", type=count, default=3, metavar="N",
                   help="failing cases to shrink, the first of each operator and status "
                   "(default 3; 0: none)")
    p.add_argument("--shrink-calls", type=positive, default=400, metavar="N",
                   help="backend calls one shrink may make (default 400)")
    p.add_argument("--shrink-time", type=seconds, default=60.0, metavar="SECONDS",
                   help="seconds one shrink may take (default 60)")
    p.add_argument("--save-requests", type=Path, default=None, metavar="FILE",
                   help="write every request line sent (replay: PORT < FILE)")
    p.add_argument("--report-dir", type=Path, default=Path("reports"), metavar="DIR",
                   help="where fuzz-report.json, fuzz-junit.xml and shrunk/ go "
                   "(default: reports/)")
    p.set_defaults(handler=run_fuzz, fuzz_parser=p)
    msub = p.add_subparsers(dest="fuzz_command", metavar="merge")
    m = msub.add_parser("merge", help="combine the reports of the shards of one run",
                        description="Reads fuzz-report.json of every shard (a directory or "
                        "the file) and writes fuzz-merged.json and fuzz-merged-junit.xml: PASS "
                        "only when every shard is present once, their batches are disjoint and "
                        "cover the stream, and every shard passed.")
    m.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
    m.add_argument("--report-dir", dest="merge_dir", type=Path, default=Path("reports"),
                   metavar="DIR", help="where the merged reports go (default: reports/)")
    m.set_defaults(handler=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    """Merge the shard reports; print the verdict."""
    from conformance.fuzz.report import MergeError, load_report, merge, write_merged

    try:
        merged = merge([load_report(p) for p in args.reports])
    except MergeError as exc:
        print(f"fuzz merge: {exc}", file=sys.stderr)
        return 2
    try:
        paths = write_merged(merged, args.merge_dir)
    except OSError as exc:
        print(f"fuzz merge: cannot write to {args.merge_dir}: {exc}", file=sys.stderr)
        return 1
    t = merged["totals"]
    print(f"sorbet-ref fuzz merge: {merged['verdict']}  ({len(merged['shards'])} of "
          f"{merged['plan']['shards']} shards, {t['cases']} cases, {t['failed']} failing)")
    for prob in merged["problems"][:10]:
        print(f"  problem: {prob}")
    for note in merged["notes"]:
        print(f"  note: {note}")
    print(f"  reports: {', '.join(str(x) for x in paths)}")
    code: int = merged["exit_code"]
    return code


def _usage_error(args: argparse.Namespace, message: str) -> int:
    """An impossible plan: say so, and leave a report saying so (a CI job's artifact)."""
    from conformance.fuzz.report import write_usage_error

    print(f"sorbet-ref fuzz: error: {message}", file=sys.stderr)
    try:
        write_usage_error(args.report_dir, message, args.backend)
    except OSError as exc:
        print(f"fuzz: cannot write reports to {args.report_dir}: {exc}", file=sys.stderr)
    return 2


def run_fuzz(args: argparse.Namespace) -> int:
    """Run one shard, print the summary, write the reports (always), return the exit code."""
    from conformance.fuzz.report import to_text, write_reports
    from conformance.fuzz.run import FuzzResult, Options, fuzz
    from conformance.runner.backends import BackendSpecError, Executor, open_backend

    if not args.backend:
        args.fuzz_parser.error("--backend is required (or use: sorbet-ref fuzz merge DIR...)")
    try:
        shard, shards = parse_shard(args.shard)
        cases = args.cases
        if cases is None and args.time_budget is None:
            cases = 10000
        plan = Plan(seed=args.seed, shard=shard, shards=shards, cases=cases,
                    time_budget=args.time_budget or None, ops=args.ops,
                    presets=tuple(args.preset) or ("sorbet",), source=args.source,
                    canonical_every=args.canonical_every)
    except (PlanError, JobError) as exc:
        return _usage_error(args, str(exc))
    if args.backend.startswith("offline:"):
        args.fuzz_parser.error("--backend offline:DIR cannot be fuzzed (it answers only the "
                               "vectors it was given); use exec: or python:")
    opts = Options(plan, window=args.window, timeout=args.timeout or None,
                   max_failures=args.max_failures, shrink_max=args.shrink,
                   shrink_budget=ShrinkBudget(args.shrink_calls, args.shrink_time or 1e9),
                   save_requests=args.save_requests, shrunk_dir=args.report_dir / "shrunk")
    executor: Executor | None = None
    problem: str | None = None
    try:
        executor = open_backend(args.backend, args.timeout or None)
    except BackendSpecError as exc:
        problem = str(exc)
    try:
        with _sigterm_interrupts():
            res = fuzz(opts, executor, args.backend, problem,
                       progress=lambda m: print(m, file=sys.stderr))
    except Exception as exc:  # never leave without reports
        res = FuzzResult(args.backend, "unavailable", opts)
        res.problems.append(f"the fuzzer failed: {type(exc).__name__}: {exc}")
        res.stopped = "the fuzzer failed"
        if executor is not None:
            executor.close()
    try:
        paths = write_reports(res, args.report_dir)
    except OSError as exc:
        print(f"fuzz: cannot write reports to {args.report_dir}: {exc}", file=sys.stderr)
        paths = []
        res.exit_code = 1
    print(to_text(res, paths, args.backend))
    return res.exit_code
