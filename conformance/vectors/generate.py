"""The deterministic vector generator and the suite registry (spec/10-vectors.md).

A *suite* is one vector file: an operator, a preset, the suite's configuration,
and a builder returning :class:`conformance.vectors.cases.Case` objects.  The generator
runs every case through the reference (``conformance.operators.run_reference``), flags
it by content (:mod:`conformance.vectors.flags`), derives its stable id and writes the
file canonically, so ``sorbet-ref vectors generate`` is byte-identical on every
run.

Adding suites (for example model-level operators registered in
``conformance.operators.OPS``): write a module that, at import, calls

    register_suite(Suite(name="encoder_layer-tiny", op="encoder_layer",
                         preset="tiny", config=config_dict, build=builder))

where ``builder()`` returns an iterable of ``Case`` (use :func:`drawn` for
Hypothesis strategies and :func:`proof_cases` for the proofs' inputs), register
any new flags and rules with :mod:`conformance.vectors.flags`, optionally register a
shape hook with :func:`register_shapes` for tensors that are not flat, and add
the module's name to :data:`SUITE_MODULES`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from conformance.operators import OPS, config_from_dict, config_to_dict, get_op, run_reference
from conformance.vectors import flags as flagmod
from conformance.vectors import rejections
from conformance.vectors import strategies as strat
from conformance.vectors.cases import (
    Case,
    binary_linear_cases,
    binary_linear_negative,
    bspn_cases,
    bspn_negative,
    if_encode_cases,
    if_encode_negative,
    ptsoftmax_cases,
    ptsoftmax_negative,
    quantize_cases,
    quantize_negative,
    small_config,
)
from conformance.vectors.rule_cases import (
    answer_cases,
    consistency_negatives,
    field_negatives,
    mask_negatives,
    wire_negatives,
)
from conformance.vectors.vectorfile import (
    FORMAT_VERSION,
    GENERATOR_VERSION,
    validate_file,
    vector_id,
    write_file,
)
from reference.presets import PRESETS, OperatorPreset
from reference.version import SPEC_VERSION

JSON = Any

SUITE_MODULES: tuple[str, ...] = ("conformance.vectors.model_suites",
                                  "conformance.vectors.general_suites")
"""Extra modules that register suites at import (model-level operators add theirs here)."""


class GeneratorError(Exception):
    """A suite builder produced something inconsistent (names the suite and the case)."""


@dataclass(frozen=True)
class Suite:
    """One vector file: ``vectors/<op>/<name>.json``."""

    name: str
    op: str
    preset: str
    config: dict[str, JSON]
    build: Callable[[], Iterable[Case]]

    @property
    def path(self) -> str:
        """Path of the file relative to the vectors directory."""
        return f"{self.op}/{self.name}.json"


SUITES: dict[str, Suite] = {}
"""Suite name -> suite, in registration order (the order files are written)."""

ShapeHook = Callable[[Mapping[str, JSON], str, JSON], list[int] | None]
SHAPE_HOOKS: dict[str, ShapeHook] = {}
"""Operator -> function(config, tensor name, value) giving a non-flat shape, or None."""


def register_suite(suite: Suite) -> None:
    """Add a suite; names are unique."""
    if suite.name in SUITES:
        raise ValueError(f"suite {suite.name!r} registered twice")
    if suite.op not in OPS:
        raise ValueError(f"suite {suite.name!r}: operator {suite.op!r} is not registered")
    SUITES[suite.name] = suite


def register_shapes(op: str, hook: ShapeHook) -> None:
    """Set the shape hook of ``op`` (tensors default to ``[len]`` or ``[]``)."""
    SHAPE_HOOKS[op] = hook


def suite_seed(name: str) -> int:
    """The Hypothesis seed of a suite: the first 8 bytes of SHA-256("sorbet-ref:" + name)."""
    return int.from_bytes(hashlib.sha256(f"sorbet-ref:{name}".encode()).digest()[:8], "big")


def drawn(strategy: st.SearchStrategy[dict[str, JSON]], n: int, seed_name: str) -> list[Case]:
    """``n`` Hypothesis examples of ``strategy`` as cases (derandomized, fixed seed)."""
    s = suite_seed(seed_name)
    return [Case(inputs, f"drawn by Hypothesis (seed {s:#018x})")
            for inputs in strat.collect(strategy, n, s)]


@functools.cache
def _proof_items(preset: str) -> tuple[Mapping[str, JSON], ...]:
    """Boundary inputs and regressions of the proofs, if the proofs module provides them.

    Calls ``conformance.proofs.boundary_inputs(preset_name)`` and
    ``conformance.proofs.load_regressions()`` when they exist (once per preset).
    """
    try:
        proofs = importlib.import_module("conformance.proofs")
    except ImportError:
        return ()
    items: list[Mapping[str, JSON]] = []
    boundary = getattr(proofs, "boundary_inputs", None)
    if callable(boundary):
        for it in boundary(preset):
            items.append({**it, "_kind": "proof_witness"})
    regressions = getattr(proofs, "load_regressions", None)
    if callable(regressions):
        for it in regressions():
            items.append({**it, "_kind": "proof_regression"})
    return tuple(items)


def proof_cases(op: str, preset: str, config: Mapping[str, JSON]) -> list[Case]:
    """Cases of ``op`` from the proofs' boundary witnesses and counterexample regressions.

    Each item is a mapping with ``op`` and ``inputs`` and optionally ``config``
    (default: the suite's), ``comment``, ``theorem``, ``flags`` and ``preset``;
    items of another operator, preset or configuration are skipped.
    """
    out: list[Case] = []
    for it in _proof_items(preset):
        if it.get("op") != op or it.get("preset", preset) != preset:
            continue
        cfg = it.get("config", config)
        if cfg != config:
            continue
        kind = str(it["_kind"])
        theorem = it.get("theorem", "")
        what = "tightness witness" if kind == "proof_witness" else "counterexample regression"
        comment = str(it.get("comment") or f"{what} of {theorem or 'a proof obligation'}")
        extra_flags = tuple(str(f) for f in it.get("flags", ()))
        out.append(Case(dict(it["inputs"]), comment, (kind, *extra_flags), None, dict(cfg)))
    return out


def _shape(op: str, config: Mapping[str, JSON], name: str, value: JSON) -> list[int]:
    hook = SHAPE_HOOKS.get(op)
    if hook is not None:
        got = hook(config, name, value)
        if got is not None:
            return got
    return [len(value)] if isinstance(value, list) else []


def build_vector(suite: Suite, case: Case) -> dict[str, JSON]:
    """The vector of ``case``: expected result by the reference, flags, rule, id, shapes."""
    op = get_op(suite.op)
    config = dict(case.config if case.config is not None else suite.config)
    result = run_reference(suite.op, config, case.inputs)
    flags = set(case.flags)
    where = f"suite {suite.name}: case {case.comment!r}"
    if "reject" in result:
        cls = str(result["reject"])
        if case.reject is not None and case.reject != cls:
            raise GeneratorError(f"{where}: built to be rejected as {case.reject!r}, the "
                                 f"reference rejects it as {cls!r}: {result['message']}")
        if case.reject is None:
            raise GeneratorError(f"{where}: the reference rejects it ({cls}): "
                                 f"{result['message']}")
        flags.add(f"reject_{cls}")
        expected: dict[str, JSON] = {"reject": cls}
        rule_or_none = rejections.classify(suite.op, str(result["message"]))
        if rule_or_none is None:
            raise GeneratorError(f"{where}: no rejection rule matches the reference's "
                                 f"message {result['message']!r}")
        if case.rule is not None and case.rule != rule_or_none:
            raise GeneratorError(f"{where}: built for rule {case.rule!r}, the reference's "
                                 f"rejection falls under {rule_or_none!r}: {result['message']}")
        rule = rule_or_none
        out_shapes: dict[str, list[int]] = {}
    else:
        if case.reject is not None:
            raise GeneratorError(f"{where}: built to be rejected as {case.reject!r}, the "
                                 "reference computes it")
        outputs = result["outputs"]
        unknown = set(outputs) - set(op.outputs) - set(op.profile_outputs)
        if unknown:
            raise GeneratorError(f"{where}: the reference returned undeclared outputs "
                                 f"{sorted(unknown)}")
        cfg_obj = config_from_dict(op, config, suite.name)
        flags |= flagmod.analyze(suite.op, cfg_obj, case.inputs, outputs)
        expected = {
            "outputs": {k: outputs[k] for k in op.outputs},
            "profile": {k: outputs[k] for k in op.profile_outputs if k in outputs},
        }
        rule = case.rule or flagmod.rule_for(suite.op, flags)
        out_shapes = {k: _shape(suite.op, config, k, v)
                      for part in ("outputs", "profile") for k, v in expected[part].items()}
    unknown_flags = sorted(flags - set(flagmod.FLAG_NOTES))
    if unknown_flags:
        raise GeneratorError(f"{where}: flags {unknown_flags} have no note in vectors.flags")
    if rule not in flagmod.RULES:
        raise GeneratorError(f"{where}: rule {rule!r} is not registered in vectors.flags")
    comment = case.comment
    if comment.startswith("drawn by Hypothesis"):
        targets = ", ".join(sorted(flags)) or "agreement on typical inputs"
        comment = f"{comment}; hits: {targets}"
    return {
        "comment": comment,
        "config": config,
        "expected": expected,
        "flags": sorted(flags),
        "id": vector_id(suite.op, suite.preset, config, case.inputs),
        "inputs": case.inputs,
        "op": suite.op,
        "rule": rule,
        "shapes": {
            "inputs": {k: _shape(suite.op, config, k, v) for k, v in case.inputs.items()},
            "outputs": out_shapes,
        },
    }


def build_suite(suite: Suite) -> dict[str, JSON]:
    """The file contents of ``suite``: header and vectors (duplicates by id dropped)."""
    vectors: list[dict[str, JSON]] = []
    seen: set[str] = set()
    for case in suite.build():
        v = build_vector(suite, case)
        if v["id"] in seen:
            continue
        seen.add(v["id"])
        vectors.append(v)
    if not vectors:
        raise GeneratorError(f"suite {suite.name}: the builder produced no vectors")
    used_flags = sorted({f for v in vectors for f in v["flags"]})
    used_rules = sorted({v["rule"] for v in vectors})
    n_reject = sum(1 for v in vectors if "reject" in v["expected"])
    data: dict[str, JSON] = {
        "config": suite.config,
        "counts": {"reject": n_reject, "total": len(vectors), "valid": len(vectors) - n_reject},
        "format_version": FORMAT_VERSION,
        "generator_version": GENERATOR_VERSION,
        "notes": {f: flagmod.FLAG_NOTES[f] for f in used_flags},
        "op": suite.op,
        "preset": suite.preset,
        "rules": {r: {"section": flagmod.RULES[r][0], "text": flagmod.RULES[r][1]}
                  for r in used_rules},
        "spec_version": SPEC_VERSION,
        "suite": suite.name,
        "vectors": vectors,
    }
    problems = validate_file(data, suite.path)
    if problems:
        raise GeneratorError(f"suite {suite.name}: generated file fails the lint:\n  "
                             + "\n  ".join(problems[:10]))
    return data


def write_suites(out_dir: Path, names: Iterable[str] | None = None) -> list[tuple[Suite, bytes]]:
    """Build and write the named suites (default: all) under ``out_dir``."""
    load_suite_modules()
    chosen = list(SUITES) if names is None else list(names)
    written: list[tuple[Suite, bytes]] = []
    for name in chosen:
        if name not in SUITES:
            raise GeneratorError(f"unknown suite {name!r}; known: {sorted(SUITES)}")
        suite = SUITES[name]
        raw = write_file(out_dir / suite.path, build_suite(suite))
        written.append((suite, raw))
    return written


_loaded = False


def load_suite_modules() -> None:
    """Import :data:`SUITE_MODULES` once, so their suites are registered."""
    global _loaded
    if _loaded:
        return
    for name in SUITE_MODULES:
        importlib.import_module(name)
    _loaded = True


# --- the operator suites ----------------------------------------------------------

EXAMPLES: dict[str, dict[str, int]] = {
    "tiny": {"ptsoftmax": 150, "bspn": 100, "quantize": 90, "if_encode": 40,
             "binary_linear": 50},
    "tiny-b2": {"ptsoftmax": 100, "bspn": 80, "quantize": 70, "if_encode": 20,
                "binary_linear": 40},
    "sorbet": {"ptsoftmax": 40, "bspn": 8, "quantize": 60, "if_encode": 40,
               "binary_linear": 6},
}
"""Hypothesis examples per preset and operator (before removing duplicates)."""

ROW_CAP = {"sorbet": 32}
"""Longest PTsoftmax row Hypothesis draws per preset (edge cases add the longest rows)."""


RULE_PRESET = "tiny"
"""The preset whose suites carry the per-field and wire rejections (one vector per rule
is enough; the tiny configurations keep them small)."""

WIRE_TENSOR = {"ptsoftmax": "scores", "bspn": "x", "quantize": "x", "if_encode": "count",
               "binary_linear": "counts"}
"""The input whose first element the wire cases replace."""


def rule_negatives(op: str, preset: str, config: Mapping[str, JSON],
                   inputs: Mapping[str, JSON]) -> list[Case]:
    """Rules between configuration fields (every preset), and the per-field and wire
    rejections of ``op`` (preset :data:`RULE_PRESET` only)."""
    cases = consistency_negatives(op, config, inputs)
    if preset != RULE_PRESET:
        return cases
    cases += [*field_negatives(op, config, inputs),
             *wire_negatives(op, config, inputs, WIRE_TENSOR[op])]
    if op == "ptsoftmax":
        cases += mask_negatives(inputs)
    return cases


def _op_suites(pre: OperatorPreset) -> list[Suite]:
    n = EXAMPLES[pre.name]
    p = pre.name
    suites: list[Suite] = []

    def add(name: str, op: str, cfg: Any, edge: Callable[[Any], list[Case]],
            neg: Callable[[Any], list[Case]], strategy: st.SearchStrategy[dict[str, JSON]],
            count: int) -> None:
        config = config_to_dict(cfg)

        def build() -> list[Case]:
            edges = edge(cfg)
            return [*edges, *answer_cases(op, edges[0].inputs), *neg(cfg),
                    *rule_negatives(op, p, config, edges[0].inputs),
                    *proof_cases(op, p, config), *drawn(strategy, count, name)]

        suites.append(Suite(name, op, p, config, build))

    ps = pre.ptsoftmax
    add(f"ptsoftmax-{p}", "ptsoftmax", ps, ptsoftmax_cases, ptsoftmax_negative,
        strat.ptsoftmax_inputs(ps, ROW_CAP.get(p, ps.max_len)), n["ptsoftmax"])
    add(f"bspn-{p}", "bspn", pre.bspn, bspn_cases, bspn_negative,
        strat.bspn_inputs(pre.bspn), n["bspn"])
    for kind, qc in (("signed", pre.quant_signed), ("unsigned", pre.quant_unsigned)):
        add(f"quantize-{kind}-{p}", "quantize", qc, quantize_cases, quantize_negative,
            strat.quantize_inputs(qc), n["quantize"])
    add(f"if_encode-{p}", "if_encode", pre.spikes, if_encode_cases, if_encode_negative,
        strat.if_encode_inputs(pre.spikes), n["if_encode"])
    for kind, lc in (("signed", pre.linear_signed), ("unsigned", pre.linear_unsigned)):
        small = small_config(lc)
        add(f"binary_linear-{kind}-{p}", "binary_linear", small, binary_linear_cases,
            binary_linear_negative, strat.binary_linear_inputs(small), n["binary_linear"])
    return suites


def _binary_linear_shapes(config: Mapping[str, JSON], name: str, value: JSON) -> list[int] | None:
    out, steps = config.get("out_features"), config.get("steps")
    if not isinstance(value, list) or not isinstance(out, int) or out <= 0:
        return None
    if name == "signs" and len(value) % out == 0:
        return [out, len(value) // out]
    if name == "partial" and isinstance(steps, int) and len(value) == out * steps:
        return [out, steps]
    return None


register_shapes("binary_linear", _binary_linear_shapes)

for _preset in ("tiny", "tiny-b2", "sorbet"):
    for _suite in _op_suites(PRESETS[_preset]):
        register_suite(_suite)
