"""Batch entry points of the fast tier: many independent operator calls in one numpy pass.

The differential fuzzer (conformance/fuzz/) computes the expected results of whole
batches of drawn cases here, with every output a port may return (normative and
profile).  Each function states the canonical function it equals, bit for bit; the
differential tests (tests/test_fast_batch.py) compare them on drawn inputs, and the
fuzzer re-checks a sample of every run against the canonical tier.

Inputs are trusted to lie inside the operator's domain (the fuzzer computes the
expected result of out-of-domain cases with the canonical tier); widths are checked
up front, so every ``int64`` intermediate fits.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reference import spikes
from reference.binary_linear import BinaryLinearConfig
from reference.bspn import BSPNConfig
from reference.errors import OverflowDetected
from reference.fast import ops
from reference.ptsoftmax import PTSoftmaxConfig
from reference.quantizer import QuantizerConfig
from reference.spikes import SpikeConfig

I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]


def ptsoftmax_rows(x: I64, valid: BOOL, cfg: PTSoftmaxConfig) -> tuple[I64, I64, I64]:
    """PTsoftmax of every row of ``x`` with its own mask (:func:`reference.ptsoftmax.ptsoftmax`,
    spec/02-ptsoftmax.md): ``(out, partition, k)``, ``k = -1`` for an all-masked row.

    Same steps as :func:`reference.fast.ops.ptsoftmax`, with the mask per row: a masked
    key's ``-ceil(score)`` is set above every real one, so its term is 0; ``Z`` is the sum
    of the terms; ``K`` is ``floor(log2 Z)`` plus one when the next lower bit of ``Z`` is
    set (the nearest power of two, ties up); ``p = (e << out_frac) >> K``.
    """
    n = np.negative(x)
    n >>= cfg.score_frac
    n[~valid] = 1 << 61
    n -= n.min(axis=-1, keepdims=True)
    np.minimum(n, 63, out=n)
    e = np.right_shift(np.int64(1 << cfg.partition_frac), n)
    e[~valid] = 0
    z = e.sum(axis=-1)
    live = valid.any(axis=-1)
    k = ops.floor_log2(np.maximum(z, 1))
    k += (z >> np.maximum(k - 1, 0)) & (k > 0)
    e <<= cfg.out_frac
    e >>= k[:, None]
    k[~live] = -1
    return e, z, k


def bspn_tokens(x: I64, sign: I64, wexp: I64, bias: I64, cfg: BSPNConfig) -> tuple[I64, I64]:
    """BSPN of every token (row of ``x``) with shared parameters
    (:func:`reference.bspn.bspn`, spec/03-bspn.md): ``(out, divisor_exp)``.

    ``out`` is :func:`reference.fast.ops.bspn`; ``divisor_exp = j - in_frac - eps_exp`` per
    group with ``j = min {j <= j_max : G * 2**j >= S * 2**eps_exp + G * 2**in_frac}``
    (``j_max`` when no constant reaches it, as :func:`reference.bspn.divisor_j`).
    """
    out = ops.bspn(x, sign, wexp, bias, cfg)
    g = cfg.group_size
    big_a = np.abs(x.reshape(x.shape[0], cfg.groups, g)).sum(axis=-1)
    big_a <<= cfg.eps_exp
    big_a += g << cfg.in_frac
    thresholds = np.array([g << jj for jj in range(cfg.j_max + 1)], dtype=np.int64)
    j = np.searchsorted(thresholds, big_a, side="left").astype(np.int64)
    np.minimum(j, cfg.j_max, out=j)
    j -= cfg.in_frac + cfg.eps_exp
    return out, j


def quantize_rows(x: I64, mult: I64, shift: I64, bias: I64, cfg: QuantizerConfig) -> I64:
    """Counts of every row of ``x`` with its own multiplier, shift and bias
    (:func:`reference.quantizer.quantize`, spec/04-quantizer-spikes.md).

    ``q = clamp(round_half_even((x * M + bias) / 2**shift), q_min, q_max)`` in the
    branch-free form of :func:`reference.fast.ops.requant`, with ``shift`` per row:
    ``q = (v + 2**(s-1) - 1 + bit_s(v)) >> s`` for ``s >= 1`` and ``q = v`` for ``s = 0``;
    the count is ``q - q_min``.
    """
    if cfg.product_width + 1 >= 63:
        raise OverflowDetected("fast quantize: x * M + bias needs more than 62 bits")
    v = x * mult[:, None]
    v += bias[:, None]
    s = shift[:, None]
    pos = s > 0
    half = np.where(pos, np.left_shift(np.int64(1), np.maximum(s - 1, 0)) - 1, 0)
    t = v + half
    t += (v >> s) & pos
    t >>= s
    np.clip(t, cfg.q_min, cfg.q_max, out=t)
    t += cfg.offset
    return t


def if_encode_table(cfg: SpikeConfig) -> tuple[tuple[list[int], list[int]], ...]:
    """Spike train and membrane trace of every count ``0 .. 2**bits - 1``, by the canonical
    tier itself (:func:`reference.spikes.encode`, :func:`reference.spikes.membrane_trace`):
    a table lookup per case is exact by construction."""
    return tuple((spikes.encode(c, cfg), spikes.membrane_trace(c, cfg))
                 for c in range(cfg.count_max + 1))


def binary_linear_rows(counts: I64, signs: I64, cfg: BinaryLinearConfig) -> tuple[I64, I64]:
    """Accumulators and running sums of every case (:func:`reference.binary_linear.linear_count`
    and :func:`reference.binary_linear.linear_time`, spec/05-binary-linear.md).

    ``counts`` is ``(B, in)``, ``signs`` ``(B, out, in)`` of +-1.  With
    ``H[b, o, v] = sum of the signs of row o over the inputs whose count is v``, the
    accumulator is ``sum_v H[v] * (v - offset)`` and the running sum after step ``t`` is
    ``sum_v H[v] * spikes(v, 1..t)`` (the IF encoder's train of count ``v``, summed up to
    step ``t``): every input with count ``v`` spikes at the same steps.
    """
    spike = cfg.spike_config
    table = np.array([spikes.encode(c, spike) for c in range(spike.count_max + 1)],
                     dtype=np.int64)
    cum = np.cumsum(table, axis=1)  # (V, T): spikes of count v up to each step
    h = np.empty((counts.shape[0], signs.shape[1], len(table)), dtype=np.int64)
    for v in range(len(table)):
        h[:, :, v] = np.einsum("boi,bi->bo", signs, (counts == v).astype(np.int64))
    acc: I64 = h @ (np.arange(len(table), dtype=np.int64) - cfg.offset)
    partial: I64 = h @ cum
    return acc, partial
