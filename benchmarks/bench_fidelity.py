"""Fidelity: the integer model against the authors-mode float evaluation, stage by stage.

For each model shape (hidden 128 with 2 layers; Sorbet-base dims with 1 and with 2
layers; vocabulary 1000, 32 positions, 2 labels) and each kind of calibrated
synthetic checkpoint (``conformance.model.synthetic_checkpoint``, seed 1: power-of-two
initial steps, and steps perturbed as after training), it converts the
checkpoint with the Sorbet-base formats and prints, over ``--inputs`` random
padded sequences of ``--seq`` tokens (``sorbet-ref compare``'s inputs, seed 0):

- the integer model (fast tier) against the float evaluation with the authors'
  unsigned offsets (a batch of one): label agreement, logit correlation, the
  lowest stage agreement of each layer and the first diverging stage
  (``sorbet-ref compare --stages``); with ``--old-formats`` also the same
  checkpoint converted with the earlier formats (8 fractional bits, 16-bit
  multipliers, ``s8.6`` classifier), with ``--prev-formats`` with the formats of
  spec generator 1.1.0 (18 fractional bits on the hidden path, 32-bit biases),
  with ``--variant`` with other ModelConfig fields;
- the offset treatments inside the float evaluation against the authors' rule:
  the integer model's rule (``integer``), the static ``ffn2`` offset with none for
  the probabilities (``ffn2-only``, the earlier integer rule) and no offset
  (``zero``): label agreement, logit correlation and the agreement of layer 0's
  ``ffn2`` input and probability counts, which isolates the offset decision from
  every rounding.

Targets (issue "fidelity"): label agreement >= 0.97, logit correlation >= 0.95,
layer-0 agreement >= 0.99 at every stage.  The figures are measurements on
synthetic checkpoints, printed, never asserted.

    .venv/bin/python benchmarks/bench_fidelity.py [--inputs 64] [--seq 32]
        [--only NAME] [--old-formats] [--prev-formats] [--variant NAME:FIELD=N,...]

On the project's idle 2-core machine the full run with ``--old-formats --prev-formats``
(64 inputs) took 65 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.commands.compare import compare, random_inputs
from conformance.model.checkpoint import Checkpoint
from conformance.model.convert import convert_checkpoint
from conformance.model.floatmodel import (
    FloatModel,
    FloatOptions,
    forward_float,
    load_float_model,
)
from conformance.model.synthetic_checkpoint import Calibration, synthetic_tensors
from reference.model_config import ModelConfig

SHAPES: dict[str, ModelConfig] = {
    "h128-L2": ModelConfig(layers=2, hidden=128, heads=2, ffn=512, vocab=1000,
                           max_positions=32, type_vocab=2, max_seq=32, num_labels=2),
    "base-L1": ModelConfig(layers=1, hidden=768, heads=12, ffn=3072, vocab=1000,
                           max_positions=32, type_vocab=2, max_seq=32, num_labels=2),
    "base-L2": ModelConfig(layers=2, hidden=768, heads=12, ffn=3072, vocab=1000,
                           max_positions=32, type_vocab=2, max_seq=32, num_labels=2),
}
"""Model shapes with the default (Sorbet-base) formats; heads of 64 channels throughout."""

STEPS: dict[str, Calibration] = {
    "pow2": Calibration(perturb=0.0),
    "trained": Calibration(perturb=0.4),
}
"""Checkpoint kinds: initial power-of-two steps, or perturbed as after training."""

OLD_FORMATS = {"h_width": 16, "h_frac": 8, "r_width": 24, "u_width": 16, "u_frac": 8,
               "bspn_bias_width": 16, "bspn_bias_frac": 8, "score_width": 32,
               "score_frac": 8, "multiplier_bits": 16, "cls_width": 8, "cls_frac": 6,
               "bias_width": 32}
"""The earlier Sorbet-base formats: 8 fractional bits on the hidden path and the scores,
16-bit multipliers, an ``s8.6`` classifier, 32-bit biases (spec/10, changelog)."""

PREV_FORMATS = {"h_width": 26, "h_frac": 18, "u_width": 26, "u_frac": 18,
                "bspn_bias_width": 26, "bspn_bias_frac": 18, "bias_width": 32}
"""The Sorbet-base formats of generator 1.1.0: 18 fractional bits on the hidden path
(``s26.18``), 32-bit biases (spec/10, changelog)."""


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def offset_rows(fm: FloatModel, cfg: ModelConfig, inputs: int, seq: int,
                seed: int) -> list[str]:
    """Float evaluation with each offset treatment against the authors' rule."""
    rng = np.random.default_rng(seed)
    modes = ("authors", "integer", "ffn2-only", "zero")
    logits: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    ffn2: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    prob: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    for _ in range(inputs):
        ids, types, mask = random_inputs(rng, cfg.vocab, cfg.type_vocab, seq)
        for mode in modes:
            out = forward_float(fm, ids, types, mask, FloatOptions(unsigned_offset=mode),
                                trace=True)
            logits[mode].append(out.logits)
            ffn2[mode].append(out.trace["layer.0.ffn2.cin"][mask])
            prob[mode].append(out.trace["layer.0.c_prob"][:, mask][:, :, mask])
    ref = np.array(logits["authors"])
    rows = []

    def equal(d: dict[str, list[np.ndarray]], mode: str) -> float:
        return float(np.mean(np.concatenate([(a == b).ravel() for a, b in
                                             zip(d["authors"], d[mode], strict=True)])))

    for mode in modes[1:]:
        got = np.array(logits[mode])
        labels = float(np.mean(ref.argmax(axis=1) == got.argmax(axis=1)))
        rows.append(f"    float '{mode}' vs 'authors': labels {labels:.3f}, logit correlation "
                    f"{_corr(ref, got):.4f}, layer-0 counts equal: ffn2 input "
                    f"{equal(ffn2, mode):.4f}, probabilities {equal(prob, mode):.4f}")
    return rows


def integer_row(name: str, ck: Checkpoint, fm: FloatModel, cfg: ModelConfig, inputs: int,
                seq: int, seed: int) -> str:
    """Integer model (fast tier) against the authors-mode float evaluation."""
    mf, rep = convert_checkpoint(ck, cfg)
    r = compare(fm, mf, inputs, seq, seed, "fast", FloatOptions(unsigned_offset="authors"),
                stages=True)
    assert r.stages is not None
    mins = " ".join(f"L{i} {r.stages.layer_min(i):.4f}" for i in range(cfg.layers))
    corr = r.correlation
    warn = f", {len(rep.warnings)} conversion warnings" if rep.warnings else ""
    return (f"    {name:<16} labels {r.agreeing}/{len(r.samples)} = {r.label_agreement:.3f}, "
            f"correlation {corr if corr is None else round(corr, 4)}, lowest stage "
            f"agreement {mins}, first diverging {r.stages.first_stage()}{warn}")


def main() -> int:
    """Print the fidelity table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=64, help="sequences per model (default 64)")
    ap.add_argument("--seq", type=int, default=32, help="tokens per sequence (default 32)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")
    ap.add_argument("--only", choices=sorted(SHAPES), action="append",
                    help="run only this shape (repeatable)")
    ap.add_argument("--old-formats", action="store_true",
                    help="also convert with the earlier formats (8 fractional bits)")
    ap.add_argument("--prev-formats", action="store_true",
                    help="also convert with the formats of generator 1.1.0 (s26.18, 32-bit "
                    "biases)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:FIELD=N,...",
                    help="also convert with these ModelConfig fields changed, e.g. "
                    "'mult20:multiplier_bits=20,score_width=40' (repeatable)")
    args = ap.parse_args()
    variants: list[tuple[str, dict[str, int]]] = []
    for v in args.variant:
        name, _, fields = v.partition(":")
        try:
            variants.append((name, {k: int(n) for k, n in
                                    (f.split("=", 1) for f in fields.split(",") if f)}))
        except ValueError:
            ap.error(f"--variant {v!r}: expected NAME:FIELD=N,...")
    t0 = time.perf_counter()
    print(f"fidelity against the authors-mode float evaluation: {args.inputs} inputs x "
          f"{args.seq} tokens (seed {args.seed}), checkpoints seed 1, fast tier")
    for shape in args.only or list(SHAPES):
        base = SHAPES[shape]
        for kind, cal in STEPS.items():
            ck = Checkpoint(f"{shape}-{kind}", synthetic_tensors(base, 1, calibration=cal))
            fm = load_float_model(ck, base)
            print(f"{shape} (hidden {base.hidden}, {base.layers} layer(s)), {kind} steps:")
            print(integer_row("integer", ck, fm, base, args.inputs, args.seq, args.seed))
            if args.old_formats:
                old = dataclasses.replace(base, **OLD_FORMATS)
                print(integer_row("integer (.8)", ck, fm, old, args.inputs, args.seq,
                                  args.seed))
            if args.prev_formats:
                prev = dataclasses.replace(base, **PREV_FORMATS)
                print(integer_row("integer (.18)", ck, fm, prev, args.inputs, args.seq,
                                  args.seed))
            for name, fields in variants:
                print(integer_row(f"integer ({name})", ck, fm,
                                  dataclasses.replace(base, **fields), args.inputs, args.seq,
                                  args.seed))
            for row in offset_rows(fm, base, args.inputs, args.seq, args.seed):
                print(row)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
