"""The layers of spec/06-layers.md on the tiny model presets (reference/layers.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.model.draws import draw_h0, draw_mask, draw_params
from reference import layers
from reference.errors import ConfigError, MaskError, RangeError, ShapeError
from reference.model_config import ModelConfig, ModelParams
from reference.model_presets import MODEL_PRESETS, TINY, TINY_ODD
from reference.presets import get_preset

PRESETS = [TINY, TINY_ODD]
SETTINGS = settings(max_examples=25, deadline=None)


def _setup(cfg: ModelConfig, seed: int) -> tuple[ModelParams, list[list[int]], list[bool]]:
    seq = 1 + seed % cfg.max_seq
    return draw_params(cfg, seed), draw_h0(cfg, seq, seed + 1), draw_mask(seq, seed + 2)


def _is_pow2_or_zero(v: int) -> bool:
    m = abs(v)
    return m == 0 or m & (m - 1) == 0


@pytest.mark.parametrize("cfg", PRESETS, ids=["tiny", "tiny-odd"])
def test_blocks_compose_and_have_trace_shapes(cfg: ModelConfig) -> None:
    params, h, mask = _setup(cfg, 7)
    layer = params.layers[0]
    h1, t1 = layers.attention_block(h, mask, layer, cfg, trace=True)
    h2, t2 = layers.ffn_block(h1, layer, cfg, trace=True)
    h2e, te = layers.encoder_layer(h, mask, layer, cfg, trace=True)
    assert h2 == h2e and te == {**t1, **t2}
    seq = len(h)
    assert len(h1) == seq and all(len(r) == cfg.hidden for r in h1)
    assert len(t1["scores"]) == cfg.heads and len(t1["scores"][0]) == seq
    assert all(len(r) == cfg.ffn for r in t2["u"])
    # without trace the blocks return an empty trace and the same result
    assert layers.attention_block(h, mask, layer, cfg)[1] == {}
    assert layers.attention_block(h, mask, layer, cfg)[0] == h1


@pytest.mark.parametrize("cfg", PRESETS, ids=["tiny", "tiny-odd"])
@SETTINGS
@given(seed=st.integers(0, 10_000))
def test_masked_keys_get_zero_probability(cfg: ModelConfig, seed: int) -> None:
    params, h, mask = _setup(cfg, seed)
    _, tr = layers.attention_block(h, mask, params.layers[0], cfg, trace=True)
    for head_p, head_c in zip(tr["probs"], tr["c_prob"], strict=True):
        for row_p, row_c in zip(head_p, head_c, strict=True):
            for u, live in enumerate(mask):
                if not live:
                    assert row_p[u] == 0 and row_c[u] == 0
            if any(mask):
                assert sum(row_p) > 0  # the row's maximum gets at least 2^-ceil(log2 n)


@pytest.mark.parametrize("cfg", PRESETS, ids=["tiny", "tiny-odd"])
@SETTINGS
@given(seed=st.integers(0, 10_000))
def test_hidden_outputs_are_zero_or_signed_powers_of_two(cfg: ModelConfig, seed: int) -> None:
    params, h, mask = _setup(cfg, seed)
    h2, tr = layers.encoder_layer(h, mask, params.layers[0], cfg, trace=True)
    r_max = 1 << (cfg.h_width - 2)
    for name in ("h1", "h2"):
        for row in tr[name]:
            assert all(_is_pow2_or_zero(v) and abs(v) <= r_max for v in row)
    assert tr["h2"] == h2


@pytest.mark.parametrize("cfg", PRESETS, ids=["tiny", "tiny-odd"])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_attention_products_time_level_equals_count_level(cfg: ModelConfig, seed: int) -> None:
    params, h, mask = _setup(cfg, seed)
    layer = params.layers[0]
    _, tr = layers.attention_block(h, mask, layer, cfg, trace=True)
    s_time = layers.attention_scores_time(tr["c_q"], tr["c_k"], cfg)
    assert [[[v * layer.score_mult for v in r] for r in hd] for hd in s_time] == tr["scores"]
    assert layers.attention_context_time(tr["c_prob"], tr["c_v"], cfg) == tr["ctx"]


@pytest.mark.parametrize("cfg", PRESETS, ids=["tiny", "tiny-odd"])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_padding_tokens_do_not_change_real_tokens(cfg: ModelConfig, seed: int) -> None:
    params, h, _ = _setup(cfg, seed)
    seq = len(h)
    if seq < 2:
        return
    mask = [True] + [t % 2 == 0 for t in range(1, seq)]
    other = [row if mask[t] else [(-v) // 2 for v in row] for t, row in enumerate(h)]
    a, _ = layers.encoder_layer(h, mask, params.layers[0], cfg)
    b, _ = layers.encoder_layer(other, mask, params.layers[0], cfg)
    for t in range(seq):
        if mask[t]:
            assert a[t] == b[t]


def test_quantize_input_and_requant_by_hand() -> None:
    cfg = TINY
    params = draw_params(cfg, 3)
    lin = replace(params.layers[0].q, in_mult=3, in_shift=2, in_bias=(0,) * cfg.hidden)
    lc = cfg.linear("q")
    x = [[2, 6, -2, -6, 100, -100, 0, 1]]
    # (x*3)/4 = 1.5 -> 2, 4.5 -> 4, -1.5 -> -2, -4.5 -> -4, 75 -> 7 (clamp), -75 -> -8, 0, 0.75 -> 1
    assert layers.quantize_input(x, lin, lc) == [[10, 12, 6, 4, 15, 0, 8, 9]]
    assert layers.requant(5, 1, 0, 1, -8, 7) == 2  # 2.5 -> 2 (ties to even)
    assert layers.requant(7, 1, 0, 1, -8, 7) == 4  # 3.5 -> 4
    assert layers.requant(-5, 1, 0, 1, -8, 7) == -2


def test_scores_and_context_by_hand() -> None:
    cfg = TINY  # 2 heads of 4, o = 8, 4-bit counts
    cq = [[9, 10, 8, 8, 0, 15, 8, 8]]
    ck = [[10, 7, 8, 8, 8, 8, 8, 9], [8, 8, 8, 8, 15, 15, 15, 15]]
    scores = layers.attention_scores(cq, ck, 3, cfg)
    # head 0: (1)(2) + (2)(-1) = 0 and 0; head 1: 0 and (-8)(7) + (7)(7) = -7
    assert scores == [[[0, 0]], [[0, -21]]]
    cp = [[[1, 2], [0, 0]], [[0, 15], [3, 0]]]
    cv = [[9, 8, 7, 8, 8, 8, 8, 8], [10, 6, 8, 8, 0, 15, 8, 9]]
    ctx = layers.attention_context(cp, cv, cfg)
    assert ctx == [[1 * 1 + 2 * 2, 2 * -2, -1, 0, 15 * -8, 15 * 7, 0, 15],
                   [0, 0, 0, 0, 0, 0, 0, 0]]


def test_residual_saturates_to_the_residual_format() -> None:
    cfg = TINY
    top = cfg.r_format.max
    assert layers.residual([[top, -top, 5]], [[1, -2, -7]], cfg) == [[top, -top - 1, -2]]


def test_invalid_inputs_are_rejected_with_clear_errors() -> None:
    cfg = TINY
    params, h, mask = _setup(cfg, 11)
    layer = params.layers[0]
    with pytest.raises(ShapeError, match="attention: h"):
        layers.attention_block([row[:-1] for row in h], mask, layer, cfg)
    with pytest.raises(ShapeError, match="max_seq"):
        layers.attention_block([h[0]] * (cfg.max_seq + 1), [True] * (cfg.max_seq + 1), layer,
                               cfg)
    with pytest.raises(ShapeError):
        layers.attention_block([], [], layer, cfg)
    bad = [list(r) for r in h]
    bad[0][0] = cfg.h_format.max + 1
    with pytest.raises(RangeError, match=r"attention: h\[0\]\[0\]"):
        layers.attention_block(bad, mask, layer, cfg)
    with pytest.raises(MaskError, match="length"):
        layers.attention_block(h, [*mask, True], layer, cfg)
    with pytest.raises(MaskError, match="bool"):
        layers.attention_block(h, [1] * len(h), layer, cfg)  # type: ignore[list-item]
    moved = replace(layer, k=replace(layer.k, in_bias=(cfg.bias_format.max + 1,
                                                       *layer.k.in_bias[1:])))
    with pytest.raises(RangeError, match=r"k\.in_bias"):
        layers.attention_block(h, mask, moved, cfg)
    short = replace(layer, ffn1=replace(layer.ffn1, signs=layer.ffn1.signs[:-1]))
    with pytest.raises(ShapeError, match=r"ffn1\.signs"):
        layers.ffn_block(h, short, cfg)
    with pytest.raises(ConfigError, match="score_mult"):
        layers.attention_block(h, mask, replace(layer, score_mult=0), cfg)
    with pytest.raises(ShapeError, match="pooled"):
        layers.classifier([0] * (cfg.hidden - 1), params.head, cfg)


def test_config_rejects_a_score_width_that_could_overflow() -> None:
    with pytest.raises(ConfigError, match="score_width"):
        replace(TINY, score_width=16)
    assert TINY.max_abs_score == 4 * 64 * 255
    for cfg in MODEL_PRESETS.values():
        assert cfg.max_abs_score < 1 << (cfg.score_width - 1)


# -- the context offset's bound (spec/06, "Widths"; theorem quant.context_offset) --------


WIDE_MICRO = replace(MODEL_PRESETS["micro"], multiplier_bits=20, bias_width=40, prob_frac=16,
                     partition_frac=16, score_width=40)
"""``micro`` with Sorbet-base's multiplier, bias and probability widths: its context offset can
reach the headroom (``o`` input quantizer of ``s53``), which no model preset but Sorbet-base can."""


def _with_offset(cfg: ModelConfig, prob_mult: int, prob_shift: int, o_in_mult: int) -> Any:
    lp = draw_params(cfg, 3).layers[0]
    return replace(lp, prob_mult=prob_mult, prob_shift=prob_shift,
                   o=replace(lp.o, in_mult=o_in_mult))


def test_context_offset_limit_is_the_headroom_of_the_proven_quantizer() -> None:
    """The limit is the operator preset's: the widths quant.context_offset is proven at."""
    assert MODEL_PRESETS["sorbet-base"].requant == get_preset("sorbet").quant_signed
    for cfg in MODEL_PRESETS.values():
        qc = cfg.requant
        assert cfg.ctx_offset_limit == (1 << (qc.product_width - 1)) - qc.linear_bound > 0
        # the most negative x*M + B + E is exactly the format's minimum
        assert -qc.linear_bound - cfg.ctx_offset_limit == -(1 << (qc.product_width - 1))


def test_context_offset_bound_is_the_largest_weight_over_every_pm() -> None:
    cfg = WIDE_MICRO
    lp = _with_offset(cfg, 12345, 7, 54321)
    ws = [layers.context_offset_weight(pm, 12345, 7, 54321)
          for pm in [0, *(1 << k for k in range(cfg.prob_frac + 1))]]
    assert lp.context_offset_bound(cfg) == max(ws) * cfg.max_seq * (1 << (cfg.bits - 1))
    assert max(ws) == ws[-1]  # the rounding is monotone: the largest pm gives the largest W


def test_context_offset_rejected_exactly_above_the_limit() -> None:
    """``W_max max_seq o`` equal to the limit passes; the next larger weight is ``config``."""
    cfg = WIDE_MICRO
    at = _with_offset(cfg, 524288, 6, 1048321)
    assert at.context_offset_bound(cfg) == cfg.ctx_offset_limit
    at.validate_attention(cfg, "layer.0")
    above = _with_offset(cfg, 524288, 6, 1048322)
    assert above.context_offset_bound(cfg) > cfg.ctx_offset_limit
    with pytest.raises(ConfigError, match=r"layer\.0\.prob_shift: the context offset"):
        above.validate_attention(cfg, "layer.0")


def test_tiny_presets_cannot_reach_the_context_offset_limit() -> None:
    """spec/10, "Flags and rules": no vector of the limit, since only Sorbet-base reaches it."""
    for name, cfg in MODEL_PRESETS.items():
        mmax = (1 << cfg.multiplier_bits) - 1
        largest = (1 << cfg.prob_frac) * mmax * mmax * cfg.max_seq * (1 << (cfg.bits - 1))
        assert (largest > cfg.ctx_offset_limit) == (name == "sorbet-base"), name
