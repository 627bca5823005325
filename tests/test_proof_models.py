"""Witness models and boundary inputs depend only on the query (spec/09-theorems.md,
"Contexts"): not on Z3 queries solved earlier in the process, on which theorems ran
(`--only`) or on how they were spread over workers (`--jobs`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import z3

from conformance.proofs import boundary_inputs
from conformance.proofs.core import Witness, find_witness, model_of_text, query_text
from conformance.proofs.registry import NAMES

ROOT = Path(__file__).resolve().parent.parent

# Solves unrelated queries in Z3's default context first: a nonlinear product, then
# some witness queries of the preset in the reverse of the registry's order.
UNRELATED = """
import z3
from conformance.proofs.core import find_witness
from conformance.proofs.impl import DEFAULT
from conformance.proofs.registry import OBLIGATIONS
from reference.presets import get_preset
x, y = z3.Ints("x y")
s = z3.Solver()
s.add(x * y == 391, x > 1, y > 1)
assert s.check() == z3.sat
for ob in reversed(OBLIGATIONS[-6:]):
    for w in ob.build(get_preset(PRESET), DEFAULT).witnesses:
        find_witness(w)
"""

BOUNDARY = """
import json
from conformance.proofs import boundary_inputs
print(json.dumps(boundary_inputs(PRESET), sort_keys=True))
"""


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("preset", ["tiny", "tiny-b2", "sorbet"])
def test_boundary_inputs_do_not_depend_on_earlier_queries(preset: str) -> None:
    head = f"PRESET = {preset!r}\n"
    clean = _python(head + BOUNDARY)
    after = _python(head + UNRELATED + BOUNDARY)
    assert json.loads(clean) == json.loads(after)
    # and this process has solved many queries before this test
    assert json.loads(clean) == json.loads(json.dumps(boundary_inputs(preset)))


COUNTEREXAMPLES = """
import dataclasses, json
from fractions import Fraction
from conformance.proofs.core import discharge
from conformance.proofs.impl import DEFAULT
from conformance.proofs.registry import get
from reference.presets import get_preset
broken = [("bspn.log_round", dataclasses.replace(DEFAULT, log_factor_sq=1)),
          ("ptsm.partition_ratio",
           dataclasses.replace(DEFAULT, partition_ratio=(Fraction(3, 4), Fraction(7, 5))))]
found = []
for name, impl in broken:
    r = discharge(get(name), get_preset(PRESET), impl)
    found.append([[p.label, p.status, p.counterexample, p.regression] for p in r.parts])
print(json.dumps(found, sort_keys=True))
"""


@pytest.mark.parametrize("preset", ["tiny", "sorbet"])
def test_counterexamples_do_not_depend_on_earlier_queries(preset: str) -> None:
    head = f"PRESET = {preset!r}\n"
    clean = json.loads(_python(head + COUNTEREXAMPLES))
    assert all(any(p[1] == "counterexample" for p in parts) for parts in clean)
    assert clean == json.loads(_python(head + UNRELATED + COUNTEREXAMPLES))


def _prove(*args: str, tmp: Path) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Printed witness lines and JSON witnesses per theorem of one `sorbet-ref prove`."""
    out = tmp / "report.json"
    text = _python("import sys\nfrom conformance.cli import main\nsys.exit(main(["
                   + ", ".join(repr(a) for a in ["prove", "--preset", "tiny",
                                                 "--no-regressions", "--json", str(out),
                                                 *args])
                   + "]))")
    printed: dict[str, list[str]] = {}
    name = ""
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        if head in NAMES:
            name = head
            printed[name] = []
        elif line.strip().startswith(("witness:", "NO WITNESS:")):
            printed[name].append(line)
    reported = {r["theorem"]: r["witnesses"] for r in json.loads(out.read_text())["results"]}
    return printed, reported


def test_prove_witnesses_do_not_depend_on_jobs_or_only(tmp_path: Path) -> None:
    printed, reported = _prove("--jobs", "1", tmp=tmp_path)
    assert list(printed) == list(NAMES) == list(reported)
    assert all(printed[n] for n in NAMES)
    runs = [("--jobs", "2"), ("--jobs", "1", "--only", "if.", "lin."),
            ("--jobs", "1", "--only", "quant.", "bspn.output_range"),
            ("--jobs", "2", "--only", "ptsm.", "arith.clamp")]
    for args in runs:
        got_printed, got_reported = _prove(*args, tmp=tmp_path)
        assert got_printed, args
        assert got_printed == {n: printed[n] for n in got_printed}, args
        assert got_reported == {n: reported[n] for n in got_reported}, args


def test_query_text_and_models_by_name() -> None:
    x, y = z3.Ints("x y")
    text = query_text([x * y == 35, x > 1, y > 1])
    assert text == query_text([x * y == 35, x > 1, y > 1])
    r, vals = model_of_text(text, {"x": x, "xy": x * y, "y+1": y + 1})
    assert r == z3.sat and vals is not None
    assert vals["xy"] == 35 and vals["x"] in (5, 7)
    assert vals["x"] * (vals["y+1"] - 1) == 35
    r, vals = model_of_text(query_text([x > 1, x < 1]), {"x": x})
    assert r == z3.unsat and vals is None
    miss = find_witness(Witness("impossible", [x > 1], x < 1, {"x": x}))
    assert not miss.found and miss.text == "no model: the bound is not reached"
