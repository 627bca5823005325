"""The mutant catalog (conformance/mutants/catalog.py, docs/mutants.md).

- with every knob at its default, each operator's variant equals the reference
  on every output (Hypothesis, presets tiny, tiny-b2 and sorbet), and so does the
  variant of the model blocks (Hypothesis, model presets tiny and tiny-odd);
- every mutant has a recorded witness, an input found by a shrinking Hypothesis
  search (``conformance.mutants.catalog.find_witness``) on which it differs from the
  reference;
- mutants reject exactly what the reference rejects, with the same class;
- the committed vectors kill every mutant (through the runner's Python API);
- docs/mutants.md is generated from the catalog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.mutants import catalog as M
from conformance.mutants import model_variants as MV
from conformance.mutants import op_variants as V
from conformance.operators import OPS, config_from_dict, config_to_dict, get_op, run_reference
from conformance.runner.backends import Rejected
from conformance.vectors import general_suites as GS
from reference.model_presets import MODEL_PRESETS

ROOT = Path(__file__).resolve().parent.parent

SORBET_LINEAR_EXTREME = (
    "sorbet",
    "linear_signed",
    {"counts": [0] * 768, "signs": [1] * (768 * M.SEARCH_OUT_FEATURES)},
)
"""Every term at -8: the accumulator reaches -6144, which needs 14 bits."""

WITNESSES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "ptsm-score-floor": ("tiny", "ptsoftmax", {"scores": [-512, -511], "mask": None}),
    "ptsm-score-trunc": ("tiny", "ptsoftmax", {"scores": [0, 1], "mask": None}),
    "ptsm-score-half-up": ("tiny", "ptsoftmax", {"scores": [-512, -511], "mask": None}),
    "ptsm-ceil-no-sign-extension": ("tiny", "ptsoftmax", {"scores": [-1, 0], "mask": None}),
    "ptsm-partition-ties-down": ("tiny", "ptsoftmax", {"scores": [-512, -511], "mask": None}),
    "ptsm-partition-log": ("tiny", "ptsoftmax", {"scores": [0, 1, 1, 1, 1, 1, -4], "mask": None}),
    "ptsm-partition-floor": ("tiny", "ptsoftmax", {"scores": [-512, -511], "mask": None}),
    "ptsm-masked-in-max": (
        "tiny",
        "ptsoftmax",
        {"scores": [-512, -512, -512, -512, -512, -495], "mask": [0, 0, 0, 0, 1, 0]},
    ),
    "ptsm-masked-in-partition": (
        "tiny",
        "ptsoftmax",
        {"scores": [-512, -512, -512, -512, -512, -512], "mask": [0, 0, 0, 0, 0, 1]},
    ),
    "ptsm-all-masked-uniform": ("tiny", "ptsoftmax", {"scores": [-512], "mask": [0]}),
    "ptsm-partition-frac-minus1": ("tiny", "ptsoftmax", {"scores": [-512, -499], "mask": None}),
    "ptsm-partition-frac-plus1": ("tiny-b2", "ptsoftmax", {"scores": [-128, -124], "mask": None}),
    "ptsm-out-shift-minus1": ("tiny", "ptsoftmax", {"scores": [-512], "mask": None}),
    "ptsm-out-shift-plus1": ("tiny", "ptsoftmax", {"scores": [-512], "mask": None}),
    "ptsm-small-terms-saturate": ("tiny", "ptsoftmax", {"scores": [-512, -495], "mask": None}),
    "ptsm-shift-mod32": ("tiny", "ptsoftmax", {"scores": [-512, -387], "mask": None}),
    "bspn-eps-dropped": (
        "tiny",
        "bspn",
        {
            "x": [-8, -8, -8, -8, -8, -8, -8, -8],
            "weight_sign": [0, 0, 0, 0, 0, 0, 0, 1],
            "weight_exp": [0, 0, 0, 0, 0, 0, 0, 0],
            "bias": [0, 0, 0, 0, 0, 0, 0, 0],
        },
    ),
    "bspn-divisor-strict": (
        "tiny",
        "bspn",
        {
            "x": [-16, -16, -16, -16, -16, -1, -1, 12],
            "weight_sign": [0, 0, 0, 0, 0, 0, 0, 1],
            "weight_exp": [0, 0, 0, 0, 0, 0, 0, 0],
            "bias": [0, 0, 0, 0, 0, 0, 0, 0],
        },
    ),
    "bspn-divisor-floor": (
        "tiny",
        "bspn",
        {
            "x": [-8, -8, -8, -8, -8, -8, -8, -8],
            "weight_sign": [0, 0, 0, 0, 0, 0, 0, 1],
            "weight_exp": [0, 0, 0, 0, 0, 0, 0, 0],
            "bias": [0, 0, 0, 0, 0, 0, 0, 0],
        },
    ),
    "bspn-group-token": (
        "tiny",
        "bspn",
        {
            "x": [-8, -8, -8, -8, -8, -8, -8, -1],
            "weight_sign": [0, 0, 0, 1, 0, 0, 0, 0],
            "weight_exp": [0, 0, 0, 0, 0, 0, 0, 0],
            "bias": [0, 0, 0, 0, 0, 0, 0, 0],
        },
    ),
    "bspn-group-pow2": (
        "tiny-b2",
        "bspn",
        {
            "x": [-8, -8, -8, -8, -8, -7],
            "weight_sign": [1, 1, 1, 1, 1, 1],
            "weight_exp": [0, 0, 0, 0, 0, 0],
            "bias": [0, 0, 0, 0, 0, 0],
        },
    ),
    "bspn-mean-shift": (
        "tiny-b2",
        "bspn",
        {
            "x": [-8, -8, -8, -8, -8, -1],
            "weight_sign": [1, 1, 1, 1, 1, 1],
            "weight_exp": [0, 0, 0, 0, 0, 0],
            "bias": [0, 0, 0, 0, 0, 0],
        },
    ),
    "bspn-abs-ones-complement": (
        "tiny",
        "bspn",
        {
            "x": [-8, -8, -8, -8, -8, -8, -8, -8],
            "weight_sign": [0, 0, 0, 0, 0, 0, 0, 1],
            "weight_exp": [0, 0, 0, 0, 0, 0, 0, 0],
            "bias": [0, 0, 0, 0, 0, 0, 0, 0],
        },
    ),
    "bspn-zero-weight-plus": (
        "tiny",
        "bspn",
        {
            "x": [-7, -7, -7, -7, -7, -7, -7, -7],
            "weight_sign": [0, 0, 0, 0, 0, 0, 1, 0],
            "weight_exp": [0, 1, 3, 2, 0, 1, 1, 0],
            "bias": [0, 0, 0, 0, 0, 0, 0, 0],
        },
    ),
    "bspn-out-linear": (
        "tiny",
        "bspn",
        {
            "x": [-8, -8, -8, -1, -8, -8, -8, -8],
            "weight_sign": [0, -1, 0, 0, 0, 0, 0, 0],
            "weight_exp": [0, 1, 0, 0, 0, 0, 0, 0],
            "bias": [15, 15, 15, 15, 15, 15, 15, 15],
        },
    ),
    "bspn-out-floor": (
        "tiny",
        "bspn",
        {
            "x": [-8, -8, -8, -8, -8, -8, -8, -8],
            "weight_sign": [0, 0, 0, 0, 0, 0, 0, 0],
            "weight_exp": [0, 0, 0, 0, 0, 0, 0, 0],
            "bias": [3, 3, 3, 3, 3, 3, 3, 3],
        },
    ),
    "bspn-no-saturation": (
        "tiny",
        "bspn",
        {
            "x": [-8, -8, -8, -8, -8, -8, -8, -8],
            "weight_sign": [0, 0, 0, 0, 0, 0, 0, 0],
            "weight_exp": [0, 0, 0, 0, 0, 0, 0, 0],
            "bias": [-128, -128, -128, -128, -128, -128, -128, -128],
        },
    ),
    "bspn-underflow-min": (
        "tiny",
        "bspn",
        {
            "x": [-8, -8, -8, -8, -8, -8, -8, -8],
            "weight_sign": [0, 0, 0, 0, 0, 0, 0, 1],
            "weight_exp": [0, 0, 0, 0, 0, 0, 0, -3],
            "bias": [0, 0, 0, 0, 0, 0, 0, 0],
        },
    ),
    "bspn-bias-ignored": (
        "tiny",
        "bspn",
        {
            "x": [-8, -8, -8, -8, -8, -8, -8, -8],
            "weight_sign": [0, 0, 0, 0, 0, 0, 0, 0],
            "weight_exp": [0, 0, 0, 0, 0, 0, 0, 0],
            "bias": [-128, -128, -128, -128, -128, -128, -128, -128],
        },
    ),
    "bspn-narrow-intermediate": (
        "tiny",
        "bspn",
        {
            "x": [-3, -3, -3, -3, -3, -3, -3, -3],
            "weight_sign": [-1, -1, -1, -1, -1, -1, -1, -1],
            "weight_exp": [0, 0, 0, 0, 0, 0, 0, -3],
            "bias": [0, 0, 0, 0, 0, 0, 0, 0],
        },
    ),
    "quant-half-up": ("tiny", "quant_signed", {"x": [1], "multiplier": 1, "shift": 1, "bias": 0}),
    "quant-half-away": (
        "tiny",
        "quant_signed",
        {"x": [-1], "multiplier": 1, "shift": 1, "bias": 0},
    ),
    "quant-trunc": ("tiny", "quant_signed", {"x": [-1], "multiplier": 1, "shift": 1, "bias": -2}),
    "quant-floor": (
        "tiny",
        "quant_signed",
        {"x": [-2048], "multiplier": 1, "shift": 12, "bias": 0},
    ),
    "quant-no-clamp": (
        "tiny",
        "quant_signed",
        {"x": [-2048], "multiplier": 1, "shift": 0, "bias": 0},
    ),
    "quant-shift-mod32": (
        "tiny",
        "quant_signed",
        {"x": [-2048], "multiplier": 1, "shift": 32, "bias": 0},
    ),
    "quant-bias-rounded-apart": (
        "tiny",
        "quant_signed",
        {"x": [-1], "multiplier": 1, "shift": 1, "bias": -1},
    ),
    "quant-signed-offset-minus1": (
        "tiny",
        "quant_signed",
        {"x": [-2048], "multiplier": 1, "shift": 0, "bias": 0},
    ),
    "quant-unsigned-negative": (
        "tiny",
        "quant_unsigned",
        {"x": [-2048], "multiplier": 1, "shift": 0, "bias": 0},
    ),
    "if-strict": ("tiny", "spikes", {"count": 1}),
    "if-reset-zero": ("tiny", "spikes", {"count": 3}),
    "if-initial-half": ("tiny", "spikes", {"count": 1}),
    "if-threshold-minus1": ("tiny", "spikes", {"count": 1}),
    "if-fire-before-integrate": ("tiny", "spikes", {"count": 1}),
    "lin-acc-wrap-8": SORBET_LINEAR_EXTREME,
    "lin-acc-wrap-12": SORBET_LINEAR_EXTREME,
    "lin-acc-one-bit-short": (
        "tiny",
        "linear_signed",
        {"counts": [0, 0, 0, 0, 0, 0], "signs": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]},
    ),
    "lin-minus-as-zero": (
        "tiny",
        "linear_signed",
        {"counts": [0, 0, 0, 0, 0, 0], "signs": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]},
    ),
    "lin-inverted-signs": (
        "tiny",
        "linear_signed",
        {"counts": [0, 0, 0, 0, 0, 0], "signs": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]},
    ),
    "lin-offset-per-step": (
        "tiny",
        "linear_signed",
        {"counts": [0, 0, 0, 0, 0, 0], "signs": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]},
    ),
    "lin-offset-minus1": (
        "tiny",
        "linear_signed",
        {"counts": [0, 0, 0, 0, 0, 0], "signs": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]},
    ),
    "lin-offset-for-unsigned": (
        "tiny",
        "linear_unsigned",
        {"counts": [0, 0, 0, 0, 0, 0], "signs": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]},
    ),
}
"""Mutant id -> (preset, configuration key of ``M.CONFIG_KEYS``, inputs) it differs on.

Found by ``M.find_witness`` (shrunk); regenerate with
``python -c "from conformance.mutants.catalog import *;
print(find_witness(get_mutant('ID')))"``.
"""



def _recipe(**kw: Any) -> dict[str, Any]:
    """A recipe of ``MV.recipe_inputs``: draw 0 of the parameters and of ``h`` unless told."""
    base: dict[str, Any] = {"seed": 0, "seq": 1, "real": 0, "h_seed": 0, "h_kind": "drawn",
                            "loud": False, "score_mult": None, "prob": None, "ffn2_move": None}
    return {**base, **kw}


MODEL_WITNESSES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "att-qkv-move-dropped": ("tiny", "attention", _recipe(real=1)),
    "att-kv-swapped": ("tiny", "attention", _recipe(real=1)),
    "att-score-floor-after-ceil": ("tiny", "attention", _recipe(seq=2, real=2)),
    "att-score-mult-dropped": ("tiny", "attention", _recipe(seq=2, real=2, score_mult=2)),
    "att-masked-query-zeroed": ("tiny", "attention", _recipe(seq=2, real=1)),
    "att-prob-half-up": ("tiny", "attention", _recipe(seq=2, real=2, h_seed=1, prob=[4, 7])),
    "att-prob-offset-none": ("tiny", "attention", _recipe(seq=2, real=2)),
    "att-prob-offset-per-head": ("tiny", "attention", _recipe(seq=2, real=2,
                                                              h_kind="extreme")),
    "att-prob-offset-per-row": ("tiny", "attention", _recipe(seq=2, real=2)),
    "att-ctx-offset-dropped": ("tiny", "attention", _recipe(real=1)),
    "att-ctx-prob-offset": ("tiny", "attention", _recipe()),
    "res-wrap": ("tiny", "attention", _recipe(loud=True)),
    "ffn-residual-from-r1": ("tiny", "encoder_layer", _recipe()),
    "ffn-relu-missing": ("tiny", "ffn", _recipe(ffn2_move=1)),
    "bspn-groups-whole-hidden": ("tiny", "attention", _recipe()),
    "pool-last-token": ("tiny", "model", _recipe(seq=2)),
    "cls-bias-dropped": ("tiny", "model", _recipe()),
}
"""Model-level mutant id -> (model preset, operator, recipe of ``MV.recipe_inputs``).

Found by ``M.find_witness`` (shrunk); regenerate with
``python -c "from conformance.mutants.catalog import *;
print(find_witness(get_mutant('ID'))['recipe'])"``.
"""


def _model_case(preset: str, op: str, recipe: dict[str, Any]) -> tuple[dict[str, Any],
                                                                         dict[str, Any]]:
    cfg = MODEL_PRESETS[preset]
    return config_to_dict(cfg), MV.recipe_inputs(op, cfg, recipe)


GENERAL_WITNESSES: dict[str, tuple[str, dict[str, Any]]] = {
    "bspn-int64": ("wide", {"x": [1, 0, 0, 0, 0, 0, 0, 0], "weight_sign": [1] * 8,
                            "weight_exp": [0] * 8, "bias": [0] * 8}),
}
"""Mutants whose witness is a general configuration: (general BSPN configuration, inputs)
it differs on."""


def _witness_op(mid: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(operator, config, inputs)`` of the recorded witness of ``mid``."""
    if mid in GENERAL_WITNESSES:
        tag, inputs = GENERAL_WITNESSES[mid]
        return "bspn", config_to_dict(GS.BSPN_GENERAL[tag]), inputs
    if mid in MODEL_WITNESSES:
        preset, op, recipe = MODEL_WITNESSES[mid]
        return (op, *_model_case(preset, op, recipe))
    preset, key, inputs = WITNESSES[mid]
    return M.get_mutant(mid).op, M.preset_config(preset, key), inputs


def _witness(mid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    _op, config, inputs = _witness_op(mid)
    return config, inputs


# --------------------------------------------------------------------- catalog


def test_catalog_shape() -> None:
    assert len(M.CATALOG) >= 25
    assert len(M.MUTANTS) == len(M.CATALOG), "duplicate mutant ids"
    for m in M.CATALOG:
        assert m.op in OPS and m.op == m.affects()[0], m.id
        assert set(m.affects()) <= set(OPS), m.id
        assert m.bug_class in M.BUG_CLASSES, m.id
        assert m.description and "\n" not in m.description, m.id
        assert m.knob_text(), f"{m.id}: knobs equal the defaults, so it is the reference"
        if m.model_level:
            assert set(m.affects()) <= set(MV.MODEL_OPS), m.id
        else:
            assert m.affects() == (m.op,), m.id
    operator_level = [m for m in M.CATALOG if not m.model_level]
    model_level = [m for m in M.CATALOG if m.model_level]
    assert {m.op for m in operator_level} == set(V.VARIANTS)
    assert len(model_level) >= 8
    assert {op for m in model_level for op in m.affects()} == set(MV.MODEL_OPS)
    assert set(M.BUG_CLASSES) == {m.bug_class for m in M.CATALOG}


def test_every_mutant_has_a_witness() -> None:
    assert not set(WITNESSES) & set(MODEL_WITNESSES)
    assert set(WITNESSES) | set(MODEL_WITNESSES) | set(GENERAL_WITNESSES) == set(M.MUTANTS)
    assert set(MODEL_WITNESSES) == {m.id for m in M.CATALOG if m.model_level}


@pytest.mark.parametrize("mid", list(M.MUTANTS))
def test_witness_kills(mid: str) -> None:
    mutant = M.get_mutant(mid)
    op, config, inputs = _witness_op(mid)
    assert op in mutant.affects()
    ref = run_reference(op, config, inputs)
    assert "outputs" in ref, f"{mid}: the witness must be a valid input, got {ref}"
    got = M.MutantBackend(mutant).run(op, config, inputs)
    want = {k: ref["outputs"][k] for k in get_op(op).outputs}
    assert got != want, f"{mid}: witness does not kill it"
    assert M.differs(mutant, op, config, inputs)


def test_find_witness_searches() -> None:
    w = M.find_witness(M.get_mutant("if-strict"), presets=("tiny",), max_examples=50)
    assert w is not None and w["preset"] == "tiny"
    assert M.differs(M.get_mutant("if-strict"), w["op"], w["config"], w["inputs"])


# --------------------------------------------------------------------- default knobs


CASES = [
    (preset, op, key)
    for preset in ("tiny", "tiny-b2", "sorbet")
    for op, keys in M.CONFIG_KEYS.items()
    for key in keys
]


@pytest.mark.parametrize(("preset", "op", "key"), CASES)
def test_default_variant_equals_reference(preset: str, op: str, key: str) -> None:
    config = M.preset_config(preset, key)
    cfg = config_from_dict(get_op(op), config, op)
    big = preset == "sorbet" and op in ("bspn", "binary_linear")

    @settings(max_examples=6 if big else 60, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(M.input_strategy(op, cfg))
    def check(inputs: dict[str, Any]) -> None:
        ref = run_reference(op, config, inputs)
        assert "outputs" in ref, ref
        assert V.run_variant(op, cfg, inputs) == ref["outputs"]

    check()


def test_variant_rejects_wrong_knobs() -> None:
    with pytest.raises(TypeError):
        V.run_variant("ptsoftmax", M.preset_config("tiny", "ptsoftmax"), {}, V.IFKnobs())
    _config, inputs = _model_case("tiny", "ffn", _recipe())
    with pytest.raises(TypeError):
        MV.run("ffn", MODEL_PRESETS["tiny"], inputs, V.IFKnobs())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MV.run("no-such-op", MODEL_PRESETS["tiny"], inputs)


@pytest.mark.parametrize(("preset", "op"),
                         [(p, op) for p in ("tiny", "tiny-odd") for op in MV.MODEL_OPS])
def test_default_model_variant_equals_reference(preset: str, op: str) -> None:
    """Every output of the model blocks' variant, trace included, at the default knobs."""
    cfg = MODEL_PRESETS[preset]
    config = config_to_dict(cfg)

    @settings(max_examples=12, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(MV.recipe_strategy(cfg))
    def check(recipe: dict[str, Any]) -> None:
        inputs = MV.recipe_inputs(op, cfg, recipe)
        ref = run_reference(op, config, inputs)
        assert "outputs" in ref, ref
        assert MV.run(op, cfg, inputs) == ref["outputs"]

    check()


def test_model_mutants_leave_other_model_operators_exact() -> None:
    for m in M.CATALOG:
        if not m.model_level:
            continue
        for op in MV.MODEL_OPS:
            if op in m.affects():
                continue
            config, inputs = _model_case("tiny", op, _recipe(seq=3, real=2, loud=True))
            ref = run_reference(op, config, inputs)
            got = M.MutantBackend(m).run(op, config, inputs)
            assert got == {k: ref["outputs"][k] for k in get_op(op).outputs}, (m.id, op)
            assert not M.differs(m, op, config, inputs)


# --------------------------------------------------------------------- validation


def _invalid(op: str, config: dict[str, Any], inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Broken copies of a valid input: a value out of range and a missing field."""
    field = get_op(op).inputs[0]
    out_of_range = dict(inputs)
    value = inputs[field]
    out_of_range[field] = [1 << 60, *value[1:]] if isinstance(value, list) else 1 << 60
    missing = {k: v for k, v in inputs.items() if k != field}
    return [out_of_range, missing]


@pytest.mark.parametrize("mid", list(M.MUTANTS))
def test_mutant_rejects_like_the_reference(mid: str) -> None:
    mutant = M.get_mutant(mid)
    config, inputs = _witness(mid)
    backend = M.MutantBackend(mutant)
    for bad in _invalid(mutant.op, config, inputs):
        ref = run_reference(mutant.op, config, bad)
        assert "reject" in ref
        with pytest.raises(Rejected) as info:
            backend.run(mutant.op, config, bad)
        assert info.value.cls == ref["reject"]
    bad_config = dict(config, **{next(iter(config)): -5})
    ref = run_reference(mutant.op, bad_config, inputs)
    with pytest.raises(Rejected) as info:
        backend.run(mutant.op, bad_config, inputs)
    assert info.value.cls == ref["reject"] == "config"


@given(st.sampled_from(M.CATALOG), st.sampled_from(sorted(set(OPS) & set(V.VARIANTS))))
@settings(max_examples=30, deadline=None, database=None)
def test_other_operators_are_exact(mutant: M.Mutant, op: str) -> None:
    if op in mutant.affects():
        return
    mid = next(m.id for m in M.CATALOG if m.op == op)
    config, inputs = _witness(mid)
    ref = run_reference(op, config, inputs)
    got = M.MutantBackend(mutant).run(op, config, inputs)
    assert got == {k: ref["outputs"][k] for k in get_op(op).outputs}


# --------------------------------------------------------------------- docs


def test_doc_matches_catalog() -> None:
    doc = ROOT / "docs" / "mutants.md"
    assert doc.read_text(encoding="utf-8") == M.render_doc(), (
        "docs/mutants.md is stale: run `sorbet-ref mutants --doc > docs/mutants.md`"
    )


# --------------------------------------------------------------------- the committed vectors

VECTORS = ROOT / "vectors"


@pytest.mark.slow
def test_committed_vectors_kill_every_mutant() -> None:
    assert (VECTORS / "manifest.json").is_file(), (
        f"no committed vectors in {VECTORS}: run `sorbet-ref vectors generate`"
    )
    rows = M.kill_table(VECTORS)
    problems = sorted({p for r in rows for p in r.problems})
    assert not problems, "the runner could not load the vectors cleanly:\n" + "\n".join(problems)
    survivors = [r for r in rows if r.survived]
    lines = []
    for r in survivors:
        op, config, inputs = _witness_op(r.mutant.id)
        recipe = MODEL_WITNESSES.get(r.mutant.id)
        lines.append(
            f"{r.mutant.id} ({', '.join(r.mutant.affects())}: {r.mutant.description}) survives "
            f"all {r.vectors} vectors of its operators; an input that kills it"
            + (f" (recipe {recipe[0]} {recipe[1]} {recipe[2]})" if recipe else "") + ": "
            + M.witness_json({"op": op, "config": config, "inputs": inputs})
        )
    assert not survivors, "mutants the vectors do not catch:\n" + "\n".join(lines)
    for r in rows:
        assert r.vectors > 0 and r.first_kill is not None
        assert r.first_kill.startswith(r.mutant.affects()), r.mutant.id


@pytest.mark.parametrize("mid", ["if-strict", "quant-half-up", "ptsm-partition-log",
                                 "ffn-residual-from-r1"])
def test_kill_table_agrees_with_a_full_runner_run(mid: str) -> None:
    full = M.run_mutant(M.get_mutant(mid), VECTORS)
    (fast,) = M.kill_table(VECTORS, [mid])
    assert (full.vectors, full.kills, full.first_kill, full.problems) == (
        fast.vectors, fast.kills, fast.first_kill, fast.problems)


# --------------------------------------------------------------------- the command


def _one_suite_dir(tmp: Path, op: str) -> Path:
    """A vectors directory holding only the tiny suite of ``op``, with its manifest."""
    from conformance.vectors.generate import SUITES, load_suite_modules, write_suites
    from conformance.vectors.manifest import manifest_entry, write_manifest

    load_suite_modules()
    name = next(n for n, s in SUITES.items() if s.op == op and s.preset == "tiny")
    written = write_suites(tmp, [name])
    write_manifest(tmp, [manifest_entry(s.path, raw) for s, raw in written])
    return tmp


def test_command_kills_and_reports_survivors(tmp_path: Path, capsys: Any) -> None:
    from conformance.cli import main

    vec = _one_suite_dir(tmp_path / "vec", "if_encode")
    report = tmp_path / "kill.json"
    assert main(["mutants", "--vectors", str(vec), "--only", "if-strict", "if-reset-zero",
                 "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "2/2 mutants killed" in out and "if_encode-tiny-" in out
    # a mutant of an operator without vectors survives: exit 1, named, with a killing input
    assert main(["mutants", "--vectors", str(vec), "--only", "ptsm-score-floor",
                 "--search"]) == 1
    out = capsys.readouterr().out
    assert "SURVIVOR ptsm-score-floor" in out and "killing input:" in out
    assert '"op":"ptsoftmax"' in out


def test_command_list_and_doc(capsys: Any) -> None:
    from conformance.cli import main

    assert main(["mutants", "--list"]) == 0
    assert f"{len(M.CATALOG)} mutants" in capsys.readouterr().out
    assert main(["mutants", "--doc"]) == 0
    assert capsys.readouterr().out == M.render_doc()
    assert main(["mutants", "--only", "no-such-mutant"]) == 2


def _bspn_bits(config: dict[str, int]) -> int:
    """Signed bits BSPN's registers need by spec/03's own bounds: the group sum ``A``
    (``a_width``) and the smaller bound on ``N_i`` that a port MAY size its register by."""
    from reference.bspn import BSPNConfig

    cfg = BSPNConfig(**config)
    p = cfg.exact_frac
    bound = (cfg.group_size << (p + cfg.weight_exp_max)) + (
        1 << (cfg.bias_width - 1 + p - cfg.bias_frac))
    return max(cfg.a_width, bound.bit_length() + 1)


def test_int64_bspn_passes_every_preset_that_fits_and_fails_the_general_claim() -> None:
    """An int64 BSPN is right on every preset suite whose registers fit 64 bits by spec/03's
    bounds, wrong only where they do not (the Sorbet preset's reach about 70 bits), and
    wrong on the general suites (spec/12)."""
    rows = {}
    from conformance.runner.backends import InProcess
    from conformance.runner.check import FAIL_STATUSES, judge
    from conformance.vectors.manifest import load_vectors

    loaded = load_vectors(ROOT / "vectors")
    executor = InProcess(M.MutantBackend(M.get_mutant("bspn-int64")), timeout=None)
    for _entry, data in loaded.files:
        if data["op"] != "bspn":
            continue
        failed = sum(judge(v, executor.call(v))[0] in FAIL_STATUSES for v in data["vectors"])
        rows[data["suite"]] = (data["preset"], failed, _bspn_bits(data["config"]))
    executor.close()
    presets = {s: (n, bits) for s, (p, n, bits) in rows.items() if p != "general"}
    assert {s for s, (n, bits) in presets.items() if bits <= 64 and n} == set()
    assert {s for s, (n, bits) in presets.items() if n} <= {
        s for s, (n, bits) in presets.items() if bits > 64}
    assert {s for s, (p, n, _) in rows.items() if p == "general" and n} >= {
        "bspn-general-wide", "bspn-general-widegroup"}
