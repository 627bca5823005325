"""``sorbet-ref run``: run the integer model on one input and print the logits.

The model comes from a model file (``--model FILE``, spec/14-model-file.md) or is
generated (``--random PRESET [--seed N]``, :func:`conformance.model.randmodel.random_model`).
The input is token ids (``--tokens 1,2,3`` or ``--random-tokens N``), which go
through the host-side embedding stage (:func:`reference.host_embedding.embed`), or
``h0`` itself (``--h0 FILE.npy``, ``seq x hidden`` integers).  The mask is given
(``--mask 1,1,0``), derived from a padding id (``--pad-id``), or all real.

``--dump DIR`` writes ``h0``, the mask and every trace tensor as ``.npy`` files
with an ``index.json``; ``--ops`` prints the operation counts and the energy
estimate (:mod:`reference.opcount`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from conformance.model.modelfile import ModelFile, load_model
from conformance.model.randmodel import random_model, random_tokens
from reference.errors import ConfigError, MaskError, ShapeError, SorbetError
from reference.host_embedding import embed
from reference.model_presets import MODEL_PRESETS, get_model_preset

I64 = npt.NDArray[np.int64]


def register(sub: Any) -> None:
    """Add the ``run`` subcommand."""
    p = sub.add_parser(
        "run", help="run the integer model on one input and print the logits",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="FILE", help="model file (.npz, spec/14-model-file.md)")
    src.add_argument("--random", metavar="PRESET",
                     help=f"random model of a preset: {', '.join(sorted(MODEL_PRESETS))}")
    p.add_argument("--seed", type=int, default=0, help="seed of the random model (default 0)")
    inp = p.add_mutually_exclusive_group(required=True)
    inp.add_argument("--tokens", metavar="IDS", help="comma-separated token ids")
    inp.add_argument("--random-tokens", metavar="N", type=int, help="N random token ids")
    inp.add_argument("--h0", metavar="FILE", help="h0 as a .npy file (seq x hidden integers)")
    p.add_argument("--token-types", metavar="IDS", help="comma-separated token types (default 0)")
    p.add_argument("--input-seed", type=int, default=None,
                   help="seed of --random-tokens (default: --seed)")
    p.add_argument("--mask", metavar="BITS", help="comma-separated 1/0 per token (1 = real)")
    p.add_argument("--pad-id", type=int, default=None,
                   help="token id that marks padding (mask 0); default: every token is real")
    p.add_argument("--tier", choices=("fast", "canonical"), default="fast",
                   help="fast numpy tier (default) or canonical Python-integer tier")
    p.add_argument("--dump", metavar="DIR", help="write every trace tensor (.npy + index.json)")
    p.add_argument("--ops", action="store_true",
                   help="print operation counts and the energy estimate")
    p.set_defaults(handler=run)


def _int_list(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip() != ""]
    except ValueError:
        raise ShapeError(f"{what}: expected comma-separated integers, got {text!r}") from None


def _load_source(args: argparse.Namespace) -> tuple[ModelFile, str]:
    if args.model is not None:
        return load_model(args.model), str(args.model)
    cfg = get_model_preset(args.random)
    return random_model(cfg, args.seed), f"random {args.random} model, seed {args.seed}"


def _load_h0(path: str, mf: ModelFile) -> I64:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ShapeError(f"{path}: cannot read h0 as a .npy array: {exc}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iu":
        raise ShapeError(f"{path}: h0 must be an integer .npy array")
    cfg = mf.config
    if arr.ndim != 2 or arr.shape[1] != cfg.hidden:
        raise ShapeError(f"{path}: h0 must have shape (seq, {cfg.hidden}), got {arr.shape}")
    return arr.astype(np.int64)


def build_input(
    args: argparse.Namespace, mf: ModelFile
) -> tuple[I64, npt.NDArray[np.bool_], list[int] | None]:
    """``(h0, mask, token ids or None)`` from the command line."""
    cfg = mf.config
    ids: list[int] | None = None
    if args.h0 is not None:
        h0 = _load_h0(args.h0, mf)
    else:
        if args.tokens is not None:
            ids = _int_list(args.tokens, "--tokens")
        else:
            n = args.random_tokens
            if not 1 <= n <= cfg.max_seq:
                raise ShapeError(f"--random-tokens: {n} is outside [1, max_seq={cfg.max_seq}]")
            seed = args.seed if args.input_seed is None else args.input_seed
            ids = [int(v) for v in random_tokens(cfg, n, seed).tolist()]
        if mf.embeddings is None:
            raise ConfigError(
                "the model has no embedding stage (has_embeddings false); give --h0 instead"
            )
        types = _int_list(args.token_types, "--token-types") if args.token_types else None
        h0 = embed(ids, types, mf.embeddings, cfg)
    seq = h0.shape[0]
    if args.mask is not None:
        bits = _int_list(args.mask, "--mask")
        if len(bits) != seq or any(b not in (0, 1) for b in bits):
            raise MaskError(f"--mask: expected {seq} values of 0 or 1, got {args.mask!r}")
        mask = np.array([b == 1 for b in bits], dtype=np.bool_)
    elif args.pad_id is not None:
        if ids is None:
            raise MaskError("--pad-id needs token ids (--tokens or --random-tokens)")
        mask = np.array([t != args.pad_id for t in ids], dtype=np.bool_)
    else:
        mask = np.ones(seq, dtype=np.bool_)
    return h0, mask, ids


def forward(
    tier: str, h0: I64, mask: npt.NDArray[np.bool_], mf: ModelFile, trace: bool
) -> tuple[I64, dict[str, Any]]:
    """``(logits, trace)`` from the chosen tier; trace values as int64 arrays."""
    if tier == "fast":
        from reference.fast import forward_fast

        out = forward_fast(h0, mask, mf.params, mf.config, trace=trace)
        return out.logits, dict(out.trace)
    from reference.model import forward as canonical

    res = canonical(h0.tolist(), [bool(m) for m in mask], mf.params, mf.config, trace=trace)
    tr = {k: np.asarray(v, dtype=np.int64) for k, v in res.trace.items()}
    return np.asarray(res.logits, dtype=np.int64), tr


def dump(directory: Path, h0: I64, mask: npt.NDArray[np.bool_], trace: dict[str, Any],
         mf: ModelFile, tier: str) -> None:
    """Write ``h0.npy``, ``mask.npy``, one ``KEY.npy`` per trace tensor and ``index.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, npt.NDArray[Any]] = {"h0": h0, "mask": mask}
    tensors.update({k: np.asarray(v, dtype=np.int64) for k, v in trace.items()})
    index: dict[str, Any] = {
        "format": "sorbet-ref-trace", "tier": tier, "seq": int(h0.shape[0]),
        "config": {k: v for k, v in mf.config.__dict__.items()},
        "tensors": [],
    }
    for key, arr in tensors.items():
        name = f"{key}.npy"
        np.save(directory / name, arr, allow_pickle=False)
        entry: dict[str, Any] = {"key": key, "file": name, "shape": list(arr.shape),
                                 "dtype": arr.dtype.name}
        if arr.size and arr.dtype != np.bool_:
            entry["min"], entry["max"] = int(arr.min()), int(arr.max())
        index["tensors"].append(entry)
    (directory / "index.json").write_text(json.dumps(index, indent=1) + "\n")


def run(args: argparse.Namespace) -> int:
    """Load or generate the model, build the input, run, print; 2 on any input error."""
    try:
        mf, source = _load_source(args)
        h0, mask, ids = build_input(args, mf)
        want_trace = args.dump is not None or args.ops
        t0 = time.perf_counter()
        logits, trace = forward(args.tier, h0, mask, mf, want_trace)
        elapsed = time.perf_counter() - t0
    except SorbetError as exc:
        print(f"sorbet-ref run: error: {exc}", file=sys.stderr)
        return 2
    cfg = mf.config
    frac = cfg.h_frac + cfg.cls_frac
    print(f"model: {source}")
    print(f"  {cfg.layers} layers, hidden {cfg.hidden}, {cfg.heads} heads, ffn {cfg.ffn}, "
          f"{cfg.bits}-bit counts, {cfg.num_labels} labels")
    what = f"{len(ids)} token ids" if ids is not None else "h0 from file"
    print(f"input: {what}, seq {h0.shape[0]}, {int(mask.sum())} real tokens")
    print(f"tier: {args.tier}, forward {elapsed * 1e3:.1f} ms")
    print(f"logits (integers, {frac} fractional bits): {[int(v) for v in logits]}")
    print(f"logits (real): {[float(v) / (1 << frac) for v in logits]}")
    print(f"predicted label: {int(np.argmax(logits))}")
    if args.ops:
        from reference.opcount import format_counts, op_counts

        print(format_counts(cfg, op_counts(cfg, trace, mf.params)))
    if args.dump is not None:
        dump(Path(args.dump), h0, mask, trace, mf, args.tier)
        print(f"trace: {len(trace)} tensors written to {args.dump} (index.json)")
    return 0
