"""Synthetic, trained-looking float checkpoints in the authors' naming (spec/13-converter.md).

No trained Sorbet checkpoint ships with the project, so the converter and the
comparison are tested on checkpoints generated here, deterministically from a
seed, for any :class:`ModelConfig`:

- weights ``N(mu, 1/fan_in)`` with a small per-tensor mean ``mu``, biases and
  learned moves ``N(0, 0.02^2)``; BSPN ``gamma ~ N(1, 0.25^2)``,
  ``running_phi ~ U(0.1, 1)``, ``beta ~ N(0, 0.1^2)``; BERT-like embeddings;
- every activation step size calibrated the way the authors initialize it
  (LSQ: ``2 mean|x| / sqrt(Qp)`` signed, ``4 mean|x| / sqrt(Qp)`` unsigned) on the
  float model's own activations for one random sequence, then multiplied by a
  random factor in ``[e^-0.4, e^0.4]`` so that no step is a power of two (as after
  training);
- the Q/K/V layers' input moves are drawn like every layer's (the authors' forward
  adds them; spec/06, "Departures", 1); the discarded ``move_q``/``move_k``/``move_v`` and the
  unused training buffers are present, as in the authors' checkpoints.

Tensors are float32 (``iters`` int64).  The metadata records the full
ModelConfig (``sorbet.model_config``) and ``num_attention_heads``.

``python -m conformance.model.synthetic_checkpoint PRESET SEED OUT`` writes one
(``.safetensors`` or ``.npz`` by the file name).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from conformance.model.checkpoint import (
    BSPN_MODULES,
    LINEAR_MODULES,
    SECOND_STEP,
    Checkpoint,
    Names,
    save_npz,
    save_safetensors,
)
from conformance.model.floatmodel import F64, forward_float, load_float_model
from reference.model_config import LINEAR_NAMES, ModelConfig

Tensors = dict[str, npt.NDArray[np.generic]]

CALIBRATION_LEN = 64
"""Longest calibration sequence (shorter when ``max_seq`` is)."""


def metadata(cfg: ModelConfig, seed: int) -> dict[str, str]:
    """Checkpoint metadata: the configuration as JSON, the head count and the seed."""
    return {
        "sorbet.model_config": json.dumps(dataclasses.asdict(cfg), sort_keys=True),
        "num_attention_heads": str(cfg.heads),
        "sorbet.synthetic_seed": str(seed),
    }


def _f32(x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    return np.asarray(x, dtype=np.float32)


def _raw_tensors(cfg: ModelConfig, rng: np.random.Generator, qkv_move_std: float) -> Tensors:
    nm = Names("bert.")
    h = cfg.hidden
    t: Tensors = {}

    def weight(shape: tuple[int, int]) -> npt.NDArray[np.float32]:
        std = 1.0 / math.sqrt(shape[1])
        return _f32(rng.normal(rng.normal(0.0, 0.1 * std), std, shape))

    t[nm.emb("word_embeddings.weight")] = _f32(rng.normal(0.0, 0.05, (cfg.vocab, h)))
    t[nm.emb("position_embeddings.weight")] = _f32(rng.normal(0.0, 0.02, (cfg.max_positions, h)))
    t[nm.emb("token_type_embeddings.weight")] = _f32(rng.normal(0.0, 0.02, (cfg.type_vocab, h)))
    t[nm.emb("LayerNorm.weight")] = _f32(rng.normal(1.0, 0.05, h))
    t[nm.emb("LayerNorm.bias")] = _f32(rng.normal(0.0, 0.05, h))
    for i in range(cfg.layers):
        for name in LINEAR_NAMES:
            lc = cfg.linear(name)
            mod = nm.layer(i, LINEAR_MODULES[name])
            t[f"{mod}.weight"] = weight((lc.out_features, lc.in_features))
            t[f"{mod}.bias"] = _f32(rng.normal(0.0, 0.02, lc.out_features))
            std = qkv_move_std if name in ("q", "k", "v") else 0.02
            t[f"{mod}.move.bias"] = _f32(rng.normal(0.0, 1.0, lc.in_features) * std)
            t[f"{mod}.input_clip_val"] = _f32(1.0)
        for key in ("move_q", "move_k", "move_v"):
            t[nm.layer(i, f"attention.self.{key}.bias")] = _f32(rng.normal(0.0, 0.02, h))
        for step in SECOND_STEP.values():
            t[nm.layer(i, step)] = _f32(1.0)
        for mod_name in BSPN_MODULES.values():
            mod = nm.layer(i, mod_name)
            t[f"{mod}.weight"] = _f32(rng.normal(1.0, 0.25, h))
            t[f"{mod}.bias"] = _f32(rng.normal(0.0, 0.1, h))
            t[f"{mod}.running_phi"] = _f32(rng.uniform(0.1, 1.0, (1, h, 1, 1)))
            t[f"{mod}.ema_gz"] = _f32(np.zeros((1, h, 1, 1)))
            t[f"{mod}.iters"] = np.array([20000], dtype=np.int64)
        t[nm.layer(i, "output.LayerNorm.weight")] = _f32(np.ones(h))
        t[nm.layer(i, "output.LayerNorm.bias")] = _f32(np.zeros(h))
    mod = "bert.pooler.dense"
    t[f"{mod}.weight"] = weight((h, h))
    t[f"{mod}.bias"] = _f32(rng.normal(0.0, 0.02, h))
    t[f"{mod}.move.bias"] = _f32(rng.normal(0.0, 0.02, h))
    t[f"{mod}.input_clip_val"] = _f32(1.0)
    t[Names.classifier("weight")] = _f32(rng.normal(0.0, 1.0 / math.sqrt(h), (cfg.num_labels, h)))
    t[Names.classifier("bias")] = _f32(rng.normal(0.0, 0.1, cfg.num_labels))
    return t


def synthetic_tensors(cfg: ModelConfig, seed: int, qkv_move_std: float = 0.02) -> Tensors:
    """Every tensor of a synthetic checkpoint for ``cfg`` (deterministic in ``seed``)."""
    rng = np.random.default_rng(seed)
    tensors = _raw_tensors(cfg, rng, qkv_move_std)
    unsigned = {f"bert.encoder.layer.{i}.{LINEAR_MODULES['ffn2']}.input_clip_val"
                for i in range(cfg.layers)}
    unsigned |= {f"bert.encoder.layer.{i}.{SECOND_STEP['prob']}" for i in range(cfg.layers)}
    qp_signed = (1 << (cfg.bits - 1)) - 1 or 1
    qp_unsigned = (1 << cfg.bits) - 1
    steps: dict[str, float] = {}

    def hook(name: str, x: F64) -> float:
        mean = float(np.abs(x).mean())
        if name in unsigned:
            base = 4.0 * mean / math.sqrt(qp_unsigned)
        else:
            base = 2.0 * mean / math.sqrt(qp_signed)
        if base <= 0:
            base = 1.0 / 16
        alpha = float(np.float32(base * math.exp(rng.uniform(-0.4, 0.4))))
        steps[name] = alpha
        return alpha

    model = load_float_model(Checkpoint("<synthetic>", tensors), cfg)
    n = min(cfg.max_seq, CALIBRATION_LEN)
    ids = rng.integers(0, cfg.vocab, n)
    types = (np.arange(n) >= n // 2).astype(np.int64) if cfg.type_vocab > 1 else None
    forward_float(model, ids, types, alpha_hook=hook)
    for name, alpha in steps.items():
        tensors[name] = _f32(alpha)
    return tensors


def write_synthetic(path: str | Path, cfg: ModelConfig, seed: int,
                    qkv_move_std: float = 0.02) -> Path:
    """Write a synthetic checkpoint; ``.npz`` names give npz, anything else safetensors."""
    p = Path(path)
    tensors = synthetic_tensors(cfg, seed, qkv_move_std)
    meta = metadata(cfg, seed)
    if p.suffix.lower() == ".npz":
        save_npz(p, tensors, meta)
    else:
        save_safetensors(p, tensors, meta)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m conformance.model.synthetic_checkpoint PRESET SEED OUT``."""
    from reference.model_presets import get_model_preset

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        print("usage: python -m conformance.model.synthetic_checkpoint PRESET SEED OUT",
              file=sys.stderr)
        return 2
    cfg = get_model_preset(args[0])
    out = write_synthetic(args[2], cfg, int(args[1]))
    print(f"wrote synthetic checkpoint {out} (preset {args[0]}, seed {args[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
