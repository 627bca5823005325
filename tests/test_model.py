"""The whole model (reference/model.py), its presets and its registry operators."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.model import draws
from conformance.operators import OPS, get_op, run_reference
from conformance.operators import layers as model_ops
from reference import layers, model
from reference.errors import ConfigError, MaskError, RangeError, ShapeError
from reference.model_config import ModelConfig
from reference.model_presets import MODEL_PRESETS, SORBET_BASE, TINY, TINY_ODD, get_model_preset

PRESETS = [TINY, TINY_ODD]
IDS = ["tiny", "tiny-odd"]


def _flat(v: Any) -> list[int]:
    return [x for y in v for x in _flat(y)] if isinstance(v, list) else [v]


def test_presets() -> None:
    assert set(MODEL_PRESETS) == {"sorbet-base", "tiny", "tiny-odd", "micro"}
    b = get_model_preset("sorbet-base")
    assert (b.layers, b.hidden, b.heads, b.ffn, b.vocab, b.max_positions, b.type_vocab,
            b.max_seq, b.num_labels) == (12, 768, 12, 3072, 30522, 512, 2, 512, 2)
    assert b.head_dim == 64 and b.group_size == 64
    t = get_model_preset("tiny")
    assert (t.layers, t.hidden, t.heads, t.ffn, t.max_seq) == (2, 8, 2, 16, 6)
    o = get_model_preset("tiny-odd")
    assert (o.hidden, o.heads, o.head_dim, o.ffn, o.bits, o.steps) == (6, 2, 3, 10, 2, 3)
    with pytest.raises(ConfigError, match="unknown model preset"):
        get_model_preset("huge")


@pytest.mark.parametrize("cfg", PRESETS, ids=IDS)
def test_forward_trace_keys_shapes_and_composition(cfg: ModelConfig) -> None:
    params = draws.draw_params(cfg, 5)
    h0 = draws.draw_h0(cfg, cfg.max_seq, 6)
    mask = draws.draw_mask(cfg.max_seq, 7)
    out = model.forward(h0, mask, params, cfg, trace=True)
    assert list(out.trace) == model.trace_keys(cfg)
    for key, value in out.trace.items():
        shape = model.trace_shape(key, cfg, cfg.max_seq)
        n = 1
        for d in shape:
            n *= d
        assert len(_flat(value)) == n, key
        assert len(value) == shape[0], key
    h = [list(r) for r in h0]
    for layer in params.layers:
        h, _ = layers.encoder_layer(h, mask, layer, cfg)
    assert out.hidden == tuple(tuple(r) for r in h)
    _, _, pooled = layers.pooler(h, params.head, cfg)
    assert out.pooled == tuple(pooled)
    hd = cfg.hidden
    want = [sum(p * w for p, w in zip(pooled, params.head.cls_weight[k * hd:(k + 1) * hd],
                                      strict=True)) + params.head.cls_bias[k]
            for k in range(cfg.num_labels)]
    assert list(out.logits) == want
    assert all(0 <= v <= cfg.h_format.max for v in out.pooled)
    # without trace: same result, empty trace; deterministic
    plain = model.forward(h0, mask, params, cfg)
    assert plain.trace == {} and plain.logits == out.logits
    assert model.forward(h0, mask, params, cfg, trace=True) == out


@pytest.mark.parametrize("cfg", PRESETS, ids=IDS)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_logits_ignore_padding_tokens(cfg: ModelConfig, seed: int) -> None:
    params = draws.draw_params(cfg, seed)
    seq = cfg.max_seq
    h0 = draws.draw_h0(cfg, seq, seed + 1)
    mask = [True, True] + [False] * (seq - 2)
    other = h0[:2] + draws.draw_h0(cfg, seq - 2, seed + 2)
    a = model.forward(h0, mask, params, cfg)
    b = model.forward(other, mask, params, cfg)
    assert a.logits == b.logits and a.hidden[:2] == b.hidden[:2]


def test_forward_rejects_bad_inputs() -> None:
    cfg = TINY
    params = draws.draw_params(cfg, 1)
    h0 = draws.draw_h0(cfg, 3, 2)
    with pytest.raises(MaskError):
        model.forward(h0, [True, True], params, cfg)
    with pytest.raises(ShapeError, match="h0"):
        model.forward(h0 + h0 + h0, [True] * 9, params, cfg)
    with pytest.raises(RangeError, match=r"h0\[1\]\[2\]"):
        bad = [list(r) for r in h0]
        bad[1][2] = cfg.h_format.min - 1
        model.forward(bad, [True] * 3, params, cfg)
    with pytest.raises(ShapeError, match=r"model\.layers"):
        model.forward(h0, [True] * 3, replace(params, layers=params.layers[:1]), cfg)
    with pytest.raises(RangeError, match=r"layer\.1\.v\.in_bias"):
        lp = params.layers[1]
        moved = replace(lp, v=replace(lp.v, in_bias=(cfg.bias_format.min - 1,) * cfg.hidden))
        model.forward(h0, [True] * 3, replace(params, layers=(params.layers[0], moved)), cfg)


def test_tiny_forward_trace_does_not_change_the_result() -> None:
    """Tracing only records: the outputs with and without it are the same (time printed)."""
    cfg = TINY
    params = draws.draw_params(cfg, 9)
    h0 = draws.draw_h0(cfg, cfg.max_seq, 9)
    start = time.perf_counter()
    traced = model.forward(h0, [True] * cfg.max_seq, params, cfg, trace=True)
    print(f"tiny forward with trace: {1000 * (time.perf_counter() - start):.1f} ms")
    plain = model.forward(h0, [True] * cfg.max_seq, params, cfg)
    assert plain.trace == {} and traced.trace
    assert (plain.hidden, plain.pooled, plain.logits) == (
        traced.hidden, traced.pooled, traced.logits)
    assert list(traced.trace["logits"]) == list(plain.logits)


def test_model_ops_are_registered() -> None:
    for name in ("attention", "ffn", "encoder_layer", "model"):
        assert name in OPS
    assert get_op("model").outputs == ("hidden", "pooled", "logits")
    assert "layer.0.scores" in get_op("model").profile_outputs


@pytest.mark.parametrize("cfg", PRESETS, ids=IDS)
def test_model_ops_match_the_reference_functions(cfg: ModelConfig) -> None:
    params = draws.draw_params(cfg, 21)
    seq = cfg.max_seq - 1
    h0 = draws.draw_h0(cfg, seq, 22)
    mask = draws.draw_mask(seq, 23)
    config = {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}
    base = {"h": _flat([list(r) for r in h0]), "mask": [int(m) for m in mask]}
    full = model.forward(h0, mask, params, cfg, trace=True)

    res = run_reference("model", config, {**base, **model_ops.model_to_inputs(params, cfg)})
    outs = res["outputs"]
    assert outs["logits"] == list(full.logits) and outs["pooled"] == list(full.pooled)
    assert outs["hidden"] == _flat([list(r) for r in full.hidden])
    for key, value in full.trace.items():
        if key not in ("pooled", "logits"):
            assert outs[key] == _flat(value), key
    assert set(outs) <= set(get_op("model").outputs) | set(get_op("model").profile_outputs)

    layer = params.layers[0]
    att = run_reference("attention", config,
                        {**base, **model_ops.layer_to_inputs(layer, "", cfg, "attention")})
    assert att["outputs"]["h1"] == _flat(full.trace["layer.0.h1"])
    assert att["outputs"]["scores"] == _flat(full.trace["layer.0.scores"])
    h1 = _flat(full.trace["layer.0.h1"])
    ffn = run_reference("ffn", config, {"h": h1, **model_ops.layer_to_inputs(layer, "", cfg,
                                                                            "ffn")})
    assert ffn["outputs"]["h2"] == _flat(full.trace["layer.0.h2"])
    enc = run_reference("encoder_layer", config,
                        {**base, **model_ops.layer_to_inputs(layer, "", cfg)})
    assert enc["outputs"]["h2"] == _flat(full.trace["layer.0.h2"])
    assert enc["outputs"]["u"] == _flat(full.trace["layer.0.u"])


def test_model_ops_reject_bad_inputs() -> None:
    cfg = TINY
    params = draws.draw_params(cfg, 2)
    config = {"layers": 2, "hidden": 8, "heads": 2, "ffn": 16, "vocab": 32,
              "max_positions": 16, "type_vocab": 2, "max_seq": 6, "num_labels": 2,
              **{f: getattr(cfg, f) for f in ("h_width", "h_frac", "r_width", "u_width",
                                              "u_frac", "eps_exp", "bspn_wexp_min",
                                              "bspn_wexp_max", "bspn_bias_width",
                                              "bspn_bias_frac", "score_width", "score_frac",
                                              "partition_frac", "prob_frac",
                                              "multiplier_bits", "bias_width", "cls_width",
                                              "cls_frac")}}
    inputs = {"h": [0] * 16, "mask": [1, 0],
              **model_ops.layer_to_inputs(params.layers[0], "", cfg, "attention")}
    assert "outputs" in run_reference("attention", config, inputs)
    assert run_reference("attention", config, {**inputs, "mask": [1, 0, 1]})["reject"] == "mask"
    assert run_reference("attention", config, {**inputs, "mask": [1, 2]})["reject"] == "mask"
    assert run_reference("attention", config, {**inputs, "h": [0] * 15})["reject"] == "shape"
    assert run_reference("attention", config, {**inputs, "h": [9999] * 16})["reject"] == "range"
    signs = list(inputs["q.signs"])
    signs[3] = 0
    assert run_reference("attention", config, {**inputs, "q.signs": signs})["reject"] == "range"
    missing = dict(inputs)
    del missing["score_mult"]
    assert run_reference("attention", config, missing)["reject"] == "shape"
    assert run_reference("attention", {**config, "score_width": 12}, inputs)["reject"] == "config"


def test_model_suites_build_and_pass_the_lint() -> None:
    from conformance.vectors import generate

    generate.load_suite_modules()
    data = generate.build_suite(generate.SUITES["attention-tiny-odd"])
    assert data["counts"]["reject"] >= 4 and data["counts"]["valid"] >= 10
    flags = {f for v in data["vectors"] for f in v["flags"]}
    assert {"masked_row", "all_masked", "saturation"} <= flags


def test_sorbet_base_is_valid_and_canonical_is_for_tiny_configs() -> None:
    assert SORBET_BASE.linear("ffn2").acc_format.width <= 32
    assert SORBET_BASE.max_abs_score < 1 << (SORBET_BASE.score_width - 1) <= 1 << 39


def test_spec_preset_table_matches_the_code() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "spec" / "08-model.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines()
            if line.startswith("| `") and line.split("|")[1].strip().strip("`") in MODEL_PRESETS}
    assert set(rows) == set(MODEL_PRESETS)
    for name, cells in rows.items():
        c = MODEL_PRESETS[name]
        want = [str(c.layers), str(c.hidden), f"{c.heads} ({c.head_dim})", str(c.ffn),
                str(c.max_seq), str(c.num_labels), f"{c.bits}, {c.steps}",
                f"`s{c.h_width}.{c.h_frac}`, `s{c.r_width}.{c.h_frac}`, "
                f"`s{c.u_width}.{c.u_frac}`",
                f"`s{c.score_width}.{c.score_frac}`", f"{c.partition_frac}, {c.prob_frac}",
                f"{c.multiplier_bits}, {c.bias_width}"]
        assert cells == want, name
