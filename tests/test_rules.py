"""The rule inventory (spec/10-vectors.md, "Flags and rules"; spec/11, "Rejections").

- every rule of the spec has a stable id, and a port that breaks that rule alone
  (a mutant, an answer port, or a port derived from the rejection rules that skips
  exactly that check);
- for every rule, each such port fails at least one committed vector;
- every mutant of the catalog breaks a named rule;
- vectors/COVERAGE.md reports 100% rule coverage;
- every negative vector is labelled with the rule its rejection falls under;
- spec/11's table of rejections is the one generated from the rules.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.mutants import catalog
from conformance.mutants import rule_ports as RP
from conformance.operators import run_reference
from conformance.runner.backends import Rejected
from conformance.vectors import flags, rejections
from conformance.vectors.generate import load_suite_modules
from conformance.vectors.manifest import load_vectors

load_suite_modules()

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"


def test_every_rule_is_pinned_by_a_vector() -> None:
    pins = RP.pins(VECTORS)
    assert {p.rule for p in pins} == set(flags.RULES)
    unpinned = [f"{p.rule} ({p.port})" for p in pins if p.vector is None]
    assert not unpinned, f"no committed vector fails these ports: {unpinned}"


def test_every_mutant_breaks_a_named_rule() -> None:
    mapped = [m for ms in RP.COMPUTATION.values() for m in ms]
    assert len(mapped) == len(set(mapped)), "a mutant is listed under two rules"
    assert set(mapped) == set(catalog.MUTANTS)
    assert set(RP.COMPUTATION) | set(RP.ANSWER_PORTS) | set(rejections.rules_by_id()) == set(
        flags.RULES)


def test_coverage_reports_every_rule() -> None:
    text = (VECTORS / "COVERAGE.md").read_text()
    m = re.search(r"Rule coverage: (\d+) of (\d+) rules have a vector \((\d+)%\)", text)
    assert m is not None
    assert m.group(1) == m.group(2) == str(len(flags.RULES)) and m.group(3) == "100"


def test_negative_vectors_carry_their_rejection_rule() -> None:
    loaded = load_vectors(VECTORS)
    seen = 0
    for _entry, data in loaded.files:
        for v in data["vectors"]:
            if "reject" not in v["expected"]:
                continue
            ref = run_reference(v["op"], v["config"], v["inputs"])
            rule = rejections.classify(v["op"], ref["message"])
            assert rule == v["rule"], (v["id"], ref["message"])
            assert rejections.rules_by_id()[rule].cls == v["expected"]["reject"]
            seen += 1
    assert seen > 100


def test_skip_port_rejects_everything_else() -> None:
    """A port skipping one check still rejects the other rules' vectors."""
    port = RP.SkipRule("bspn.config.group_divides")
    vec = next(v for _e, d in load_vectors(VECTORS).files for v in d["vectors"]
               if v["rule"] == "bspn.range.x")
    with pytest.raises(Rejected) as info:
        port.run(vec["op"], dict(vec["config"]), dict(vec["inputs"]))
    assert info.value.cls == "range"


def test_spec_rejection_table_is_generated() -> None:
    spec = (ROOT / "spec" / "11-backend-protocol.md").read_text()
    assert rejections.table_markdown() in spec


def test_rules_of_files_are_registered() -> None:
    for path in sorted(VECTORS.glob("*/*.json")):
        head = json.loads(path.read_text())
        for rule, info in head["rules"].items():
            assert flags.RULES[rule] == (info["section"], info["text"]), (path, rule)
