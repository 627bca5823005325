"""The layers of the Sorbet encoder in integers (spec/06-layers.md).

Every block is built from the operators, never from a second copy of their
algorithms: :func:`reference.quantizer.requantize` (every requantization),
:func:`reference.binary_linear.dot_count` (every binary linear accumulation),
:func:`reference.ptsoftmax.ptsoftmax` and :func:`reference.bspn.bspn`.

Notation of spec/06: ``requant(x; M, B, s, lo, hi) = clamp(round_half_even((x*M + B) / 2**s),
lo, hi)``; ``o = 2**(bits-1)``; a signed count ``c`` stands for ``c - o``.  Tensors are lists
of rows (one row per token).  Each block returns its output and, when asked, a trace: a
dict from the tensor names of spec/08-model.md, "Trace" (without the ``layer.{i}.`` prefix)
to nested integer lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reference import arith
from reference.algebra import PY
from reference.binary_linear import BinaryLinearConfig, dot_count, unpack_signs
from reference.bspn import BSPNParams, bspn
from reference.errors import MaskError, OverflowDetected, ShapeError
from reference.formats import IntFormat, check_length, check_sequence
from reference.model_config import (
    HeadParams,
    LayerParams,
    LinearParams,
    ModelConfig,
    context_offset_weight,
)
from reference.ptsoftmax import ptsoftmax
from reference.quantizer import requantize
from reference.spikes import if_run

Matrix = list[list[int]]
"""Rows of integers (tokens x channels)."""

Trace = dict[str, list[Any]]
"""Tensor name -> nested integer lists."""


# --------------------------------------------------------------------------- validation


def check_hidden(h: Sequence[Sequence[int]], cfg: ModelConfig, name: str,
                 fmt: IntFormat | None = None) -> Matrix:
    """Check ``h`` is ``seq x hidden`` with ``1 <= seq <= max_seq`` and entries in ``fmt``.

    ``fmt`` defaults to the hidden format ``h`` (spec/06, "Parameters").  Raises
    ShapeError or RangeError naming ``name`` and the offending row/element.
    """
    check_sequence(h, name)
    if not 1 <= len(h) <= cfg.max_seq:
        raise ShapeError(f"{name}: sequence length {len(h)} is outside [1, max_seq={cfg.max_seq}]")
    f = fmt or cfg.h_format
    rows: Matrix = []
    for t, row in enumerate(h):
        check_length(row, cfg.hidden, f"{name}[{t}]")
        rows.append(f.check_all(row, f"{name}[{t}]"))
    return rows


def check_mask(mask: Sequence[bool], seq: int, name: str = "mask") -> list[bool]:
    """Check ``mask`` is ``seq`` booleans (True = real token); raise MaskError otherwise."""
    if isinstance(mask, (str, bytes)) or not isinstance(mask, Sequence):
        raise MaskError(f"{name}: expected a list of bool, got {type(mask).__name__}")
    if len(mask) != seq:
        raise MaskError(f"{name}: expected length {seq} (the sequence length), got {len(mask)}")
    for i, m in enumerate(mask):
        if not isinstance(m, bool):
            raise MaskError(f"{name}[{i}]: expected a bool, got {type(m).__name__} {m!r}")
    return list(mask)


# --------------------------------------------------------------------------- requantization


def requant(x: int, mult: int, bias: int, shift: int, lo: int, hi: int) -> int:
    """``clamp(round_half_even((x*M + B) / 2**s), lo, hi)`` (spec/06, "Requantization")."""
    return requantize(PY, x, mult, bias, shift, lo, hi)


def signed_count_range(cfg: ModelConfig) -> tuple[int, int]:
    """``[-o, o - 1]``: the range of a signed quantized value before ``+ o``."""
    o = 1 << (cfg.bits - 1)
    return -o, o - 1


def quantize_input(x: Matrix, lin: LinearParams, lc: BinaryLinearConfig,
                   extra_bias: Sequence[int] | None = None) -> Matrix:
    """A linear layer's input quantizer (spec/06, "Binary linear layer with its quantizers").

    ``cin[t][j] = requant(x[t][j]; in_mult, in_bias[j] + E[j], in_shift, q_min, q_max) - q_min``
    with ``[q_min, q_max] = [-o, o-1]`` for a signed input and ``[0, 2**bits - 1]`` for an
    unsigned one; ``E = extra_bias`` (the context offset of spec/06, step 6) or 0.
    """
    if lc.signed_input:
        lo, hi = -lc.offset, lc.offset - 1
    else:
        lo, hi = 0, (1 << lc.bits) - 1
    bias = [b + (extra_bias[j] if extra_bias is not None else 0)
            for j, b in enumerate(lin.in_bias)]
    return [
        [requant(v, lin.in_mult, bias[j], lin.in_shift, lo, hi) - lo
         for j, v in enumerate(row)]
        for row in x
    ]


def sign_bits(lin: LinearParams, lc: BinaryLinearConfig) -> list[list[bool]]:
    """The unpacked signs (``out x in``; True = +1) of ``lin`` (spec/05, "Sign storage")."""
    return [[s == 1 for s in row]
            for row in unpack_signs(lin.signs, lc.out_features, lc.in_features)]


def accumulate(cin: Matrix, bits: list[list[bool]], lc: BinaryLinearConfig) -> Matrix:
    """Count level: ``acc[t][i] = sum_j (cin[t][j] - o) * s_ij`` (spec/05, reused as is)."""
    fmt = lc.acc_format
    out: Matrix = []
    for row in cin:
        accs = [dot_count(PY, row, b, lc.offset) for b in bits]
        for v in accs:
            if not fmt.min <= v <= fmt.max:  # theorem lin.acc_width: cannot happen
                raise OverflowDetected(f"accumulator {v} outside {fmt.describe()}")
        out.append(accs)
    return out


def requant_output(acc: Matrix, lin: LinearParams, lo: int, hi: int) -> Matrix:
    """``requant(acc[t][i]; out_mult, out_bias[i], out_shift, lo, hi)``.

    Step 3 of spec/06, "Binary linear layer with its quantizers".
    """
    return [
        [requant(v, lin.out_mult, lin.out_bias[i], lin.out_shift, lo, hi)
         for i, v in enumerate(row)]
        for row in acc
    ]


def linear_layer(
    x: Matrix, lin: LinearParams, name: str, cfg: ModelConfig, lo: int, hi: int,
    extra_bias: Sequence[int] | None = None,
) -> tuple[Matrix, Matrix, Matrix]:
    """Quantize, accumulate, requantize: returns ``(cin, acc, out)`` (spec/06, "Binary linear layer
    with its quantizers").

    ``out`` is clamped to ``[lo, hi]`` (a count range, the residual format, or ``[0, max]``
    where the clamp at 0 is the ReLU); ``extra_bias`` is added to the input quantizer's bias.
    """
    lc = cfg.linear(name)
    cin = quantize_input(x, lin, lc, extra_bias)
    acc = accumulate(cin, sign_bits(lin, lc), lc)
    return cin, acc, requant_output(acc, lin, lo, hi)


# --------------------------------------------------------------------------- attention


def head_slice(cfg: ModelConfig, n: int) -> range:
    """Channels ``n*D .. n*D + D - 1`` of head ``n``."""
    d = cfg.head_dim
    return range(n * d, (n + 1) * d)


def attention_scores(cq: Matrix, ck: Matrix, score_mult: int, cfg: ModelConfig) -> list[Matrix]:
    """``x[n][t][u] = score_mult * sum_{d in head n} (cq[t][d] - o) * (ck[u][d] - o)``.

    Count level of "query spikes against key values" (spec/06, "Spiking self-attention",
    step 2); exact,
    in the score format (``|x| <= D * o**2 * score_mult`` fits by ModelConfig's check).
    """
    o = 1 << (cfg.bits - 1)
    fmt = cfg.ptsoftmax.score_format
    out: list[Matrix] = []
    for n in range(cfg.heads):
        hs = head_slice(cfg, n)
        kv = [[row[d] - o for d in hs] for row in ck]
        head: Matrix = []
        for qrow in cq:
            q = [qrow[d] - o for d in hs]
            line = [score_mult * sum(a * b for a, b in zip(q, k, strict=True)) for k in kv]
            for v in line:
                if not fmt.min <= v <= fmt.max:  # excluded by ModelConfig: cannot happen
                    raise OverflowDetected(f"score {v} outside {fmt.describe()}")
            head.append(line)
        out.append(head)
    return out


def attention_scores_time(cq: Matrix, ck: Matrix, cfg: ModelConfig) -> list[Matrix]:
    """Time level of the query-key product, before ``score_mult`` (profile; spec/06,
    "Query spikes against key values: count level equals time level").

    ``S[n][t][u] = sum_steps sum_d spike_{t,d}(step) * (ck[u][d] - o) - o * sum_d (ck[u][d] - o)``
    where ``spike_{t,d}`` is the IF train of ``cq[t][d]``.  Equals the count level because
    each train holds exactly ``cq[t][d]`` spikes (theorem if.count).
    """
    o = 1 << (cfg.bits - 1)
    trains = [[if_run(PY, c, cfg.steps)[0] for c in row] for row in cq]
    out: list[Matrix] = []
    for n in range(cfg.heads):
        hs = head_slice(cfg, n)
        head: Matrix = []
        for t in range(len(cq)):
            line: list[int] = []
            for krow in ck:
                acc = 0
                for step in range(cfg.steps):
                    for d in hs:
                        if trains[t][d][step]:
                            acc += krow[d] - o
                line.append(acc - o * sum(krow[d] - o for d in hs))
            head.append(line)
        out.append(head)
    return out


def attention_probs(scores: list[Matrix], mask: list[bool], cfg: ModelConfig) -> list[Matrix]:
    """``p[n][t] = PTsoftmax(x[n][t], mask)`` per head and query row (spec/06, step 3).

    Keys with ``mask[u]`` False take no part and get probability 0; query rows of
    padding tokens are computed like any other row.
    """
    pcfg = cfg.ptsoftmax
    return [[list(ptsoftmax(row, mask, pcfg).out) for row in head] for head in scores]


def prob_offset(probs: list[Matrix]) -> int:
    """The layer's probability offset ``pm`` (spec/06, step 4).

    ``P_min`` is the smallest PTsoftmax output of the layer (every head, every query row,
    padding rows included, every key; a masked key's 0 counts).  ``pm = 0`` when
    ``P_min = 0``; otherwise ``pm = 2**k`` with ``2**(2k-1) <= P_min**2 < 2**(2k+1)``:
    ``k = round(log2 P_min)`` decided exactly by
    :func:`reference.arith.log_nearest_pow2_exp` (no ties for an integer).
    """
    p_min = min(p for head in probs for row in head for p in row)
    if p_min == 0:
        return 0
    return 1 << arith.log_nearest_pow2_exp(PY, p_min, p_min.bit_length())


def quantize_probs(probs: list[Matrix], mult: int, shift: int, pm: int,
                   cfg: ModelConfig) -> list[Matrix]:
    """``cP = requant(p; prob_mult, -pm * prob_mult, prob_shift, 0, 2**bits - 1)`` (spec/06,
    step 4): unsigned counts of ``p - pm``."""
    hi = (1 << cfg.bits) - 1
    bias = -pm * mult
    return [[[requant(p, mult, bias, shift, 0, hi) for p in row] for row in head]
            for head in probs]


def context_offset(cv: Matrix, pm: int, layer: LayerParams, cfg: ModelConfig) -> list[int]:
    """``E[d] = W * V[d]`` with ``V[d] = sum_u (cv[u][d] - o)`` over every key (spec/06, step 6).

    Zero when ``pm = 0``; when ``pm > 0`` no key is masked (a masked key's probability is 0),
    so ``V`` sums real keys only.
    """
    if pm == 0:
        return [0] * cfg.hidden
    o = 1 << (cfg.bits - 1)
    w = context_offset_weight(pm, layer.prob_mult, layer.prob_shift, layer.o.in_mult)
    return [w * sum(row[d] - o for row in cv) for d in range(cfg.hidden)]


def attention_context(cp: list[Matrix], cv: Matrix, cfg: ModelConfig) -> Matrix:
    """``ctx[t][d] = sum_u cP[n][t][u] * (cv[u][d] - o)`` for ``d`` in head ``n`` (spec/06, step 5).

    Count level of "probability spikes against values".
    """
    o = 1 << (cfg.bits - 1)
    seq = len(cv)
    ctx = [[0] * cfg.hidden for _ in range(seq)]
    for n in range(cfg.heads):
        for t in range(seq):
            weights = cp[n][t]
            for d in head_slice(cfg, n):
                ctx[t][d] = sum(w * (cv[u][d] - o) for u, w in enumerate(weights))
    return ctx


def attention_context_time(cp: list[Matrix], cv: Matrix, cfg: ModelConfig) -> Matrix:
    """Time level of :func:`attention_context` (profile): add ``cv[u][d] - o`` at each spike.

    ``ctx[t][d] = sum_steps sum_u spike_{n,t,u}(step) * (cv[u][d] - o)``; the probability
    counts are unsigned, so no offset correction is needed.
    """
    o = 1 << (cfg.bits - 1)
    seq = len(cv)
    ctx = [[0] * cfg.hidden for _ in range(seq)]
    for n in range(cfg.heads):
        for t in range(seq):
            trains = [if_run(PY, c, cfg.steps)[0] for c in cp[n][t]]
            for d in head_slice(cfg, n):
                acc = 0
                for step in range(cfg.steps):
                    for u in range(seq):
                        if trains[u][step]:
                            acc += cv[u][d] - o
                ctx[t][d] = acc
    return ctx


# --------------------------------------------------------------------------- residual, BSPN


def residual(a: Matrix, h: Matrix, cfg: ModelConfig) -> Matrix:
    """``r = saturate_r(a + h)``: clamp to the residual format (spec/06, step 7)."""
    fmt = cfg.r_format
    return [[arith.clamp(PY, x + y, fmt.min, fmt.max) for x, y in zip(ar, hr, strict=True)]
            for ar, hr in zip(a, h, strict=True)]


def bspn_rows(r: Matrix, params: BSPNParams, cfg: ModelConfig) -> Matrix:
    """BSPN of every token (spec/03): outputs are 0 or signed powers of two in format ``h``."""
    bc = cfg.bspn
    return [list(bspn(row, params, bc).out) for row in r]


# --------------------------------------------------------------------------- blocks


def attention_block(
    h: Sequence[Sequence[int]],
    mask: Sequence[bool],
    layer: LayerParams,
    cfg: ModelConfig,
    trace: bool = False,
) -> tuple[Matrix, Trace]:
    """Spiking self-attention with output projection, residual and BSPN_1 (spec/06, steps 1-7).

    ``h1 = BSPN_1(saturate_r(requant_r(Lin_O(ctx)) + h))`` with ``ctx`` from the
    Q/K/V projections, scores, PTsoftmax and the unsigned probability counts of
    ``p - pm`` (:func:`prob_offset`); ``Lin_O``'s input quantizer adds the context offset
    ``W * V`` (:func:`context_offset`) to its bias.
    Returns ``(h1, trace)``; the trace is empty unless ``trace``.
    """
    hs = check_hidden(h, cfg, "attention: h")
    m = check_mask(mask, len(hs), "attention: mask")
    layer.validate_attention(cfg, "layer")
    clo, chi = signed_count_range(cfg)
    o = -clo
    tr: Trace = {}
    qkv: dict[str, Matrix] = {}
    for name in ("q", "k", "v"):
        cin, acc, q = linear_layer(hs, layer.linears()[name], name, cfg, clo, chi)
        qkv[name] = [[v + o for v in row] for row in q]
        if trace:
            tr[f"cin_{name}"], tr[f"acc_{name}"] = cin, acc
    scores = attention_scores(qkv["q"], qkv["k"], layer.score_mult, cfg)
    probs = attention_probs(scores, m, cfg)
    pm = prob_offset(probs)
    cp = quantize_probs(probs, layer.prob_mult, layer.prob_shift, pm, cfg)
    ctx = attention_context(cp, qkv["v"], cfg)
    ctx_off = context_offset(qkv["v"], pm, layer, cfg)
    rf = cfg.r_format
    cin_o, acc_o, a_o = linear_layer(ctx, layer.o, "o", cfg, rf.min, rf.max, ctx_off)
    r1 = residual(a_o, hs, cfg)
    h1 = bspn_rows(r1, layer.bspn1, cfg)
    if trace:
        for name in ("q", "k", "v"):
            tr[f"c_{name}"] = qkv[name]
        tr.update(scores=scores, probs=probs, prob_offset=[pm], c_prob=cp, ctx=ctx,
                  ctx_offset=ctx_off, cin_o=cin_o, acc_o=acc_o, a_o=a_o, r1=r1, h1=h1)
    return h1, tr


def ffn_block(
    h1: Sequence[Sequence[int]], layer: LayerParams, cfg: ModelConfig, trace: bool = False
) -> tuple[Matrix, Trace]:
    """Feed-forward with residual and BSPN_2 (spec/06, steps 8-9).

    ``u = requant(Lin_1(h1)) clamped to [0, u_max]`` (the clamp at 0 is the ReLU),
    ``h2 = BSPN_2(saturate_r(requant_r(Lin_2(u)) + h1))`` with ``Lin_2``'s input
    quantized unsigned.  Returns ``(h2, trace)``.
    """
    hs = check_hidden(h1, cfg, "ffn: h1")
    layer.validate_ffn(cfg, "layer")
    uf, rf = cfg.u_format, cfg.r_format
    cin1, acc1, u = linear_layer(hs, layer.ffn1, "ffn1", cfg, 0, uf.max)
    cin2, acc2, a2 = linear_layer(u, layer.ffn2, "ffn2", cfg, rf.min, rf.max)
    r2 = residual(a2, hs, cfg)
    h2 = bspn_rows(r2, layer.bspn2, cfg)
    tr: Trace = {}
    if trace:
        tr.update(cin_ffn1=cin1, acc_ffn1=acc1, u=u, cin_ffn2=cin2, acc_ffn2=acc2,
                  a_ffn2=a2, r2=r2, h2=h2)
    return h2, tr


def encoder_layer(
    h: Sequence[Sequence[int]],
    mask: Sequence[bool],
    layer: LayerParams,
    cfg: ModelConfig,
    trace: bool = False,
) -> tuple[Matrix, Trace]:
    """One encoder layer: :func:`attention_block`, then :func:`ffn_block` (spec/06).

    See spec/06, "Encoder layer".
    """
    h1, t1 = attention_block(h, mask, layer, cfg, trace)
    h2, t2 = ffn_block(h1, layer, cfg, trace)
    t1.update(t2)
    return h2, t1


# --------------------------------------------------------------------------- head


def pooler(
    h: Sequence[Sequence[int]], head: HeadParams, cfg: ModelConfig
) -> tuple[list[int], list[int], list[int]]:
    """Pooler on the first token (spec/08, "Pooler"): returns ``(cin, acc, pooled)``.

    ``pooled = requant(Lin_pool(h[0]); M, B, s, 0, h_max)``: the clamp at 0 is the
    ReLU; the result is in the hidden format.
    """
    hs = check_hidden(h, cfg, "pooler: h")
    head.validate(cfg)
    cin, acc, pooled = linear_layer([hs[0]], head.pooler, "pooler", cfg, 0, cfg.h_format.max)
    return cin[0], acc[0], pooled[0]


def classifier(pooled: Sequence[int], head: HeadParams, cfg: ModelConfig) -> list[int]:
    """``logits[k] = sum_i pooled[i] * Wc[k][i] + bc[k]`` (spec/08, "Classifier").

    Exact integers with ``h_frac + cls_frac`` fractional bits; they fit signed 64 bits.
    """
    check_length(pooled, cfg.hidden, "classifier: pooled")
    ps = cfg.h_format.check_all(pooled, "classifier: pooled")
    head.validate(cfg)
    hd = cfg.hidden
    return [
        sum(p * w for p, w in zip(ps, head.cls_weight[k * hd : (k + 1) * hd], strict=True))
        + head.cls_bias[k]
        for k in range(cfg.num_labels)
    ]
