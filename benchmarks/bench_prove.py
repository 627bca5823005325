"""Benchmark: the time of every proof obligation of ``sorbet-ref prove``.

Discharges every theorem of spec/09-theorems.md for a preset and prints, per
obligation, the time of each part and witness query, then the total.  It never
asserts on time.

    .venv/bin/python benchmarks/bench_prove.py [--preset sorbet] [--only NAME ...]
        [--lin-fan-in N] [--jobs N]

``--lin-fan-in N`` times ``lin.time_eq_count`` with a symbolic fan-in of ``N``
instead of the proof run's (spec/09-theorems.md says why the run uses 2).
``--jobs N`` (N >= 2) then also times the same obligations discharged by ``N``
worker processes (``sorbet-ref prove --jobs N``) and prints both totals and their
ratio, measured side by side in this run.

On the project's 2-core machine, with other work keeping the load average at 5.5
to 6.6, this benchmark (preset ``sorbet``, ``--jobs 2``) printed ``total 14.25s, 0
failed`` and ``2 worker processes: total 14.89s, 0 failed; one process 14.25s;
ratio 1.05``; the tree before the range lemma of ``quant.no_overflow``
(spec/09-theorems.md, "Range lemmas") printed ``total 45.92s, 0 failed`` right
before it, 24.48 s of it ``quant.no_overflow`` (1.74 s now).  On a busy machine
workers only contend with the other work, which is why ``sorbet-ref prove``
defaults to one worker per idle CPU (``conformance.proofs.pool.default_jobs``).
Bit-vector parts go first to Z3's ``qfbv`` tactic (``conformance.proofs.core._decide``).
Timings vary with the machine, its load and the Z3 version; they are measurements,
not guarantees.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import z3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.proofs import ob_spikes
from conformance.proofs.core import check_part, find_witness
from conformance.proofs.impl import DEFAULT
from conformance.proofs.registry import select
from conformance.proofs.runner import run
from reference.presets import get_preset


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="sorbet")
    ap.add_argument("--only", nargs="+", default=None)
    ap.add_argument("--lin-fan-in", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    if args.jobs > 1 and args.lin_fan_in is not None:
        ap.error("--jobs times the proof run itself: it cannot be combined with --lin-fan-in")
    if args.lin_fan_in is not None:
        ob_spikes.LIN_FAN_IN = args.lin_fan_in
    pre = get_preset(args.preset)
    print(f"proof obligations, preset {pre.name}")
    print(f"{'theorem':<30} {'build':>7} {'parts':>8} {'witness':>8} {'total':>8}  checks")
    grand = time.perf_counter()
    failed = 0
    for ob in select(args.only):
        t0 = time.perf_counter()
        built = ob.build(pre, DEFAULT)
        t1 = time.perf_counter()
        ctx = z3.Context()  # one per obligation, as conformance.proofs.core.discharge does
        parts = [check_part(p, ctx) for p in built.parts]
        t2 = time.perf_counter()
        wits = [find_witness(w) for w in built.witnesses]
        t3 = time.perf_counter()
        ok = all(p.status == "proved" for p in parts) and all(w.found for w in wits)
        failed += not ok
        slowest = max(parts, key=lambda p: p.seconds)
        print(f"{ob.name:<30} {t1 - t0:6.2f}s {t2 - t1:7.2f}s {t3 - t2:7.2f}s {t3 - t0:7.2f}s  "
              f"{len(parts)} parts, {len(wits)} witnesses; slowest part {slowest.seconds:.2f}s "
              f"({slowest.label}){'' if ok else '  FAILED'}", flush=True)
    serial = time.perf_counter() - grand
    print(f"total {serial:.2f}s, {failed} failed")
    if args.jobs > 1:
        results, par = run(pre.name, args.only, jobs=args.jobs)
        failed_par = sum(not r.ok for r in results)
        print(f"{args.jobs} worker processes: total {par:.2f}s, {failed_par} failed; "
              f"one process {serial:.2f}s; ratio {par / serial:.2f}")
        failed += failed_par
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
