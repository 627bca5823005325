"""The rule inventory's ports: for every spec rule, a port that breaks that rule alone.

spec/10-vectors.md, "Flags and rules": every normative rule and every rejection has
a stable id (:data:`conformance.vectors.flags.RULES`).  A rule is *pinned* when at
least one committed vector fails a port that skips or breaks only that rule:

- a rule of the computation is broken by the mutants listed in :data:`COMPUTATION`
  (:mod:`conformance.mutants.catalog`, one plausible bug each), or by one of the
  small ports of :data:`ANSWER_PORTS` for the wire's answers (an absent PTsoftmax
  mask, an empty quantizer input, ``cls_frac`` not tied to ``cls_width``);
- a rejection rule is skipped by :class:`SkipRule`, derived automatically: the
  reference, except that where the reference rejects a request under that rule
  (:func:`conformance.vectors.rejections.classify`, from the reference's own message)
  it answers with outputs, as a port without that check would.

``tests/test_rules.py`` runs every rule's ports over the committed vectors and
fails naming a rule no vector pins; ``vectors/COVERAGE.md`` lists the inventory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.mutants.inventory import ANSWER_PORTS, COMPUTATION

JSON = Any

class SkipRule:
    """A port without one check: the reference, answering where it rejects under ``rule``."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.name = f"skip:{rule}"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        """The reference's answer, except outputs (zeros) for a rejection under the rule."""
        from conformance.operators import get_op, run_reference
        from conformance.runner.backends import Rejected
        from conformance.vectors.rejections import classify

        ref = run_reference(op, config, inputs)
        if "reject" not in ref:
            return {k: ref["outputs"][k] for k in get_op(op).outputs}
        if classify(op, str(ref["message"])) == self.rule:
            return {k: 0 for k in get_op(op).outputs}
        raise Rejected(str(ref["reject"]), str(ref["message"]))


class AnswerPort:
    """A port that answers one of the wire's questions the other way (a rejection)."""

    def __init__(self, which: str) -> None:
        self.which = which
        self.name = f"answer:{which}"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        """The reference, except an absent mask, an empty quantizer ``x`` or a
        ``cls_frac`` above ``cls_width - 1`` is rejected."""
        from conformance.operators import get_op, run_reference
        from conformance.runner.backends import Rejected

        if self.which == "mask-required" and op == "ptsoftmax" and inputs.get("mask") is None:
            raise Rejected("shape", "inputs: missing field 'mask'")
        if self.which == "empty-rejected" and op == "quantize" and inputs.get("x") == []:
            raise Rejected("shape", "quantize: x: empty")
        if (self.which == "fracs-tied" and isinstance(config.get("cls_frac"), int)
                and isinstance(config.get("cls_width"), int)
                and config["cls_frac"] > config["cls_width"] - 1):
            raise Rejected("config", "cls_frac: above cls_width - 1")
        ref = run_reference(op, config, inputs)
        if "reject" in ref:
            raise Rejected(str(ref["reject"]), str(ref["message"]))
        return {k: ref["outputs"][k] for k in get_op(op).outputs}


def ports(rule: str) -> list[Any]:
    """The backends that break ``rule`` alone (spec/11 Python backends)."""
    if rule in COMPUTATION:
        from conformance.mutants.catalog import MutantBackend, get_mutant

        return [MutantBackend(get_mutant(m)) for m in COMPUTATION[rule]]
    if rule in ANSWER_PORTS:
        return [AnswerPort(ANSWER_PORTS[rule])]
    return [SkipRule(rule)]


@dataclass
class Pin:
    """Whether a port breaking a rule fails a committed vector, and the first that does."""

    rule: str
    port: str
    vector: str | None


def pins(vectors_dir: Path, rules: Iterable[str] | None = None) -> list[Pin]:
    """For every rule (all by default) and each of its ports: the first committed vector it fails.

    Vectors labelled with the rule are tried first; a port stops at its first
    failing vector.  A rejection port can only fail a negative vector, so only
    those are run for it.
    """
    from conformance.runner.backends import InProcess
    from conformance.runner.check import FAIL_STATUSES, judge
    from conformance.vectors import flags
    from conformance.vectors.generate import load_suite_modules
    from conformance.vectors.manifest import load_vectors

    load_suite_modules()  # the model suites register the layer rules
    loaded = load_vectors(vectors_dir)
    every: list[Mapping[str, JSON]] = [v for _e, d in loaded.files for v in d["vectors"]]
    out: list[Pin] = []
    for rule in rules if rules is not None else sorted(flags.RULES):
        own = [v for v in every if v["rule"] == rule]
        rest = [v for v in every if v["rule"] != rule]
        for port in ports(rule):
            pool = own + rest
            if isinstance(port, SkipRule):
                pool = [v for v in pool if "reject" in v["expected"]]
            affects = getattr(getattr(port, "mutant", None), "affects", None)
            if affects is not None:
                pool = [v for v in pool if v["op"] in affects()]
            executor = InProcess(port, timeout=None)
            hit = next((str(v["id"]) for v in pool
                        if judge(v, executor.call(v))[0] in FAIL_STATUSES), None)
            executor.close()
            out.append(Pin(rule, port.name, hit))
    return out
