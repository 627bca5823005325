"""Vectorized integer primitives of the fast tier (numpy ``int64``).

Each function computes, on whole arrays, exactly what the canonical operator
computes on Python integers; the comment of each names the canonical function
and the spec section.  Callers check up front (``reference.fast.params.check_widths``) that
every intermediate fits ``int64``; the primitives themselves do not test per
element.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from reference import layers
from reference.bspn import BSPNConfig
from reference.errors import OverflowDetected
from reference.model_config import context_offset_weight
from reference.ptsoftmax import PTSoftmaxConfig

I64 = npt.NDArray[np.int64]
"""An ``int64`` array."""

F32_EXACT = 1 << 24
"""Every integer of magnitude at most ``2**24`` is exact in float32."""
F64_EXACT = 1 << 53
"""Every integer of magnitude at most ``2**53`` is exact in float64."""
I64_LIMIT = 1 << 62
"""Bound the fast tier keeps every ``int64`` intermediate below (one bit of headroom)."""

_MASKED = np.int64(1 << 61)
"""Stands for ``-ceil(score)`` of a masked key: above every real one, so its term is 0."""
_SQRT2_T = np.array([math.isqrt(1 << (2 * k + 1)) + 1 for k in range(62)], dtype=np.int64)
"""``ceil(sqrt(2) * 2**k)`` (``arith.sqrt2_threshold``) for every ``k`` an int64 can reach."""


def requant(
    x: npt.NDArray[Any], mult: int, bias: I64 | int, shift: int, lo: int, hi: int,
    dtype: type[np.generic] = np.int64, x_bound: int | None = None,
) -> npt.NDArray[Any]:
    """``clamp(round_half_even((x * M + bias) / 2**shift), lo, hi)``.

    Same rule as :func:`reference.quantizer.requantize` (spec/04-quantizer-spikes.md),
    in the branch-free form ``q = (v + 2**(s-1) - 1 + bit_s(v)) >> s`` with
    ``v = x * M + bias`` and ``bit_s(v) = (v >> s) & 1`` (the parity of ``floor(v / 2**s)``):
    writing ``v = q0 * 2**s + r``, ``0 <= r < 2**s``, the sum carries into ``q0 + 1``
    exactly when ``r > 2**(s-1)``, or ``r == 2**(s-1)`` and ``q0`` is odd.

    ``x`` holds integers (``int64``, or a float array of integer values such as an
    exact BLAS product, converted exactly); the arithmetic is ``int64``.  The
    result is written as ``dtype`` (``int64``, or the float dtype of the matmul it
    feeds: every clamped value is exact there).  When ``x`` is a float array and
    ``x_bound`` bounds ``|x|`` so that ``x_bound * M + max|bias| + 2**shift < 2**53``,
    the same integers are computed in float64 (exact, proven by that bound).
    """
    if x_bound is not None and np.issubdtype(x.dtype, np.floating):
        bmax = int(np.max(np.abs(bias))) if np.ndim(bias) else abs(int(bias))
        if x_bound * mult + bmax + (1 << shift) < F64_EXACT:
            # x*M and x*M + bias are integers below 2**53, so x * (M * 2**-shift) and
            # bias * 2**-shift are exact and so is their sum (x*M + bias) * 2**-shift;
            # np.rint then rounds half to even, the same integer as the int64 rule.
            w: npt.NDArray[np.float64] = np.multiply(
                x, float(mult) * 2.0**-shift, dtype=np.float64
            )
            if bmax:
                w += np.asarray(bias, dtype=np.float64) * 2.0**-shift
            np.rint(w, out=w)
            return _clip_as(w, lo, hi, dtype)
    v: I64 = np.multiply(x, np.int64(mult), dtype=np.int64, casting="unsafe")
    if shift == 0:
        v += bias
    else:
        v += np.asarray(bias, dtype=np.int64) + np.int64((1 << (shift - 1)) - 1)
        t = v >> shift
        t &= 1
        v += t
        v >>= shift
    return _clip_as(v, lo, hi, dtype)


def _clip_as(v: npt.NDArray[Any], lo: int, hi: int, dtype: type[np.generic]) -> npt.NDArray[Any]:
    """``clamp(v, lo, hi)`` written as ``dtype`` (in place when ``v`` already has it).

    Every clamped value is an integer that ``dtype`` holds exactly."""
    if v.dtype == dtype:
        np.clip(v, lo, hi, out=v)
        return v
    out = np.empty(v.shape, dtype=dtype)
    np.clip(v, lo, hi, out=out, casting="unsafe")
    return out


def exact_matmul(
    a: npt.NDArray[Any], b: npt.NDArray[Any], bound: int, raw: bool = False
) -> npt.NDArray[Any]:
    """``a @ b`` for integer-valued operands, exact.

    ``bound`` must bound the absolute value of every partial sum (for a dot
    product of length ``n`` with ``|a| <= A`` and ``|b| <= B``: ``n * A * B``).
    Below ``2**24`` the product runs in float32 BLAS, below ``2**53`` in float64
    BLAS: every partial sum of integers is then an integer the float format
    holds, so no rounding happens in any order of summation.  Otherwise int64.
    The result is ``int64``, or with ``raw`` the float array itself (integer values).
    """
    dt = matmul_dtype(bound)
    res: npt.NDArray[Any] = np.matmul(a.astype(dt, copy=False), b.astype(dt, copy=False))
    if raw or dt is np.int64:
        return res
    out: I64 = res.astype(np.int64)
    return out


def matmul_dtype(bound: int) -> type[np.generic]:
    """The narrowest exact dtype for integer matmuls whose partial sums stay within ``bound``.

    float32 below ``2**24``, float64 below ``2**53``, int64 below ``2**62``;
    OverflowDetected beyond.
    """
    if bound < F32_EXACT:
        return np.float32
    if bound < F64_EXACT:
        return np.float64
    if bound < I64_LIMIT:
        return np.int64
    raise OverflowDetected(f"exact_matmul: partial sums up to {bound} do not fit int64")


def floor_log2(v: I64, below_2_53: bool = False) -> I64:
    """``floor(log2 v)`` for ``1 <= v < 2**62`` (``arith.floor_log2``).

    The exponent ``e`` of ``v`` as a float64 (``v = m * 2**e``, ``1/2 <= m < 1``) is
    ``floor(log2 v) + 1``; the conversion is exact below ``2**53``, and above it
    can only round ``v`` up to the next power of two, which an exact integer
    comparison detects (skipped when the caller knows ``v < 2**53``).
    """
    _, e = np.frexp(v.astype(np.float64))
    k = e.astype(np.int64)
    k -= 1
    if not below_2_53:
        k -= np.left_shift(np.int64(1), k) > v
    return k


def log_round(v: I64, below_2_53: bool = False) -> I64:
    """``round(log2 v)`` for ``1 <= v < 2**62`` (``arith.log_nearest_pow2_exp``).

    With ``k = floor(log2 v)``: ``k + 1`` if ``v >= T_k = ceil(sqrt(2) * 2**k)``
    (``arith.sqrt2_threshold``, a constant table), else ``k``.
    """
    k = floor_log2(v, below_2_53)
    k += v >= _SQRT2_T[k]
    return k


def ptsoftmax(x: I64, key_mask: npt.NDArray[np.bool_], cfg: PTSoftmaxConfig) -> I64:
    """PTsoftmax over the last axis (:func:`reference.ptsoftmax.ptsoftmax`, spec/02).

    ``key_mask`` (length of the last axis) is True where the key takes part.
    With ``n = (-x) >> score_frac = -ceil(x / 2**score_frac)`` (masked keys set to
    a value above every score), ``d = n - min(n) = max(s) - s``; the terms are
    ``e = 2**F >> min(d, 63)`` (``2**(F - d)`` for ``d <= F``, else 0); ``Z = sum e``;
    ``K`` = position of the leading one of ``Z`` plus one if the next lower bit is
    set; ``p = (e << out_frac) >> K``.  If no key takes part every output is 0.
    """
    if not key_mask.any():
        return np.zeros(x.shape, dtype=np.int64)
    n = np.negative(x)
    n >>= cfg.score_frac
    if not key_mask.all():
        n[..., ~key_mask] = _MASKED
    n -= n.min(axis=-1, keepdims=True)
    np.minimum(n, 63, out=n)
    e = np.right_shift(np.int64(1 << cfg.partition_frac), n)
    z = e.sum(axis=-1, keepdims=True)
    k = floor_log2(z)
    k += (z >> np.maximum(k - 1, 0)) & (k > 0)
    e <<= cfg.out_frac
    e >>= k
    return e


def bspn_exact_bound(cfg: BSPNConfig) -> int:
    """Largest ``|N'|`` of :func:`bspn` (the exact value divided by ``2**min(e1, e2)``).

    ``N = a * 2**e1 + b * 2**e2`` with ``a = sign * x``, ``e1 = P + wexp + eps_exp - j``,
    ``b = beta``, ``e2 = P - bias_frac``.  Dividing by ``2**min(e1, e2)`` leaves one
    term unshifted.  If ``e1 >= e2`` the shifted term is ``|x| * 2**(wexp + eps_exp +
    bias_frac - j) < G * 2**(wexp + bias_frac)`` because ``|x| * 2**eps_exp < A <=
    G * 2**j``; if ``e1 < e2`` it is ``|beta| * 2**(j - wexp - eps_exp - bias_frac)``
    with ``j <= j_max``.
    """
    xmax = 1 << (cfg.in_width - 1)
    bmax = 1 << (cfg.bias_width - 1)
    g = cfg.group_size
    hi_w = g << max(cfg.weight_exp_max + cfg.bias_frac, 0)
    up = cfg.j_max - cfg.weight_exp_min - cfg.eps_exp - cfg.bias_frac
    return max(hi_w + bmax, xmax + (bmax << max(up, 0)))


def bspn(x: I64, sign: I64, wexp: I64, bias: I64, cfg: BSPNConfig) -> I64:
    """BSPN of every token (rows of ``x``) (:func:`reference.bspn.bspn`, spec/03).

    Per group: ``A = S * 2**eps_exp + G * 2**in_frac`` with ``S = sum |x|``;
    ``j`` = number of constants ``G * 2**jj`` (``jj = 0..j_max``) below ``A``
    (the smallest ``j`` with ``G * 2**j >= A``).  Per channel the exact value
    ``N = sign*x*2**e1 + beta*2**e2`` (``e1 = P + wexp + eps_exp - j``,
    ``e2 = P - bias_frac``) is formed as ``N' = N / 2**min(e1, e2)``: with
    ``d = e1 - e2``, ``N' = sign*x*2**max(d, 0) + beta*2**max(-d, 0)``, which
    :func:`bspn_exact_bound` bounds.  Then ``round(log2 |N|) = min(e1, e2) +
    round(log2 |N'|)``, so ``r = round(log2 |N'|) - max(-d, 0) - bias_frac + out_frac``,
    flushed to 0 below 0 and saturated at ``out_width - 2``.
    """
    bound = bspn_exact_bound(cfg)
    if bound >= I64_LIMIT or (cfg.group_size << cfg.j_max) >= I64_LIMIT:
        raise OverflowDetected(
            "fast bspn: the exact BSPN value needs more than 62 bits for this configuration"
        )
    tokens = x.shape[0]
    g = cfg.group_size
    groups = cfg.groups
    xg = x.reshape(tokens, groups, g)
    big_a = np.abs(xg).sum(axis=-1)
    big_a <<= cfg.eps_exp
    big_a += g << cfg.in_frac
    thresholds = np.array([g << jj for jj in range(cfg.j_max + 1)], dtype=np.int64)
    j = np.searchsorted(thresholds, big_a, side="left").astype(np.int64)
    d = (wexp + (cfg.eps_exp + cfg.bias_frac)).reshape(1, groups, g) - j[:, :, None]
    sh1 = np.maximum(d, 0)
    np.negative(d, out=d)
    np.maximum(d, 0, out=d)  # d is now max(-d, 0)
    n = np.multiply(sign.reshape(1, groups, g), xg)
    n <<= sh1
    n += np.left_shift(bias.reshape(1, groups, g), d)
    n = n.reshape(tokens, -1)
    mag = np.abs(n)
    r = log_round(np.maximum(mag, 1), below_2_53=bound < F64_EXACT)
    r -= d.reshape(tokens, -1)
    r += cfg.out_frac - cfg.bias_frac
    out = np.left_shift(np.int64(1), np.clip(r, 0, cfg.r_max))
    out *= np.sign(n)
    out[r < 0] = 0
    return out


def prob_offset(p_min: int) -> int:
    """``pm`` from the layer's smallest probability (:func:`reference.layers.prob_offset`)."""
    return layers.prob_offset([[[p_min]]])


def context_offset(v: npt.NDArray[Any], pm: int, prob_mult: int, prob_shift: int,
                   o_in_mult: int) -> I64:
    """``W * V[d]``, ``V[d] = sum_u v[u][d]`` with ``v = cV - o`` (spec/06, step 6).

    ``W`` is :func:`reference.model_config.context_offset_weight`; the sums and the product
    are exact in int64 (``|W * V|`` at most the headroom of ``o``'s quantizer, below
    ``2**56``, validated per layer: spec/06, "Widths").
    """
    sums = v.astype(np.int64).sum(axis=0)
    if pm == 0:
        return np.zeros_like(sums)
    w = context_offset_weight(pm, prob_mult, prob_shift, o_in_mult)
    out: I64 = sums * np.int64(w)
    return out
