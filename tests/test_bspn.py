"""BSPN properties and a from-the-text model on exact rationals (spec/03-bspn.md)."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.algebra import PY
from reference.bspn import BSPNConfig, BSPNParams, BSPNResult, bspn, divisor_j
from reference.errors import OverflowDetected
from reference.presets import PRESETS

SETTINGS = settings(max_examples=250, deadline=None)

Case = tuple[BSPNConfig, list[int], BSPNParams]


@st.composite
def configs(draw: st.DrawFn) -> BSPNConfig:
    group = draw(st.integers(1, 5))
    groups = draw(st.integers(1, 3))
    out_width = draw(st.integers(2, 12))
    wmin = draw(st.integers(-6, 4))
    return BSPNConfig(
        channels=group * groups,
        group_size=group,
        in_width=draw(st.integers(2, 14)),
        in_frac=draw(st.integers(0, 6)),
        eps_exp=draw(st.integers(0, 10)),
        weight_exp_min=wmin,
        weight_exp_max=draw(st.integers(wmin, 6)),
        bias_width=draw(st.integers(2, 10)),
        bias_frac=draw(st.integers(0, 6)),
        out_width=out_width,
        out_frac=draw(st.integers(0, out_width - 2)),
    )


@st.composite
def cases(draw: st.DrawFn, zero_bias: bool = False) -> Case:
    cfg = draw(configs())
    n = cfg.channels
    fmt = cfg.in_format
    x = draw(st.lists(st.integers(fmt.min, fmt.max), min_size=n, max_size=n))
    signs = draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=n, max_size=n))
    exps = draw(
        st.lists(st.integers(cfg.weight_exp_min, cfg.weight_exp_max), min_size=n, max_size=n)
    )
    bf = cfg.bias_format
    bias = [0] * n if zero_bias else draw(
        st.lists(st.integers(bf.min, bf.max), min_size=n, max_size=n)
    )
    return cfg, x, BSPNParams(tuple(signs), tuple(exps), tuple(bias))


def ceil_log2_rational(v: Fraction) -> int:
    """Smallest integer k with 2**k >= v > 0."""
    k = 0
    while Fraction(2) ** k < v:
        k += 1
    while Fraction(2) ** (k - 1) >= v:
        k -= 1
    return k


def round_log2_rational(v: Fraction) -> int:
    """round(log2 v) for v > 0, decided by squares: k + 1 iff v**2 > 2**(2k+1)."""
    k = ceil_log2_rational(v)
    if Fraction(2) ** k != v:
        k -= 1  # now 2**k <= v < 2**(k+1)
    return k + 1 if v * v > Fraction(2) ** (2 * k + 1) else k


def model(x: list[int], params: BSPNParams, cfg: BSPNConfig) -> BSPNResult:
    """The real-valued definition of spec/03 on exact rationals."""
    eps = Fraction(1, 2**cfg.eps_exp)
    out: list[int] = []
    ks: list[int] = []
    for g in range(cfg.groups):
        lo = g * cfg.group_size
        vals = [Fraction(v, 2**cfg.in_frac) for v in x[lo : lo + cfg.group_size]]
        mean = sum((abs(v) for v in vals), Fraction(0)) / cfg.group_size
        k = ceil_log2_rational(mean + eps)
        ks.append(k)
        for i, v in enumerate(vals, start=lo):
            w = params.weight_sign[i] * Fraction(2) ** params.weight_exp[i]
            y = w * v / Fraction(2) ** k + Fraction(params.bias[i], 2**cfg.bias_frac)
            if y == 0:
                out.append(0)
                continue
            r = round_log2_rational(abs(y)) + cfg.out_frac
            if r < 0:
                out.append(0)
                continue
            r = min(r, cfg.r_max)
            out.append(2**r if y > 0 else -(2**r))
    return BSPNResult(tuple(out), tuple(ks))


@SETTINGS
@given(cases())
def test_matches_real_valued_definition(case: Case) -> None:
    cfg, x, params = case
    assert bspn(x, params, cfg) == model(x, params, cfg)


@SETTINGS
@given(cases())
def test_outputs_zero_or_signed_power_of_two(case: Case) -> None:
    cfg, x, params = case
    for v in bspn(x, params, cfg).out:
        m = abs(v)
        assert v == 0 or (m & (m - 1) == 0 and m <= 2**cfg.r_max)
        assert cfg.out_format.min <= v <= cfg.out_format.max


@SETTINGS
@given(cases(zero_bias=True))
def test_sign_preserved_without_bias(case: Case) -> None:
    cfg, x, params = case
    for i, v in enumerate(bspn(x, params, cfg).out):
        expected = params.weight_sign[i] * x[i]
        assert v == 0 or (v > 0) == (expected > 0)
        if expected == 0:
            assert v == 0


@SETTINGS
@given(cases())
def test_divisor_range(case: Case) -> None:
    """bspn.divisor_range: mean + eps <= 2^k < 2 (mean + eps)."""
    cfg, x, params = case
    res = bspn(x, params, cfg)
    eps = Fraction(1, 2**cfg.eps_exp)
    for g, k in enumerate(res.divisor_exp):
        grp = x[g * cfg.group_size : (g + 1) * cfg.group_size]
        m = Fraction(sum(abs(v) for v in grp), cfg.group_size * 2**cfg.in_frac) + eps
        assert m <= Fraction(2) ** k < 2 * m


@SETTINGS
@given(configs())
def test_exact_width_shifts_non_negative(cfg: BSPNConfig) -> None:
    """bspn.exact_width: every shift of step 4 is >= 0 over the whole j range."""
    p = cfg.exact_frac
    assert p - cfg.bias_frac >= 0
    j_min = cfg.in_frac  # A >= G * 2^in_frac
    assert p + cfg.weight_exp_min + cfg.eps_exp - cfg.j_max >= 0
    big = (cfg.group_size * (-cfg.in_format.min)) << cfg.eps_exp
    a_max = big + (cfg.group_size << cfg.in_frac)
    assert a_max <= cfg.group_size << cfg.j_max
    assert a_max < 2**cfg.a_width
    assert divisor_j(PY, 0, cfg) == j_min
    assert divisor_j(PY, cfg.group_size * (-cfg.in_format.min), cfg) <= cfg.j_max


@SETTINGS
@given(cases())
def test_log_round_within_sqrt2(case: Case) -> None:
    """bspn.log_round: every output neither flushed nor saturated is within 2^(1/2) of y."""
    cfg, x, params = case
    res = bspn(x, params, cfg)
    for g, k in enumerate(res.divisor_exp):
        for i in range(g * cfg.group_size, (g + 1) * cfg.group_size):
            w = params.weight_sign[i] * Fraction(2) ** params.weight_exp[i]
            y = w * Fraction(x[i], 2**cfg.in_frac) / Fraction(2) ** k + Fraction(
                params.bias[i], 2**cfg.bias_frac
            )
            out = Fraction(res.out[i], 2**cfg.out_frac)
            if y == 0 or res.out[i] == 0 or abs(res.out[i]) == 2**cfg.r_max:
                continue
            assert out * out < 2 * y * y and y * y < 2 * out * out


def _group_slice(cfg: BSPNConfig, g: int) -> slice:
    return slice(g * cfg.group_size, (g + 1) * cfg.group_size)


def _power_between(a: Fraction, b: Fraction) -> bool:
    """Whether some power of two lies in [a, b) (a < b, both positive)."""
    return ceil_log2_rational(a) != ceil_log2_rational(b)


@SETTINGS
@given(cases(), st.integers(-4, 4))
def test_power_of_two_scaling(case: Case, t: int) -> None:
    """Scaling a group by 2^t leaves its outputs unchanged whenever its divisor exponent
    moves by exactly t (spec/03, "Properties"); that happens exactly when no power of two
    lies between m + eps and m + 2^-t eps."""
    cfg, x, params = case
    fmt = cfg.in_format
    if t >= 0:
        scaled = [v * 2**t for v in x]
    else:
        if any(v % 2 ** (-t) for v in x):
            return
        scaled = [v // 2 ** (-t) for v in x]
    if not all(fmt.min <= v <= fmt.max for v in scaled):
        return
    before = bspn(x, params, cfg)
    after = bspn(scaled, params, cfg)
    eps = Fraction(1, 2**cfg.eps_exp)
    for g in range(cfg.groups):
        sl = _group_slice(cfg, g)
        m = Fraction(sum(abs(v) for v in x[sl]), cfg.group_size * 2**cfg.in_frac)
        moved = after.divisor_exp[g] == before.divisor_exp[g] + t
        lo, hi = sorted((m + eps, m + eps / Fraction(2) ** t))
        assert moved == (t == 0 or not _power_between(lo, hi))
        if moved:
            assert after.out[sl] == before.out[sl]


def test_power_of_two_scaling_witnesses() -> None:
    cfg = PRESETS["tiny"].bspn  # eps = 1/8, in_frac = 2
    params = BSPNParams((1,) * 8, (0,) * 8, (0,) * 8)
    x = [6, -3, 0, 10, 1, 0, 0, -40]
    doubled = [2 * v for v in x]
    a, b = bspn(x, params, cfg), bspn(doubled, params, cfg)
    assert b.divisor_exp == (a.divisor_exp[0] + 1, a.divisor_exp[1] + 1)
    assert a.out == b.out
    zeros = [0] * 8
    assert bspn(zeros, params, cfg).divisor_exp == (-3, -3)  # the divisor is eps itself


@SETTINGS
@given(configs())
def test_n_width_is_reached_and_tight(cfg: BSPNConfig) -> None:
    """The widest ``N`` (one input alone at the format minimum with the largest weight
    exponent, bias at its minimum) needs exactly ``n_width`` signed bits."""
    j = divisor_j(PY, 1 << (cfg.in_width - 1), dataclasses.replace(cfg, group_size=1,
                                                                   channels=1))
    assert j >= cfg.in_frac
    n = cfg.in_format.min * (1 << cfg.shift_max) + cfg.bias_format.min * (
        1 << (cfg.exact_frac - cfg.bias_frac))
    w = cfg.n_width
    assert -(1 << (w - 1)) <= n and n < -(1 << (w - 2))


def test_n_width_of_the_presets() -> None:
    # By hand, 2**(in_width-1) * 2**shift_max + 2**(bias_width-1) * 2**(P - bias_frac):
    # sorbet 2**91 + 2**55 -> 93 bits (spec/03 states 93), tiny 2**26 + 2**18 -> 28,
    # tiny-b2 2**20 + 2**14 -> 22 (spec/07's table).
    assert [PRESETS[p].bspn.n_width for p in ("sorbet", "tiny", "tiny-b2")] == [93, 28, 22]


class _NarrowN(BSPNConfig):
    """A configuration claiming a too-narrow ``n_width`` (to exercise the overflow check)."""

    @property
    def n_width(self) -> int:
        return 4


def test_n_outside_n_width_raises_overflow() -> None:
    cfg = _NarrowN(**dataclasses.asdict(PRESETS["tiny"].bspn))
    n = cfg.channels
    params = BSPNParams((1,) * n, (cfg.weight_exp_max,) * n, (0,) * n)
    with pytest.raises(OverflowDetected, match="n_width"):
        bspn([cfg.in_format.max] * n, params, cfg)
    assert bspn([0] * n, params, cfg).out == (0,) * n
