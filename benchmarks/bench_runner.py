#!/usr/bin/env python3
"""Throughput of the conformance runner: vectors per second in process, over JSON lines and
in the Python worker.

    .venv/bin/python benchmarks/bench_runner.py [--include GLOB]...

Runs the committed vectors (each twice, as the runner does) against the
reference in process (ReferenceBackend), through the subprocess protocol
(examples/reference_server.py), and in the isolated Python worker that serves
``python:MODULE:ATTR`` backends (its start-up included), and prints vectors/s
for each. Figures only; nothing is asserted.

One run on the project's idle 2-core machine over the 2821 committed vectors (5642
calls): 438.7 vectors/s in process, 526.7 vectors/s over JSON lines, 381.0 vectors/s
in the Python worker. Timings vary
with the machine and its load from run to run; they are measurements, not
guarantees; the ratios of one run are the figures to compare.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conformance.runner.backends import (  # noqa: E402
    InProcess,
    PythonWorker,
    ReferenceBackend,
    SubprocessBackend,
)
from conformance.runner.check import Options, run  # noqa: E402


def _worker() -> PythonWorker:
    """The reference served by the isolated Python worker, as ``python:`` backends run."""
    worker = PythonWorker("conformance.runner.backends:ReferenceBackend", 60.0)
    worker.open()
    return worker


def main() -> int:
    """Run both backends and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=Path, default=ROOT / "vectors")
    ap.add_argument("--include", action="append", default=[])
    args = ap.parse_args()
    opts = Options(args.vectors, args.include)
    server = [sys.executable, str(ROOT / "examples" / "reference_server.py")]
    rows = []
    for label, make in (("in-process (ReferenceBackend)",
                         lambda: InProcess(ReferenceBackend(), None)),
                        ("subprocess JSON lines (reference_server.py)",
                         lambda: SubprocessBackend(server, 60.0)),
                        ("python worker (python:...:ReferenceBackend)", _worker)):
        t0 = time.perf_counter()
        res = run(opts, make())
        dt = time.perf_counter() - t0
        calls = res.selected * opts.passes
        rows.append((label, res.selected, calls, dt, res.verdict))
    print(f"{'backend':<46} {'vectors':>8} {'calls':>7} {'seconds':>8} {'vectors/s':>9}  verdict")
    for label, n, calls, dt, verdict in rows:
        print(f"{label:<46} {n:8d} {calls:7d} {dt:8.2f} {calls / dt:9.1f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
