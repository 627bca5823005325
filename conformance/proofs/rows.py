"""Operator inputs built from proof models (regression and boundary vectors).

Each case has the shape the vector generator reads (spec/10-vectors.md):
``{"op", "config", "inputs", "comment", "flags"}`` with the preset's
configuration, except a binary layer too large to store (Sorbet's 768 x 768),
whose case keeps the preset's widths with the fan-in reduced to the model's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from conformance.operators import config_to_dict
from reference.binary_linear import BinaryLinearConfig
from reference.bspn import BSPNConfig
from reference.ptsoftmax import PTSoftmaxConfig
from reference.quantizer import QuantizerConfig
from reference.spikes import SpikeConfig

Case = dict[str, Any]


def _case(op: str, cfg: object, inputs: dict[str, Any], comment: str, flags: Sequence[str]) -> Case:
    return {"op": op, "config": config_to_dict(cfg), "inputs": inputs, "comment": comment,
            "flags": sorted(set(flags))}


def score_for(s: int, cfg: PTSoftmaxConfig) -> int:
    """An input score whose ceil (at ``score_frac``) is the integer ``s``, inside the format
    whenever ``s`` is a ceil'd score of some input."""
    return s << cfg.score_frac if s <= 0 else ((s - 1) << cfg.score_frac) + 1


def s_max(cfg: PTSoftmaxConfig) -> int:
    """Largest ceil'd score."""
    return -((-cfg.score_format.max) >> cfg.score_frac)


def row_for_partition(z: int, cfg: PTSoftmaxConfig) -> list[int] | None:
    """Scores of a row whose partition is exactly ``z``, or None if no row of at most
    ``max_len`` entries has it.  The first entry is the row maximum (term ``2**F``); the
    rest is written as ``q`` further terms ``2**F`` and one term per set bit below ``F``."""
    f = cfg.partition_frac
    if z < (1 << f):
        return None
    rest = z - (1 << f)
    q, rem = divmod(rest, 1 << f)
    ds = [0] * (1 + q) + [f - b for b in range(f) if (rem >> b) & 1]
    if len(ds) > cfg.max_len:
        return None
    scores = [-d << cfg.score_frac for d in ds]
    if min(scores) < cfg.score_format.min:
        return None
    return scores


def ptsm_case(cfg: PTSoftmaxConfig, scores: Sequence[int], comment: str, flags: Sequence[str],
              mask: Sequence[int] | None = None) -> Case:
    """A PTsoftmax row (mask: 1 where the entry takes part; all ones by default)."""
    m = [1] * len(scores) if mask is None else list(mask)
    return _case("ptsoftmax", cfg, {"scores": list(scores), "mask": m}, comment, flags)


def quant_case(cfg: QuantizerConfig, xs: Sequence[int], multiplier: int, shift: int, bias: int,
               comment: str, flags: Sequence[str]) -> Case:
    """A quantizer call."""
    return _case("quantize", cfg, {"x": list(xs), "multiplier": multiplier, "shift": shift,
                                   "bias": bias}, comment, flags)


def if_case(cfg: SpikeConfig, count: int, comment: str, flags: Sequence[str]) -> Case:
    """An IF encoder call."""
    return _case("if_encode", cfg, {"count": count}, comment, flags)


LINEAR_FULL_LIMIT = 4096
"""Largest ``in_features * out_features`` for which a case keeps the preset's configuration."""


def lin_case(cfg: BinaryLinearConfig, counts: Sequence[int], signs: Sequence[int], comment: str,
             flags: Sequence[str]) -> Case:
    """A binary layer whose first inputs are ``counts`` with weight signs ``signs`` (every
    output row the same).  The preset's configuration is kept when it is small (the other
    inputs are padded with counts that contribute zero); otherwise the fan-in is reduced to
    ``len(counts)`` and there is one output."""
    n = len(counts)
    if cfg.in_features * cfg.out_features <= LINEAR_FULL_LIMIT and n <= cfg.in_features:
        pad = cfg.in_features - n
        row = list(signs) + [1] * pad
        return _case("binary_linear", cfg, {"counts": list(counts) + [cfg.offset] * pad,
                                            "signs": row * cfg.out_features}, comment, flags)
    small = dataclasses.replace(cfg, in_features=n, out_features=1)
    return _case("binary_linear", small, {"counts": list(counts), "signs": list(signs)},
                 comment, flags)


def bspn_case(cfg: BSPNConfig, group: Sequence[int], comment: str, flags: Sequence[str],
              weight_exp: int = 0, bias: int = 0, sign: int = 1) -> Case:
    """A BSPN token whose first group starts with ``group`` (the rest zeros), weights
    ``sign * 2**weight_exp`` and bias ``bias`` on every channel (the preset's configuration)."""
    c = cfg.channels
    x = list(group) + [0] * (c - len(group))
    return _case("bspn", cfg, {"x": x, "weight_sign": [sign] * c, "weight_exp": [weight_exp] * c,
                               "bias": [bias] * c}, comment, flags)


def group_for_abs_sum(s: int, cfg: BSPNConfig) -> list[int] | None:
    """A group whose absolute sum is ``s``: entries as large as the input format allows."""
    top = -cfg.in_format.min
    if s > top * cfg.group_size or s < 0:
        return None
    out = []
    while s > 0:
        v = min(s, top)
        out.append(-v if v == top else v)
        s -= v
    if len(out) > cfg.group_size:
        return None
    return out
