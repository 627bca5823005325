"""Float evaluation of the authors' Sorbet inference formulas (spec/13-converter.md, 13.9).

This is *not* the reference: it is a numpy float64 transcription of what the
authors' PyTorch code computes at inference (shared/SORBET.md), run on a float
checkpoint, so that a converted integer model can be compared with it
(``sorbet-ref compare``).  Per sample (one sequence at a time):

- embeddings: ``sign(W - mean(W)) * mean_row|W|`` word rows (``sign(0) = 0``) plus
  position and token-type rows, float LayerNorm (eps 1e-12);
- binary linear: ``x + move`` quantized with step ``alpha = max(input_clip_val, 1e-5)``
  (signed: ``clamp(round(x/alpha), -2^(b-1), 2^(b-1)-1)``; unsigned:
  ``clamp(round(x/alpha), 0, 2^b-1)``; ``round`` half to even), times the binary
  weight ``sign(W - mean(W)) * mean|W|`` (``sign(0) = 0``), plus the bias;
- attention: Q, K, V quantized again (``clip_query``/``clip_key``/``clip_value``),
  scores ``q.k / sqrt(D)`` plus -10000 on padded keys, PTsoftmax in float
  (``ceil``, row max, ``2^(s - max)``, partition replaced by the nearest power of two
  in linear distance, ties up), probabilities quantized unsigned (``clip_attn``),
  context ``p.v``; output projection, residual, BSPN;
- BSPN: per token and group ``x / 2^ceil(log2(mean|x| + 1e-5))``, weight
  ``gamma / sqrt(running_phi + 1e-5)`` rounded to ``sign * 2^round(log2|w|)``,
  ``y = w x + beta``, output ``sign(y) * 2^round(log2|y|)`` (float ``log2``);
- FFN: linear, ReLU, linear with unsigned input, residual, BSPN; pooler: linear on
  token 0 then ReLU; classifier: float linear.

Batch dependence (SORBET.md quirk 1): the authors' unsigned quantizer shifts its
input by a power of two derived from the minimum over the whole batch
(:func:`authors_offset`; spec/06, "Departures", 2).  The default
``unsigned_offset="integer"`` is the integer model's rule: the authors' rule at
``m = min(move)`` for the unsigned-input linear layer (``ffn2``) and their rule on
the sample's own probabilities (spec/06, steps 4 and 6); ``"authors"`` applies
their rule to the tensor of the one sample being evaluated for both (a batch of
one, padded positions included), which is what their code computes for batch
size 1; ``"ffn2-only"`` is the static ``ffn2`` offset with no offset for the
probabilities (the integer rule of spec 0.1); ``"zero"`` uses no offset anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from conformance.model.checkpoint import (
    BSPN_MODULES,
    LINEAR_MODULES,
    SECOND_STEP,
    Checkpoint,
    Names,
    detect_names,
)
from reference.errors import ConfigError, MaskError
from reference.host_embedding import check_tokens, layer_norm
from reference.model_config import LINEAR_NAMES, ModelConfig

F64 = npt.NDArray[np.float64]

ALPHA_FLOOR = float(np.float32(1e-5))
"""The authors' quantizers use ``max(alpha, float32(1e-5))`` as the step."""

BSPN_EPS = 1e-5
"""eps of the authors' BSPN (group scaling and ``running_phi``)."""

LN_EPS = 1e-12
"""eps of the embedding LayerNorm."""

MASK_VALUE = -10000.0
"""Additive score of a padded key in the authors' attention."""

AlphaHook = Callable[[str, F64], float]
"""``hook(step_tensor_name, x)`` returns the step to quantize ``x`` with (calibration)."""

BSPNHook = Callable[[str, F64], F64]
"""``hook(bspn_module, scaled)`` returns the ``phi`` to normalize with (training mode).

``scaled`` holds the group-scaled input rows of the real tokens (tokens x hidden);
the returned vector (hidden) replaces ``running_phi`` for this call.
"""


def binarize(w: F64) -> F64:
    """``sign(W - mean(W)) * mean|W|`` over the whole tensor; ``sign(0) = 0``."""
    out: F64 = np.sign(w - w.mean()) * np.abs(w).mean()
    return out


def binarize_rows(w: F64) -> F64:
    """Word embedding: ``sign(W - mean(W)) * mean|W[v]|`` (table mean, per-row scale)."""
    out: F64 = np.sign(w - w.mean()) * np.abs(w).mean(axis=1, keepdims=True)
    return out


def nearest_pow2(z: F64) -> F64:
    """The authors' partition rounding: ``2^floor(log2 z)`` if strictly closer, else ``2^ceil``."""
    lo = np.exp2(np.floor(np.log2(z)))
    hi = np.exp2(np.ceil(np.log2(z)))
    out: F64 = np.where(np.abs(z - lo) < np.abs(z - hi), lo, hi)
    return out


def _pow2_round(x: F64) -> F64:
    """``sign(x) * 2^round(log2|x|)`` (half to even on the float log2); 0 stays 0."""
    mag = np.abs(x)
    safe = np.where(mag > 0, mag, 1.0)
    out: F64 = np.where(mag > 0, np.sign(x) * np.exp2(np.round(np.log2(safe))), 0.0)
    return out


def scalar_pow2_nearest(v: float) -> float:
    """``find_closest_power_of_two`` of the authors' quantizer (Python floats): ties up."""
    lo = 2.0 ** math.floor(math.log2(v))
    hi = 2.0 ** math.ceil(math.log2(v))
    return lo if abs(v - lo) < abs(v - hi) else hi


@dataclass(frozen=True, eq=False)
class FloatLinear:
    """One binary linear layer as the authors' ``QuantizeLinear`` computes it."""

    module: str
    """Checkpoint module path, e.g. ``bert.encoder.layer.0.attention.self.query``."""
    weight: F64
    """Binarized weight ``(out, in)``."""
    bias: F64
    alpha: float
    move: F64
    signed: bool

    @property
    def alpha_name(self) -> str:
        """Name of the step tensor: ``<module>.input_clip_val``."""
        return f"{self.module}.input_clip_val"


@dataclass(frozen=True, eq=False)
class FloatBSPN:
    """One BSPN (``MaskPowerNorm``) in inference form."""

    module: str
    weight: F64
    bias: F64
    running_phi: F64
    group_size: int


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """One encoder layer."""

    linears: dict[str, FloatLinear]
    steps: dict[str, float]
    """Second-quantization steps ``q``, ``k``, ``v``, ``prob``."""
    step_names: dict[str, str]
    bspn1: FloatBSPN
    bspn2: FloatBSPN


@dataclass(frozen=True, eq=False)
class FloatModel:
    """Every parameter the float evaluation reads, taken from a checkpoint."""

    cfg: ModelConfig
    word: F64
    position: F64
    token_type: F64
    ln_gamma: F64
    ln_beta: F64
    layers: tuple[FloatLayer, ...]
    pooler: FloatLinear
    cls_weight: F64
    cls_bias: F64


def _linear(ckpt: Checkpoint, module: str, n_in: int, n_out: int, signed: bool) -> FloatLinear:
    w = ckpt.get(f"{module}.weight", (n_out, n_in))
    return FloatLinear(
        module=module,
        weight=binarize(w),
        bias=ckpt.get(f"{module}.bias", (n_out,)),
        alpha=max(ckpt.scalar(f"{module}.input_clip_val"), ALPHA_FLOOR),
        move=ckpt.get(f"{module}.move.bias", (n_in,)),
        signed=signed,
    )


def load_float_model(ckpt: Checkpoint, cfg: ModelConfig) -> FloatModel:
    """Read every tensor the authors' inference uses; CheckpointError names a bad one."""
    names = detect_names(ckpt)
    h = cfg.hidden
    layers: list[FloatLayer] = []
    for i in range(cfg.layers):
        lins: dict[str, FloatLinear] = {}
        for name in LINEAR_NAMES:
            lc = cfg.linear(name)
            lins[name] = _linear(
                ckpt, names.layer(i, LINEAR_MODULES[name]), lc.in_features, lc.out_features,
                lc.signed_input,
            )
        step_names = {k: names.layer(i, v) for k, v in SECOND_STEP.items()}
        steps = {k: max(ckpt.scalar(v), ALPHA_FLOOR) for k, v in step_names.items()}
        bs = []
        for key in ("bspn1", "bspn2"):
            mod = names.layer(i, BSPN_MODULES[key])
            bs.append(FloatBSPN(
                module=mod,
                weight=ckpt.get(f"{mod}.weight", (h,)),
                bias=ckpt.get(f"{mod}.bias", (h,)),
                running_phi=ckpt.vector(f"{mod}.running_phi", h),
                group_size=cfg.group_size,
            ))
        layers.append(FloatLayer(lins, steps, step_names, bs[0], bs[1]))
    word = ckpt.get(names.emb("word_embeddings.weight"), (cfg.vocab, h))
    return FloatModel(
        cfg=cfg,
        word=binarize_rows(word),
        position=ckpt.get(names.emb("position_embeddings.weight"), (cfg.max_positions, h)),
        token_type=ckpt.get(names.emb("token_type_embeddings.weight"), (cfg.type_vocab, h)),
        ln_gamma=ckpt.get(names.emb("LayerNorm.weight"), (h,)),
        ln_beta=ckpt.get(names.emb("LayerNorm.bias"), (h,)),
        layers=tuple(layers),
        pooler=_linear(ckpt, f"{names.prefix}pooler.dense", h, h, True),
        cls_weight=ckpt.get(Names.classifier("weight"), (cfg.num_labels, h)),
        cls_bias=ckpt.get(Names.classifier("bias"), (cfg.num_labels,)),
    )


UNSIGNED_OFFSETS: tuple[str, ...] = ("integer", "authors", "ffn2-only", "zero")
"""Treatments of the unsigned quantizers' offset (module docstring); the first is the
integer model's."""


def authors_offset(min_val: float) -> tuple[float, float]:
    """The authors' unsigned offset for a tensor minimum: ``(added before, added after)``.

    ``ElasticQuantBinarizerUnsigned``: for ``m < 0`` the input is shifted by
    ``+nearest_pow2(|m|)`` (linear distance, ties up) and the dequantized value by
    ``m``; for ``m > 0`` both use ``M = 2^round(log2 m)`` (``-M`` before, ``+M``
    after); ``m = 0`` changes nothing.  Counts are ``clamp(round((x + before) / a))``
    and the value ``count * a + after``.
    """
    if min_val < 0:
        return scalar_pow2_nearest(-min_val), min_val
    if min_val == 0:
        return 0.0, 0.0
    pm = 2.0 ** round(math.log2(min_val))
    return -pm, pm


@dataclass(frozen=True)
class FloatOptions:
    """Choices where the authors' float code is ambiguous (module docstring)."""

    unsigned_offset: str = UNSIGNED_OFFSETS[0]
    """``"integer"`` (the integer model's rule), ``"authors"`` (batch-min rule, batch of
    one), ``"ffn2-only"`` (static ``ffn2`` offset, none for the probabilities) or ``"zero"``
    (no offset)."""
    qkv_input_move: bool = True
    """Add the Q/K/V layers' own input ``move`` (the authors' code does)."""

    def __post_init__(self) -> None:
        if self.unsigned_offset not in UNSIGNED_OFFSETS:
            raise ConfigError(
                f"FloatOptions.unsigned_offset: expected one of {list(UNSIGNED_OFFSETS)}, "
                f"got {self.unsigned_offset!r}"
            )


@dataclass(frozen=True, eq=False)
class FloatOutput:
    """Result of one sequence: final hidden states, pooled vector, logits, optional trace."""

    hidden: F64
    pooled: F64
    logits: F64
    trace: dict[str, F64] = field(default_factory=dict)


class _Run:
    """State of one forward pass (options, hook, trace)."""

    def __init__(self, cfg: ModelConfig, options: FloatOptions, hook: AlphaHook | None,
                 trace: bool, bspn_hook: BSPNHook | None = None,
                 mask: npt.NDArray[np.bool_] | None = None) -> None:
        self.cfg = cfg
        self.opt = options
        self.hook = hook
        self.bspn_hook = bspn_hook
        self.mask = mask
        self.trace: dict[str, F64] | None = {} if trace else None

    def rec(self, key: str, value: F64) -> None:
        if self.trace is not None:
            self.trace[key] = np.array(value, dtype=np.float64)

    def step(self, name: str, alpha: float, x: F64) -> float:
        if self.hook is None:
            return alpha
        return max(float(self.hook(name, x)), ALPHA_FLOOR)

    def q_signed(self, x: F64, alpha: float) -> F64:
        """Signed counts minus the offset: ``clamp(round(x / alpha), -2^(b-1), 2^(b-1)-1)``."""
        half = 1 << (self.cfg.bits - 1)
        out: F64 = np.clip(np.rint(x / alpha), -half, half - 1)
        return out

    def dq_unsigned(self, x: F64, alpha: float, static_min: float | None) -> tuple[F64, F64]:
        """Unsigned quantization: (counts, dequantized value) under the offset option.

        ``authors``: :func:`authors_offset` of ``x.min()`` (a batch of one); ``integer``:
        of ``static_min`` (the layer's smallest move entry), or of ``x.min()`` for the
        probabilities (``static_min`` None); ``ffn2-only``: of ``static_min``, none for the
        probabilities; ``zero``: no offset.
        """
        top = (1 << self.cfg.bits) - 1
        mode = self.opt.unsigned_offset
        if mode == "authors" or (mode == "integer" and static_min is None):
            before, after = authors_offset(float(x.min()))
        elif mode in ("integer", "ffn2-only") and static_min is not None:
            before, after = authors_offset(static_min)
        else:
            before, after = 0.0, 0.0
        c: F64 = np.clip(np.rint((x + before) / alpha), 0, top)
        return c, c * alpha + after

    def linear(self, lin: FloatLinear, x: F64, tag: str, move: bool = True) -> F64:
        xin = x + lin.move if move else x
        alpha = self.step(lin.alpha_name, lin.alpha, xin)
        if lin.signed:
            q = self.q_signed(xin, alpha)
            self.rec(f"{tag}.cin", q + (1 << (self.cfg.bits - 1)))
            val = q * alpha
        else:
            c, val = self.dq_unsigned(xin, alpha, float(lin.move.min()) if move else 0.0)
            self.rec(f"{tag}.cin", c)
        out: F64 = val @ lin.weight.T + lin.bias
        return out

    def bspn(self, x: F64, p: FloatBSPN) -> F64:
        seq, h = x.shape
        g = x.reshape(seq, h // p.group_size, p.group_size)
        m = np.abs(g).mean(axis=-1, keepdims=True)
        scaled = (g / np.exp2(np.ceil(np.log2(m + BSPN_EPS)))).reshape(seq, h)
        phi = p.running_phi
        if self.bspn_hook is not None:
            real = scaled if self.mask is None else scaled[self.mask]
            phi = np.asarray(self.bspn_hook(p.module, real), dtype=np.float64)
        w = _pow2_round(p.weight / np.sqrt(phi + BSPN_EPS))
        return _pow2_round(w * scaled + p.bias)

    def attention(self, h: F64, mask: npt.NDArray[np.bool_], layer: FloatLayer, tag: str) -> F64:
        cfg = self.cfg
        lins = layer.linears
        o = 1 << (cfg.bits - 1)
        vals: dict[str, F64] = {}
        for p in ("q", "k", "v"):
            y = self.linear(lins[p], h, f"{tag}.{p}", move=self.opt.qkv_input_move)
            alpha = self.step(layer.step_names[p], layer.steps[p], y)
            q = self.q_signed(y, alpha)
            self.rec(f"{tag}.c_{p}", q + o)
            vals[p] = q * alpha
        seq, d = h.shape[0], cfg.head_dim
        heads = cfg.heads
        qh = vals["q"].reshape(seq, heads, d).transpose(1, 0, 2)
        kh = vals["k"].reshape(seq, heads, d).transpose(1, 0, 2)
        vh = vals["v"].reshape(seq, heads, d).transpose(1, 0, 2)
        scores = qh @ kh.transpose(0, 2, 1) / math.sqrt(d)
        scores = scores + np.where(mask, 0.0, MASK_VALUE)[None, None, :]
        self.rec(f"{tag}.scores", scores)
        s = np.ceil(scores)
        e = np.exp2(s - s.max(axis=-1, keepdims=True))
        probs = e / nearest_pow2(e.sum(axis=-1, keepdims=True))
        self.rec(f"{tag}.probs", probs)
        alpha_p = self.step(layer.step_names["prob"], layer.steps["prob"], probs)
        cp, pv = self.dq_unsigned(probs, alpha_p, None)
        self.rec(f"{tag}.c_prob", cp)
        ctx = (pv @ vh).transpose(1, 0, 2).reshape(seq, cfg.hidden)
        self.rec(f"{tag}.ctx", ctx)
        a = self.linear(lins["o"], ctx, f"{tag}.o")
        r1 = a + h
        self.rec(f"{tag}.r1", r1)
        h1 = self.bspn(r1, layer.bspn1)
        self.rec(f"{tag}.h1", h1)
        return h1

    def ffn(self, h1: F64, layer: FloatLayer, tag: str) -> F64:
        u = np.maximum(self.linear(layer.linears["ffn1"], h1, f"{tag}.ffn1"), 0.0)
        self.rec(f"{tag}.u", u)
        r2 = self.linear(layer.linears["ffn2"], u, f"{tag}.ffn2") + h1
        self.rec(f"{tag}.r2", r2)
        h2 = self.bspn(r2, layer.bspn2)
        self.rec(f"{tag}.h2", h2)
        return h2


def embed_float_model(model: FloatModel, ids: npt.NDArray[np.int64],
                      types: npt.NDArray[np.int64]) -> F64:
    """Embedding LayerNorm output (seq x hidden) in float64."""
    e = model.word[ids] + model.position[: ids.size] + model.token_type[types]
    return layer_norm(e, model.ln_gamma, model.ln_beta, LN_EPS)


def forward_float(
    model: FloatModel,
    token_ids: Sequence[int] | npt.ArrayLike,
    token_types: Sequence[int] | npt.ArrayLike | None = None,
    mask: Sequence[bool] | npt.ArrayLike | None = None,
    options: FloatOptions | None = None,
    alpha_hook: AlphaHook | None = None,
    trace: bool = False,
    bspn_hook: BSPNHook | None = None,
) -> FloatOutput:
    """The authors' inference on one sequence (module docstring); ``mask`` True = real token.

    ``alpha_hook`` and ``bspn_hook`` (calibration, training mode) choose the steps and
    the BSPN statistics instead of the checkpoint's.
    """
    cfg = model.cfg
    ids, types = check_tokens(token_ids, token_types, cfg)
    if mask is None:
        m = np.ones(ids.size, dtype=bool)
    else:
        m = np.asarray(mask)
        if m.shape != ids.shape or m.dtype != np.bool_:
            raise MaskError(
                f"mask: expected {ids.size} booleans, got shape {list(m.shape)} dtype {m.dtype}"
            )
    run = _Run(cfg, options or FloatOptions(), alpha_hook, trace, bspn_hook, m)
    h = embed_float_model(model, ids, types)
    run.rec("h0", h)
    for i, layer in enumerate(model.layers):
        h = run.ffn(run.attention(h, m, layer, f"layer.{i}"), layer, f"layer.{i}")
    pooled = np.maximum(run.linear(model.pooler, h[:1], "pooler")[0], 0.0)
    run.rec("pooled", pooled)
    logits: F64 = model.cls_weight @ pooled + model.cls_bias
    run.rec("logits", logits)
    return FloatOutput(hidden=h, pooled=pooled, logits=logits, trace=run.trace or {})
