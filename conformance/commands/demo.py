"""``sorbet-ref demo``: the reference on a bundled example of each operator."""

from __future__ import annotations

import argparse
from typing import Any

from reference import binary_linear, bspn, ptsoftmax, quantizer, spikes
from reference.presets import get_preset


def register(sub: Any) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo", help="run every operator on a bundled example and print it",
        description="Run PTsoftmax, BSPN, the quantizer, the IF encoder and the binary linear "
        "layer of the reference on a bundled example input each, and print inputs, outputs "
        "and their real values.",
    )
    p.add_argument("--preset", default="tiny", help="operator preset (default: tiny)")
    p.set_defaults(handler=run)


def _real(n: int, frac: int) -> str:
    return f"{n / (1 << frac):g}"


def run(args: argparse.Namespace) -> int:
    """Print each operator's example with its inputs, outputs and real values."""
    pre = get_preset(args.preset)
    print(f"sorbet-ref demo, preset {pre.name}\n")

    cfg = pre.ptsoftmax
    scores = [min(max(v, cfg.score_format.min), cfg.score_format.max) for v in (7, 4, 0, -3, 9)]
    n = min(len(scores), cfg.max_len)
    scores = scores[:n]
    mask = [True] * (n - 1) + [False]
    res = ptsoftmax.ptsoftmax(scores, mask, cfg)
    print(f"PTsoftmax  (spec/02-ptsoftmax.md)  score {cfg.score_format.describe()}, "
          f"F={cfg.partition_frac}, out u{cfg.out_frac + 1}.{cfg.out_frac}")
    print(f"  scores      {scores}  = {[_real(s, cfg.score_frac) for s in scores]}")
    print(f"  mask        {[int(m) for m in mask]}")
    print(f"  ceil        {list(res.ceil_scores)}")
    print(f"  partition Z {res.partition} = {_real(res.partition, cfg.partition_frac)}, "
          f"K = {res.k}")
    print(f"  out         {list(res.out)}  = {[_real(p, cfg.out_frac) for p in res.out]}")
    print(f"  sum         {_real(sum(res.out), cfg.out_frac)}\n")

    bc = pre.bspn
    x = [((i * 37) % 23 - 11) << bc.in_frac >> 1 for i in range(bc.channels)]
    x = [min(max(v, bc.in_format.min), bc.in_format.max) for v in x]
    params = bspn.BSPNParams(
        tuple(1 if i % 5 else -1 for i in range(bc.channels)),
        tuple(max(bc.weight_exp_min, min(bc.weight_exp_max, (i % 3) - 1))
              for i in range(bc.channels)),
        tuple(0 for _ in range(bc.channels)),
    )
    out = bspn.bspn(x, params, bc)
    shown = min(bc.channels, 8)
    print(f"BSPN  (spec/03-bspn.md)  in {bc.in_format.describe()}, groups of {bc.group_size}, "
          f"eps=2^-{bc.eps_exp}, out {bc.out_format.describe()}")
    print(f"  x[:{shown}]        {x[:shown]}")
    print(f"  divisor 2^k   k = {list(out.divisor_exp)[:8]}")
    print(f"  out[:{shown}]      {list(out.out[:shown])}  = "
          f"{[_real(v, bc.out_frac) for v in out.out[:shown]]}\n")

    qc = pre.quant_signed
    xs = [-40, -3, -2, -1, 0, 1, 2, 3, 40]
    counts = quantizer.quantize(xs, quantizer.QuantParams(1, 1, 0), qc)
    print(f"Quantizer  (spec/04-quantizer-spikes.md)  signed, {qc.bits} bits, M=1, shift=1 "
          "(alpha = 2), ties to even")
    print(f"  x       {xs}")
    print(f"  counts  {counts}\n")

    sc = pre.spikes
    c = min(5, sc.count_max)
    print(f"IF encoder  (spec/04-quantizer-spikes.md)  T={sc.steps}, threshold {sc.threshold}")
    print(f"  count {c}: spikes {''.join(map(str, spikes.encode(c, sc)))}, "
          f"times {spikes.spike_times(c, sc)}")
    print(f"  membrane {spikes.membrane_trace(c, sc)}\n")

    lc = pre.linear_signed
    lin_in = [(3 * j + 1) % (sc.count_max + 1) for j in range(lc.in_features)]
    signs = [[1 if (i + j) % 3 else -1 for j in range(lc.in_features)]
             for i in range(min(lc.out_features, 4))]
    small = binary_linear.BinaryLinearConfig(lc.in_features, len(signs), lc.bits, lc.steps, True)
    acc = binary_linear.linear_count(lin_in, signs, small)
    acc_t, _ = binary_linear.linear_time(lin_in, signs, small)
    print(f"Binary linear  (spec/05-binary-linear.md)  fan-in {lc.in_features}, signed input, "
          f"accumulator {small.acc_format.describe()}")
    print(f"  counts[:8]   {lin_in[:8]}")
    print(f"  acc (count)  {acc}")
    print(f"  acc (time)   {acc_t}")
    return 0
