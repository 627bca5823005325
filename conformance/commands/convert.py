"""``sorbet-ref convert``: float Sorbet checkpoint to integer model file (spec/13-converter.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from conformance.model.checkpoint import load_checkpoint
from conformance.model.convert import convert_checkpoint, infer_config
from conformance.model.modelfile import save_model
from reference.errors import SorbetError
from reference.model_presets import MODEL_PRESETS, get_model_preset


def register(sub: Any) -> None:
    """Add the ``convert`` subcommand."""
    p = sub.add_parser(
        "convert",
        help="convert a float checkpoint (safetensors or npz, authors' naming) to a model file",
        description="Convert a float Sorbet checkpoint (safetensors or .npz; pickle-based files "
        "are refused) in the authors' BERT-style naming into an integer model file, and report "
        "every rounding (spec/13-converter.md).",
    )
    p.add_argument("checkpoint", help="float checkpoint (.safetensors or .npz)")
    p.add_argument("-o", "--output", required=True, help="model file to write (.npz)")
    p.add_argument("--report", help="also write the conversion report as JSON to this file")
    p.add_argument(
        "--preset", choices=sorted(MODEL_PRESETS),
        help="take the integer formats (and max_seq) from this model preset; default: the "
        "configuration stored in the checkpoint's metadata, else Sorbet-base formats",
    )
    p.add_argument("--heads", type=int, help="number of attention heads (if not in metadata)")
    p.add_argument("--quiet", action="store_true", help="print only the output path")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Convert, save, print the report; exit 2 with a clear message on any error."""
    try:
        ckpt = load_checkpoint(args.checkpoint)
        base = get_model_preset(args.preset) if args.preset else None
        cfg = infer_config(ckpt, base, args.heads)
        mf, report = convert_checkpoint(ckpt, cfg)
        save_model(args.output, mf)
        if args.report:
            report.write_json(args.report)
    except (SorbetError, OSError) as exc:
        print(f"sorbet-ref convert: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(report.summary())
    print(f"wrote {args.output}" + (f" and report {args.report}" if args.report else ""))
    return 0
