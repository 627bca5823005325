"""The whole integer Sorbet model from ``h0`` to the logits (spec/08-model.md).

``forward`` runs the stack of encoder layers (spec/06-layers.md), the pooler
and the integer classifier on ``h0`` (``seq x hidden`` integers in the hidden
format, produced by the host-side embedding stage of spec/08, "Ends of the model")
and the padding mask (True = real token).  With ``trace=True`` it also returns
every intermediate tensor under the names of spec/08, "Trace".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reference.layers import (
    check_hidden,
    check_mask,
    classifier,
    encoder_layer,
    pooler,
)
from reference.model_config import ModelConfig, ModelParams

TRACE_LAYER_NAMES: tuple[str, ...] = (
    "cin_q", "cin_k", "cin_v", "acc_q", "acc_k", "acc_v", "c_q", "c_k", "c_v",
    "scores", "probs", "prob_offset", "c_prob", "ctx", "ctx_offset", "cin_o", "acc_o", "a_o",
    "r1", "h1",
    "cin_ffn1", "acc_ffn1", "u", "cin_ffn2", "acc_ffn2", "a_ffn2", "r2", "h2",
)
"""Per-layer trace tensors, in computation order (key ``layer.{i}.{name}``)."""

TRACE_HEAD_NAMES: tuple[str, ...] = ("pooler.cin", "pooler.acc", "pooled", "logits")
"""Trace tensors of the head, in computation order."""


def trace_keys(cfg: ModelConfig) -> list[str]:
    """Every key of a full trace, in computation order (spec/08, "Trace")."""
    keys = [f"layer.{i}.{n}" for i in range(cfg.layers) for n in TRACE_LAYER_NAMES]
    return keys + list(TRACE_HEAD_NAMES)


def trace_shape(key: str, cfg: ModelConfig, seq: int) -> tuple[int, ...]:
    """Shape of trace tensor ``key`` for a sequence of ``seq`` tokens (spec/08, "Trace")."""
    name = key.rsplit(".", 1)[1] if key.startswith("layer.") else key
    if name in ("scores", "probs", "c_prob"):
        return (cfg.heads, seq, seq)
    if name in ("acc_ffn1", "u", "cin_ffn2"):
        return (seq, cfg.ffn)
    if name == "prob_offset":
        return (1,)
    if name in ("ctx_offset", "pooler.cin", "pooler.acc", "pooled"):
        return (cfg.hidden,)
    if name == "logits":
        return (cfg.num_labels,)
    if name in TRACE_LAYER_NAMES:
        return (seq, cfg.hidden)
    raise KeyError(f"unknown trace key {key!r}")


@dataclass(frozen=True)
class ModelOutput:
    """Result of :func:`forward`."""

    hidden: tuple[tuple[int, ...], ...]
    """Final hidden states ``h_L`` (seq x hidden, hidden format)."""
    pooled: tuple[int, ...]
    """Pooler output (hidden, hidden format, >= 0)."""
    logits: tuple[int, ...]
    """Classifier output (num_labels, ``h_frac + cls_frac`` fractional bits)."""
    trace: dict[str, list[Any]] = field(default_factory=dict)
    """Intermediate tensors by key (empty unless ``trace=True``)."""


def forward(
    h0: Sequence[Sequence[int]],
    mask: Sequence[bool],
    params: ModelParams,
    cfg: ModelConfig,
    trace: bool = False,
) -> ModelOutput:
    """``logits = classifier(pooler(layer_{L-1}(... layer_0(h0, mask) ...)))`` (spec/08, "Stack").

    Validates ``h0`` (shape ``seq x hidden`` with ``1 <= seq <= max_seq``, entries in
    the hidden format), ``mask`` (``seq`` booleans) and every parameter before computing.
    """
    h = check_hidden(h0, cfg, "h0")
    m = check_mask(mask, len(h), "mask")
    params.validate(cfg)
    tr: dict[str, list[Any]] = {}
    for i, layer in enumerate(params.layers):
        h, lt = encoder_layer(h, m, layer, cfg, trace)
        for name in TRACE_LAYER_NAMES if trace else ():
            tr[f"layer.{i}.{name}"] = lt[name]
    cin, acc, pooled = pooler(h, params.head, cfg)
    logits = classifier(pooled, params.head, cfg)
    if trace:
        tr["pooler.cin"], tr["pooler.acc"], tr["pooled"], tr["logits"] = cin, acc, pooled, logits
    return ModelOutput(
        hidden=tuple(tuple(row) for row in h),
        pooled=tuple(pooled),
        logits=tuple(logits),
        trace=tr,
    )
