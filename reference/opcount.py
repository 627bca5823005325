"""Operation counts of a forward pass and its energy (spec/08-model.md, "Operation counts").

Counts are exact integers derived from a trace of :func:`reference.model.forward`
(``trace=True``) and the configuration, under the conventions below.  ``seq`` is
the trace's sequence length; every position is counted, padding included (the
reference computes padding rows and masked keys like any other).

Per encoder layer, with ``H`` hidden, ``FF`` feed-forward, ``D`` head size,
``heads``, ``n = seq``, ``T`` steps:

- **spikes**: the sum of every count sent as a spike train: the inputs of the six
  binary linear layers (``cin_*``), the query counts ``c_q`` and the probability
  counts ``c_prob`` (keys and values are used as values, not trains).
- **accumulates** (synaptic operations): one per spike per target it feeds:
  ``sum(cin_P) * fan_out_P`` for each linear ``P``; ``sum(c_q) * n`` for the query spikes
  against the key values of every key; ``sum(c_prob) * D`` for the probability spikes
  against the values of their head.
- **adds** (other additions): key and value offsets ``c - o`` (``2 n H``), the key sums
  and query-offset corrections of the scores (``n (H - heads) + heads n^2``), the bias of every
  requantization with a bias (``n (fan_in + fan_out)`` per linear), PTsoftmax's
  differences and partition sums (``heads n^2 + heads n (n - 1)``), the residuals
  (``2 n H``), BSPN's group sums and affine bias (``2 n H`` per BSPN).  The binary
  linear offset ``o * sum_j s_ij`` is a constant of the weights, folded into the
  output bias, and is not counted.
- **multiplies**: the fixed-point multiplier of every requantization
  (``n (fan_in + fan_out)`` per linear, ``heads n^2`` for the probabilities) and
  ``score_mult`` (``heads n^2``); when parameters are given, a multiplier that is a
  power of two counts as a shift instead.  Head: the classifier's
  ``num_labels * H`` products.
- **shifts**: the rounding shift of every requantization; PTsoftmax's ceil, term
  and output shifts (``3 heads n^2``); the query-offset scaling ``o * sum`` of the
  scores (``heads n``); BSPN's ``S * 2^eps`` (one per group) and per-channel scale
  (``n H``); plus any multiplier that is a power of two.
- **comparisons**: ``T`` per spike-train neuron (one threshold test a step); two per
  clamp (every requantization and each residual saturation); PTsoftmax's row
  maximum (``n - 1`` a row), the ``d <= F`` test (``n`` a row) and the partition's
  nearest power (one a row); BSPN's divisor search (``bit_length(j_max)`` per group,
  a binary search over the thresholds ``G * 2^j``) and output rounding (the
  ``sqrt 2`` cut-over, flush and saturation: 3 per channel).

Energy, 45 nm convention of the paper: 4.6 pJ per 32-bit float multiply-accumulate,
0.9 pJ per accumulate.  Sorbet's estimate charges accumulates and adds at 0.9 pJ and
the remaining multiplies at 4.6 pJ; shifts and comparisons are charged nothing (as in
the paper).  The baseline is a float BERT of the same shape (BERT-base for
``sorbet-base``) at the same sequence length, counted by :func:`bert_macs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from reference.errors import ShapeError
from reference.model_config import ModelConfig, ModelParams

PJ_PER_MAC = 4.6
"""Energy of one 32-bit float multiply-accumulate at 45 nm (pJ)."""

PJ_PER_ACC = 0.9
"""Energy of one 32-bit accumulate at 45 nm (pJ)."""

PAPER_RATIO = 27.16
"""Energy saving of Sorbet against BERT-base reported by the paper."""

LINEARS = ("q", "k", "v", "o", "ffn1", "ffn2")
"""The binary linear layers of a layer, with their trace input key ``cin_{name}``."""

_CIN = {"q": "cin_q", "k": "cin_k", "v": "cin_v", "o": "cin_o", "ffn1": "cin_ffn1",
        "ffn2": "cin_ffn2"}


@dataclass(frozen=True)
class OpTally:
    """The counts of one part of the forward pass."""

    accumulates: int = 0
    adds: int = 0
    multiplies: int = 0
    shifts: int = 0
    comparisons: int = 0
    spikes: int = 0

    def __add__(self, other: OpTally) -> OpTally:
        return OpTally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class OpCounts:
    """Counts per encoder layer, for the head (pooler, classifier) and in total."""

    seq: int
    per_layer: tuple[OpTally, ...]
    head: OpTally
    total: OpTally


def _flat_sum(v: Any) -> int:
    if isinstance(v, list):
        return sum(_flat_sum(x) for x in v)
    if isinstance(v, int):
        return v
    # numpy tensors of the fast tier are accepted through their ``sum``.
    return int(v.sum())


def _get(trace: Mapping[str, Any], key: str) -> Any:
    if key not in trace:
        raise ShapeError(f"op_counts: trace has no tensor {key!r}; run forward with trace=True")
    return trace[key]


def _is_pow2(m: int) -> bool:
    return m > 0 and m & (m - 1) == 0


def _requant(n: int, mult: int | None, biased: bool) -> OpTally:
    """``n`` requantizations ``clamp(round((x M + B) >> s))``."""
    shift_mult = mult is not None and _is_pow2(mult)
    return OpTally(adds=n if biased else 0, multiplies=0 if shift_mult else n,
                   shifts=n * (2 if shift_mult else 1), comparisons=2 * n)


def _linear(cfg: ModelConfig, name: str, rows: int, cin_sum: int,
            mults: tuple[int, int] | None) -> OpTally:
    lc = cfg.linear(name)
    fi, fo = lc.in_features, lc.out_features
    mi, mo = mults if mults is not None else (None, None)
    t = OpTally(accumulates=cin_sum * fo, spikes=cin_sum, comparisons=rows * fi * cfg.steps)
    return t + _requant(rows * fi, mi, True) + _requant(rows * fo, mo, True)


def _bspn(cfg: ModelConfig, n: int) -> OpTally:
    bc = cfg.bspn
    h, g = cfg.hidden, bc.groups
    return OpTally(adds=2 * n * h, shifts=n * (g + h),
                   comparisons=n * (g * bc.j_max.bit_length() + 3 * h))


def layer_counts(cfg: ModelConfig, trace: Mapping[str, Any], i: int,
                 params: ModelParams | None = None) -> OpTally:
    """The counts of encoder layer ``i`` (conventions in the module docstring)."""
    p = f"layer.{i}."
    n = len(_get(trace, p + "c_q"))
    h, heads, d = cfg.hidden, cfg.heads, cfg.head_dim
    lp = params.layers[i] if params is not None else None
    total = OpTally()
    for name in LINEARS:
        mults = None
        if lp is not None:
            lin = lp.linears()[name]
            mults = (lin.in_mult, lin.out_mult)
        total += _linear(cfg, name, n, _flat_sum(_get(trace, p + _CIN[name])), mults)
    cq, cp = _flat_sum(_get(trace, p + "c_q")), _flat_sum(_get(trace, p + "c_prob"))
    nn = heads * n * n
    attn = OpTally(
        accumulates=cq * n + cp * d,
        adds=2 * n * h + n * (h - heads) + nn + nn + heads * n * (n - 1) + 2 * n * h,
        shifts=heads * n + 3 * nn,
        comparisons=(n * h + nn) * cfg.steps + heads * n * (n - 1) + heads * n * n + heads * n
        + 2 * 2 * n * h,
        spikes=cq + cp,
    )
    score_pow2 = lp is not None and _is_pow2(lp.score_mult)
    attn += OpTally(multiplies=0 if score_pow2 else nn, shifts=nn if score_pow2 else 0)
    attn += _requant(nn, lp.prob_mult if lp is not None else None, False)
    return total + attn + _bspn(cfg, n) + _bspn(cfg, n)


def head_counts(cfg: ModelConfig, trace: Mapping[str, Any],
                params: ModelParams | None = None) -> OpTally:
    """Pooler (one token) and classifier (``num_labels * H`` multiply-accumulates, ``num_labels``
    bias adds)."""
    pool = params.head.pooler if params is not None else None
    mults = (pool.in_mult, pool.out_mult) if pool is not None else None
    t = _linear(cfg, "pooler", 1, _flat_sum(_get(trace, "pooler.cin")), mults)
    k = cfg.num_labels
    return t + OpTally(multiplies=k * cfg.hidden, adds=k)


def op_counts(cfg: ModelConfig, trace: Mapping[str, Any],
              params: ModelParams | None = None) -> OpCounts:
    """Exact counts of one forward pass from its trace (spec/08, "Operation counts")."""
    per = tuple(layer_counts(cfg, trace, i, params) for i in range(cfg.layers))
    head = head_counts(cfg, trace, params)
    total = head
    for t in per:
        total = total + t
    return OpCounts(seq=len(_get(trace, "layer.0.c_q")), per_layer=per, head=head, total=total)


def bert_macs(cfg: ModelConfig, seq: int) -> int:
    """Multiply-accumulates of a float BERT of ``cfg``'s shape on ``seq`` tokens.

    Per layer: Q, K, V and output projections ``4 n H^2``; attention scores and
    probabilities times values ``2 n^2 H``; feed-forward ``2 n H FF``.  Head: pooler
    ``H^2`` and classifier ``H * num_labels``.  Embeddings, softmax and LayerNorm are
    not multiply-accumulates and are not counted.
    """
    h, n = cfg.hidden, seq
    per_layer = 4 * n * h * h + 2 * n * n * h + 2 * n * h * cfg.ffn
    return cfg.layers * per_layer + h * h + h * cfg.num_labels


@dataclass(frozen=True)
class EnergyReport:
    """Energy estimate of one forward pass against a float BERT of the same shape."""

    seq: int
    bert_macs: int
    bert_pj: float
    sorbet_pj: float
    sorbet_acc_only_pj: float
    ratio: float
    """``bert_pj / sorbet_pj`` (accumulates, adds and multiplies charged)."""
    ratio_acc_only: float
    """``bert_pj / (0.9 pJ * accumulates)``: the synaptic operations alone."""
    paper_ratio: float = PAPER_RATIO


def energy_report(cfg: ModelConfig, counts: OpCounts) -> EnergyReport:
    """The 45 nm estimate (4.6 pJ per float MAC, 0.9 pJ per accumulate) next to 27.16x.

    A report, not model arithmetic: the counts are exact integers; only the energy
    figures derived from them here are floats.
    """
    t = counts.total
    macs = bert_macs(cfg, counts.seq)
    bert_pj = PJ_PER_MAC * macs
    sorbet_pj = PJ_PER_ACC * (t.accumulates + t.adds) + PJ_PER_MAC * t.multiplies
    acc_pj = PJ_PER_ACC * t.accumulates
    return EnergyReport(
        seq=counts.seq, bert_macs=macs, bert_pj=bert_pj, sorbet_pj=sorbet_pj,
        sorbet_acc_only_pj=acc_pj,
        ratio=bert_pj / sorbet_pj if sorbet_pj else float("inf"),
        ratio_acc_only=bert_pj / acc_pj if acc_pj else float("inf"),
    )


ENERGY_NOTE = (
    "Differences from the paper's 27.16x: the counts come from this run's spikes (a random "
    "or converted model on these inputs), not from the paper's firing rates on GLUE; a signed "
    "value q is sent as q + 2^(bits-1) spikes, so a zero value costs 2^(bits-1) spikes; the "
    "remaining multiplies (requantization, score scaling, classifier) and the other adds are "
    "charged here, shifts and comparisons are not; the float baseline counts only the "
    "multiply-accumulates of the projections, attention products, feed-forward, pooler and "
    "classifier; embeddings are outside both counts."
)


def format_counts(cfg: ModelConfig, counts: OpCounts) -> str:
    """A plain-text table of the counts and the energy estimate."""
    names = [f.name for f in fields(OpTally)]
    lines = [f"operation counts, {cfg.layers} layers, seq {counts.seq}",
             "part      " + "".join(f"{n:>16}" for n in names)]
    rows = [(f"layer {i}", t) for i, t in enumerate(counts.per_layer)]
    rows += [("head", counts.head), ("total", counts.total)]
    for label, t in rows:
        lines.append(f"{label:<10}" + "".join(f"{getattr(t, n):>16}" for n in names))
    e = energy_report(cfg, counts)
    lines += [
        f"float BERT of the same shape: {e.bert_macs} MACs = {e.bert_pj / 1e6:.3f} uJ "
        f"at {PJ_PER_MAC} pJ/MAC",
        f"Sorbet: {e.sorbet_pj / 1e6:.3f} uJ (accumulates and adds at {PJ_PER_ACC} pJ, "
        f"multiplies at {PJ_PER_MAC} pJ): BERT / Sorbet = {e.ratio:.2f}x",
        f"Sorbet, synaptic accumulates only: {e.sorbet_acc_only_pj / 1e6:.3f} uJ: "
        f"BERT / Sorbet = {e.ratio_acc_only:.2f}x",
        f"paper (Tang et al.): BERT / Sorbet = {e.paper_ratio}x",
        "note: " + ENERGY_NOTE,
    ]
    return "\n".join(lines)
