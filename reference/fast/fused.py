"""Fused float kernels of the fast tier's untraced path, exact by bounds checked up front.

Without a trace, :mod:`reference.fast.model` keeps activations as float arrays of
integer values between the BLAS products and runs each elementwise stage (the
requantizations, PTsoftmax with the probability requantization, the residual and
BSPN) in as few numpy passes as the integers allow, over row blocks on a small
thread pool (numpy releases the GIL).  Every kernel computes exactly the integers
of the canonical operator it names; each states the bound that makes its float
arithmetic exact, and :func:`reference.fast.params.fused_problems` checks all of them
for a layer before any arithmetic (a layer that fails runs the int64 path).

The float facts used (IEEE 754 binary64, round to nearest even):

- an integer of magnitude at most ``2**53`` is exact, and so is ``v * 2**k`` for
  such an integer ``v`` unless it leaves the normal range (``2**-1022 .. 2**1023``);
- a sum or product of exact values whose exact result is representable is exact;
- ``np.rint`` rounds half to even, the rule of :func:`reference.quantizer.requantize`.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from queue import Empty, SimpleQueue
from typing import Any

import numpy as np
import numpy.typing as npt

from reference.algebra import PY
from reference.bspn import BSPNConfig
from reference.fast.ops import F32_EXACT, F64_EXACT, I64, bspn_exact_bound, floor_log2
from reference.quantizer import requantize

F64 = npt.NDArray[np.float64]
"""A ``float64`` array."""
I32 = npt.NDArray[np.int32]
"""An ``int32`` array."""

I32_LIMIT = 1 << 31
"""Every ``int32`` value is below this in magnitude."""

BLOCKS_PER_THREAD = 2
"""Blocks a stage is cut into per thread (more balance the threads, fewer cost less)."""
MIN_BLOCK_ELEMS = 1 << 13
"""Fewest elements of a block: below it numpy's per-call overhead outweighs a thread's help."""

_MANT = 52
_SQRT2_BITS = int(np.float64(math.sqrt(2.0)).view(np.int64)) & ((1 << _MANT) - 1)
# math.sqrt is correctly rounded; with m = 2**52 + _SQRT2_BITS the double m / 2**52 is
# the least double above sqrt(2) (m**2 > 2**105 > (m - 1)**2), so for a double
# significand 1 + f / 2**52: ``1 + f / 2**52 > sqrt(2)`` iff ``f >= _SQRT2_BITS``.
assert ((1 << _MANT) + _SQRT2_BITS) ** 2 > 1 << 105 > ((1 << _MANT) + _SQRT2_BITS - 1) ** 2
ROUND_LOG2_CARRY = np.int64((1 << _MANT) - _SQRT2_BITS)
"""Added to the bits of a double ``y``: carries into the exponent iff ``|y| > sqrt(2) * 2**e``."""
SIGN_EXP_MASK = np.int64(~((1 << _MANT) - 1))
"""Keeps the sign and exponent bits of a double (clears the significand)."""


# --------------------------------------------------------------------------- threads


class RowPool:
    """Runs ``fn(lo, hi)`` over disjoint row blocks on ``threads`` threads (the caller's too).

    With one thread ``fn`` runs once on all rows.  Otherwise the rows are cut into about
    :data:`BLOCKS_PER_THREAD` blocks per thread (none under :data:`MIN_BLOCK_ELEMS`
    elements), and every thread takes the next block from a shared queue until none
    is left: a thread that the operating system holds back takes fewer blocks instead
    of holding up the stage.  The blocks
    write disjoint rows of preallocated outputs, so the result does not depend on the
    thread count, the blocking or the scheduling.  An exception of any block is raised.
    """

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError(f"threads: expected at least 1, got {threads}")
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads - 1, "sorbet-fast") if threads > 1 else None

    def run(self, fn: Callable[[int, int], None], rows: int, row_elems: int) -> None:
        """Call ``fn`` on ``[0, rows)`` in blocks; ``row_elems``: elements of one row."""
        step = max(-(-rows // (BLOCKS_PER_THREAD * self.threads)),
                   MIN_BLOCK_ELEMS // max(row_elems, 1), 1)
        if self._pool is None or rows <= step:
            fn(0, rows)
            return
        blocks: SimpleQueue[tuple[int, int]] = SimpleQueue()
        for b in range(0, rows, step):
            blocks.put((b, min(b + step, rows)))

        def drain() -> None:
            while True:
                try:
                    lo, hi = blocks.get_nowait()
                except Empty:
                    return
                fn(lo, hi)

        helpers = min(self.threads - 1, (rows + step - 1) // step - 1)
        futures = [self._pool.submit(drain) for _ in range(helpers)]
        try:
            drain()
        finally:
            for f in futures:
                if not f.cancel():
                    f.result()


_POOLS: dict[int, RowPool] = {}


def default_threads() -> int:
    """Threads of the elementwise stages.

    ``SORBET_REF_THREADS`` if set; else half the cores BLAS leaves free, at least 1
    and at most 4: ``cpu_count // blas_threads // 2``, where ``blas_threads`` is the
    first of ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` that is
    set, else every core (the libraries' default).  An OpenBLAS worker spins on its
    core for a while after each product, so a stage thread there would compete with
    it; and a stage is a few hundred microseconds of short numpy calls, between which
    the threads pass the GIL and a woken thread may start late.  On a 2-core machine a
    second stage thread made the layer slower with one BLAS thread as with two
    (``benchmarks/bench_model.py``, which times one thread beside the default), so it
    takes two free cores per stage thread.
    """
    env = os.environ.get("SORBET_REF_THREADS", "")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"SORBET_REF_THREADS: expected a positive integer, got {env!r}")
        return int(env)
    cpus = os.cpu_count() or 1
    blas = cpus
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) >= 1:
            blas = int(value)
            break
    return max(1, min(4, cpus // blas // 2))


def row_pool(threads: int | None = None) -> RowPool:
    """The shared pool for ``threads`` (default :func:`default_threads`), made on first use."""
    n = default_threads() if threads is None else threads
    if n not in _POOLS:
        _POOLS[n] = RowPool(n)
    return _POOLS[n]


# --------------------------------------------------------------------------- requantization


def requant_exact(x_bound: int, mult: int, bias_max: int) -> bool:
    """Whether :func:`requant_into` is exact for ``|x| <= x_bound``.

    The bound: ``x_bound * M + max|B| < 2**53``.

    The shift (at most 62 by validation) only scales by ``2**-shift``, which stays in
    float64's normal range, so it does not enter the bound.
    """
    return x_bound * mult + bias_max < F64_EXACT


BIAS_TILE_ROWS = 32
"""Rows of a bias tile (:func:`bias_tile`)."""


def bias_tile(bias: F64) -> F64:
    """``bias`` (one value per column) repeated on :data:`BIAS_TILE_ROWS` rows.

    numpy adds two arrays of one shape about twice as fast as it broadcasts a row,
    so :func:`requant_into` adds a tile to each block of rows.
    """
    return np.ascontiguousarray(np.broadcast_to(bias, (BIAS_TILE_ROWS, bias.size)))


def add_rows(w: F64, bias: F64, op: np.ufunc = np.add) -> None:
    """``w = op(w, bias)`` in place, for a bias vector or a :func:`bias_tile` (by blocks of rows).

    A tile has one more axis than a row of ``w``."""
    if bias.ndim < w.ndim:
        op(w, bias, out=w)
        return
    step = bias.shape[0]
    for lo in range(0, w.shape[0], step):
        blk = w[lo:lo + step]
        op(blk, bias[:blk.shape[0]], out=blk)


def requant_into(
    out: npt.NDArray[Any], x: npt.NDArray[Any], scale: float, bias: F64 | None, lo: int, hi: int,
    reach: int | None = None, scratch: F64 | None = None,
) -> None:
    """``out = clamp(round_half_even((x * M + B) / 2**s), lo, hi)`` (spec/04, requantize).

    ``scale = M * 2**-s`` and ``bias = B * 2**-s`` (None when every ``B`` is 0; a vector
    or a :func:`bias_tile`), both exact.  With :func:`requant_exact` for a bound on
    ``|x|``, ``x * M + B`` is an integer below ``2**53``, so ``x * scale + bias`` is its
    exact multiple by ``2**-s`` and ``np.rint`` gives the canonical integer; every
    clamped value is exact in ``out``'s dtype (float32 holds the counts, float64 every
    other value).  The work runs in ``out`` when it is float64 (``x`` may be ``out``),
    else in one float64 temporary: numpy's same-dtype loops are the fast ones, so
    ``x`` is converted (exactly) once up front.  A float32 ``out`` takes the rounded
    values before the clamp, which then runs on half the bytes: the conversion is
    monotone and keeps ``lo`` and ``hi`` (counts, below ``2**24``), so a value beyond
    one of them stays beyond it and every value between them is exact.  ``reach``
    bounds ``|round((x * M + B) / 2**s)|`` for every ``x`` the caller can pass
    (:func:`requant_reach`); when ``[-reach, reach]`` lies in ``[lo, hi]`` the clamp
    changes nothing and is skipped.  ``scratch``, a float64 array of ``x``'s shape
    that the caller no longer needs (``x`` itself may be it), replaces the temporary.
    """
    w: F64 = out if out.dtype == np.float64 else (
        np.empty(x.shape, np.float64) if scratch is None else scratch)
    if x.dtype == np.float64:
        np.multiply(x, scale, out=w)
    else:
        np.copyto(w, x)
        w *= scale
    if bias is not None:
        add_rows(w, bias)
    np.rint(w, out=w)
    clamp = reach is None or not lo <= -reach <= reach <= hi
    if w is not out:
        if clamp and (out.dtype != np.float32 or max(-lo, hi) > F32_EXACT):
            np.clip(w, lo, hi, out=w)
        np.copyto(out, w, casting="same_kind")
    if clamp:
        np.clip(out, lo, hi, out=out)


def requant_reach(x_bound: int, mult: int, bias_max: int, shift: int) -> int:
    """A bound on ``|round((x * M + B) / 2**s)|`` for ``|x| <= x_bound``, ``|B| <= bias_max``.

    ``|x * M + B| <= x_bound * M + bias_max``, and rounding to the nearest integer
    moves a value by at most 1/2, so the ceiling of that bound over ``2**s`` holds.
    """
    return -(-(x_bound * mult + bias_max) >> shift)


# --------------------------------------------------------------------------- PTsoftmax


_MASKED32 = np.int32(1 << 30)
"""``-ceil(score)`` of a masked key: above every real one (bounded by :func:`ptsoftmax_fusable`)."""


def ptsoftmax_fusable(s_bound: int, score_mult: int, score_frac: int, max_len: int, f: int,
                      out_frac: int) -> bool:
    """Bounds of :func:`ptsoftmax_counts`.

    ``|S * score_mult| < 2**53`` (the product is exact in float64) and
    ``|S * score_mult| >> score_frac < 2**30 - 1`` (so ``-ceil`` of a score, a masked
    key's ``2**30`` and their differences stay below ``2**31`` in ``int32``);
    ``Z <= max_len * 2**F < 2**31``; ``out_frac <= F`` (a term ``e = 0``, ``d > F``, then
    lands on table index 0, see :func:`ptsoftmax_counts`).
    """
    product = s_bound * score_mult
    return (product < F64_EXACT and (product >> score_frac) < (1 << 30) - 1
            and (max_len << f) < I32_LIMIT and out_frac <= f)


def prob_count_table(
    prob_mult: int, prob_shift: int, out_frac: int, cmax: int, dtype: type[np.generic],
    pm: int = 0,
) -> npt.NDArray[Any]:
    """Count of each probability: index 0 for ``p = 0``, ``t + 1`` for ``p = 2**t``.

    ``requant(p; prob_mult, -pm * prob_mult, prob_shift, 0, cmax)`` by the canonical rule
    (:func:`reference.quantizer.requantize`; spec/06, step 4), for ``t = 0..out_frac``;
    every PTsoftmax output is 0 or such a power of two.
    """
    ps = [0] + [1 << t for t in range(out_frac + 1)]
    return np.array([requantize(PY, p, prob_mult, -pm * prob_mult, prob_shift, 0, cmax)
                     for p in ps], dtype=dtype)


def prob_scale(prob_mult: int, prob_shift: int, out_frac: int, cmax: int) -> float | None:
    """``prob_mult * 2**-prob_shift``, the factor of :func:`ptsoftmax_counts`' float32 counts.

    None unless its bounds hold: ``prob_mult <= 2**prob_shift`` (so ``p = 0``, coded
    below as ``2**t`` with ``t < 0``, gives ``rint(<= 1/2) = 0``), ``prob_mult < 2**24``
    and ``cmax < 2**24`` (exact in float32), ``out_frac + 24 - prob_shift < 127`` and
    ``prob_shift < 126`` (every ``prob_mult * 2**(t - prob_shift)``, ``t <= out_frac``,
    stays below float32's largest power of two; the factor itself is normal).
    """
    if (prob_mult > 1 << prob_shift or prob_mult >= F32_EXACT or cmax >= F32_EXACT
            or out_frac + 24 - prob_shift >= 127 or prob_shift >= 126):
        return None
    return prob_mult * 2.0 ** -prob_shift


def ptsoftmax_counts(
    out: npt.NDArray[Any], s: npt.NDArray[Any], key_mask: npt.NDArray[np.bool_],
    score_mult: int, score_frac: int, f: int, out_frac: int, counts: npt.NDArray[Any] | None,
    scale: float | None = None, cmax: int = 0,
) -> None:
    """Probability counts ``requant(PTsoftmax(S * score_mult))`` of rows ``s`` (spec/02, spec/06).

    ``s`` holds the raw integer scores (float, from an exact BLAS product) of rows of
    keys; ``counts[t + 1]`` is the count of the probability ``2**t`` (``t = 0..out_frac``)
    and ``counts[0]`` that of 0 (:func:`prob_count_table`).  With
    ``n = (-S * score_mult) >> score_frac = -ceil(x / 2**score_frac)`` and
    ``d = n - min(n) = max(s) - s``, the term is ``e = 2**(F - d)``, 0 for ``d > F``,
    ``Z = sum e``, ``K`` its nearest power-of-two exponent (ties up), and
    ``p = (e << out_frac) >> K = 2**t`` with ``t = F + out_frac - K - d`` when
    ``t >= 0``, else 0.  ``K >= F`` (the row maximum's term is ``2**F``), so ``t <= out_frac``;
    a term ``e = 0`` (``d >= F + 1``) has ``t <= out_frac - F - 1 < 0``.  So the count is
    ``counts[clip(t + 1, 0, out_frac + 1)]``: ``np.take`` with ``mode="clip"`` does the
    clip.  Masked keys (``n = 2**30``) get count 0; a row with no key gets all zeros.
    ``n`` is the floor of the float64 product ``S * (-score_mult * 2**-score_frac)``, exact
    below ``2**53``, then held in ``int32``: both under :func:`ptsoftmax_fusable`.  The
    term ``2**F >> d`` is one ``int32`` shift (``F <= 30`` there, as ``2**F < 2**31``):
    numpy defines a shift by the bit width or more (``npy_rshift``, numpy >= 1.17) as 0
    for a non-negative operand, which is that term for every ``d >= 0``.

    With ``scale`` (:func:`prob_scale`, not None) and a C-contiguous float32 ``out``
    the counts are computed, not looked up: ``2**t`` is built as the float32 whose
    exponent field is ``clip(t + 127, 0, 254)`` and significand 0 (``+0.0`` for
    ``t <= -127``; ``t <= out_frac <= 30`` never reaches the top), times ``scale``
    (``prob_mult * 2**(t - prob_shift)``, exact where not below float32's normal range),
    then ``clip(rint(.), 0, cmax)``: the canonical ``requant(2**t)`` for ``t >= 0``, and
    0 for ``p = 0`` (``t < 0``), whose value is at most ``prob_mult * 2**(-1 -
    prob_shift) <= 1/2`` (or flushed lower), which rounds half to even to 0.

    With ``counts`` None an ``int32`` ``out`` receives each probability's table index
    ``clip(t + 1, 0, out_frac + 1)`` instead (0 for ``p = 0``), for a caller that needs
    the smallest probability before any count (spec/06, step 4).
    """
    if not key_mask.any():
        out[...] = 0 if counts is None else counts[0]
        return
    scaled = np.empty(s.shape, np.float64)
    np.copyto(scaled, s)
    scaled *= -score_mult * 2.0 ** -score_frac
    np.floor(scaled, out=scaled)
    n: I32 = scaled.astype(np.int32)
    if not key_mask.all():
        n[:, ~key_mask] = _MASKED32
    n -= n.min(axis=-1, keepdims=True)
    # the terms go to out's memory when it has int32's size (out is written last)
    e: I32 = (out.view(np.int32) if out.dtype.itemsize == 4 and out.flags.c_contiguous
              else np.empty(n.shape, np.int32))
    np.right_shift(np.int32(1 << f), n, out=e)
    z = np.einsum("ij->i", e).astype(np.int64)
    k = floor_log2(z, below_2_53=True)
    k += (z >> np.maximum(k - 1, 0)) & (k > 0)
    off = (f + out_frac + 1) - k
    if counts is None:
        np.subtract(off.astype(np.int32)[:, None], n, out=out)
        np.clip(out, 0, out_frac + 1, out=out)
        return
    if scale is not None and out.dtype == np.float32 and out.flags.c_contiguous:
        np.subtract((off + 126).astype(np.int32)[:, None], n, out=n)  # t + 127
        np.clip(n, 0, 254, out=n)
        np.left_shift(n, 23, out=out.view(np.int32))
        out *= np.float32(scale)
        np.rint(out, out=out)
        np.clip(out, 0, cmax, out=out)
        return
    np.subtract(off.astype(np.int32)[:, None], n, out=n)
    np.take(counts, n, mode="clip", out=out)


# --------------------------------------------------------------------------- BSPN


@functools.lru_cache(maxsize=64)
def bspn_fusable(cfg: BSPNConfig) -> bool:
    """Bounds of :func:`bspn_into`: every value it scales stays a normal float64.

    The input ``x`` (``in_width <= 32`` bits) and ``beta`` (``bias_width <= 32``) are exact
    in float64; both terms of ``y`` (:func:`bspn_into`) and ``y`` itself, when not 0,
    lie between ``2**lowest`` and ``2**highest``, inside float64's normal range, so every
    power-of-two scaling is exact and the one rounding of the sum is relative.  The
    size of ``N`` does not enter: where it can pass ``2**53`` (:func:`bspn_sum_exact`
    fails) :func:`bspn_into` checks its rounding and falls back per row.
    """
    lowest = min(cfg.weight_exp_min + cfg.eps_exp - cfg.j_max, -cfg.bias_frac) + cfg.out_frac
    highest = max(cfg.in_width + cfg.weight_exp_max + cfg.eps_exp,
                  cfg.bias_width - cfg.bias_frac) + cfg.out_frac + 1
    return lowest > -1000 and highest < 1000 and max(cfg.in_width, cfg.bias_width) <= 53


@functools.lru_cache(maxsize=64)
def bspn_sum_exact(cfg: BSPNConfig) -> bool:
    """Whether the float64 sum of :func:`bspn_into` is always exact.

    True when the exact value divided by ``2**min(e1, e2)`` stays below ``2**53``
    (:func:`reference.fast.ops.bspn_exact_bound`): the sum is then that integer
    times a power of two.
    """
    return bspn_exact_bound(cfg) < F64_EXACT


@functools.lru_cache(maxsize=64)
def bspn_rounding_j(cfg: BSPNConfig) -> int:
    """Least divisor exponent ``j`` at which the float64 sum of :func:`bspn_into` can round.

    For one ``j``, :func:`reference.fast.ops.bspn_exact_bound`'s argument bounds the
    exact value over ``2**min(e1, e2)`` by ``G * 2**max(wexp_max + bias_frac, 0) +
    2**(bias_width-1)`` (when ``e1 >= e2``) or ``2**(in_width-1) + 2**(bias_width-1) *
    2**max(j - wexp_min - eps_exp - bias_frac, 0)`` (when ``e1 < e2``); below ``2**53``
    the sum is exact.  ``j_max + 1`` when no ``j`` reaches it.
    """
    xmax = 1 << (cfg.in_width - 1)
    bmax = 1 << (cfg.bias_width - 1)
    hi_w = cfg.group_size << max(cfg.weight_exp_max + cfg.bias_frac, 0)
    for j in range(cfg.j_max + 1):
        up = j - cfg.weight_exp_min - cfg.eps_exp - cfg.bias_frac
        if max(hi_w + bmax, xmax + (bmax << max(up, 0))) >= F64_EXACT:
            return j
    return cfg.j_max + 1


def bspn_tables(
    sign: I64, wexp: I64, bias: I64, cfg: BSPNConfig
) -> tuple[F64, F64, I64]:
    """``(w, b, thresholds)`` of :func:`bspn_into` for one set of BSPN parameters.

    ``w = sign * 2**(wexp + eps_exp + out_frac)`` and ``b = beta * 2**(out_frac -
    bias_frac)`` (exact powers of two times small integers) as tiles of
    :data:`BIAS_TILE_ROWS` rows of ``groups x G``, ``thresholds[jj] = G * 2**jj`` for
    ``jj = 0..j_max``.
    """
    g = cfg.group_size
    w = np.ldexp(sign.astype(np.float64), (wexp + cfg.eps_exp + cfg.out_frac).astype(np.int32))
    b = np.ldexp(bias.astype(np.float64), np.int32(cfg.out_frac - cfg.bias_frac))
    th = np.array([g << jj for jj in range(cfg.j_max + 1)], dtype=np.int64)
    return bias_tile(w).reshape(-1, cfg.groups, g), bias_tile(b).reshape(-1, cfg.groups, g), th


_MANT_MASK = np.int64((1 << _MANT) - 1)
"""The significand field of a double."""
_NEAR_SQRT2 = np.uint64((1 << _MANT) - 2)
"""``field - 1`` (unsigned) reaches this iff ``field`` is 0 or all ones, see :func:`bspn_into`."""


def bspn_into(
    out: npt.NDArray[Any], x: npt.NDArray[Any], w: F64, b: F64, thresholds: I64,
    cfg: BSPNConfig, exact: Callable[[I64], I64],
) -> int:
    """BSPN of the rows of ``x`` (:func:`reference.bspn.bspn`, spec/03) into ``out``.

    ``x`` and ``out`` are float64, ``out`` C-contiguous and apart from ``x`` (the work
    runs in it); ``exact`` is the int64 BSPN of whole rows
    (:func:`reference.fast.ops.bspn` with the same parameters), run on the rows whose
    float rounding is ambiguous.  Returns the number of such rows.

    Steps 1-3: per group, ``S = sum |x|`` (integers below ``2**53``), then in int64
    ``A = S * 2**eps_exp + G * 2**in_frac`` and ``j = #{jj : G * 2**jj < A}``.

    Step 4: the exact value ``N = sign*x*2**e1 + beta*2**e2`` (``e1 = P + wexp +
    eps_exp - j``, ``e2 = P - bias_frac``) scaled by ``2**(out_frac - P)`` is
    ``v = x * 2**-j * w + b`` (``w``, ``b`` of :func:`bspn_tables`).  Both products
    are exact (powers of two, :func:`bspn_fusable`), so the float64 ``y`` is ``v``
    rounded once to nearest: exact when :func:`bspn_sum_exact` holds, and ``y = 0``
    iff ``v = 0`` in any case (IEEE 754 addition is 0 only for exactly opposite terms).

    Step 5: the output ``sign(N) * 2**r`` with ``r = round(log2|N|) - P + out_frac =
    round(log2|v|)`` (log-domain nearest: up iff the significand exceeds
    ``sqrt(2)``) is formed on the bits of ``y``: adding :data:`ROUND_LOG2_CARRY`
    carries into the exponent exactly then, and clearing the significand gives
    ``+-2**r`` (0 stays 0).  Saturation clips to ``+-2**r_max``; the flush of ``r < 0``
    (``|y| <= 1/2``) is ``trunc``.

    When the sum can round (``|N / 2**min(e1, e2)|`` up to
    :func:`reference.fast.ops.bspn_exact_bound` ``>= 2**53``, Sorbet-base's widths):
    ``round(log2 .)`` is monotone and changes only at the irrational points
    ``sqrt(2) * 2**e``, which no double equals.  If ``round(log2|y|) !=
    round(log2|v|)``, one such point lies between ``v`` and its nearest double ``y``, so
    ``y`` is one of the two doubles next to it: significand field ``_SQRT2_BITS - 1``
    or ``_SQRT2_BITS``, which after the carry leaves a field of all ones or 0.  Any
    other field proves the power of two exact; rows holding one of those two fields
    (a double in ``2**51`` near ``sqrt(2)``, rare) are recomputed by ``exact``.  The
    check runs only when some group's ``j`` reaches :func:`bspn_rounding_j` (below it
    every sum is exact; at Sorbet-base's widths that takes a group of inputs near the
    ``r`` maximum).
    """
    if not out.flags.c_contiguous or np.may_share_memory(out, x):
        raise ValueError("bspn_into: out must be C-contiguous and apart from x")
    t = x.shape[0]
    g = cfg.group_size
    xg = x.reshape(t, cfg.groups, g)
    y: F64 = out.reshape(t, cfg.groups, g)
    np.abs(xg, out=y)
    big_a = np.einsum("tgi->tg", y).astype(np.int64)
    big_a <<= cfg.eps_exp
    big_a += g << cfg.in_frac
    j = np.searchsorted(thresholds, big_a, side="left").astype(np.int32)
    np.negative(j, out=j)
    np.multiply(xg, np.ldexp(1.0, j)[:, :, None], out=y)
    add_rows(y, w, np.multiply)
    add_rows(y, b)
    bits = y.view(np.int64)
    bits += ROUND_LOG2_CARRY
    if bspn_sum_exact(cfg) or -int(j.min()) < bspn_rounding_j(cfg):
        bits &= SIGN_EXP_MASK
        rows = None
    else:
        field = np.bitwise_and(bits, _MANT_MASK)
        bits ^= field
        field -= 1
        near = field.view(np.uint64)
        rows = near.reshape(t, -1).max(axis=1) >= _NEAR_SQRT2 if near.max() >= _NEAR_SQRT2 \
            else None
    top = float(1 << cfg.r_max)
    np.clip(y, -top, top, out=y)
    np.trunc(y, out=y)
    if rows is None:
        return 0
    idx = np.flatnonzero(rows)
    out[idx] = exact(x[idx].astype(np.int64))
    return int(idx.size)
