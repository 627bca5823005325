"""Simulate the Sorbet RTL units on the committed vectors and write offline answers.

``python examples/rtl/simulate.py --out DIR`` runs every vector of the operators in
``suite.OPERATORS`` at the Sorbet preset:

1. vectors are grouped by operator and configuration; each configuration is first
   elaborated alone (``iverilog``): the units refuse an invalid configuration at
   elaboration by instantiating a module named ``sorbet_config_error_<check>``, which
   does not exist, and such a vector is answered ``reject: config`` with that name;
2. a valid configuration is built once with cocotb's Python runner and its vectors are
   driven by ``tb/test_units.py`` on Icarus Verilog;
3. every answer goes to ``DIR/results.json``, the offline form of spec/10-vectors.md,
   which ``sorbet-ref check --backend offline:DIR`` judges.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import suite  # noqa: E402

JSON = Any
RTL = HERE / "rtl"
TB = HERE / "tb"
#: Top module and source files of each operator's unit.
UNITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ptsoftmax": ("sorbet_ptsoftmax", ("sorbet_ptsoftmax.v",)),
    "bspn": ("sorbet_bspn", ("sorbet_bspn.v",)),
    "quantize": ("sorbet_quantizer", ("sorbet_quantizer.v",)),
    "if_encode": ("sorbet_if_encoder", ("sorbet_if_encoder.v",)),
    "binary_linear": ("sorbet_binary_linear", ("sorbet_binary_linear.v",
                                               "sorbet_if_encoder.v")),
}
CONFIG_ERROR = "sorbet_config_error_"


class FlowError(Exception):
    """The flow itself failed (a source that does not compile, a simulation that died)."""


def parameters(config: dict[str, JSON]) -> dict[str, int] | str:
    """Verilog parameters of a configuration (field name upper-cased, booleans 0/1).

    A field that is not an integer or boolean cannot parameterise a unit: the reason.
    """
    out: dict[str, int] = {}
    for key, value in sorted(config.items()):
        if not isinstance(value, int):
            return f"config field {key}: {value!r} is not an integer"
        out[key.upper()] = int(value)
    return out


def sources(op: str) -> list[Path]:
    """The Verilog files of the operator's unit."""
    return [RTL / name for name in UNITS[op][1]]


def elaborate(op: str, params: dict[str, int], build: Path) -> str | None:
    """Elaborate the unit with ``params``: None when valid, else the failed check's name."""
    top = UNITS[op][0]
    build.mkdir(parents=True, exist_ok=True)
    cmd = ["iverilog", "-g2005", "-I", str(RTL), "-s", top, "-o", str(build / "check.vvp")]
    cmd += [f"-P{top}.{k}={v}" for k, v in params.items()]
    cmd += [str(p) for p in sources(op)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return None
    text = proc.stdout + proc.stderr
    names = sorted({w.strip(".:,") for w in text.split() if w.startswith(CONFIG_ERROR)})
    if not names:
        raise FlowError(f"{top}: elaboration failed:\n{text}")
    return "configuration refused at elaboration: " + ", ".join(
        n[len(CONFIG_ERROR):] for n in names)


def simulate_group(op: str, config: dict[str, JSON], vectors: Sequence[dict[str, JSON]],
                   params: dict[str, int], build: Path) -> list[dict[str, JSON]]:
    """Build the unit for ``params`` and run ``vectors`` through the cocotb bench."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    top = UNITS[op][0]
    runner = get_runner("icarus")
    runner.build(sources=sources(op), includes=[RTL], hdl_toplevel=top, parameters=params,
                 build_dir=build, build_args=["-g2005"], timescale=("1ns", "1ps"),
                 log_file=build / "build.log")
    job = build / "job.json"
    answers = build / "answers.json"
    answers.unlink(missing_ok=True)
    job.write_text(json.dumps({"op": op, "config": config, "vectors": [
        {"id": v["id"], "inputs": v["inputs"]} for v in vectors]}), encoding="utf-8")
    env = {"SORBET_RTL_JOB": str(job), "SORBET_RTL_RESULTS": str(answers)}
    if str(TB) not in sys.path:
        sys.path.insert(0, str(TB))  # the runner hands sys.path to the simulator's Python
    xml = runner.test(test_module="test_units", hdl_toplevel=top, build_dir=build,
                      test_dir=build, extra_env=env, log_file=build / "sim.log")
    try:
        _, failed = get_results(xml)
    except RuntimeError as exc:  # no results file: the simulator died
        raise FlowError(f"{top}: {exc}; see {build / 'sim.log'}") from exc
    if failed or not answers.exists():
        raise FlowError(f"{top}: the cocotb bench failed; see {build / 'sim.log'}")
    got: list[dict[str, JSON]] = json.loads(answers.read_text(encoding="utf-8"))
    return got


def run(vectors: Sequence[tuple[str, dict[str, JSON]]], build_root: Path,
        log: Any = sys.stdout) -> list[dict[str, JSON]]:
    """Answers for ``vectors`` (``(suite, vector)`` pairs), one group a configuration."""
    groups: dict[tuple[str, str], list[dict[str, JSON]]] = {}
    for _, v in vectors:
        key = (str(v["op"]), json.dumps(v["config"], sort_keys=True))
        groups.setdefault(key, []).append(v)
    answers: list[dict[str, JSON]] = []
    for (op, cfg_text), group in groups.items():
        config = json.loads(cfg_text)
        tag = hashlib.sha256(cfg_text.encode()).hexdigest()[:10]
        build = build_root / f"{op}-{tag}"
        t0 = time.monotonic()
        params = parameters(config)
        refused = params if isinstance(params, str) else elaborate(op, params, build)
        if refused is not None:
            answers.extend({"id": v["id"], "reject": "config", "message": refused}
                           for v in group)
            what = f"config refused ({refused})"
        else:
            assert not isinstance(params, str)
            answers.extend(simulate_group(op, config, group, params, build))
            what = "simulated"
        print(f"rtl: {op} {cfg_text}: {len(group)} vectors {what} "
              f"in {time.monotonic() - t0:.1f} s", file=log, flush=True)
    return answers


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: simulate and write ``OUT/results.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=Path, default=HERE.parent.parent / "vectors")
    ap.add_argument("--out", type=Path, required=True, help="offline results directory")
    ap.add_argument("--build", type=Path, default=Path("build/rtl"),
                    help="build directory (default build/rtl)")
    ap.add_argument("--op", action="append", choices=suite.OPERATORS,
                    help="only this operator (repeatable; default all)")
    args = ap.parse_args(argv)
    try:
        vectors = [(s, v) for s, v in suite.load(args.vectors)
                   if not args.op or v["op"] in args.op]
        answers = run(vectors, args.build.resolve())
    except (suite.SuiteError, FlowError) as exc:
        print(f"rtl: {exc}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"results": answers}, indent=0) + "\n",
                                           encoding="utf-8")
    print(f"rtl: {len(answers)} answers written to {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
