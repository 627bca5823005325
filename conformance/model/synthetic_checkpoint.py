"""Synthetic, trained-looking float checkpoints in the authors' naming (spec/13-converter.md).

No trained Sorbet checkpoint ships with the project, so the converter and the
comparison are tested on checkpoints generated here, deterministically from a
seed, for any :class:`ModelConfig`.  The parameters a training run learns are
drawn; the ones the authors' code *derives from activations* are derived the way
their code does (13.10):

- weights ``N(mu, 1/fan_in)`` with a small per-tensor mean ``mu``, biases and
  learned moves ``N(0, 0.02^2)``; BSPN ``gamma ~ N(1, 0.25^2)``, ``beta ~ N(0, 0.1^2)``;
  BERT-like embeddings;
- a calibration pass of the float model (:mod:`conformance.model.floatmodel`) over
  ``batches`` random padded sequences, one sequence per batch:
  - every activation step takes the authors' initialisation on the first batch,
    ``2 mean|x| / sqrt(Qp)`` (``Qp = 2^(b-1) - 1`` signed, ``2^b - 1`` unsigned; the
    mean over the quantizer's whole input tensor), rounded to the nearest power of
    two in linear distance (``pow2``), then optionally multiplied by
    ``exp(U(-perturb, perturb))`` so that it is an arbitrary real, as after training;
  - BSPN runs in training mode: it normalizes by the batch statistic
    ``phi_c = mean over real tokens of scaled_c^2`` (``scaled`` the group-scaled
    input), and ``running_phi`` is the average of the batch statistics over the
    calibration batches (the fixed point the authors' running update
    ``phi <- a phi + (1 - a) phi_batch`` tends to on stationary batches);
- the Q/K/V layers' input moves are drawn like every layer's (the authors' forward
  adds them; spec/06, "Departures", 1); the discarded ``move_q``/``move_k``/``move_v`` and the
  unused training buffers are present, as in the authors' checkpoints.

Tensors are float32 (``iters`` int64).  The metadata records the full
ModelConfig (``sorbet.model_config``), ``num_attention_heads`` and the calibration.

``python -m conformance.model.synthetic_checkpoint PRESET SEED OUT [options]`` writes one
(``.safetensors`` or ``.npz`` by the file name); ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
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
from conformance.model.floatmodel import (
    F64,
    forward_float,
    load_float_model,
    scalar_pow2_nearest,
)
from reference.errors import ConfigError, SorbetError
from reference.formats import check_int
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


@dataclass(frozen=True)
class Calibration:
    """How the steps and BSPN statistics are derived (module docstring)."""

    batches: int = 8
    """Calibration batches (one random padded sequence each)."""
    seq: int = CALIBRATION_LEN
    """Tokens per calibration sequence (capped at ``max_seq``)."""
    pow2: bool = True
    """Round each initial step to the nearest power of two (the authors' initialisation)."""
    perturb: float = 0.4
    """Multiply each step by ``exp(U(-perturb, perturb))`` (0: keep the initial steps)."""

    def __post_init__(self) -> None:
        check_int(self.batches, "Calibration.batches", 1, 1 << 12)
        check_int(self.seq, "Calibration.seq", 1, 1 << 14)
        if not (isinstance(self.perturb, (int, float)) and 0.0 <= self.perturb <= 2.0):
            raise ConfigError(f"Calibration.perturb: expected a number in [0, 2], "
                              f"got {self.perturb!r}")


def _calibration_input(
    rng: np.random.Generator, cfg: ModelConfig, seq: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Random ids, types (second segment 1) and mask with ``ceil(seq/2)..seq`` real tokens."""
    ids = rng.integers(0, cfg.vocab, seq).astype(np.int64)
    n = int(rng.integers((seq + 1) // 2, seq + 1))
    mask = np.arange(seq) < n
    types = np.zeros(seq, dtype=np.int64)
    if cfg.type_vocab > 1 and n > 1:
        types[n // 2 : n] = 1
    return ids, types, mask


def initial_step(x: F64, signed: bool, bits: int, pow2: bool) -> float:
    """The authors' step initialisation: ``2 mean|x| / sqrt(Qp)``, optionally to a power of two."""
    qp = ((1 << (bits - 1)) - 1 or 1) if signed else (1 << bits) - 1
    base = 2.0 * float(np.abs(x).mean()) / math.sqrt(qp)
    if not base > 0:
        base = 1.0 / 16
    return scalar_pow2_nearest(base) if pow2 else base


def synthetic_tensors(cfg: ModelConfig, seed: int, qkv_move_std: float = 0.02,
                      calibration: Calibration | None = None) -> Tensors:
    """Every tensor of a synthetic checkpoint for ``cfg`` (deterministic in ``seed``)."""
    cal = calibration or Calibration()
    rng = np.random.default_rng(seed)
    tensors = _raw_tensors(cfg, rng, qkv_move_std)
    unsigned = {f"bert.encoder.layer.{i}.{LINEAR_MODULES['ffn2']}.input_clip_val"
                for i in range(cfg.layers)}
    unsigned |= {f"bert.encoder.layer.{i}.{SECOND_STEP['prob']}" for i in range(cfg.layers)}
    steps: dict[str, float] = {}
    phi_sum: dict[str, F64] = {}
    phi_n: dict[str, int] = {}

    def step_hook(name: str, x: F64) -> float:
        if name not in steps:  # initialised on the first batch, then fixed
            alpha = initial_step(x, name not in unsigned, cfg.bits, cal.pow2)
            if cal.perturb > 0:
                alpha *= math.exp(rng.uniform(-cal.perturb, cal.perturb))
            steps[name] = float(np.float32(alpha))
        return steps[name]

    def bspn_hook(module: str, scaled: F64) -> F64:
        phi: F64 = (scaled * scaled).mean(axis=0)
        phi_sum[module] = phi_sum.get(module, 0.0) + phi
        phi_n[module] = phi_n.get(module, 0) + 1
        return phi

    model = load_float_model(Checkpoint("<synthetic>", tensors), cfg)
    n = min(cfg.max_seq, cal.seq)
    for _ in range(cal.batches):
        ids, types, mask = _calibration_input(rng, cfg, n)
        forward_float(model, ids, types, mask, alpha_hook=step_hook, bspn_hook=bspn_hook)
    for name, alpha in steps.items():
        tensors[name] = _f32(alpha)
    for module, total in phi_sum.items():
        tensors[f"{module}.running_phi"] = _f32((total / phi_n[module]).reshape(1, -1, 1, 1))
    return tensors


def write_synthetic(path: str | Path, cfg: ModelConfig, seed: int,
                    qkv_move_std: float = 0.02, calibration: Calibration | None = None) -> Path:
    """Write a synthetic checkpoint; ``.npz`` names give npz, anything else safetensors."""
    p = Path(path)
    cal = calibration or Calibration()
    tensors = synthetic_tensors(cfg, seed, qkv_move_std, cal)
    meta = metadata(cfg, seed)
    meta["sorbet.synthetic_calibration"] = json.dumps(dataclasses.asdict(cal), sort_keys=True)
    if p.suffix.lower() == ".npz":
        save_npz(p, tensors, meta)
    else:
        save_safetensors(p, tensors, meta)
    return p


def shaped_config(preset: str, **overrides: int) -> ModelConfig:
    """A model preset with some shapes replaced (e.g. Sorbet-base dims with one layer)."""
    from reference.model_presets import get_model_preset

    cfg = get_model_preset(preset)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "max_positions" in given and "max_seq" not in given:
        given["max_seq"] = min(cfg.max_seq, given["max_positions"])
    return dataclasses.replace(cfg, **given)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m conformance.model.synthetic_checkpoint PRESET SEED OUT [options]``."""
    ap = argparse.ArgumentParser(
        prog="python -m conformance.model.synthetic_checkpoint",
        description="Write a synthetic, calibrated float checkpoint in the authors' naming.")
    ap.add_argument("preset", help="model preset (shapes and formats)")
    ap.add_argument("seed", type=int)
    ap.add_argument("out", help="output file (.safetensors, or .npz)")
    for name in ("layers", "vocab", "max_positions", "max_seq"):
        ap.add_argument(f"--{name.replace('_', '-')}", type=int, help=f"override {name}")
    ap.add_argument("--batches", type=int, default=Calibration.batches,
                    help=f"calibration batches (default {Calibration.batches})")
    ap.add_argument("--perturb", type=float, default=Calibration.perturb,
                    help=f"log-range of the after-training step factor (default "
                    f"{Calibration.perturb}; 0 keeps the initial steps)")
    ap.add_argument("--no-pow2", action="store_true",
                    help="do not round the initial steps to powers of two")
    args = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        cfg = shaped_config(args.preset, layers=args.layers, vocab=args.vocab,
                            max_positions=args.max_positions, max_seq=args.max_seq)
        cal = Calibration(batches=args.batches, pow2=not args.no_pow2, perturb=args.perturb)
        out = write_synthetic(args.out, cfg, args.seed, calibration=cal)
    except (SorbetError, OSError) as exc:
        print(f"synthetic_checkpoint: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote synthetic checkpoint {out} (preset {args.preset}, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
