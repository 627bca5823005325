"""Vector suites of the model-level operators (spec/06-layers.md, spec/08-model.md).

For each tiny model preset (``tiny``, ``tiny-odd``) one suite per operator
(``attention``, ``ffn``, ``encoder_layer``, ``model``): parameters drawn by
:func:`conformance.model.draws.draw_params` from fixed seeds, hand-named edge cases
(single token, every key but the first masked, full length, zero input, inputs at
the ends of the hidden format, saturating output requantization) and negative
cases (bad mask, out-of-range input, wrong shape, a Q move above its format).
Every vector carries the trace tensors as profile outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from conformance.model.draws import draw_h0, draw_mask, draw_params
from conformance.operators import config_to_dict
from conformance.operators.layers import layer_to_inputs, model_to_inputs
from conformance.vectors import flags as flagmod
from conformance.vectors.cases import Case
from conformance.vectors.generate import Suite, register_shapes, register_suite, suite_seed
from conformance.vectors.rule_cases import (
    consistency_negatives,
    field_negatives,
    mask_negatives,
    wire_negatives,
)
from reference import model
from reference.errors import SorbetError
from reference.model_config import ModelConfig, ModelParams
from reference.model_presets import MODEL_PRESETS

JSON = Any

OPS = ("attention", "ffn", "encoder_layer", "model")
PART = {"attention": "attention", "ffn": "ffn", "encoder_layer": "all"}
RULE = {"attention": "layer.attention", "ffn": "layer.ffn", "encoder_layer": "layer.encoder",
        "model": "model.forward"}
DRAWN = {"attention": 10, "ffn": 10, "encoder_layer": 6, "model": 4}
"""Drawn vectors per suite (before the edge and negative cases)."""

def _analyze(cfg: ModelConfig, inputs: Mapping[str, JSON],
             outputs: Mapping[str, JSON]) -> set[str]:
    """Flags found in a model-level vector's content."""
    found: set[str] = set()
    mask = inputs.get("mask")
    if isinstance(mask, list) and mask:
        if not any(mask):
            found.add("all_masked")
        elif not all(mask):
            found.add("masked_row")
        if len(mask) == cfg.max_seq:
            found.add("max_length")
    h = inputs.get("h")
    if isinstance(h, list) and h and not any(h):
        found.add("zero_input")
    if isinstance(h, list) and (cfg.h_format.min in h or cfg.h_format.max in h):
        found.add("format_extreme")
    rf = cfg.r_format
    for key, value in outputs.items():
        base = key.rsplit(".", 1)[-1]
        if base in ("a_o", "a_ffn2", "r1", "r2") and isinstance(value, list) and (
                rf.min in value or rf.max in value):
            found.add("saturation")
    return found


for _op in ("attention", "ffn", "encoder_layer", "model"):
    flagmod.register_analyzer(_op, _analyze)


def _inputs(op: str, cfg: ModelConfig, params: ModelParams, h: list[list[int]],
            mask: list[bool], layer: int = 0) -> dict[str, JSON]:
    out: dict[str, JSON] = {"h": [v for row in h for v in row]}
    if op != "ffn":
        out["mask"] = [1 if m else 0 for m in mask]
    if op == "model":
        out.update(model_to_inputs(params, cfg))
    else:
        out.update(layer_to_inputs(params.layers[layer], "", cfg, PART[op]))
    return out


def _ffn_input(cfg: ModelConfig, params: ModelParams, h: list[list[int]],
               mask: list[bool]) -> list[list[int]]:
    """The feed-forward block's input: the attention block's output ``h1`` (BSPN values)."""
    out = model.forward(h, mask, params, cfg, trace=True)
    return [list(r) for r in out.trace["layer.0.h1"]]


def _builder(op: str, name: str, preset: str, cfg: ModelConfig) -> Callable[[], list[Case]]:
    def build() -> list[Case]:
        seed = suite_seed(name)
        cases: list[Case] = []
        rule = RULE[op]

        def case(params: ModelParams, h: list[list[int]], mask: list[bool], comment: str,
                 flags: tuple[str, ...] = (), via_attention: bool = False) -> Case:
            hh = _ffn_input(cfg, params, h, mask) if via_attention and op == "ffn" else h
            return Case(_inputs(op, cfg, params, hh, mask), comment, flags, rule)

        for k in range(DRAWN[op]):
            params = draw_params(cfg, seed + k)
            seq = 1 + (seed + k) % cfg.max_seq
            cases.append(case(params, draw_h0(cfg, seq, seed + 100 + k),
                              draw_mask(seq, seed + 200 + k),
                              f"random parameters and input (draw {k}), {seq} tokens",
                              via_attention=True))
        params = draw_params(cfg, seed + 1000)
        n = cfg.max_seq
        h = draw_h0(cfg, n, seed + 1001)
        cases.append(case(params, h, [True] * n, "every token real, longest sequence"))
        cases.append(case(params, h[:1], [True], "a single token"))
        cases.append(case(params, h, [True] + [False] * (n - 1),
                          "every key but the first masked"))
        if op != "ffn":
            cases.append(case(params, h, [False] * n, "every key masked: zero probabilities, "
                              "zero context"))
        zero = [[0] * cfg.hidden for _ in range(n)]
        cases.append(case(params, zero, [True] * n, "zero hidden states"))
        fmt = cfg.h_format
        ext = [[fmt.max if (t + j) % 2 else fmt.min for j in range(cfg.hidden)]
               for t in range(n)]
        cases.append(case(params, ext, [True] * n, "hidden states at the ends of their format"))
        mmax = (1 << cfg.multiplier_bits) - 1
        bmax = (1 << (cfg.bias_width - 1)) - 1
        big = tuple(bmax if i % 2 == 0 else -bmax for i in range(cfg.hidden))
        loud = ModelParams(tuple(
            replace(lp, o=replace(lp.o, out_mult=mmax, out_shift=0, out_bias=big),
                    ffn2=replace(lp.ffn2, out_mult=mmax, out_shift=0, out_bias=big))
            for lp in params.layers), params.head)
        cases.append(case(loud, h, [True] * n, "output requantization saturates the residual "
                          "format"))
        for k, sign in ((1, 1), (2, -1), (3, 1)):
            pk = draw_params(cfg, seed + 2000 + k)
            hk = draw_h0(cfg, n, seed + 2100 + k)
            push = tuple(sign * bmax for _ in range(cfg.hidden))
            sat = ModelParams(tuple(
                replace(lp, o=replace(lp.o, out_mult=mmax, out_shift=k - 1, out_bias=push),
                        ffn2=replace(lp.ffn2, out_mult=mmax, out_shift=k - 1, out_bias=push))
                for lp in pk.layers), pk.head)
            cases.append(case(sat, hk, [True] * n, f"every residual pushed to the "
                              f"{'top' if sign > 0 else 'bottom'} of its format (draw {k}): "
                              "the residual saturates", ("saturation",)))
        if op == "model":
            cases += _classifier_extremes(cfg, params, h, case)
            free = dict(config_to_dict(cfg), u_frac=0, cls_frac=15)
            cases.append(Case(_inputs(op, cfg, params, h, [True] * n), "u_frac 0 and "
                              f"cls_frac 15 (above cls_width - 1 = {cfg.cls_width - 1}): "
                              "valid, and every output as with the preset's values",
                              (), "model.fracs_free", free))
        if op != "ffn":
            # p = 1 for the single real key, and (2**bits - 3) / 2 is exactly halfway.
            tie = ModelParams(tuple(
                replace(lp, prob_mult=(1 << cfg.bits) - 3, prob_shift=cfg.prob_frac + 1)
                for lp in params.layers), params.head)
            cases.append(case(tie, h, [True] + [False] * (n - 1),
                              "probability count exactly halfway: ties to even",
                              ("rounding_tie",)))
            cases.append(Case(_inputs(op, cfg, params, h, [True] * n), "every key real: "
                              "the probability offset pm > 0 and the context offset W * V "
                              "apply", (), "layer.prob_offset"))
            cases.append(Case(_inputs(op, cfg, params, ext, [True] * n), "every key real, "
                              "hidden states at the ends of their format: the heads' smallest "
                              "probabilities differ, the layer's decides", (),
                              "layer.prob_offset"))
            for k in (1, 2):
                pk = draw_params(cfg, seed + 4000 + k)
                cases.append(Case(_inputs(op, cfg, pk, draw_h0(cfg, n, seed + 4100 + k),
                                          [True] * n),
                                  f"every key real, drawn parameters (draw {k}): probability "
                                  "and context offsets", (), "layer.prob_offset"))
            odd = ModelParams(tuple(replace(lp, score_mult=min(3, mmax))
                                    for lp in params.layers), params.head)
            cases.append(case(odd, h, [True] * n, "a score multiplier that is not a power of two"))
        if op != "attention":
            moved = ModelParams(tuple(
                replace(lp, ffn2=replace(lp.ffn2, in_bias=(min(1 << lp.ffn2.in_shift, bmax),)
                                         * cfg.ffn))
                for lp in params.layers), params.head)
            cases.append(case(moved, h, [True] * n, "FFN2 input move of one step: the ReLU clamp "
                              "comes before the move", via_attention=True))
            for k in (1, 2, 3):
                pk = draw_params(cfg, seed + 3000 + k)
                hk = draw_h0(cfg, n, seed + 3100 + k)
                neg = ModelParams(tuple(
                    replace(lp, ffn1=replace(lp.ffn1, out_bias=(-bmax,) * cfg.ffn),
                            ffn2=replace(lp.ffn2, in_bias=(min(k << lp.ffn2.in_shift, bmax),)
                                         * cfg.ffn))
                    for lp in pk.layers), pk.head)
                cases.append(case(neg, hk, [True] * n, f"FFN1's output pushed negative, FFN2 "
                                  f"input move of {k} step(s): the ReLU clamps before the move "
                                  f"(draw {k})", via_attention=True))
        cases += _negative(op, preset, cfg, params, h)
        return cases

    return build


def _classifier_extremes(cfg: ModelConfig, params: ModelParams, h: list[list[int]],
                         case: Callable[..., Case]) -> list[Case]:
    """The classifier's accumulator at its extremes: a saturated pooler, extreme weights.

    The pooler's output requantization pushes every pooled value to the top of the
    hidden format; every classifier weight at one end of ``s{cls_width}`` and the bias
    at the same end give ``|logits| = H (2^(h_width-1) - 1) 2^(cls_width-1) + 2^(bias_width-1)``
    or one below (spec/08-model.md, "Classifier").
    """
    mmax = (1 << cfg.multiplier_bits) - 1
    bmax = (1 << (cfg.bias_width - 1)) - 1
    pooler = replace(params.head.pooler, out_mult=mmax, out_shift=0,
                     out_bias=(bmax,) * cfg.hidden)
    w = (1 << (cfg.cls_width - 1))
    out = []
    for weight, bias, what in ((w - 1, bmax, "largest"), (-w, -bmax - 1, "smallest")):
        head = replace(params.head, pooler=pooler, cls_weight=(weight,) * (
            cfg.num_labels * cfg.hidden), cls_bias=(bias,) * cfg.num_labels)
        out.append(case(ModelParams(params.layers, head), h, [True] * len(h),
                        f"pooled values saturated, every classifier weight and bias at its "
                        f"{what} value: the classifier's accumulator at its extreme",
                        ("accumulator_extreme",)))
    return out


RULE_OP, RULE_PRESET = "ffn", "tiny-odd"
"""The suite carrying the per-field and wire rejections of the model configuration."""


def _negative(op: str, preset: str, cfg: ModelConfig, params: ModelParams,
              h: list[list[int]]) -> list[Case]:
    n = len(h)
    base = _inputs(op, cfg, params, h, [True] * n)
    bad: list[tuple[dict[str, JSON], str, str]] = []
    if op != "ffn":
        bad.append(({**base, "mask": [1] * (n + 1)}, "mask one entry too long", "mask"))
        bad.append(({**base, "mask": [*([1] * (n - 1)), 2]}, "mask entry 2", "mask"))
    over = list(base["h"])
    over[0] = cfg.h_format.max + 1
    bad.append(({**base, "h": over}, "hidden value above its format", "range"))
    bad.append(({**base, "h": base["h"][:-1]}, "hidden states one value short", "shape"))
    if op in ("attention", "encoder_layer", "model"):
        key = "layer.0.q.in_bias" if op == "model" else "q.in_bias"
        moved = [cfg.bias_format.max + 1, *list(base[key])[1:]]
        bad.append(({**base, key: moved}, "a Q move above its format", "range"))
        skey = "layer.0.q.signs" if op == "model" else "q.signs"
        zs = [0, *list(base[skey])[1:]]
        bad.append(({**base, skey: zs}, "a zero weight sign", "range"))
    else:
        key = "ffn1.signs"
        zs = [0, *list(base[key])[1:]]
        bad.append(({**base, key: zs}, "a zero weight sign", "range"))
    pre = "layer.0." if op == "model" else ""
    lin = "ffn1" if op == "ffn" else "q"
    bad.append(({**base, f"{pre}{lin}.in_mult": 0}, f"{lin}.in_mult 0 (at least 1)", "config"))
    bad.append(({**base, f"{pre}{lin}.in_bias": list(base[f"{pre}{lin}.in_bias"])[1:]},
                f"{lin}.in_bias one entry short", "shape"))
    rows = cfg.max_seq + 1
    bad.append(({**base, "h": [0] * (rows * cfg.hidden),
                 **({} if op == "ffn" else {"mask": [1] * rows})},
                f"{rows} tokens, one more than max_seq", "shape"))
    if op != "ffn":
        bad.append(({k: val for k, val in base.items() if k != "mask"},
                    "the mask is absent (required by the model-level operators)", "shape"))
    cases = [Case(inp, f"rejected: {what}", (), None, None, cls) for inp, what, cls in bad]
    if op != "ffn":
        cases += mask_negatives(base)
    if op == RULE_OP and preset == RULE_PRESET:
        config = config_to_dict(cfg)
        cases += (field_negatives(op, config, base) + consistency_negatives(op, config, base)
                  + wire_negatives(op, config, base, "h"))
    return cases


def _shapes(config: Mapping[str, JSON], name: str, value: JSON) -> list[int] | None:
    """Shapes of the model-level tensors (seq x hidden, heads x seq x seq, ...)."""
    if not isinstance(value, list):
        return None
    try:
        cfg = ModelConfig(**config)
    except (SorbetError, TypeError):  # an invalid configuration of a negative vector
        return None
    base = name.rsplit(".", 1)[1] if name.startswith("layer.") else name
    if base in ("h", "hidden"):
        return [len(value) // cfg.hidden, cfg.hidden] if len(value) % cfg.hidden == 0 else None
    if base.endswith("signs") and "." in name:
        lname = name.split(".")[-2]
        try:
            lc = cfg.linear(lname)
        except SorbetError:
            return None
        if len(value) == lc.in_features * lc.out_features:
            return [lc.out_features, lc.in_features]
        return None
    if base in ("scores", "probs", "c_prob"):
        seq2 = len(value) // cfg.heads
        seq = math.isqrt(seq2)
        return [cfg.heads, seq, seq] if cfg.heads * seq * seq == len(value) else None
    if base in ("acc_ffn1", "u", "cin_ffn2"):
        return [len(value) // cfg.ffn, cfg.ffn] if len(value) % cfg.ffn == 0 else None
    if base == "cls_weight":
        return [cfg.num_labels, cfg.hidden] if len(value) == cfg.num_labels * cfg.hidden \
            else None
    if base in model.TRACE_LAYER_NAMES:
        return [len(value) // cfg.hidden, cfg.hidden] if len(value) % cfg.hidden == 0 else None
    return None


for _op in OPS:
    register_shapes(_op, _shapes)
    for _preset in ("tiny", "tiny-odd"):
        _cfg = MODEL_PRESETS[_preset]
        _name = f"{_op}-{_preset}"
        register_suite(Suite(_name, _op, _preset, config_to_dict(_cfg),
                             _builder(_op, _name, _preset, _cfg)))
