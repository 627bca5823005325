"""The quantizer against its rational definition (spec/04-quantizer-spikes.md, "Quantizer")."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from reference.presets import PRESETS
from reference.quantizer import QuantizerConfig, QuantParams, quantize

SETTINGS = settings(max_examples=300, deadline=None)

Case = tuple[QuantizerConfig, QuantParams, list[int]]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    cfg = QuantizerConfig(
        bits=draw(st.integers(1, 8)),
        signed=draw(st.booleans()),
        in_width=draw(st.integers(2, 32)),
        multiplier_bits=draw(st.integers(1, 24)),
        bias_width=draw(st.integers(2, 40)),
    )
    bias_lim = 2 ** (cfg.bias_width - 1)
    params = QuantParams(
        multiplier=draw(st.integers(1, 2**cfg.multiplier_bits - 1)),
        shift=draw(st.integers(0, 62)),
        bias=draw(st.integers(-bias_lim, bias_lim - 1)),
    )
    fmt = cfg.in_format
    x = draw(st.lists(st.integers(fmt.min, fmt.max), min_size=1, max_size=8))
    return cfg, params, x


def model(x: int, params: QuantParams, cfg: QuantizerConfig) -> int:
    """clamp(round_half_even((x*M + bias) / 2^shift), q_min, q_max) - q_min."""
    v = Fraction(x * params.multiplier + params.bias, 2**params.shift)
    q: int = round(v)  # Fraction rounds half to even, as torch.round
    q_min = -(2 ** (cfg.bits - 1)) if cfg.signed else 0
    q_max = 2 ** (cfg.bits - 1) - 1 if cfg.signed else 2**cfg.bits - 1
    return int(min(max(q, q_min), q_max) - q_min)


@SETTINGS
@given(cases())
def test_matches_rational_definition(case: Case) -> None:
    cfg, params, x = case
    assert quantize(x, params, cfg) == [model(v, params, cfg) for v in x]


@SETTINGS
@given(cases())
def test_counts_in_range_and_monotone(case: Case) -> None:
    cfg, params, x = case
    counts = quantize(sorted(x), params, cfg)
    assert all(0 <= c <= cfg.count_max for c in counts)
    assert counts == sorted(counts)


@SETTINGS
@given(cases())
def test_product_fits_declared_width(case: Case) -> None:
    """quant.no_overflow at the extremes of x, M and bias."""
    cfg, _, _ = case
    lim = 2 ** (cfg.product_width - 1)
    m_max = 2**cfg.multiplier_bits - 1
    b_lim = 2 ** (cfg.bias_width - 1)
    for x in (cfg.in_format.min, cfg.in_format.max):
        for b in (-b_lim, b_lim - 1):
            assert -lim <= x * m_max + b < lim


def test_ties_to_even_and_unsigned_clamp() -> None:
    signed = PRESETS["tiny"].quant_signed
    p = QuantParams(1, 1, 0)
    # x / 2 = -2.5, -1.5, -0.5, 0.5, 1.5, 2.5 -> -2, -2, 0, 0, 2, 2 (plus offset 8)
    assert quantize([-5, -3, -1, 1, 3, 5], p, signed) == [6, 6, 8, 8, 10, 10]
    unsigned = PRESETS["tiny"].quant_unsigned
    assert quantize([-2048, -1, 0], QuantParams(1, 0, 0), unsigned) == [0, 0, 0]
    assert quantize([2047], QuantParams(255, 0, 0), unsigned) == [15]


def test_one_bit_quantizers() -> None:
    assert quantize([-3, 0, 3], QuantParams(1, 0, 0), QuantizerConfig(1, True, 4)) == [0, 1, 1]
    assert quantize([-3, 0, 3], QuantParams(1, 0, 0), QuantizerConfig(1, False, 4)) == [0, 0, 1]
