"""The authors' formulas in float64 against the integer reference.

Each ``authors_*`` function evaluates an operator as the authors' PyTorch code
computes it at inference (SORBET.md's description), with numpy/math floats and
no code from ``reference``. On inputs where both are exact they must agree;
the cases where they must differ are the departures listed in the
"Departures from the authors' code" sections of spec/02 to spec/05, each
tested here with the reason in the docstring.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.binary_linear import BinaryLinearConfig, linear_count, linear_time
from reference.bspn import BSPNConfig, BSPNParams, bspn
from reference.presets import PRESETS
from reference.ptsoftmax import PTSoftmaxConfig, ptsoftmax
from reference.quantizer import QuantizerConfig, QuantParams, quantize
from reference.spikes import SpikeConfig, encode, spike_times

SETTINGS = settings(max_examples=200, deadline=None)
MASK_ADD = -10000.0
AUTHORS_THETA = 0.95 * (16 - 0.0001)


# --- the authors' formulas, float64 ----------------------------------------------------


def authors_ptsoftmax(scores: list[float], masked: list[bool]) -> list[float]:
    """ceil, subtract the row max, 2^-d, nearest power of two (ties up), divide."""
    x = np.array(scores, dtype=np.float64) + np.where(masked, MASK_ADD, 0.0)
    s = np.ceil(x)
    e = np.exp2(s - s.max())
    z = float(e.sum())
    k = math.frexp(z)[1] - 1  # 2^k <= z < 2^(k+1), exact
    big = k if z - 2.0**k < 2.0 ** (k + 1) - z else k + 1
    return [float(v) for v in e / 2.0**big]


def authors_bspn(
    x: list[float], w: list[float], beta: list[float], group: int, eps: float,
    dtype: type[np.floating] = np.float64,
) -> tuple[list[float], list[int]]:
    """Group scaling by 2^ceil(log2(mean|x| + eps)), affine, output to sign * 2^round(log2|y|)."""
    xs = np.array(x, dtype=dtype)
    out: list[float] = []
    ks: list[int] = []
    for g in range(len(x) // group):
        grp = xs[g * group : (g + 1) * group]
        m = np.mean(np.abs(grp), dtype=dtype)
        k = int(np.ceil(np.log2(dtype(m + dtype(eps)))))
        ks.append(k)
        for i in range(g * group, (g + 1) * group):
            y = float(w[i]) * float(xs[i]) / 2.0**k + float(beta[i])
            out.append(0.0 if y == 0 else math.copysign(2.0 ** round(math.log2(abs(y))), y))
    return out, ks


def authors_quantize(x: list[float], alpha: float, signed: bool, bits: int = 4) -> list[int]:
    """clamp(round(x / alpha)) (round half to even), then the count."""
    q = np.round(np.array(x, dtype=np.float64) / alpha)
    if signed:
        half = 2 ** (bits - 1)
        return [int(v) + half for v in np.clip(q, -half, half - 1)]
    return [int(v) for v in np.clip(q, 0, 2**bits - 1)]


def authors_if(c: int, steps: int = 16, theta: float = AUTHORS_THETA) -> list[int]:
    """V += c; fire when V >= theta; subtract theta."""
    v, out = 0.0, []
    for _ in range(steps):
        v += c
        fire = v >= theta
        if fire:
            v -= theta
        out.append(int(fire))
    return out


# --- PTsoftmax --------------------------------------------------------------------------


@st.composite
def pt_rows(draw: st.DrawFn) -> tuple[PTSoftmaxConfig, list[int], list[bool]]:
    width = draw(st.integers(2, 13))  # |real score| < 4096: masks work in float (< 8900)
    cfg = PTSoftmaxConfig(
        max_len=draw(st.integers(1, 10)),
        score_width=width,
        score_frac=draw(st.integers(0, width - 1)),
        partition_frac=draw(st.integers(0, 12)),
        out_frac=draw(st.integers(0, 14)),
    )
    n = draw(st.integers(1, cfg.max_len))
    fmt = cfg.score_format
    scores = draw(st.lists(st.integers(fmt.min, fmt.max), min_size=n, max_size=n))
    mask = draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
    return cfg, scores, mask


@SETTINGS
@given(pt_rows())
def test_ptsoftmax_agrees_without_dropped_terms(
    row: tuple[PTSoftmaxConfig, list[int], list[bool]],
) -> None:
    """Same outputs, masked rows included, whenever no term is dropped (d <= F); an output
    below 2^-out_frac is 0 in the integer definition (spec/02 departure 4)."""
    cfg, scores, mask = row
    res = ptsoftmax(scores, mask, cfg)
    live = [i for i in range(len(scores)) if mask[i]]
    top = max(res.ceil_scores[i] for i in live)
    if any(top - res.ceil_scores[i] > cfg.partition_frac for i in live):
        return
    theirs = authors_ptsoftmax([v / 2**cfg.score_frac for v in scores], [not m for m in mask])
    for i, p in enumerate(res.out):
        want = theirs[i] * 2**cfg.out_frac
        if mask[i] and want >= 1:
            assert p == want, (i, p, want)
        else:
            assert p == 0
            assert want < 1


def test_ptsoftmax_all_masked_row_differs() -> None:
    """Departure 2(b): the -10000 cancels in the max subtraction, so the authors' code
    returns the PTsoftmax of the raw scores; the integer definition returns zeros."""
    cfg = PRESETS["tiny"].ptsoftmax
    theirs = authors_ptsoftmax([2.0, 1.0, 0.0], [True, True, True])
    assert theirs == [0.5, 0.25, 0.125]
    assert ptsoftmax([8, 4, 0], [False, False, False], cfg).out == (0, 0, 0)


def test_ptsoftmax_huge_masked_score_differs() -> None:
    """Departure 2(a): a masked score far above the unmasked maximum survives the -10000."""
    cfg = PRESETS["sorbet"].ptsoftmax  # s24.8 holds reals up to 32768
    mask = [True, False]
    ours = ptsoftmax([0, 9500 * 256], mask, cfg).out
    assert ours == (2**cfg.out_frac, 0)  # the unmasked entry alone: probability 1
    theirs = authors_ptsoftmax([0.0, 9500.0], [False, True])
    assert 0.0 < theirs[1] < 2.0**-400  # nonzero in float64, 0 in the integer definition
    theirs = authors_ptsoftmax([0.0, 10001.0], [False, True])
    assert theirs[1] > theirs[0]  # the masked entry became the row maximum
    assert ptsoftmax([0, 10001 * 256], mask, cfg).out == (2**cfg.out_frac, 0)


def test_ptsoftmax_dropped_terms_differ() -> None:
    """Departure 3 (spec/02 Example 5): two dropped terms of 2^-5 move the float partition
    to the tie 1.5, which rounds up and halves every float output."""
    cfg = PRESETS["tiny"].ptsoftmax
    scores = [0, -8, -12, -16, -20, -20]
    ours = ptsoftmax(scores, None, cfg)
    theirs = authors_ptsoftmax([v / 4 for v in scores], [False] * 6)
    assert ours.out == (16, 4, 2, 1, 0, 0)
    assert [t * 16 for t in theirs[:4]] == [8, 2, 1, 0.5]


def test_ptsoftmax_output_precision_differs() -> None:
    """Departure 4 (spec/02 Example 1): 1/32 is below 2^-4 and floors to 0."""
    cfg = PRESETS["tiny"].ptsoftmax
    theirs = authors_ptsoftmax([1.25, 1.0, -0.25, -2.25, 3.25], [False] * 4 + [True])
    assert theirs[3] == 1 / 32
    assert ptsoftmax([5, 4, -1, -9, 13], [True] * 4 + [False], cfg).out[3] == 0


# --- BSPN -------------------------------------------------------------------------------


@st.composite
def bspn_cases(draw: st.DrawFn) -> tuple[BSPNConfig, list[int], BSPNParams]:
    group = draw(st.integers(1, 5))
    out_width = draw(st.integers(2, 12))
    cfg = BSPNConfig(
        channels=group * draw(st.integers(1, 3)), group_size=group,
        in_width=draw(st.integers(2, 14)), in_frac=draw(st.integers(0, 6)),
        eps_exp=draw(st.integers(0, 12)), weight_exp_min=-4, weight_exp_max=4,
        bias_width=draw(st.integers(2, 10)), bias_frac=draw(st.integers(0, 6)),
        out_width=out_width, out_frac=draw(st.integers(0, out_width - 2)),
    )
    n = cfg.channels
    fmt, bf = cfg.in_format, cfg.bias_format
    return cfg, draw(st.lists(st.integers(fmt.min, fmt.max), min_size=n, max_size=n)), BSPNParams(
        tuple(draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=n, max_size=n))),
        tuple(draw(st.lists(st.integers(-4, 4), min_size=n, max_size=n))),
        tuple(draw(st.lists(st.integers(bf.min, bf.max), min_size=n, max_size=n))),
    )


@SETTINGS
@given(bspn_cases())
def test_bspn_agrees_in_float64(case: tuple[BSPNConfig, list[int], BSPNParams]) -> None:
    """With eps = 2^-eps_exp in both, float64 is exact at these widths and the results
    agree, except that the integer definition flushes outputs below 2^(-out_frac - 1/2)
    and saturates above 2^(r_max - out_frac) (spec/03 departure 5)."""
    cfg, x, params = case
    ours = bspn(x, params, cfg)
    w = [s * 2.0**e for s, e in zip(params.weight_sign, params.weight_exp, strict=True)]
    beta = [b / 2**cfg.bias_frac for b in params.bias]
    theirs, ks = authors_bspn([v / 2**cfg.in_frac for v in x], w, beta, cfg.group_size,
                              2.0**-cfg.eps_exp)
    assert list(ours.divisor_exp) == ks
    top = 2.0 ** (cfg.r_max - cfg.out_frac)
    for o, t in zip(ours.out, theirs, strict=True):
        if abs(t) >= top:
            assert o == math.copysign(2**cfg.r_max, t)
        elif abs(t) < 2.0**-cfg.out_frac:
            assert o == 0
        else:
            assert o / 2**cfg.out_frac == t


def test_bspn_float32_divisor_on_power_of_two_mean_differs() -> None:
    """Departure 2: with mean|x| = 1024 exactly, float32 absorbs eps (1024 + 1e-5 == 1024),
    so the authors divide by 2^10; the exact rule gives 2^11 (1024 + eps > 2^10)."""
    cfg = PRESETS["sorbet"].bspn
    x = [1024 << cfg.in_frac] * cfg.channels
    n = cfg.channels
    params = BSPNParams((1,) * n, (0,) * n, (0,) * n)
    assert bspn(x, params, cfg).divisor_exp[0] == 11
    _, ks32 = authors_bspn([1024.0] * 64, [1.0] * 64, [0.0] * 64, 64, 1e-5, np.float32)
    _, ks64 = authors_bspn([1024.0] * 64, [1.0] * 64, [0.0] * 64, 64, 1e-5, np.float64)
    assert ks32 == [10] and ks64 == [11]


def _ceil_log2(v: Fraction) -> int:
    k = math.ceil(math.log2(v))  # then fix exactly
    while Fraction(2) ** k < v:
        k += 1
    while Fraction(2) ** (k - 1) >= v:
        k -= 1
    return k


def test_bspn_eps_power_of_two_changes_sorbet_divisors_only_in_a_narrow_band() -> None:
    """Departure 1: for the Sorbet preset (mean|x| a multiple of 2^-26), eps = 2^-17 and the
    authors' 1e-5 give different divisors only when mean|x| lies in (2^k - 1e-5, 2^k - 2^-17]
    for some k: at most 160 sums below each power of two of the input range, none above."""
    cfg = PRESETS["sorbet"].bspn
    unit = Fraction(1, cfg.group_size * 2**cfg.in_frac)
    assert unit == Fraction(1, 2**26)
    eps_ours, eps_theirs = Fraction(1, 2**17), Fraction(1, 100000)
    assert round(math.log2(1e-5)) == -17
    s_max = cfg.group_size * 2 ** (cfg.in_width - 1)
    band = math.ceil((eps_theirs - eps_ours) / unit)
    assert band == 160
    for p in range(10, s_max.bit_length()):  # every power of two from 2^-16 up
        edge = Fraction(2) ** p * unit
        differ = []
        for s in range(2**p - 6 * band, min(2**p + 4, s_max + 1)):
            m = s * unit
            if _ceil_log2(m + eps_ours) != _ceil_log2(m + eps_theirs):
                assert edge - eps_theirs < m <= edge - eps_ours, s
                differ.append(s)
        assert 1 <= len(differ) <= band, p
    assert _ceil_log2(eps_ours) == -17 and _ceil_log2(eps_theirs) == -16  # the all-zero group


# --- quantizer and IF encoder -----------------------------------------------------------


@SETTINGS
@given(st.integers(1, 255), st.integers(0, 12), st.booleans(),
       st.lists(st.integers(-2047, 2047), min_size=1, max_size=10))
def test_quantizer_agrees(m: int, shift: int, signed: bool, x: list[int]) -> None:
    """M / 2^shift is 1 / alpha; float64 is exact here. The unsigned case uses non-negative
    inputs, where the authors' batch offset is zero (spec/04 departure 1); negative inputs
    clamp to 0 in the integer definition, per sample."""
    cfg = QuantizerConfig(4, signed, 12, multiplier_bits=8, bias_width=16)
    xs = x if signed else [abs(v) for v in x]
    ours = quantize(xs, QuantParams(m, shift, 0), cfg)
    assert ours == authors_quantize([float(v) for v in xs], 2.0**shift / m, signed)
    if not signed:
        assert quantize([-abs(v) for v in x], QuantParams(m, shift, 0), cfg) == [0] * len(x)


def test_if_counts_agree_times_differ_where_ceilings_differ() -> None:
    """spec/04 departure 1: the authors' threshold theta = 15.199905 gives the same count for
    every c in 0..15, and the k-th spike at ceil(k * theta / c), which differs from the
    integer rule's ceil(16 k / c) exactly when an integer lies in [k theta / c, 16 k / c)."""
    cfg = SpikeConfig(4, 16)
    for c in range(16):
        theirs = authors_if(c)
        assert sum(theirs) == c == sum(encode(c, cfg))
        t_theirs = [t for t, s in enumerate(theirs, start=1) if s]
        for k, (ours, t) in enumerate(zip(spike_times(c, cfg), t_theirs, strict=True), start=1):
            assert t == math.ceil(k * AUTHORS_THETA / c)
            differs = math.ceil(k * AUTHORS_THETA / c) != -(-16 * k // c)
            assert (ours != t) == differs


def test_signed_value_by_half_offsets() -> None:
    """spec/04 departure 2: summing (spike - 0.5) over 16 steps gives c - 8, the count minus
    the offset 2^(b-1) that the binary layer subtracts once."""
    cfg = SpikeConfig(4, 16)
    for c in range(16):
        assert sum(s - 0.5 for s in encode(c, cfg)) == c - 8


# --- binary linear ---------------------------------------------------------------------


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 4), st.data())
def test_binary_linear_sign_zero(n: int, out: int, data: st.DataObject) -> None:
    """spec/05 departure 1: the authors' sign(W - mean) is 0 for a weight equal to the mean;
    the format maps it to +1, so the accumulators differ by sum (c_j - o) over those weights,
    and agree exactly when no weight equals the mean (float64 sums of small integers are
    exact). The time level with (spike - 0.5) per step agrees with the count level."""
    cfg = BinaryLinearConfig(n, out, bits=4, steps=16, signed_input=True)
    counts = data.draw(st.lists(st.integers(0, 15), min_size=n, max_size=n))
    w = np.array(data.draw(st.lists(st.lists(st.integers(-3, 3), min_size=n, max_size=n),
                                    min_size=out, max_size=out)), dtype=np.float64)
    mean = float(np.mean(w))
    sign_f = np.sign(w - mean)
    theirs = (sign_f @ (np.array(counts, dtype=np.float64) - 8)).tolist()
    signs = [[1 if s >= 0 else -1 for s in row] for row in sign_f.tolist()]
    ours = linear_count(counts, signs, cfg)
    for i in range(out):
        zero_terms = sum(counts[j] - 8 for j in range(n) if sign_f[i, j] == 0)
        assert ours[i] - theirs[i] == zero_terms
    trains = np.array([encode(c, cfg.spike_config) for c in counts], dtype=np.float64)
    time_theirs = (np.array(signs, dtype=np.float64) @ (trains - 0.5)).sum(axis=1).tolist()
    assert linear_time(counts, signs, cfg)[0] == ours == time_theirs
