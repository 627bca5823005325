"""PTsoftmax properties and a from-the-text model (spec/02-ptsoftmax.md)."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from reference.presets import PRESETS
from reference.ptsoftmax import PTSoftmaxConfig, PTSoftmaxResult, ptsoftmax

SETTINGS = settings(max_examples=250, deadline=None)


@st.composite
def configs(draw: st.DrawFn) -> PTSoftmaxConfig:
    width = draw(st.integers(2, 16))
    return PTSoftmaxConfig(
        max_len=draw(st.integers(1, 12)),
        score_width=width,
        score_frac=draw(st.integers(0, width - 1)),
        partition_frac=draw(st.integers(0, 8)),
        out_frac=draw(st.integers(0, 10)),
    )


@st.composite
def rows(
    draw: st.DrawFn, cfg_strategy: st.SearchStrategy[PTSoftmaxConfig] | None = None
) -> tuple[PTSoftmaxConfig, list[int], list[bool] | None]:
    cfg = draw(cfg_strategy if cfg_strategy is not None else configs())
    fmt = cfg.score_format
    n = draw(st.integers(1, cfg.max_len))
    scores = draw(st.lists(st.integers(fmt.min, fmt.max), min_size=n, max_size=n))
    mask = draw(st.none() | st.lists(st.booleans(), min_size=n, max_size=n))
    return cfg, scores, mask


def model(scores: list[int], mask: list[bool] | None, cfg: PTSoftmaxConfig) -> PTSoftmaxResult:
    """The algorithm of spec/02 on exact rationals, with the distance definition of K."""
    n = len(scores)
    live = [True] * n if mask is None else list(mask)
    s = [math.ceil(Fraction(x, 2**cfg.score_frac)) for x in scores]
    if not any(live):
        return PTSoftmaxResult(tuple([0] * n), tuple(s), 0, None)
    top = max(s[i] for i in range(n) if live[i])
    f = cfg.partition_frac
    e = [2 ** (f - (top - s[i])) if live[i] and top - s[i] <= f else 0 for i in range(n)]
    z = sum(e)
    k = min(range(z.bit_length() + 2), key=lambda kk: (abs(z - 2**kk), -kk))
    out = tuple(math.floor(Fraction(e[i] * 2**cfg.out_frac, 2**k)) for i in range(n))
    return PTSoftmaxResult(out, tuple(s), z, k)


def _is_pow2(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


@SETTINGS
@given(rows())
def test_matches_spec_model(row: tuple[PTSoftmaxConfig, list[int], list[bool] | None]) -> None:
    cfg, scores, mask = row
    assert ptsoftmax(scores, mask, cfg) == model(scores, mask, cfg)


@SETTINGS
@given(rows())
def test_outputs_zero_or_power_of_two_and_masked_zero(
    row: tuple[PTSoftmaxConfig, list[int], list[bool] | None],
) -> None:
    cfg, scores, mask = row
    res = ptsoftmax(scores, mask, cfg)
    for i, p in enumerate(res.out):
        assert p == 0 or _is_pow2(p)
        assert 0 <= p <= 2**cfg.out_frac
        if mask is not None and not mask[i]:
            assert p == 0
    if mask is not None and not any(mask):
        assert res.out == tuple([0] * len(scores))
        assert res.k is None and res.partition == 0


@SETTINGS
@given(rows(), st.integers(-(2**12), 2**12), st.data())
def test_invariant_under_integer_shift(
    row: tuple[PTSoftmaxConfig, list[int], list[bool] | None], t: int, data: st.DataObject
) -> None:
    """Adding t * 2**score_frac (the real integer t) to every unmasked score changes nothing;
    masked scores may change freely."""
    cfg, scores, mask = row
    fmt = cfg.score_format
    live = [True] * len(scores) if mask is None else mask
    moved = []
    for x, m in zip(scores, live, strict=True):
        if m:
            moved.append(x + t * 2**cfg.score_frac)
        else:
            moved.append(data.draw(st.integers(fmt.min, fmt.max)))
    if not all(fmt.min <= v <= fmt.max for v in moved):
        return
    assert ptsoftmax(moved, mask, cfg).out == ptsoftmax(scores, mask, cfg).out


@SETTINGS
@given(rows(), st.integers(-100, 100))
def test_invariant_any_integer_when_score_frac_zero(
    row: tuple[PTSoftmaxConfig, list[int], list[bool] | None], t: int
) -> None:
    cfg, scores, mask = row
    cfg0 = PTSoftmaxConfig(cfg.max_len, cfg.score_width, 0, cfg.partition_frac, cfg.out_frac)
    fmt = cfg0.score_format
    moved = [x + t for x in scores]
    if all(fmt.min <= v <= fmt.max for v in moved):
        assert ptsoftmax(moved, mask, cfg0).out == ptsoftmax(scores, mask, cfg0).out


@SETTINGS
@given(rows())
def test_partition_and_sum_bounds(
    row: tuple[PTSoftmaxConfig, list[int], list[bool] | None],
) -> None:
    """ptsm.acc_width, ptsm.partition_ratio and ptsm.sum_bounds as spec/02 states them."""
    cfg, scores, mask = row
    res = ptsoftmax(scores, mask, cfg)
    if res.k is None:
        return
    z, k, total = res.partition, res.k, sum(res.out)
    u = len(scores) if mask is None else sum(mask)
    assert 2**cfg.partition_frac <= z < 2**cfg.partition_width
    assert cfg.k_min <= k <= cfg.k_max
    assert 3 * 2**k <= 4 * z < 6 * 2**k  # 3/4 <= Z / 2^K < 3/2
    assert total * 2**k <= z * 2**cfg.out_frac
    assert total * 2**k > z * 2**cfg.out_frac - u * 2**k
    real = Fraction(total, 2**cfg.out_frac)
    assert Fraction(3, 4) - Fraction(u, 2**cfg.out_frac) < real < Fraction(3, 2)


@SETTINGS
@given(rows())
def test_dropped_terms_bound(row: tuple[PTSoftmaxConfig, list[int], list[bool] | None]) -> None:
    """Z * 2^-F <= Z* <= Z * 2^-F + (u - 1) * 2^-(F+1) for the exact base-2 partition Z*."""
    cfg, scores, mask = row
    res = ptsoftmax(scores, mask, cfg)
    if res.k is None:
        return
    live = [i for i in range(len(scores)) if mask is None or mask[i]]
    top = max(res.ceil_scores[i] for i in live)
    z_star = sum(Fraction(1, 2 ** (top - res.ceil_scores[i])) for i in live)
    z = Fraction(res.partition, 2**cfg.partition_frac)
    assert z <= z_star <= z + Fraction(len(live) - 1, 2 ** (cfg.partition_frac + 1))


@SETTINGS
@given(rows())
def test_ratio_bounds_without_dropped_terms(
    row: tuple[PTSoftmaxConfig, list[int], list[bool] | None],
) -> None:
    """ptsm.ratio_rounded in [3/4, 3/2) and ptsm.ratio_unrounded in (3/8, 3) (unfloored)."""
    cfg, scores, mask = row
    res = ptsoftmax(scores, mask, cfg)
    if res.k is None:
        return
    live = [i for i in range(len(scores)) if mask is None or mask[i]]
    top = max(res.ceil_scores[i] for i in live)
    if any(top - res.ceil_scores[i] > cfg.partition_frac for i in live):
        return
    f, k = cfg.partition_frac, res.k
    z_star = sum(Fraction(1, 2 ** (top - res.ceil_scores[i])) for i in live)
    reals = {i: scores[i] / 2**cfg.score_frac for i in live}
    top_real = max(reals.values())
    denom = sum(2.0 ** (reals[j] - top_real) for j in live)
    for i in live:
        unfloored = Fraction(2 ** (f - (top - res.ceil_scores[i])), 2**k)
        q = Fraction(1, 2 ** (top - res.ceil_scores[i])) / z_star
        assert Fraction(3, 4) <= unfloored / q < Fraction(3, 2)
        r = 2.0 ** (reals[i] - top_real) / denom  # base-2 softmax of the real scores
        assert 3 / 8 < float(unfloored) / r < 3


def test_presets_examples_of_properties() -> None:
    cfg = PRESETS["tiny"].ptsoftmax
    # ceil(x / 4) = 2, 1, -5; Z = 16 + 8 + floor(16 / 2**7) = 24 (1.5 * 2**4): the linear
    # nearest power of two ties between 16 and 32 and goes up, K = 5; p = floor(e * 2**4 / 2**5)
    # for e = 16, 8, 0 gives 8, 4, 0.
    res = ptsoftmax([8, 4, -20], None, cfg)
    assert res.out == (8, 4, 0) and res.k == 5  # the tie goes up; a term dropped
    # spec/02 Example 5: ceil(x / 4) = 0, -2, -3, -4, -5, -5; Z = 16 + 4 + 2 + 1 + 0 + 0 = 23,
    # nearer 16 than 32, so K = 4 (the two 2**-5 terms floor to 0 at F = 4).
    res = ptsoftmax([0, -8, -12, -16, -20, -20], None, cfg)
    assert res.partition == 23 and res.k == 4
