"""``sorbet-ref compare``: the float evaluation of a checkpoint against its integer model.

Runs the authors' inference formulas in float (:mod:`conformance.model.floatmodel`) on
a checkpoint and the integer model of a converted model file (fast tier by
default, or canonical) on the same random token sequences, and reports the
agreement of predicted labels and the differences and correlation of the logits
(spec/13-converter.md, "13.9 The float evaluation and the comparison").
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from conformance.model.checkpoint import load_checkpoint
from conformance.model.fidelity import StageTally, plot_stages
from conformance.model.floatmodel import (
    UNSIGNED_OFFSETS,
    FloatModel,
    FloatOptions,
    forward_float,
    load_float_model,
)
from conformance.model.modelfile import ModelFile, load_model
from reference.errors import ConfigError, SorbetError
from reference.host_embedding import embed


@dataclass(frozen=True)
class SampleResult:
    """One input: its length, both logit vectors and both labels."""

    real_tokens: int
    float_logits: list[float]
    int_logits: list[float]
    float_label: int
    int_label: int


@dataclass
class CompareReport:
    """Agreement of the float and integer models on ``inputs`` random sequences."""

    checkpoint: str
    model: str
    tier: str
    inputs: int
    seq: int
    seed: int
    unsigned_offset: str
    samples: list[SampleResult] = field(default_factory=list)
    stages: StageTally | None = None
    """Stage-by-stage agreement (``--stages``), else None."""

    @property
    def agreeing(self) -> int:
        """Inputs whose predicted labels (argmax, first on ties) agree."""
        return sum(s.float_label == s.int_label for s in self.samples)

    @property
    def label_agreement(self) -> float:
        """``agreeing / inputs``."""
        return self.agreeing / len(self.samples) if self.samples else 0.0

    def _diffs(self) -> npt.NDArray[np.float64]:
        f = np.array([s.float_logits for s in self.samples], dtype=np.float64)
        i = np.array([s.int_logits for s in self.samples], dtype=np.float64)
        return np.abs(f - i)

    @property
    def mean_abs_diff(self) -> float:
        """Mean ``|int - float|`` over every logit."""
        return float(self._diffs().mean()) if self.samples else 0.0

    @property
    def max_abs_diff(self) -> float:
        """Largest ``|int - float|`` of any logit."""
        return float(self._diffs().max()) if self.samples else 0.0

    @property
    def correlation(self) -> float | None:
        """Pearson correlation of all float and integer logits (None if either is constant)."""
        f = np.array([s.float_logits for s in self.samples], dtype=np.float64).ravel()
        i = np.array([s.int_logits for s in self.samples], dtype=np.float64).ravel()
        if f.size < 2 or f.std() == 0 or i.std() == 0:
            return None
        return float(np.corrcoef(f, i)[0, 1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary and per-input results."""
        d = asdict(self)
        d["stages"] = self.stages.to_dict() if self.stages is not None else None
        d["summary"] = {
            "label_agreement": self.label_agreement, "agreeing": self.agreeing,
            "mean_abs_logit_diff": self.mean_abs_diff, "max_abs_logit_diff": self.max_abs_diff,
            "logit_correlation": self.correlation,
        }
        return d

    def summary(self) -> str:
        """Readable report."""
        corr = self.correlation
        stages = [self.stages.summary()] if self.stages is not None else []
        return "\n".join([
            f"float vs integer ({self.tier} tier): {self.checkpoint} vs {self.model}",
            f"  inputs {self.inputs} x {self.seq} tokens (seed {self.seed}), unsigned offset "
            f"'{self.unsigned_offset}'",
            f"  label agreement      {self.agreeing}/{len(self.samples)} = "
            f"{self.label_agreement:.3f}",
            f"  logit |int - float|  mean {self.mean_abs_diff:.4g}, max {self.max_abs_diff:.4g}",
            "  logit correlation    " + ("undefined (constant logits)" if corr is None
                                         else f"{corr:.4f}"),
            *stages,
        ])


def _integer_forward(tier: str) -> tuple[str, Any]:
    """The integer forward function of ``tier`` (``auto`` is the fast tier)."""
    if tier in ("fast", "auto"):
        from reference.fast import forward_fast

        return "fast", forward_fast
    from reference.model import forward

    def canonical(h0: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_], params: Any,
                  cfg: Any, trace: bool = False) -> Any:
        return forward(h0.tolist(), [bool(m) for m in mask], params, cfg, trace)

    return "canonical", canonical


def random_inputs(
    rng: np.random.Generator, vocab: int, type_vocab: int, seq: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Token ids, types and mask with ``n`` real tokens, ``n`` uniform in ``[ceil(seq/2), seq]``."""
    ids = rng.integers(0, vocab, seq).astype(np.int64)
    n = int(rng.integers((seq + 1) // 2, seq + 1))
    mask = np.arange(seq) < n
    types = np.zeros(seq, dtype=np.int64)
    if type_vocab > 1 and n > 1:
        types[int(rng.integers(1, n)) : n] = 1
    return ids, types, mask


def compare(
    fm: FloatModel, mf: ModelFile, inputs: int, seq: int, seed: int, tier: str = "auto",
    options: FloatOptions | None = None, names: tuple[str, str] = ("", ""),
    stages: bool = False,
) -> CompareReport:
    """Run both models on ``inputs`` random sequences of ``seq`` tokens (deterministic).

    With ``stages`` both run with a trace and the report carries the stage-by-stage
    agreement (:mod:`conformance.model.fidelity`).
    """
    cfg = mf.config
    if mf.embeddings is None:
        raise ConfigError("compare: the model file has no host-side embedding stage")
    if not 1 <= seq <= cfg.max_seq:
        raise ConfigError(f"compare: --seq {seq} is outside [1, max_seq={cfg.max_seq}]")
    if inputs < 1:
        raise ConfigError(f"compare: --inputs must be >= 1, got {inputs}")
    opts = options or FloatOptions()
    used, fwd = _integer_forward(tier)
    params: Any = mf.params
    if used == "fast":
        from reference.fast import prepare

        params = prepare(mf.params, cfg)  # once, not per input
    rep = CompareReport(names[0], names[1], used, inputs, seq, seed, opts.unsigned_offset)
    if stages:
        rep.stages = StageTally(cfg)
    rng = np.random.default_rng(seed)
    scale = 2.0 ** -(cfg.h_frac + cfg.cls_frac)
    for _ in range(inputs):
        ids, types, mask = random_inputs(rng, cfg.vocab, cfg.type_vocab, seq)
        fout = forward_float(fm, ids, types, mask, opts, trace=stages)
        fl = fout.logits
        h0 = embed(ids, types, mf.embeddings, cfg)
        iout = fwd(h0, mask, params, cfg, stages)
        il = np.asarray(iout.logits, dtype=np.float64) * scale
        if rep.stages is not None:
            rep.stages.add(fout.trace, iout.trace, mask)
        rep.samples.append(SampleResult(
            int(mask.sum()), [float(v) for v in fl], [float(v) for v in il],
            int(np.argmax(fl)), int(np.argmax(il)),
        ))
    return rep


def register(sub: Any) -> None:
    """Add the ``compare`` subcommand."""
    p = sub.add_parser(
        "compare",
        help="compare a checkpoint's float evaluation with its converted integer model",
        description="Run the float evaluation of the authors' formulas on CHECKPOINT and the "
        "integer model in MODEL on the same random inputs; report label agreement and logit "
        "differences (spec/13-converter.md).",
    )
    p.add_argument("checkpoint", help="float checkpoint (.safetensors or .npz)")
    p.add_argument("model", help="model file converted from it (.npz)")
    p.add_argument("--inputs", type=int, default=32, help="number of random inputs (default 32)")
    p.add_argument("--seq", type=int, default=None, help="tokens per input (default: max_seq)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--tier", choices=("auto", "fast", "canonical"), default="auto",
                   help="integer tier (default auto: the fast tier)")
    p.add_argument("--unsigned-offset", choices=UNSIGNED_OFFSETS, default=None,
                   help="float model's unsigned-quantizer offset (default: 'authors' with "
                   "--stages, else 'integer', the integer model's rule; 'authors' = their "
                   "batch-minimum rule on a batch of one; 'ffn2-only' = the static ffn2 "
                   "offset and none for the probabilities; 'zero' = none; spec/13, 13.9)")
    p.add_argument("--json", help="also write the report (with every input) as JSON")
    p.add_argument("--stages", action="store_true",
                   help="also report, per trace tensor, the share of exactly equal counts and "
                   "the first diverging stage (spec/13, 13.9); the float model then defaults "
                   "to --unsigned-offset authors")
    p.add_argument("--plot", metavar="PNG",
                   help="with --stages: bar chart of agreement by stage (needs matplotlib)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Compare and print; exit 2 with a clear message on any error."""
    try:
        mf = load_model(args.model)
        fm = load_float_model(load_checkpoint(args.checkpoint), mf.config)
        seq = args.seq if args.seq is not None else mf.config.max_seq
        offset = args.unsigned_offset or (
            "authors" if args.stages else FloatOptions.unsigned_offset)
        rep = compare(fm, mf, args.inputs, seq, args.seed, args.tier,
                      FloatOptions(unsigned_offset=offset),
                      (str(args.checkpoint), str(args.model)), args.stages)
        if args.plot:
            if rep.stages is None:
                raise ConfigError("compare: --plot needs --stages")
            if not plot_stages(rep.stages, args.plot,
                               f"{Path(args.model).name}: agreement with the float "
                               f"evaluation ({offset} offsets)"):
                print("sorbet-ref compare: matplotlib is not installed; no plot written",
                      file=sys.stderr)
        if args.json:
            Path(args.json).write_text(
                json.dumps(rep.to_dict(), indent=1, allow_nan=False) + "\n", encoding="utf-8"
            )
    except (SorbetError, OSError) as exc:
        print(f"sorbet-ref compare: error: {exc}", file=sys.stderr)
        return 2
    print(rep.summary())
    return 0
