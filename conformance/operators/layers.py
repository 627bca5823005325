"""Model-level operators of the registry: "attention", "ffn", "encoder_layer", "model".

Listed in :mod:`conformance.operators.registry` (spec/06-layers.md, spec/08-model.md).  The
configuration is a :class:`reference.model_config.ModelConfig`; the inputs are JSON
(spec/08, "Operators of the vectors"):

- ``h``: the input hidden states, flat ``seq x hidden`` (row-major; ``seq = len(h) / hidden``);
  ``mask``: ``seq`` values 0/1 (1 = real token).
- per linear layer ``P`` (``q k v o ffn1 ffn2``, and ``pooler``): ``P.signs`` (flat
  ``out x in`` list of +1/-1), ``P.in_mult``, ``P.in_shift``, ``P.in_bias`` (list),
  ``P.out_mult``, ``P.out_shift``, ``P.out_bias`` (list);
- ``score_mult``, ``prob_mult``, ``prob_shift``; ``bspn1.weight_sign``, ``bspn1.weight_exp``,
  ``bspn1.bias`` and the same for ``bspn2``; ``attention`` reads only q, k, v, o, the score and
  probability constants and ``bspn1``; ``ffn`` only ffn1, ffn2 and ``bspn2``;
- ``model``: every layer's parameters prefixed ``layer.{i}.``, then ``pooler.*``,
  ``cls_weight`` (flat ``num_labels x hidden``) and ``cls_bias``.

Normative outputs: ``h1`` (attention), ``h2`` (ffn, encoder_layer), ``hidden``,
``pooled``, ``logits`` (model).  Every other trace tensor is a profile output under its
trace name, flattened, so a failing port sees the first tensor that diverges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.operators.wire import (
    JSON,
    OpSpec,
    input_field,
    input_int,
    input_ints,
    input_mask,
)
from reference import layers, model
from reference.binary_linear import pack_signs
from reference.bspn import BSPNParams
from reference.errors import RangeError, ShapeError
from reference.model_config import (
    LINEAR_NAMES,
    HeadParams,
    LayerParams,
    LinearParams,
    ModelConfig,
    ModelParams,
)

# --------------------------------------------------------------------------- JSON decoding


def _rows(flat: list[int], cols: int, name: str) -> list[list[int]]:
    if len(flat) % cols:
        raise ShapeError(f"inputs.{name}: length {len(flat)} is not a multiple of {cols}")
    return [flat[r * cols : (r + 1) * cols] for r in range(len(flat) // cols)]


def _mask(inputs: Mapping[str, JSON]) -> list[bool]:
    return input_mask(input_field(inputs, "mask"))


def _hidden(inputs: Mapping[str, JSON], cfg: ModelConfig) -> list[list[int]]:
    return _rows(input_ints(inputs, "h"), cfg.hidden, "h")


def linear_from_inputs(inputs: Mapping[str, JSON], p: str, cfg: ModelConfig,
                       name: str) -> LinearParams:
    """Decode linear layer ``name`` from the fields prefixed ``p`` (signs as +1/-1)."""
    lc = cfg.linear(name)
    signs = input_ints(inputs, f"{p}signs")
    if len(signs) != lc.in_features * lc.out_features:
        raise ShapeError(
            f"inputs.{p}signs: expected {lc.out_features} x {lc.in_features} = "
            f"{lc.in_features * lc.out_features} entries, got {len(signs)}"
        )
    for i, s in enumerate(signs):
        if s not in (-1, 1):
            raise RangeError(f"inputs.{p}signs[{i}]: expected -1 or +1, got {s!r}")
    return LinearParams(
        signs=pack_signs(_rows(signs, lc.in_features, f"{p}signs")),
        in_mult=input_int(inputs, f"{p}in_mult"), in_shift=input_int(inputs, f"{p}in_shift"),
        in_bias=tuple(input_ints(inputs, f"{p}in_bias")),
        out_mult=input_int(inputs, f"{p}out_mult"), out_shift=input_int(inputs, f"{p}out_shift"),
        out_bias=tuple(input_ints(inputs, f"{p}out_bias")),
    )


def _bspn_params(inputs: Mapping[str, JSON], p: str) -> BSPNParams:
    return BSPNParams(tuple(input_ints(inputs, f"{p}weight_sign")),
                      tuple(input_ints(inputs, f"{p}weight_exp")),
                      tuple(input_ints(inputs, f"{p}bias")))


ATTENTION_LINEARS = ("q", "k", "v", "o")
FFN_LINEARS = ("ffn1", "ffn2")


def _unused_linear(cfg: ModelConfig, name: str) -> LinearParams:
    """A placeholder for a linear layer a block does not use (never read)."""
    lc = cfg.linear(name)
    return LinearParams(bytes((lc.in_features * lc.out_features + 7) // 8), 1, 0,
                        (0,) * lc.in_features, 1, 0, (0,) * lc.out_features)


def _unused_bspn(cfg: ModelConfig) -> BSPNParams:
    return BSPNParams((0,) * cfg.hidden, (0,) * cfg.hidden, (0,) * cfg.hidden)


def layer_from_inputs(inputs: Mapping[str, JSON], p: str, cfg: ModelConfig,
                      part: str = "all") -> LayerParams:
    """Decode one encoder layer's parameters from the fields prefixed ``p``.

    ``part`` is ``attention`` (q, k, v, o, score_mult, prob_*, bspn1), ``ffn``
    (ffn1, ffn2, bspn2) or ``all``; the parts not read are placeholders the block ignores.
    """
    att, ffn = part in ("all", "attention"), part in ("all", "ffn")
    names = (ATTENTION_LINEARS if att else ()) + (FFN_LINEARS if ffn else ())
    lin = {n: (linear_from_inputs(inputs, f"{p}{n}.", cfg, n) if n in names
               else _unused_linear(cfg, n)) for n in LINEAR_NAMES}
    return LayerParams(
        q=lin["q"], k=lin["k"], v=lin["v"], o=lin["o"], ffn1=lin["ffn1"], ffn2=lin["ffn2"],
        score_mult=input_int(inputs, f"{p}score_mult") if att else 1,
        prob_mult=input_int(inputs, f"{p}prob_mult") if att else 1,
        prob_shift=input_int(inputs, f"{p}prob_shift") if att else 0,
        bspn1=_bspn_params(inputs, f"{p}bspn1.") if att else _unused_bspn(cfg),
        bspn2=_bspn_params(inputs, f"{p}bspn2.") if ffn else _unused_bspn(cfg),
    )


def head_from_inputs(inputs: Mapping[str, JSON], cfg: ModelConfig) -> HeadParams:
    """Decode the pooler and classifier."""
    return HeadParams(
        pooler=linear_from_inputs(inputs, "pooler.", cfg, "pooler"),
        cls_weight=tuple(input_ints(inputs, "cls_weight")),
        cls_bias=tuple(input_ints(inputs, "cls_bias")),
    )


def model_from_inputs(inputs: Mapping[str, JSON], cfg: ModelConfig) -> ModelParams:
    """Decode every parameter of the model op."""
    return ModelParams(
        layers=tuple(layer_from_inputs(inputs, f"layer.{i}.", cfg) for i in range(cfg.layers)),
        head=head_from_inputs(inputs, cfg),
    )


# --------------------------------------------------------------------------- JSON encoding


def _flat(value: Any) -> list[int]:
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    return [value]


def linear_to_inputs(lin: LinearParams, p: str, cfg: ModelConfig, name: str) -> dict[str, JSON]:
    """The JSON fields of one linear layer (inverse of :func:`linear_from_inputs`)."""
    lc = cfg.linear(name)
    rows = layers.sign_bits(lin, lc)
    return {
        f"{p}signs": [1 if b else -1 for row in rows for b in row],
        f"{p}in_mult": lin.in_mult, f"{p}in_shift": lin.in_shift,
        f"{p}in_bias": list(lin.in_bias),
        f"{p}out_mult": lin.out_mult, f"{p}out_shift": lin.out_shift,
        f"{p}out_bias": list(lin.out_bias),
    }


def layer_to_inputs(layer: LayerParams, p: str, cfg: ModelConfig,
                    part: str = "all") -> dict[str, JSON]:
    """The JSON fields of one encoder layer (``part``: all, attention or ffn)."""
    att, ffn = part in ("all", "attention"), part in ("all", "ffn")
    names = (ATTENTION_LINEARS if att else ()) + (FFN_LINEARS if ffn else ())
    out: dict[str, JSON] = {}
    for n, lin in layer.linears().items():
        if n in names:
            out.update(linear_to_inputs(lin, f"{p}{n}.", cfg, n))
    if att:
        out[f"{p}score_mult"] = layer.score_mult
        out[f"{p}prob_mult"] = layer.prob_mult
        out[f"{p}prob_shift"] = layer.prob_shift
    for b, bp, used in (("bspn1", layer.bspn1, att), ("bspn2", layer.bspn2, ffn)):
        if used:
            out[f"{p}{b}.weight_sign"] = list(bp.weight_sign)
            out[f"{p}{b}.weight_exp"] = list(bp.weight_exp)
            out[f"{p}{b}.bias"] = list(bp.bias)
    return out


def model_to_inputs(params: ModelParams, cfg: ModelConfig) -> dict[str, JSON]:
    """The JSON parameter fields of the model op."""
    out: dict[str, JSON] = {}
    for i, layer in enumerate(params.layers):
        out.update(layer_to_inputs(layer, f"layer.{i}.", cfg))
    out.update(linear_to_inputs(params.head.pooler, "pooler.", cfg, "pooler"))
    out["cls_weight"] = list(params.head.cls_weight)
    out["cls_bias"] = list(params.head.cls_bias)
    return out


# --------------------------------------------------------------------------- runners


def _profile(tr: Mapping[str, list[Any]], skip: tuple[str, ...]) -> dict[str, JSON]:
    return {k: _flat(v) for k, v in tr.items() if k not in skip}


def _run_attention(cfg: ModelConfig, inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    h = _hidden(inputs, cfg)
    mask = _mask(inputs)
    layer = layer_from_inputs(inputs, "", cfg, "attention")
    h1, tr = layers.attention_block(h, mask, layer, cfg, trace=True)
    return {"h1": _flat(h1), **_profile(tr, ("h1",))}


def _run_ffn(cfg: ModelConfig, inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    h = _hidden(inputs, cfg)
    layer = layer_from_inputs(inputs, "", cfg, "ffn")
    h2, tr = layers.ffn_block(h, layer, cfg, trace=True)
    return {"h2": _flat(h2), **_profile(tr, ("h2",))}


def _run_encoder_layer(cfg: ModelConfig, inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    h = _hidden(inputs, cfg)
    mask = _mask(inputs)
    layer = layer_from_inputs(inputs, "", cfg)
    h2, tr = layers.encoder_layer(h, mask, layer, cfg, trace=True)
    return {"h2": _flat(h2), **_profile(tr, ("h2",))}


def _run_model(cfg: ModelConfig, inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    h = _hidden(inputs, cfg)
    mask = _mask(inputs)
    params = model_from_inputs(inputs, cfg)
    out = model.forward(h, mask, params, cfg, trace=True)
    return {
        "hidden": _flat([list(r) for r in out.hidden]), "pooled": list(out.pooled),
        "logits": list(out.logits), **_profile(out.trace, ("pooled", "logits")),
    }


def _linear_fields(p: str) -> tuple[str, ...]:
    return tuple(f"{p}{f}" for f in
                 ("signs", "in_mult", "in_shift", "in_bias", "out_mult", "out_shift", "out_bias"))


def layer_input_names(p: str = "", part: str = "all") -> tuple[str, ...]:
    """Parameter field names of one layer, prefixed ``p`` (``part``: all, attention, ffn)."""
    att, ffn = part in ("all", "attention"), part in ("all", "ffn")
    names: list[str] = []
    for n in (ATTENTION_LINEARS if att else ()) + (FFN_LINEARS if ffn else ()):
        names += _linear_fields(f"{p}{n}.")
    if att:
        names += [f"{p}score_mult", f"{p}prob_mult", f"{p}prob_shift"]
    for b, used in (("bspn1", att), ("bspn2", ffn)):
        if used:
            names += [f"{p}{b}.weight_sign", f"{p}{b}.weight_exp", f"{p}{b}.bias"]
    return tuple(names)


ATTENTION_PROFILE = model.TRACE_LAYER_NAMES[: model.TRACE_LAYER_NAMES.index("h1")]
FFN_PROFILE = model.TRACE_LAYER_NAMES[model.TRACE_LAYER_NAMES.index("h1") + 1 : -1]


MAX_LAYERS = 64
"""Largest ``ModelConfig.layers``: the model op declares names for every possible layer."""


def model_input_names() -> tuple[str, ...]:
    """Every input field the model op may read (layers beyond ``cfg.layers`` are unused)."""
    head = (*_linear_fields("pooler."), "cls_weight", "cls_bias")
    per = [n for i in range(MAX_LAYERS) for n in layer_input_names(f"layer.{i}.")]
    return ("h", "mask", *per, *head)


def model_profile_names() -> tuple[str, ...]:
    """Every profile output of the model op (trace keys other than ``pooled`` and ``logits``)."""
    per = [f"layer.{i}.{n}" for i in range(MAX_LAYERS) for n in model.TRACE_LAYER_NAMES]
    return (*per, "pooler.cin", "pooler.acc")


LAYER_OPS: tuple[OpSpec, ...] = (
    OpSpec("attention", ModelConfig, ("h", "mask", *layer_input_names("", "attention")),
        ("h1",),
        ATTENTION_PROFILE, "spec/06-layers.md", _run_attention),
    OpSpec("ffn", ModelConfig, ("h", *layer_input_names("", "ffn")), ("h2",),
        FFN_PROFILE, "spec/06-layers.md", _run_ffn),
    OpSpec("encoder_layer", ModelConfig, ("h", "mask", *layer_input_names()), ("h2",),
        model.TRACE_LAYER_NAMES[:-1], "spec/06-layers.md", _run_encoder_layer),
    OpSpec("model", ModelConfig, model_input_names(), ("hidden", "pooled", "logits"),
        model_profile_names(), "spec/08-model.md", _run_model),
)
"""The model-level operators (spec/06-layers.md, spec/08-model.md)."""
