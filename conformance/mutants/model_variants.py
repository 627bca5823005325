"""A parameterised variant of the model blocks, for the model-level mutants.

The blocks of spec/06-layers.md and spec/08-model.md (operators ``attention``,
``ffn``, ``encoder_layer`` and ``model``) are composed a second time here from
the reference's own operator functions only:
:func:`reference.quantizer.requantize` (every requantization, with its rounding
as an argument), :func:`reference.binary_linear.linear_count` (every binary
linear accumulation), :func:`reference.ptsoftmax.ptsoftmax` and
:func:`reference.bspn.bspn`.  What this module writes itself is the wiring
between them, which is where the knobs of :class:`ModelKnobs` put an
integration bug of a port.  With every knob at its default the variant computes
exactly what :mod:`reference.layers` and :mod:`reference.model` compute, every
trace tensor included (tests/test_mutants.py checks it with Hypothesis on the
tiny presets).

Like :mod:`conformance.mutants.op_variants`, a variant takes a validated configuration and
inputs the reference accepted: validation stays with the reference.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from conformance.model import draws
from conformance.operators import layers as mo
from reference.algebra import PY
from reference.arith import Rounding, shift_round
from reference.binary_linear import linear_count, unpack_signs
from reference.bspn import BSPNParams, bspn
from reference.model import TRACE_LAYER_NAMES
from reference.model_config import LayerParams, LinearParams, ModelConfig, ModelParams
from reference.ptsoftmax import ptsoftmax
from reference.quantizer import requantize

JSON = Any
"""A value decoded from JSON."""

Matrix = list[list[int]]
"""Rows of integers (tokens x channels)."""

MODEL_OPS: tuple[str, ...] = ("attention", "ffn", "encoder_layer", "model")
"""The model-level operators, in the order the kill table runs them."""


@dataclass(frozen=True)
class ModelKnobs:
    """Integration bugs of the model blocks (spec/06, spec/08); defaults are the spec."""

    qkv_in_bias: bool = True
    """The input moves ``in_bias`` of q, k and v are added (False: dropped)."""
    kv_swapped: bool = False
    """The K and V counts are exchanged (keys from the V projection and vice versa)."""
    score_scale: str = "exact"
    """``x = S * score_mult`` (``exact``); ``floor_after_ceil``: the score scaled by a plain
    right shift after the rounding stage, ``floor(S * score_mult / 2**score_frac)``;
    ``dropped``: ``x = S`` (score_mult ignored)."""
    masked_query_rows: str = "computed"
    """Probability rows of padding queries: computed like any other (spec) or ``zeroed``."""
    prob_rounding: str = "half_even"
    """Rounding of the probability requantization (spec: ``half_even``)."""
    ctx_prob_offset: bool = False
    """The context subtracts ``o`` from the (unsigned) probability counts, as if signed."""
    prob_offset: str = "layer"
    """The probability offset's minimum (spec/06, step 4): over the whole layer (``layer``);
    ``none`` (no offset at all, the rule of spec 0.1 before the offset); ``per_head`` (each
    head its own minimum and offset); ``per_row`` (each query row its own)."""
    ctx_offset: bool = True
    """The context offset ``W * V`` joins o's input bias (step 6); False: the before-term
    only."""
    residual: str = "saturate"
    """``r = sat_r(a + h)`` (``saturate``); ``wrap``: the sum wraps at ``r_width`` bits."""
    ffn_residual_from: str = "h1"
    """The feed-forward residual adds ``h1`` (spec) or ``r1``, the input of BSPN_1
    (in ``encoder_layer`` and ``model``; the ``ffn`` operator has no ``r1``)."""
    ffn_relu: bool = True
    """``u`` is clamped at 0 (the ReLU); False: clamped at the bottom of format ``u``,
    so negative values reach the FFN2 input quantizer."""
    bspn_whole_hidden: bool = False
    """BSPN takes one group over all ``hidden`` channels instead of groups of ``G``."""
    pool_token: str = "first"
    """The pooler's token: ``first`` (spec) or ``last`` (the last row, padding or not)."""
    cls_bias: bool = True
    """The classifier adds ``cls_bias`` (False: dropped)."""


# --------------------------------------------------------------------------- pieces


def _linear(x: Matrix, lin: LinearParams, name: str, cfg: ModelConfig, lo: int, hi: int,
            in_bias: bool = True, extra_bias: list[int] | None = None
            ) -> tuple[Matrix, Matrix, Matrix]:
    """Input quantizer (its bias plus ``extra_bias``), ``linear_count``, output
    requantization: ``(cin, acc, out)``."""
    lc = cfg.linear(name)
    qlo, qhi = (-lc.offset, lc.offset - 1) if lc.signed_input else (0, (1 << lc.bits) - 1)
    extra = extra_bias or [0] * lc.in_features
    cin = [[requantize(PY, v, lin.in_mult, (lin.in_bias[j] if in_bias else 0) + extra[j],
                       lin.in_shift, qlo, qhi) - qlo for j, v in enumerate(row)] for row in x]
    signs = unpack_signs(lin.signs, lc.out_features, lc.in_features)
    acc = [linear_count(row, signs, lc) for row in cin]
    out = [[requantize(PY, a, lin.out_mult, lin.out_bias[i], lin.out_shift, lo, hi)
            for i, a in enumerate(row)] for row in acc]
    return cin, acc, out


def _residual(a: Matrix, h: Matrix, cfg: ModelConfig, kn: ModelKnobs) -> Matrix:
    fmt = cfg.r_format
    size = 1 << fmt.width
    out: Matrix = []
    for ar, hr in zip(a, h, strict=True):
        row = [x + y for x, y in zip(ar, hr, strict=True)]
        if kn.residual == "wrap":
            row = [(v - fmt.min) % size + fmt.min for v in row]
        else:
            row = [min(max(v, fmt.min), fmt.max) for v in row]
        out.append(row)
    return out


def _bspn(r: Matrix, params: BSPNParams, cfg: ModelConfig, kn: ModelKnobs) -> Matrix:
    bc = cfg.bspn
    if kn.bspn_whole_hidden:
        bc = replace(bc, group_size=cfg.hidden)
    return [list(bspn(row, params, bc).out) for row in r]


def _pm(p_min: int) -> int:
    """``2**round(log2 p_min)`` decided exactly, or 0 for ``p_min = 0`` (spec/06, step 4)."""
    if p_min == 0:
        return 0
    k = p_min.bit_length() - 1
    return 1 << (k + 1 if p_min * p_min >= 1 << (2 * k + 1) else k)


def _prob_offsets(probs: list[Matrix], kn: ModelKnobs) -> list[list[int]]:
    """The offset ``pm`` each (head, query row) uses, by the knob ``prob_offset``."""
    if kn.prob_offset == "none":
        return [[0] * len(ph) for ph in probs]
    if kn.prob_offset == "per_row":
        return [[_pm(min(row)) for row in ph] for ph in probs]
    if kn.prob_offset == "per_head":
        return [[_pm(min(p for row in ph for p in row))] * len(ph) for ph in probs]
    pm = _pm(min(p for ph in probs for row in ph for p in row))
    return [[pm] * len(ph) for ph in probs]


def _score(s: int, mult: int, cfg: ModelConfig, kn: ModelKnobs) -> int:
    if kn.score_scale == "dropped":
        return s
    if kn.score_scale == "floor_after_ceil":
        return ((s * mult) >> cfg.score_frac) << cfg.score_frac
    return s * mult


# --------------------------------------------------------------------------- blocks


def attention_block(h: Matrix, mask: list[bool], layer: LayerParams, cfg: ModelConfig,
                    kn: ModelKnobs) -> tuple[Matrix, dict[str, Any]]:
    """Steps 1-7 of spec/06, "Spiking self-attention": ``(h1, trace)``."""
    o = 1 << (cfg.bits - 1)
    cmax = (1 << cfg.bits) - 1
    d = cfg.head_dim
    seq = len(h)
    tr: dict[str, Any] = {}
    c: dict[str, Matrix] = {}
    for name in ("q", "k", "v"):
        cin, acc, out = _linear(h, layer.linears()[name], name, cfg, -o, o - 1, kn.qkv_in_bias)
        tr[f"cin_{name}"], tr[f"acc_{name}"] = cin, acc
        c[name] = [[v + o for v in row] for row in out]
    if kn.kv_swapped:
        c["k"], c["v"] = c["v"], c["k"]
    pcfg = cfg.ptsoftmax
    rnd = Rounding(kn.prob_rounding)
    scores: list[Matrix] = []
    probs: list[Matrix] = []
    for n in range(cfg.heads):
        lo = n * d
        sh: Matrix = []
        ph: Matrix = []
        for t in range(seq):
            row = [_score(sum((c["q"][t][lo + i] - o) * (c["k"][u][lo + i] - o)
                              for i in range(d)), layer.score_mult, cfg, kn)
                   for u in range(seq)]
            sh.append(row)
            if kn.masked_query_rows == "zeroed" and not mask[t]:
                ph.append([0] * seq)
            else:
                ph.append(list(ptsoftmax(row, mask, pcfg).out))
        scores.append(sh)
        probs.append(ph)
    pms = _prob_offsets(probs, kn)
    layer_pm = _pm(min(p for head in probs for row in head for p in row))
    cprob = [[[requantize(PY, p, layer.prob_mult, -pms[n][t] * layer.prob_mult,
                          layer.prob_shift, 0, cmax, rnd) for p in row]
              for t, row in enumerate(ph)] for n, ph in enumerate(probs)]
    off = o if kn.ctx_prob_offset else 0
    ctx = [[0] * cfg.hidden for _ in range(seq)]
    for n in range(cfg.heads):
        for t in range(seq):
            for i in range(n * d, (n + 1) * d):
                ctx[t][i] = sum((w - off) * (c["v"][u][i] - o)
                                for u, w in enumerate(cprob[n][t]))
    pm_ctx = pms[0][0] if kn.prob_offset in ("layer", "none") else layer_pm
    w = 0
    if pm_ctx and kn.ctx_offset:
        w = shift_round(PY, pm_ctx * layer.prob_mult * layer.o.in_mult, layer.prob_shift,
                        Rounding.HALF_EVEN)
    ctx_off = [w * sum(c["v"][u][i] - o for u in range(seq)) for i in range(cfg.hidden)]
    rf = cfg.r_format
    cin_o, acc_o, a_o = _linear(ctx, layer.o, "o", cfg, rf.min, rf.max, extra_bias=ctx_off)
    r1 = _residual(a_o, h, cfg, kn)
    h1 = _bspn(r1, layer.bspn1, cfg, kn)
    tr.update(c_q=c["q"], c_k=c["k"], c_v=c["v"], scores=scores, probs=probs,
              prob_offset=[pm_ctx], c_prob=cprob, ctx=ctx, ctx_offset=ctx_off, cin_o=cin_o,
              acc_o=acc_o, a_o=a_o, r1=r1, h1=h1)
    return h1, tr


def ffn_block(h1: Matrix, layer: LayerParams, cfg: ModelConfig, kn: ModelKnobs,
              r1: Matrix | None = None) -> tuple[Matrix, dict[str, Any]]:
    """Steps 8-9 of spec/06, "Feed-forward": ``(h2, trace)``; ``r1`` is the attention
    block's BSPN input, used only by ``ffn_residual_from="r1"``."""
    uf, rf = cfg.u_format, cfg.r_format
    cin1, acc1, u = _linear(h1, layer.ffn1, "ffn1", cfg, 0 if kn.ffn_relu else uf.min, uf.max)
    cin2, acc2, a2 = _linear(u, layer.ffn2, "ffn2", cfg, rf.min, rf.max)
    res = r1 if kn.ffn_residual_from == "r1" and r1 is not None else h1
    r2 = _residual(a2, res, cfg, kn)
    h2 = _bspn(r2, layer.bspn2, cfg, kn)
    return h2, {"cin_ffn1": cin1, "acc_ffn1": acc1, "u": u, "cin_ffn2": cin2,
                "acc_ffn2": acc2, "a_ffn2": a2, "r2": r2, "h2": h2}


def encoder_layer(h: Matrix, mask: list[bool], layer: LayerParams, cfg: ModelConfig,
                  kn: ModelKnobs) -> tuple[Matrix, dict[str, Any]]:
    """``ffn_block(attention_block(h, mask))`` (spec/06, "Encoder layer")."""
    h1, t1 = attention_block(h, mask, layer, cfg, kn)
    h2, t2 = ffn_block(h1, layer, cfg, kn, t1["r1"])
    return h2, {**t1, **t2}


def forward(h: Matrix, mask: list[bool], params: ModelParams, cfg: ModelConfig,
            kn: ModelKnobs) -> dict[str, JSON]:
    """The stack, the pooler and the classifier (spec/08): the ``model`` operator's outputs."""
    out: dict[str, JSON] = {}
    for i, layer in enumerate(params.layers):
        h, lt = encoder_layer(h, mask, layer, cfg, kn)
        for name in TRACE_LAYER_NAMES:
            out[f"layer.{i}.{name}"] = _flat(lt[name])
    row = h[0] if kn.pool_token == "first" else h[-1]
    head = params.head
    cin, acc, pooled = _linear([row], head.pooler, "pooler", cfg, 0, cfg.h_format.max)
    hd = cfg.hidden
    logits = [sum(p * w for p, w in zip(pooled[0], head.cls_weight[k * hd:(k + 1) * hd],
                                        strict=True))
              + (head.cls_bias[k] if kn.cls_bias else 0) for k in range(cfg.num_labels)]
    out.update({"hidden": _flat(h), "pooled": pooled[0], "logits": logits,
                "pooler.cin": cin[0], "pooler.acc": acc[0]})
    return out


def _flat(value: Any) -> list[int]:
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    return [value]


# --------------------------------------------------------------------------- operators


def run(op: str, cfg: ModelConfig, inputs: Mapping[str, JSON], kn: ModelKnobs | None = None
        ) -> dict[str, JSON]:
    """Every output (normative and profile) of model-level operator ``op``.

    Inputs are decoded by :mod:`conformance.operators.layers`; the reference must have
    accepted them.
    """
    k = ModelKnobs() if kn is None else kn
    if not isinstance(k, ModelKnobs):
        raise TypeError(f"{op}: knobs must be ModelKnobs, got {type(k).__name__}")
    if op not in MODEL_OPS:
        raise ValueError(f"unknown model-level operator {op!r}; expected one of {MODEL_OPS}")
    flat = [int(x) for x in inputs["h"]]
    h = [flat[t:t + cfg.hidden] for t in range(0, len(flat), cfg.hidden)]
    mask = [m == 1 for m in inputs["mask"]] if op != "ffn" else []
    if op == "model":
        return forward(h, mask, mo.model_from_inputs(inputs, cfg), cfg, k)
    if op == "ffn":
        h2, tr = ffn_block(h, mo.layer_from_inputs(inputs, "", cfg, "ffn"), cfg, k)
        return {"h2": _flat(h2), **{n: _flat(v) for n, v in tr.items() if n != "h2"}}
    if op == "attention":
        layer = mo.layer_from_inputs(inputs, "", cfg, "attention")
        h1, tr = attention_block(h, mask, layer, cfg, k)
        return {"h1": _flat(h1), **{n: _flat(v) for n, v in tr.items() if n != "h1"}}
    layer = mo.layer_from_inputs(inputs, "", cfg)
    h2, tr = encoder_layer(h, mask, layer, cfg, k)
    return {"h2": _flat(h2), **{n: _flat(v) for n, v in tr.items() if n != "h2"}}


# --------------------------------------------------------------------------- inputs



def recipe_inputs(op: str, cfg: ModelConfig, recipe: Mapping[str, JSON]) -> dict[str, JSON]:
    """Valid inputs of ``op`` built from a small recipe (witnesses and Hypothesis draws).

    - ``seed``: parameters by :func:`conformance.model.draws.draw_params`;
    - ``seq`` tokens (capped at ``max_seq``), the first ``real`` of them real (at least 0);
    - ``h_seed``, ``h_kind``: ``drawn`` (:func:`conformance.model.draws.draw_h0`),
      ``extreme`` (alternating ends of the hidden format) or ``pow2`` (BSPN-like values);
    - ``loud``: the output requantizations of ``o`` and ``ffn2`` at the largest multiplier,
      shift 0 and the largest biases (the residual saturates), as in the suites;
    - ``score_mult`` and ``prob`` (``[prob_mult, prob_shift]``): override the drawn values
      when not None;
    - ``ffn2_move``: when not None, every ``ffn2.in_bias`` is ``ffn2_move * 2**in_shift``
      (clamped to the bias format): the FFN2 input quantizer moves ``u`` by that many steps.
    """
    params = draws.draw_params(cfg, int(recipe["seed"]))
    seq = max(1, min(int(recipe["seq"]), cfg.max_seq))
    real = max(0, min(int(recipe["real"]), seq))
    mask = [t < real for t in range(seq)]
    kind = recipe.get("h_kind", "drawn")
    fmt = cfg.h_format
    rng = random.Random(int(recipe["h_seed"]))
    if kind == "extreme":
        h = [[fmt.max if (t + j) % 2 else fmt.min for j in range(cfg.hidden)]
             for t in range(seq)]
    elif kind == "pow2":
        h = [[rng.choice((0, 1, -1)) * (1 << rng.randint(0, fmt.width - 2))
              for _ in range(cfg.hidden)] for _ in range(seq)]
    else:
        h = draws.draw_h0(cfg, seq, int(recipe["h_seed"]))
    layers = list(params.layers)
    if recipe.get("loud"):
        mmax = (1 << cfg.multiplier_bits) - 1
        bmax = (1 << (cfg.bias_width - 1)) - 1
        big = tuple(bmax if i % 2 == 0 else -bmax for i in range(cfg.hidden))
        layers = [replace(lp, o=replace(lp.o, out_mult=mmax, out_shift=0, out_bias=big),
                          ffn2=replace(lp.ffn2, out_mult=mmax, out_shift=0, out_bias=big))
                  for lp in layers]
    if recipe.get("score_mult") is not None:
        layers = [replace(lp, score_mult=int(recipe["score_mult"])) for lp in layers]
    if recipe.get("prob") is not None:
        pm, ps = recipe["prob"]
        layers = [replace(lp, prob_mult=int(pm), prob_shift=int(ps)) for lp in layers]
    if recipe.get("ffn2_move") is not None:
        bf = cfg.bias_format
        layers = [replace(lp, ffn2=replace(lp.ffn2, in_bias=(min(max(
            int(recipe["ffn2_move"]) << lp.ffn2.in_shift, bf.min), bf.max),) * cfg.ffn))
            for lp in layers]
    params = ModelParams(tuple(layers), params.head)
    out: dict[str, JSON] = {"h": [v for row in h for v in row]}
    if op != "ffn":
        out["mask"] = [1 if m else 0 for m in mask]
    if op == "model":
        out.update(mo.model_to_inputs(params, cfg))
    else:
        part = {"attention": "attention", "ffn": "ffn", "encoder_layer": "all"}[op]
        out.update(mo.layer_to_inputs(params.layers[0], "", cfg, part))
    return out


def recipe_strategy(cfg: ModelConfig) -> Any:
    """A Hypothesis strategy of recipes for :func:`recipe_inputs` on ``cfg``."""
    from hypothesis import strategies as st

    mmax = (1 << cfg.multiplier_bits) - 1
    return st.fixed_dictionaries({
        "seed": st.integers(0, 10**6),
        "seq": st.integers(1, cfg.max_seq),
        "real": st.integers(0, cfg.max_seq),
        "h_seed": st.integers(0, 10**6),
        "h_kind": st.sampled_from(["drawn", "extreme", "pow2"]),
        "loud": st.booleans(),
        "score_mult": st.one_of(st.none(), st.integers(1, mmax)),
        "prob": st.one_of(st.none(), st.tuples(st.integers(1, mmax), st.integers(0, 16))
                          .map(list)),
        "ffn2_move": st.one_of(st.none(), st.integers(-4, (1 << cfg.bits) + 2)),
    })


def find_witness(knobs: ModelKnobs, ops: tuple[str, ...],
                 presets: tuple[str, ...] = ("tiny", "tiny-odd"),
                 max_examples: int = 300) -> dict[str, JSON] | None:
    """A recipe on which ``knobs`` change a normative output of one of ``ops``, or None.

    Derandomized Hypothesis over :func:`recipe_strategy`, shrinking on; returns
    ``{"preset", "op", "recipe", "config", "inputs"}`` (``inputs`` built by
    :func:`recipe_inputs`).
    """
    from hypothesis import HealthCheck, find, settings
    from hypothesis.errors import NoSuchExample

    from conformance.operators import config_to_dict, get_op, run_reference
    from reference.model_presets import MODEL_PRESETS

    for preset in presets:
        cfg = MODEL_PRESETS[preset]
        config = config_to_dict(cfg)
        for op in ops:
            outs = get_op(op).outputs

            def kills(recipe: dict[str, JSON], op: str = op, cfg: ModelConfig = cfg,
                      config: dict[str, JSON] = config, outs: tuple[str, ...] = outs) -> bool:
                inputs = recipe_inputs(op, cfg, recipe)
                ref = run_reference(op, config, inputs)
                if "outputs" not in ref:
                    return False
                got = run(op, cfg, inputs, knobs)
                return any(got[k] != ref["outputs"][k] for k in outs)

            try:
                recipe = find(recipe_strategy(cfg), kills, settings=settings(
                    max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck)))
            except NoSuchExample:
                continue
            return {"preset": preset, "op": op, "recipe": recipe, "config": config,
                    "inputs": recipe_inputs(op, cfg, recipe)}
    return None
