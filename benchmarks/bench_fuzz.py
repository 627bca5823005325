#!/usr/bin/env python3
"""Throughput of ``sorbet-ref fuzz`` against the bundled C port, beside the port alone.

    .venv/bin/python benchmarks/bench_fuzz.py [--cases 200000] [--seed 0] [--no-per-op]

Builds the C port (examples/c_port/build.sh), then, side by side in one run:

1. ``sorbet-ref fuzz --backend exec:PORT --cases N --save-requests FILE`` as a command
   (interpreter start-up, drawing, expected results, sending, judging, reports: the
   whole wall time a user waits);
2. the port alone on the saved requests: ``PORT < FILE > /dev/null`` (the same request
   lines, read from a file, answers thrown away);

and prints both times and their ratio, first for the mixed stream of every operator
(sorbet preset), then (unless ``--no-per-op``) for each operator alone with N/5 cases.
The fuzz column also gives the time the run spent sending and judging (from its
report, without start-up).  Figures only; nothing is asserted.  Timings vary with
the machine and its load from run to run; they are measurements, not guarantees.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPS = ("ptsoftmax", "bspn", "quantize", "if_encode", "binary_linear")


def build_port() -> Path:
    """Build the C port; its path."""
    done = subprocess.run(["sh", str(ROOT / "examples" / "c_port" / "build.sh")],
                          capture_output=True, text=True, check=True)
    return Path(done.stdout.strip().splitlines()[-1])


def fuzz_cli() -> list[str]:
    """The ``sorbet-ref`` command of this checkout."""
    exe = Path(sys.executable).parent / "sorbet-ref"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "conformance.cli"]


def measure(port: Path, work: Path, label: str, cases: int, seed: int,
            ops: str | None) -> tuple[str, int, float, float, float, str]:
    """(label, cases, fuzz wall s, fuzz send s, port alone s, verdict)."""
    req = work / f"{label}.jsonl"
    rep = work / f"rep-{label}"
    cmd = [*fuzz_cli(), "fuzz", "--backend", f"exec:{port}", "--cases", str(cases),
           "--seed", str(seed), "--save-requests", str(req), "--report-dir", str(rep)]
    if ops:
        cmd += ["--ops", ops]
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   cwd=ROOT)
    fuzz_s = time.perf_counter() - t0
    report = json.loads((rep / "fuzz-report.json").read_text(encoding="utf-8"))
    with open(req, "rb") as stdin, open(os.devnull, "wb") as devnull:
        t0 = time.perf_counter()
        subprocess.run([str(port)], stdin=stdin, stdout=devnull, check=True)
        port_s = time.perf_counter() - t0
    n = sum(1 for _ in req.open("rb"))
    return label, n, fuzz_s, float(report["send_s"]), port_s, str(report["verdict"])


def main() -> int:
    """Run the measurements and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-per-op", action="store_true")
    args = ap.parse_args()
    port = build_port()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as tmp:
        work = Path(tmp)
        rows.append(measure(port, work, "all", args.cases, args.seed, None))
        if not args.no_per_op:
            for op in OPS:
                rows.append(measure(port, work, op, max(1, args.cases // 5), args.seed, op))
    print(f"{'operators':<14} {'cases':>8} {'fuzz s':>8} {'(sending)':>10} {'port s':>8} "
          f"{'ratio':>6}  verdict")
    for label, n, fuzz_s, send_s, port_s, verdict in rows:
        print(f"{label:<14} {n:8d} {fuzz_s:8.2f} {send_s:10.2f} {port_s:8.2f} "
              f"{fuzz_s / port_s:6.2f}  {verdict}")
    print("ratio = fuzz wall time (the whole command) / the port alone on the saved requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
