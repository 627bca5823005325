"""Vectorized drawing of operator inputs, with their expected outputs by the fast tier.

One call draws a whole batch of one job (conformance/fuzz/jobs.py) from a
:class:`~conformance.fuzz.rng.Stream` and computes every output (normative and
profile) with the fast tier's batch entry points (reference/fast/batch.py).  The
regimes follow the Hypothesis strategies of the committed suites
(conformance/vectors/strategies.py), drawn per row:

- PTsoftmax: rows of 1 to ``max_len`` scores, half of them at most 8 long (drawn first
  in the batch); *near* rows
  keep every score within ``F + 2`` integer units below the row's top (terms,
  truncation and ties of the partition), *wide* rows anywhere in the score format;
  a third of the rows with masked entries (one in four);
- BSPN: every group of a token in its own magnitude range (divisors from
  eps-dominated to the format's top); per block of :data:`BSPN_BLOCK` tokens one set
  of parameters: signs +-1 with a rare 0, weight exponents over the whole range or in
  ``[-2, 2]``, biases zero, small or anywhere;
- quantizer: 1 to 12 values, multiplier 1, a power of two or any, shifts up to the
  product's width or up to 62, biases 0, ``+-2**(shift-1)`` (ties) or any, values
  near the rounding grid or anywhere;
- IF encoder: any count;
- binary linear: counts in the value regimes, signs +-1.

Every row of values is drawn in one of the regimes of
:func:`conformance.fuzz.rng.regime_rows` (uniform, small, extremes, constant, sparse).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.fuzz.jobs import Job
from conformance.fuzz.rng import I64, Stream, regime_rows
from reference.fast import batch as fb

JSON = Any
Inputs = dict[str, JSON] | Callable[[], dict[str, JSON]]
"""A case's inputs, or a function making them (when the drawing function wrote their JSON
text itself, the Python lists are made only for a case that needs them)."""
Drawn = tuple[list[Inputs], list[dict[str, JSON]], list[str] | None, list[str] | None]
"""Inputs, outputs (normative then profile, in the operator's order) and, when the drawing
function writes them itself, the JSON text of the inputs (compact, or with fixed-width
entries) and of the outputs (Python's default layout, ``[1, 2]``) of each case."""

BSPN_BLOCK = 16
"""BSPN tokens drawn per set of parameters."""

_DEFAULT = json.JSONEncoder().encode

LOOKUP_SPAN = 4096
"""Rows whose values span fewer than this many integers are formatted by table lookup."""

QUANT_MAX_N = 12
"""Longest quantizer input drawn (as the suites' strategy)."""


def _ptsoftmax(job: Job, s: Stream, b: int) -> Drawn:
    short = int((s.below(2, (b,)) == 0).sum())
    ins, outs, itext, otext = _ptsoftmax_rows(job, s, short, min(8, job.max_len))
    more_in, more_out, more_itext, more_otext = _ptsoftmax_rows(job, s, b - short, job.max_len)
    assert itext is not None and otext is not None
    assert more_itext is not None and more_otext is not None
    return ins + more_in, outs + more_out, itext + more_itext, otext + more_otext


def _ptsoftmax_rows(job: Job, s: Stream, b: int, max_n: int) -> Drawn:
    if b == 0:
        return [], [], [], []
    cfg = job.cfg
    fmt = cfg.score_format
    unit = 1 << cfg.score_frac
    n = s.ints(1, max_n, (b,))
    width = int(n.max())
    span = min((cfg.partition_frac + 2) * unit, fmt.max - fmt.min)
    near = s.below(2, (b, 1)) == 0
    top = s.ints(fmt.min + span, fmt.max, (b, 1))
    v = regime_rows(s, b, width, np.where(near, 0, fmt.min), np.where(near, span, fmt.max))
    scores = np.where(near, top - v, v)
    some_masked = s.below(3, (b, 1)) == 0
    mask = np.where(some_masked, s.choice((0, 1, 1, 1), (b, width)), 1)
    valid = (mask == 1) & (np.arange(width)[None, :] < n[:, None])
    out, z, k = fb.ptsoftmax_rows(scores, valid, cfg)
    sl, ml, ol = scores.tolist(), mask.tolist(), out.tolist()
    zl, kl, nl = z.tolist(), k.tolist(), n.tolist()
    stext, sw = fixed_width_cells(scores)
    mtext, mw = fixed_width_cells(mask)
    ins: list[Inputs] = []
    outs: list[dict[str, JSON]] = []
    itext: list[str] = []
    otext: list[str] = []
    for r in range(b):
        m = nl[r]
        o = ol[r][:m]
        ins.append({"mask": ml[r][:m], "scores": sl[r][:m]})
        outs.append({"out": o, "partition": zl[r], "k": kl[r]})
        itext.append(f'{{"mask":[{mtext[r][:m * mw - 1]}],"scores":[{stext[r][:m * sw - 1]}]}}')
        otext.append(f'{{"out": {o}, "partition": {zl[r]}, "k": {kl[r]}}}')
    return ins, outs, itext, otext


def _bspn(job: Job, s: Stream, b: int) -> Drawn:
    cfg = job.cfg
    fmt = cfg.in_format
    c, g, groups = cfg.channels, cfg.group_size, cfg.groups
    bits = s.ints(0, cfg.in_width - 1, (b * groups, 1))
    lim = np.left_shift(np.int64(1), bits) - 1
    x = regime_rows(s, b * groups, g, np.maximum(-lim - 1, fmt.min),
                    np.minimum(lim, fmt.max)).reshape(b, c)
    nb = -(-b // BSPN_BLOCK)
    sign = s.choice((-1, 1), (nb, c))
    rare = (s.below(2, (nb, 1)) == 0) & (s.below(16, (nb, c)) == 0)
    sign = np.where(rare, 0, sign)
    narrow = s.below(2, (nb, 1)) == 0
    lo_n, hi_n = max(cfg.weight_exp_min, -2), min(cfg.weight_exp_max, 2)
    wexp = regime_rows(s, nb, c, np.where(narrow, min(lo_n, hi_n), cfg.weight_exp_min),
                       np.where(narrow, max(lo_n, hi_n), cfg.weight_exp_max))
    bfmt = cfg.bias_format
    small = 4 << cfg.bias_frac
    regime = s.below(3, (nb, 1))
    bias = regime_rows(s, nb, c, np.where(regime == 1, max(bfmt.min, -small), bfmt.min),
                       np.where(regime == 1, min(bfmt.max, small), bfmt.max))
    bias = np.where(regime == 0, 0, bias)
    xtext = fixed_width_rows(x)
    sl, wl, bl = sign.tolist(), wexp.tolist(), bias.tolist()
    ins: list[Inputs] = []
    outs: list[dict[str, JSON]] = []
    texts: list[str] = []
    for k in range(nb):
        lo, hi = k * BSPN_BLOCK, min(b, (k + 1) * BSPN_BLOCK)
        out, dexp = fb.bspn_tokens(x[lo:hi], sign[k], wexp[k], bias[k], cfg)
        # the parameters are shared by the block: their JSON is written once
        params = (f'{{"bias":{_compact(bl[k])},"weight_exp":{_compact(wl[k])},'
                  f'"weight_sign":{_compact(sl[k])},"x":')
        for r, (o, d) in enumerate(zip(out.tolist(), dexp.tolist(), strict=True)):
            ins.append(functools.partial(_bspn_case, bl[k], wl[k], sl[k], x[lo + r]))
            outs.append({"out": o, "divisor_exp": d})
            texts.append(params + xtext[lo + r] + "}")
    return ins, outs, texts, None


def _bspn_case(bias: list[int], wexp: list[int], sign: list[int], x: I64) -> dict[str, JSON]:
    return {"bias": bias, "weight_exp": wexp, "weight_sign": sign, "x": x.tolist()}


def _quantize(job: Job, s: Stream, b: int) -> Drawn:
    cfg = job.cfg
    fmt = cfg.in_format
    mbits = cfg.multiplier_bits
    n = s.ints(1, QUANT_MAX_N, (b,))
    kind = s.below(3, (b,))
    m = np.select([kind == 0, kind == 1],
                  [np.int64(1), np.left_shift(np.int64(1), s.ints(0, mbits - 1, (b,)))],
                  s.ints(1, (1 << mbits) - 1, (b,)))
    shift = np.where(s.below(2, (b,)) == 0, s.ints(0, cfg.in_width + mbits + 1, (b,)),
                     s.ints(0, 62, (b,)))
    blo, bhi = -(1 << (cfg.bias_width - 1)), (1 << (cfg.bias_width - 1)) - 1
    half = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
    tie = np.where(s.below(2, (b,)) == 0, half, -half)
    tie = np.where((tie >= blo) & (tie <= bhi), tie, 0)
    bkind = s.below(3, (b,))
    bias = np.select([bkind == 0, bkind == 1], [np.int64(0), tie], s.ints(blo, bhi, (b,)))
    span = np.where(shift < 40, np.maximum(1, np.left_shift(np.int64(1), np.minimum(shift, 39))
                                           // m), fmt.max)
    grid = s.below(2, (b, 1)) == 0
    lo = np.where(grid, np.maximum(fmt.min, -16 * span[:, None]), fmt.min)
    hi = np.where(grid, np.minimum(fmt.max, 16 * span[:, None]), fmt.max)
    x = regime_rows(s, b, QUANT_MAX_N, lo, hi)
    counts = fb.quantize_rows(x, m, shift, bias, cfg)
    xl, cl, nl = x.tolist(), counts.tolist(), n.tolist()
    ml, shl, bl = m.tolist(), shift.tolist(), bias.tolist()
    ins: list[Inputs] = []
    outs: list[dict[str, JSON]] = []
    itext: list[str] = []
    otext: list[str] = []
    for r in range(b):
        k = nl[r]
        x_r, c_r = xl[r][:k], cl[r][:k]
        ins.append({"bias": bl[r], "multiplier": ml[r], "shift": shl[r], "x": x_r})
        outs.append({"counts": c_r})
        itext.append(f'{{"bias":{bl[r]},"multiplier":{ml[r]},"shift":{shl[r]},'
                     f'"x":[{",".join(map(str, x_r))}]}}')
        otext.append(f'{{"counts": {c_r}}}')
    return ins, outs, itext, otext


_IF_TABLES: dict[Any, tuple[tuple[list[int], list[int]], ...]] = {}


def _if_encode(job: Job, s: Stream, b: int) -> Drawn:
    cfg = job.cfg
    table = _IF_TABLES.get(cfg)
    if table is None:
        table = _IF_TABLES[cfg] = fb.if_encode_table(cfg)
    counts = s.ints(0, cfg.count_max, (b,)).tolist()
    outs = [{"spikes": sp, "membrane": mem} for sp, mem in table]
    texts = [_DEFAULT(o) for o in outs]
    return ([{"count": c} for c in counts], [outs[c] for c in counts],
            [f'{{"count":{c}}}' for c in counts], [texts[c] for c in counts])


def _binary_linear(job: Job, s: Stream, b: int) -> Drawn:
    cfg = job.cfg
    n, o = cfg.in_features, cfg.out_features
    counts = regime_rows(s, b, n, 0, (1 << cfg.bits) - 1)
    signs = s.signs((b, o, n))
    acc, partial = fb.binary_linear_rows(counts, signs, cfg)
    flat = signs.reshape(b, o * n)
    al, pl = acc.tolist(), partial.reshape(b, -1).tolist()
    ctext, stext = fixed_width_rows(counts), fixed_width_rows(flat)
    return ([functools.partial(_linear_case, counts[r], flat[r]) for r in range(b)],
            [{"acc": al[r], "partial": pl[r]} for r in range(b)],
            [f'{{"counts":{ctext[r]},"signs":{stext[r]}}}' for r in range(b)], None)


def _linear_case(counts: I64, signs: I64) -> dict[str, JSON]:
    return {"counts": counts.tolist(), "signs": signs.tolist()}


def _compact(values: list[int]) -> str:
    """A list of integers as compact JSON."""
    return "[" + ",".join(map(str, values)) + "]"


def fixed_width_rows(a: I64) -> list[str]:
    """Each row of a 2-D integer array as a JSON list whose entries are right-aligned to one
    width (``[ 1,-1,15, 0]``; JSON allows the spaces): see :func:`fixed_width_cells`."""
    cells, _ = fixed_width_cells(a)
    return ["[" + c[:-1] + "]" for c in cells]


def fixed_width_cells(a: I64) -> tuple[list[str], int]:
    """Each row of a 2-D integer array as the text of its entries, each right-aligned to one
    width and followed by a comma (`` 1,-1,15, 0,``), and that cell width: the first ``m``
    entries are the first ``m * width - 1`` characters.  Formatted by whole-array
    arithmetic, much faster than ``str`` per value for long rows."""
    rows, n = a.shape
    mag = np.abs(a)
    top = int(mag.max()) if a.size else 0
    digits = len(str(top))
    width = digits + 1
    low = int(a.min()) if a.size else 0
    if int(a.max()) - low < LOOKUP_SPAN if a.size else False:
        # few distinct values: one gather from the text of each
        table = np.frombuffer(b"".join(f"{v:>{width}},".encode() for v in range(
            low, int(a.max()) + 1)), dtype=np.uint8).reshape(-1, width + 1)
        flat = table[a - low].reshape(rows, -1)
        return [flat[r].tobytes().decode("ascii") for r in range(rows)], width + 1
    chars = np.full((rows, n, width + 1), ord(" "), dtype=np.uint8)
    chars[:, :, width] = ord(",")
    nd = np.ones(a.shape, dtype=np.int64)
    for k in range(1, digits):
        nd += mag >= 10 ** k
    rest = mag.copy()
    for k in range(digits):
        d = (rest % 10).astype(np.uint8) + ord("0")
        rest //= 10
        chars[:, :, width - 1 - k] = np.where(k < nd, d, ord(" "))
    neg = a < 0
    for length in range(1, digits + 1):
        at = chars[:, :, width - 1 - length]
        at[neg & (nd == length)] = ord("-")
    flat = chars.reshape(rows, -1)
    return [flat[r].tobytes().decode("ascii") for r in range(rows)], width + 1


DRAW: dict[str, Callable[[Job, Stream, int], Drawn]] = {
    "ptsoftmax": _ptsoftmax, "bspn": _bspn, "quantize": _quantize,
    "if_encode": _if_encode, "binary_linear": _binary_linear,
}
"""The drawing function of each operator."""


def materialize(inputs: Inputs) -> dict[str, JSON]:
    """The inputs themselves."""
    return inputs() if callable(inputs) else inputs


def draw(job: Job, s: Stream, b: int) -> Drawn:
    """``b`` valid cases of ``job`` with their expected outputs (fast tier)."""
    return DRAW[job.op](job, s, b)



def fast_outputs(job: Job, inputs: dict[str, JSON]) -> dict[str, JSON] | None:
    """All outputs of one valid case by the fast tier, for the operators whose canonical
    computation is slow at full width (BSPN, the binary linear layer); None for the others
    (the caller uses the canonical tier)."""
    cfg = job.cfg
    if job.op == "bspn":
        arr = {k: np.asarray(inputs[k], dtype=np.int64)
               for k in ("x", "weight_sign", "weight_exp", "bias")}
        out, dexp = fb.bspn_tokens(arr["x"][None, :], arr["weight_sign"], arr["weight_exp"],
                                   arr["bias"], cfg)
        return {"out": out[0].tolist(), "divisor_exp": dexp[0].tolist()}
    if job.op == "binary_linear":
        n, o = cfg.in_features, cfg.out_features
        counts = np.asarray(inputs["counts"], dtype=np.int64)[None, :]
        signs = np.asarray(inputs["signs"], dtype=np.int64).reshape(1, o, n)
        acc, partial = fb.binary_linear_rows(counts, signs, cfg)
        return {"acc": acc[0].tolist(), "partial": partial[0].reshape(-1).tolist()}
    return None
