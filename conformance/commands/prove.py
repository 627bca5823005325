"""``sorbet-ref prove``: discharge the Z3 proof obligations (spec/09-theorems.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from conformance.commands.argtypes import positive
from conformance.proofs.core import Result
from conformance.proofs.pool import ProofWorkerError, default_jobs
from conformance.proofs.registry import NAMES
from conformance.proofs.regressions import REGRESSION_DIR
from conformance.proofs.runner import HEADER, report, run, table_row, write_report


def register(sub: Any) -> None:
    """Add the ``prove`` subcommand."""
    p = sub.add_parser("prove", help="prove every approximation bound and width with Z3",
                       description="Prove the theorems of spec/09-theorems.md for a preset: "
                       "premises satisfiable, claim valid, tightness witness found.")
    p.add_argument("--preset", default="sorbet", help="operator preset (default: sorbet)")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="theorem names or prefixes such as 'ptsm.' (default: all)")
    p.add_argument("--json", type=Path, default=Path("reports/proofs.json"),
                   help="JSON report path (default: reports/proofs.json)")
    p.add_argument("--regressions", type=Path, default=REGRESSION_DIR,
                   help="folder for counterexample regression files (default: vectors/regressions)")
    p.add_argument("--no-regressions", action="store_true",
                   help="do not write counterexamples as regression files")
    p.add_argument("--jobs", type=positive, default=None, metavar="N",
                   help="worker processes (default: one per idle CPU, CPUs less the load "
                   "average; 1 runs in this process)")
    p.add_argument("--list", action="store_true", help="list the theorem names and exit")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Run, print the table, write the report; 0 only when every obligation passed."""
    if args.list:
        print("\n".join(NAMES))
        return 0
    print(f"sorbet-ref prove, preset {args.preset}\n{HEADER}")

    def show(r: Result) -> None:
        print(table_row(r), flush=True)

    jobs = default_jobs() if args.jobs is None else args.jobs
    try:
        results, seconds = run(args.preset, args.only, regress_dir=None if args.no_regressions
                               else args.regressions, progress=show, jobs=jobs)
    except KeyError as exc:
        print(f"sorbet-ref prove: {exc.args[0]}", file=sys.stderr)
        return 2
    except ProofWorkerError as exc:
        print(f"sorbet-ref prove: {exc}", file=sys.stderr)
        return 2
    data = report(results, args.preset, seconds)
    write_report(data, args.json)
    failed = [r.name for r in results if not r.ok]
    print(f"\n{len(results) - len(failed)} proved, {len(failed)} failed "
          f"in {seconds:.1f} s (preset {args.preset}); report {args.json}")
    if failed:
        print("failed: " + ", ".join(failed))
        if not args.no_regressions:
            print(f"counterexamples written under {args.regressions}")
        return 1
    return 0
