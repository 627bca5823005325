"""Model-level operators of the registry: "attention", "ffn", "encoder_layer", "model".

Registered into :mod:`conformance.ops` (spec/06-layers.md, spec/08-model.md).  The
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

import random
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from conformance.ops import (
    JSON,
    OpSpec,
    input_field,
    input_int,
    input_ints,
    input_mask,
    register,
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


def _register() -> None:
    register(OpSpec("attention", ModelConfig, ("h", "mask", *layer_input_names("", "attention")),
                    ("h1",),
                    ATTENTION_PROFILE, "spec/06-layers.md", _run_attention))
    register(OpSpec("ffn", ModelConfig, ("h", *layer_input_names("", "ffn")), ("h2",),
                    FFN_PROFILE, "spec/06-layers.md", _run_ffn))
    register(OpSpec("encoder_layer", ModelConfig, ("h", "mask", *layer_input_names()), ("h2",),
                    model.TRACE_LAYER_NAMES[:-1], "spec/06-layers.md", _run_encoder_layer))
    register(OpSpec("model", ModelConfig, model_input_names(), ("hidden", "pooled", "logits"),
                    model_profile_names(), "spec/08-model.md", _run_model))


_register()


# --------------------------------------------------------------------------- parameter draws


def fixed_point(ratio: Fraction, multiplier_bits: int, max_shift: int = 62) -> tuple[int, int]:
    """``(M, s)`` with ``M = round_half_even(ratio * 2**s)`` for the largest ``s <= max_shift``
    keeping ``M < 2**multiplier_bits`` (spec/06, "Requantization"); ``M >= 1``."""
    if ratio <= 0:
        raise ValueError(f"fixed_point: ratio must be positive, got {ratio}")
    for s in range(max_shift, -1, -1):
        m = round(ratio * (1 << s))
        if m < (1 << multiplier_bits):
            return max(m, 1), s
    return (1 << multiplier_bits) - 1, 0


def _isqrt_up(n: int) -> int:
    r = 1
    while r * r < n:
        r += 1
    return r


def draw_params(cfg: ModelConfig, seed: int) -> ModelParams:
    """Deterministic random parameters with realistic activity (counts spread over their range).

    Pure Python (``random.Random(seed)``); the scales follow the expected magnitude of each
    accumulator so that most requantized values land inside their range.
    """
    rng = random.Random(seed)
    mb = cfg.multiplier_bits
    o = 1 << (cfg.bits - 1)
    cmax = (1 << cfg.bits) - 1
    bmax = (1 << (cfg.bias_width - 1)) - 1

    def jitter(r: Fraction) -> Fraction:
        return r * Fraction(rng.randint(80, 125), 100)

    def bias(shift: int, spread: Fraction) -> int:
        lim = int(spread * (1 << shift))
        return max(-bmax, min(bmax, rng.randint(-lim, lim)))

    def lin(name: str, r_in: Fraction, r_out: Fraction, in_bias: bool, out_spread: Fraction,
            pos_bias: bool = False) -> LinearParams:
        lc = cfg.linear(name)
        signs = [[rng.choice((-1, 1)) for _ in range(lc.in_features)]
                 for _ in range(lc.out_features)]
        mi, si = fixed_point(jitter(r_in), mb)
        mo, so = fixed_point(jitter(r_out), mb)
        ib = tuple(bias(si, Fraction(1, 2)) if in_bias else 0 for _ in range(lc.in_features))
        ob = tuple(abs(b) if pos_bias else b
                   for b in (bias(so, out_spread) for _ in range(lc.out_features)))
        return LinearParams(pack_signs(signs), mi, si, ib, mo, so, ob)

    def bspn_p() -> BSPNParams:
        bc = cfg.bspn
        lo, hi = max(bc.weight_exp_min, -1), min(bc.weight_exp_max, 1)
        blim = min((1 << bc.bias_frac) // 4, (1 << (bc.bias_width - 1)) - 1)
        return BSPNParams(
            tuple(rng.choice((-1, 1, 1, 1)) for _ in range(cfg.hidden)),
            tuple(rng.randint(lo, hi) for _ in range(cfg.hidden)),
            tuple(rng.randint(-blim, blim) for _ in range(cfg.hidden)),
        )

    one_h = Fraction(1, 1 << cfg.h_frac)
    half_o = Fraction(max(o, 2), 2)
    sig_in = Fraction(o, 4) * one_h * 2  # h ~ 1 maps to about o/2
    per = {
        "h": Fraction(1 << cfg.h_frac),
        "u": Fraction(1 << cfg.u_frac),
    }

    def spread(fan_in: int, term: Fraction) -> Fraction:
        return term * _isqrt_up(fan_in)

    layers_: list[LayerParams] = []
    hd, ff, dd = cfg.hidden, cfg.ffn, cfg.head_dim
    for _ in range(cfg.layers):
        qkv = {n: lin(n, sig_in, Fraction(o, 2) / spread(hd, half_o), True, Fraction(1, 4))
               for n in ("q", "k", "v")}
        ctx_mag = Fraction(cmax) * half_o
        lo_ = lin("o", Fraction(o, 2) / ctx_mag, per["h"] / spread(hd, half_o), True,
                  Fraction(1, 2))
        l1 = lin("ffn1", sig_in, per["u"] / spread(hd, half_o), True, Fraction(1, 2))
        l2 = lin("ffn2", Fraction(cmax, 3) / per["u"],
                 per["h"] / spread(ff, Fraction(cmax, 3)), True, Fraction(1, 2))
        score_real = Fraction(2) / spread(dd, half_o * half_o)
        mmax = (1 << mb) - 1
        score_mult = max(1, min(mmax, round(jitter(score_real) * (1 << cfg.score_frac))))
        pm, ps = fixed_point(Fraction(cmax, 1 << cfg.prob_frac), mb)
        layers_.append(LayerParams(
            q=qkv["q"], k=qkv["k"], v=qkv["v"], o=lo_, ffn1=l1, ffn2=l2,
            score_mult=score_mult, prob_mult=pm, prob_shift=ps, bspn1=bspn_p(), bspn2=bspn_p(),
        ))
    pool = lin("pooler", sig_in, per["h"] / spread(hd, half_o), True, Fraction(1, 2), True)
    wmax = (1 << (cfg.cls_width - 1)) - 1
    cls_w = tuple(rng.randint(-wmax, wmax) for _ in range(cfg.num_labels * hd))
    blim = min(bmax, 1 << (cfg.h_frac + cfg.cls_frac))
    cls_b = tuple(rng.randint(-blim, blim) for _ in range(cfg.num_labels))
    params = ModelParams(tuple(layers_), HeadParams(pool, cls_w, cls_b))
    params.validate(cfg)
    return params


def draw_h0(cfg: ModelConfig, seq: int, seed: int) -> list[list[int]]:
    """Deterministic random ``h0`` (``seq x hidden``) with values of about +-1.5 in format h."""
    rng = random.Random(seed)
    lim = min(cfg.h_format.max, 3 << (cfg.h_frac - 1) if cfg.h_frac else 1)
    return [[rng.randint(-lim, lim) for _ in range(cfg.hidden)] for _ in range(seq)]


def draw_mask(seq: int, seed: int) -> list[bool]:
    """A padding mask: the first ``n >= 1`` tokens real, the rest padding (``n`` drawn)."""
    rng = random.Random(seed)
    n = rng.randint(1, seq)
    return [t < n for t in range(seq)]


