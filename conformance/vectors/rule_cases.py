"""Cases that pin one rule each: every configuration field's range, and the wire's answers.

spec/10-vectors.md, "Generation"; spec/11-backend-protocol.md, "Rejections" and
"Answers to readers' questions".  For every field of an operator's configuration
dataclass, the value one past each end of its range (read from the reference's own
message, so a range that depends on other fields is respected), and for a flag an
integer where JSON ``true``/``false`` is required; each case is kept only when the
reference rejects it under that field's rule (:func:`conformance.vectors.rejections.classify`).
The wire cases pin how a request is read: unknown and missing configuration fields,
JSON booleans and floats where integers are required, integers beyond 64 bits.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from conformance.operators import get_op, run_reference
from conformance.vectors.cases import Case
from conformance.vectors.rejections import PREFIX, classify

JSON = Any

_PROBE = 10**9
_RANGE = re.compile(r"outside the valid range \[(-?\d+), (-?\d+)\]")


def _rule_of(op: str, config: Mapping[str, JSON], inputs: Mapping[str, JSON]) -> str | None:
    res = run_reference(op, dict(config), inputs)
    return None if "reject" not in res else classify(op, str(res["message"]))


def _field_rule(op: str, name: str) -> str:
    prefix = PREFIX[op]
    return f"{'model' if prefix == 'layer' else prefix}.config.{name}"


def field_negatives(op: str, config: Mapping[str, JSON],
                    inputs: Mapping[str, JSON]) -> list[Case]:
    """Per configuration field, the values one past each end of its range (config rejections).

    ``inputs`` are valid for ``config``, so each case has exactly one defect.
    """
    cases: list[Case] = []
    for f in dataclasses.fields(get_op(op).config_type):
        rule = _field_rule(op, f.name)
        if f.type in ("bool", bool):
            bad = {**config, f.name: int(bool(config[f.name]))}
            if _rule_of(op, bad, inputs) == rule:
                cases.append(Case(dict(inputs), f"{f.name} given as the integer "
                                  f"{bad[f.name]}, not a JSON boolean", config=bad,
                                  reject="config", rule=rule))
            continue
        for probe, end in ((_PROBE, 1), (-_PROBE, 0)):
            res = run_reference(op, {**config, f.name: probe}, inputs)
            m = _RANGE.search(str(res.get("message", "")))
            if m is None:
                continue
            value = int(m.group(2)) + 1 if end else int(m.group(1)) - 1
            bad = {**config, f.name: value}
            if _rule_of(op, bad, inputs) != rule:
                continue
            side = "above" if end else "below"
            cases.append(Case(dict(inputs), f"{f.name} = {value}, one {side} its valid range "
                              f"[{m.group(1)}, {m.group(2)}]", config=bad, reject="config",
                              rule=rule))
    return cases


def wire_negatives(op: str, config: Mapping[str, JSON], inputs: Mapping[str, JSON],
                   tensor: str) -> list[Case]:
    """How a request is read: unknown and missing config fields, non-integers, wide integers.

    ``tensor`` names a list input of ``op`` whose first element is replaced.
    """
    first = next(iter(config))
    missing = {k: v for k, v in config.items() if k != first}
    raw = inputs[tensor]

    def first_is(v: JSON) -> JSON:
        return [v, *raw[1:]] if isinstance(raw, list) else v

    where = f"{tensor}[0]" if isinstance(raw, list) else tensor
    cases = [
        Case(dict(inputs), "the config carries a field the operator does not define",
             config={**config, "comment": 0}, reject="config", rule="wire.config.unknown"),
        Case(dict(inputs), f"the config lacks the field {first}", config=missing,
             reject="config", rule="wire.config.missing"),
        Case({**inputs, tensor: first_is(2.0)}, f"{where} is the JSON float 2.0",
             reject="range", rule="wire.input.not_integer"),
        Case({**inputs, tensor: first_is(True)}, f"{where} is JSON true",
             reject="range", rule="wire.input.not_integer"),
        Case({**inputs, tensor: first_is(1 << 64)}, f"{where} is 2^64, beyond int64: "
             "valid JSON, outside every format", reject="range", rule="wire.int.wide"),
        Case({**inputs, tensor: first_is(-(1 << 70) - 1)}, f"{where} is -2^70 - 1",
             reject="range", rule="wire.int.wide"),
    ]
    if isinstance(raw, list):
        cases.append(Case({**inputs, tensor: raw[0]}, f"{tensor} is a number, not a list",
                          reject="shape", rule="wire.input.not_list"))
    return cases


def mask_negatives(inputs: Mapping[str, JSON]) -> list[Case]:
    """JSON ``true``/``false`` and a non-list are not masks (class ``mask``)."""
    mask = list(inputs["mask"])
    return [
        Case({**inputs, "mask": [bool(m) for m in mask]}, "mask written as JSON true/false "
             "(the wire's masks are the integers 0 and 1)", reject="mask",
             rule="wire.mask.entry"),
        Case({**inputs, "mask": 1}, "mask is a number, not a list", reject="mask",
             rule="wire.mask.not_list"),
    ]


def answer_cases(op: str, inputs: Mapping[str, JSON]) -> list[Case]:
    """Valid cases pinning the wire's answers: an absent PTsoftmax mask, an empty quantizer x."""
    if op == "ptsoftmax":
        scores = inputs["scores"]
        return [Case({"scores": scores}, "no mask field: no entry is masked",
                     rule="ptsoftmax.mask_absent"),
                Case({"scores": [-s for s in scores]}, "no mask field, negated scores: no "
                     "entry is masked", rule="ptsoftmax.mask_absent")]
    if op == "quantize":
        return [Case({**inputs, "x": []}, "an empty x: empty counts", rule="quantize.empty")]
    return []


CONSISTENCY: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "bspn": (("bspn.config.group_divides", "group_size", "non_divisor:channels"),),
    "binary_linear": (("linear.config.steps", "steps", "below:bits"),),
    "ffn": (("model.config.heads_divide", "heads", "non_divisor:hidden"),
                  ("model.config.group_divides", "bspn_group", "non_divisor:hidden"),
                  ("model.config.score_fits", "score_width", "score_fits")),
}
"""Operator -> (rule, field, how to break the rule between fields) of its configuration."""


def _non_divisor(n: int) -> int | None:
    """The smallest ``g`` in ``[2, n - 1]`` that does not divide ``n`` (None if every one does)."""
    return next((g for g in range(2, n) if n % g), None)


def consistency_negatives(op: str, config: Mapping[str, JSON],
                          inputs: Mapping[str, JSON]) -> list[Case]:
    """Configurations whose fields are each in range but break a rule between fields."""
    cases: list[Case] = []
    for rule, name, how in CONSISTENCY.get(op, ()):
        kind, _, other = how.partition(":")
        value: int | None
        if kind == "non_divisor":
            value = _non_divisor(int(config[other]))
        elif kind == "below":
            value = (1 << int(config[other])) - 2
        else:  # the smallest score width that cannot hold the largest score
            value = next((w for w in range(int(config[name]), 7, -1)
                          if _rule_of(op, {**config, name: w}, inputs) == rule), None)
        if value is None or value < 1:
            continue
        bad = {**config, name: value}
        if _rule_of(op, bad, inputs) == rule:
            cases.append(Case(dict(inputs), f"{name} = {value}: every field in its range, "
                              f"the rule {rule} between fields broken", config=bad,
                              reject="config", rule=rule))
    return cases
