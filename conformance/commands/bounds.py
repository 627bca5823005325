"""``sorbet-ref bounds``: measured error of PTsoftmax and BSPN beside the proven bounds."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from conformance.bounds import Measure, measure_bspn, measure_ptsm
from reference.presets import get_preset


def register(sub: Any) -> None:
    """Add the ``bounds`` subcommand."""
    p = sub.add_parser("bounds", help="measure PTsoftmax and BSPN error against the proven bounds",
                       description="Run PTsoftmax and BSPN on structured and random inputs "
                       "(seeded), compare with the exact functions they approximate, print "
                       "worst cases beside the proven bounds; exit 1 if any exceeds its bound.")
    p.add_argument("--preset", default="sorbet", help="operator preset (default: sorbet)")
    p.add_argument("--rows", type=int, default=1000, help="random PTsoftmax rows (default 1000)")
    p.add_argument("--length", type=int, default=128, help="PTsoftmax row length (default 128)")
    p.add_argument("--tokens", type=int, default=120, help="random BSPN tokens (default 120)")
    p.add_argument("--seed", type=int, default=20240915, help="numpy RNG seed (default 20240915)")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write DIR/bounds.md with PNG plots (matplotlib)")
    p.set_defaults(handler=main)


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.6g}"


def _line(m: Measure) -> str:
    lo = _fmt(m.lo)
    hi = _fmt(m.hi) + (")" if m.hi_strict and m.hi is not None else "]")
    bound = f"[{lo}, {hi}" if (m.lo is not None or m.hi is not None) else "no bound"
    status = "ok" if m.ok else "EXCEEDS"
    if m.lo is None and m.hi is None:
        status = "info"
    return (f"{m.name:<46} {_fmt(m.min):>12} {_fmt(m.max):>12}  {bound:<26} "
            f"{m.theorem:<24} {status}")


def main(args: argparse.Namespace) -> int:
    """Measure, print, optionally write the report; 1 if a bound is exceeded."""
    pre = get_preset(args.preset)
    t0 = time.perf_counter()
    pt = measure_ptsm(pre, args.rows, args.length, args.seed)
    bs = measure_bspn(pre, args.tokens, args.seed)
    dt = time.perf_counter() - t0
    measures = [pt.partition, pt.total, pt.ratio_rounded, pt.zero_rounded, pt.ratio_unrounded,
                pt.base_e_abs, bs.divisor, bs.log_round, bs.vs_powernorm, bs.vs_powernorm_bias,
                bs.vs_layernorm]
    print(f"sorbet-ref bounds, preset {pre.name}: {pt.rows} PTsoftmax rows (length up to "
          f"{min(args.length, pre.ptsoftmax.max_len)}), {bs.tokens} BSPN tokens of "
          f"{pre.bspn.channels} channels, seed {args.seed}, {dt:.1f} s\n")
    print(f"{'quantity':<46} {'min':>12} {'max':>12}  {'proven bound':<26} {'theorem':<24}")
    for m in measures:
        print(_line(m))
    bad = [m.name for m in measures if not m.ok]
    if args.report is not None:
        path = write_report(args.report, pre.name, measures, args)
        print(f"\nreport: {path}")
    if bad:
        print("\nEXCEEDED: " + "; ".join(bad))
        return 1
    print("\nevery measured worst case lies inside its proven bound")
    return 0


def write_report(folder: Path, preset: str, measures: list[Measure],
                 args: argparse.Namespace) -> Path:
    """Markdown with PNG plots: error distributions and ratio against the bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"# Measured error against the proven bounds (preset {preset})", "",
             f"Command: `sorbet-ref bounds --preset {preset} --rows {args.rows} "
             f"--length {args.length} --tokens {args.tokens} --seed {args.seed} "
             f"--report {folder}`", "",
             "| quantity | measured min | measured max | proven bound | theorem | status |",
             "| --- | --- | --- | --- | --- | --- |"]
    for m in measures:
        bound = (f"[{_fmt(m.lo)}, {_fmt(m.hi)}{')' if m.hi_strict else ']'}"
                 if (m.lo is not None or m.hi is not None) else "none")
        st = "info" if m.lo is None and m.hi is None else ("ok" if m.ok else "EXCEEDS")
        lines.append(f"| {m.name} | {_fmt(m.min)} | {_fmt(m.max)} | {bound} | `{m.theorem}` "
                     f"| {st} |")
    lines.append("")
    for i, m in enumerate(measures):
        if not m.values:
            continue
        fig, ax = plt.subplots(figsize=(7, 3.2))
        vals = [v for v in m.values if math.isfinite(v)]
        ax.hist(vals, bins=60, color="#4477aa")
        if m.lo is not None:
            ax.axvline(m.lo, color="#cc3311", linestyle="--", label=f"proven lower {m.lo:.4g}")
        if m.hi is not None:
            ax.axvline(m.hi, color="#cc3311", linestyle="-", label=f"proven upper {m.hi:.4g}")
        if m.lo is None and m.hi is None:
            ax.set_yscale("log")
        ax.set_title(m.name)
        ax.set_xlabel("value")
        ax.set_ylabel("count")
        if m.lo is not None or m.hi is not None:
            ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        name = f"bounds_{i:02d}.png"
        fig.savefig(folder / name, dpi=90)
        plt.close(fig)
        lines += [f"## {m.name}", "", f"Theorem: `{m.theorem}`. {len(vals)} values; "
                  f"min {_fmt(m.min)}, max {_fmt(m.max)}.", "", f"![{m.name}]({name})", ""]
    # ratio against the bound: how much of each bound's width the measurements use
    bounded = [m for m in measures if m.values and (m.lo is not None and m.hi is not None)]
    if bounded:
        fig, ax = plt.subplots(figsize=(9, 0.8 + 0.45 * len(bounded)))
        for y, m in enumerate(bounded):
            assert m.lo is not None and m.hi is not None
            ax.plot([0, 1], [y, y], color="#bbbbbb", linewidth=6)
            span = m.hi - m.lo
            ax.plot([(m.min - m.lo) / span, (m.max - m.lo) / span], [y, y], color="#228833",
                    linewidth=6)
        ax.set_yticks(range(len(bounded)), [m.name for m in bounded], fontsize=7)
        ax.set_xlim(-0.05, 1.05)
        ax.set_xlabel("position inside the proven bound (0 = lower, 1 = upper)")
        fig.tight_layout()
        fig.savefig(folder / "bounds_ratio.png", dpi=90)
        plt.close(fig)
        lines += ["## Measured range inside each proven bound", "",
                  "Grey: the proven interval; green: the measured range.", "",
                  "![ratio against the bound](bounds_ratio.png)", ""]
    path = folder / "bounds.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
