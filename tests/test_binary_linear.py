"""The binary linear layer: count level, time level, widths, sign storage (spec/05)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.binary_linear import (
    BinaryLinearConfig,
    linear_count,
    linear_time,
    pack_signs,
    unpack_signs,
)
from reference.errors import RangeError, ShapeError
from reference.presets import PRESETS
from reference.spikes import encode

SETTINGS = settings(max_examples=200, deadline=None)

Case = tuple[BinaryLinearConfig, list[int], list[list[int]]]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    bits = draw(st.integers(1, 5))
    cfg = BinaryLinearConfig(
        in_features=draw(st.integers(1, 10)),
        out_features=draw(st.integers(1, 4)),
        bits=bits,
        steps=draw(st.integers(2**bits - 1 if bits > 1 else 1, 2**bits + 4)),
        signed_input=draw(st.booleans()),
    )
    n = cfg.in_features
    counts = draw(st.lists(st.integers(0, 2**bits - 1), min_size=n, max_size=n))
    signs = draw(st.lists(
        st.lists(st.sampled_from([-1, 1]), min_size=n, max_size=n),
        min_size=cfg.out_features, max_size=cfg.out_features,
    ))
    return cfg, counts, signs


@SETTINGS
@given(cases())
def test_count_level_definition(case: Case) -> None:
    cfg, counts, signs = case
    o = 2 ** (cfg.bits - 1) if cfg.signed_input else 0
    want = [sum((c - o) * s for c, s in zip(counts, row, strict=True)) for row in signs]
    assert linear_count(counts, signs, cfg) == want


@SETTINGS
@given(cases())
def test_time_level_agrees_with_count_level(case: Case) -> None:
    """lin.time_eq_count, and the running sums as spec/05 defines them."""
    cfg, counts, signs = case
    acc = linear_count(counts, signs, cfg)
    finals, partials = linear_time(counts, signs, cfg)
    assert finals == acc
    trains = [encode(c, cfg.spike_config) for c in counts]
    o = 2 ** (cfg.bits - 1) if cfg.signed_input else 0
    for row, trace, final in zip(signs, partials, finals, strict=True):
        running = 0
        for t in range(cfg.steps):
            running += sum(tr[t] * s for tr, s in zip(trains, row, strict=True))
            assert trace[t] == running
            assert abs(running) <= cfg.in_features * (2**cfg.bits - 1)
        assert final == trace[-1] - o * sum(row)


@SETTINGS
@given(cases(), st.randoms(use_true_random=False))
def test_agreement_depends_only_on_counts(case: Case, rnd: random.Random) -> None:
    """Any trains with exactly c_j spikes give the count-level result (spec/05)."""
    cfg, counts, signs = case
    o = 2 ** (cfg.bits - 1) if cfg.signed_input else 0
    trains = []
    for c in counts:
        steps = rnd.sample(range(cfg.steps), c)
        trains.append([1 if t in steps else 0 for t in range(cfg.steps)])
    for row, acc in zip(signs, linear_count(counts, signs, cfg), strict=True):
        total = sum(tr[t] * s for t in range(cfg.steps) for tr, s in zip(trains, row, strict=True))
        assert total - o * sum(row) == acc


@SETTINGS
@given(cases())
def test_accumulator_fits_and_bound_reached(case: Case) -> None:
    """lin.acc_width: |acc| <= n * m fits acc_format; the bound is reached."""
    cfg, counts, signs = case
    fmt = cfg.acc_format
    for v in linear_count(counts, signs, cfg):
        assert fmt.min <= v <= fmt.max
    n, o = cfg.in_features, cfg.offset
    top = 2**cfg.bits - 1
    hi = linear_count([top] * n, [[1] * n] * cfg.out_features, cfg)[0]
    lo = linear_count([0] * n, [[1] * n] * cfg.out_features, cfg)[0]
    assert max(abs(hi), abs(lo)) == n * cfg.max_abs_term
    assert hi == n * (top - o) and lo == -n * o
    assert fmt.min <= -n * cfg.max_abs_term and n * cfg.max_abs_term <= fmt.max


def test_sorbet_accumulator_formats() -> None:
    assert PRESETS["sorbet"].linear_signed.acc_format.describe() == "s14.0"
    assert PRESETS["sorbet"].linear_unsigned.acc_format.describe() == "s17.0"


def test_pack_signs_example_and_roundtrip() -> None:
    signs = [[1, -1, 1, 1], [-1, -1, -1, 1]]
    assert pack_signs(signs) == bytes([0x8D])
    assert unpack_signs(bytes([0x8D]), 2, 4) == signs
    rnd = random.Random(5)
    for rows, cols in [(1, 1), (3, 5), (7, 9), (2, 16)]:
        m = [[rnd.choice([-1, 1]) for _ in range(cols)] for _ in range(rows)]
        data = pack_signs(m)
        assert len(data) == (rows * cols + 7) // 8
        assert unpack_signs(data, rows, cols) == m


def test_pack_signs_rejects_zero_and_ragged_rows() -> None:
    with pytest.raises(RangeError, match=r"signs\[0\]\[1\]"):
        pack_signs([[1, 0]])
    with pytest.raises(ShapeError, match=r"signs\[1\]"):
        pack_signs([[1, 1], [1]])
    with pytest.raises(ShapeError, match="expected 1 bytes"):
        unpack_signs(b"\x00\x00", 2, 4)
