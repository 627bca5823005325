"""The fast tier's batch entry points equal the canonical operators bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.vectors.cases import small_config
from reference import binary_linear, bspn, ptsoftmax, quantizer, spikes
from reference.fast import batch
from reference.presets import PRESETS

PRESET_NAMES = ("tiny", "tiny-b2", "sorbet")


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_ptsoftmax_rows(name: str) -> None:
    cfg = PRESETS[name].ptsoftmax
    rng = np.random.default_rng(1)
    fmt = cfg.score_format
    for n in sorted({1, 2, 3, min(cfg.max_len, 17)}):
        x = rng.integers(fmt.min, fmt.max + 1, size=(64, n), dtype=np.int64)
        x[:16] = x[:16] // (1 << 12) if fmt.max > 1 << 12 else x[:16]  # near ties
        valid = rng.random((64, n)) < 0.8
        valid[0] = False
        out, z, k = batch.ptsoftmax_rows(x, valid, cfg)
        for r in range(64):
            res = ptsoftmax.ptsoftmax(x[r].tolist(), valid[r].tolist(), cfg)
            assert out[r].tolist() == list(res.out)
            assert int(z[r]) == res.partition
            assert int(k[r]) == (-1 if res.k is None else res.k)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_bspn_tokens(name: str) -> None:
    cfg = PRESETS[name].bspn
    rng = np.random.default_rng(2)
    fmt = cfg.in_format
    c = cfg.channels
    for scale in (fmt.max, 1 << (cfg.in_width // 2), 3):
        x = rng.integers(-scale, scale + 1, size=(4, c), dtype=np.int64)
        x = np.clip(x, fmt.min, fmt.max)
        sign = rng.choice(np.array([-1, 0, 1], dtype=np.int64), size=c)
        wexp = rng.integers(cfg.weight_exp_min, cfg.weight_exp_max + 1, size=c, dtype=np.int64)
        bias = rng.integers(cfg.bias_format.min, cfg.bias_format.max + 1, size=c,
                            dtype=np.int64)
        out, dexp = batch.bspn_tokens(x, sign, wexp, bias, cfg)
        params = bspn.BSPNParams(tuple(sign.tolist()), tuple(wexp.tolist()),
                                 tuple(bias.tolist()))
        for r in range(4):
            res = bspn.bspn(x[r].tolist(), params, cfg)
            assert out[r].tolist() == list(res.out)
            assert dexp[r].tolist() == list(res.divisor_exp)


@pytest.mark.parametrize("name", PRESET_NAMES)
@pytest.mark.parametrize("signed", [True, False])
def test_quantize_rows(name: str, signed: bool) -> None:
    pre = PRESETS[name]
    cfg = pre.quant_signed if signed else pre.quant_unsigned
    rng = np.random.default_rng(3)
    fmt = cfg.in_format
    b = 200
    x = rng.integers(fmt.min, fmt.max + 1, size=(b, 5), dtype=np.int64)
    x[:50] = rng.integers(-40, 41, size=(50, 5))
    x = np.clip(x, fmt.min, fmt.max)
    mult = rng.integers(1, 1 << cfg.multiplier_bits, size=b, dtype=np.int64)
    mult[:40] = 1
    shift = rng.integers(0, 63, size=b, dtype=np.int64)
    shift[:60] = rng.integers(0, 6, size=60)
    blim = 1 << (cfg.bias_width - 1)
    bias = rng.integers(-blim, blim, size=b, dtype=np.int64)
    bias[:80] = np.where(shift[:80] > 0, np.left_shift(1, np.maximum(shift[:80] - 1, 0)), 0)
    bias[:80] = np.clip(bias[:80], -blim, blim - 1)
    got = batch.quantize_rows(x, mult, shift, bias, cfg)
    for r in range(b):
        params = quantizer.QuantParams(int(mult[r]), int(shift[r]), int(bias[r]))
        assert got[r].tolist() == quantizer.quantize(x[r].tolist(), params, cfg)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_if_encode_table(name: str) -> None:
    cfg = PRESETS[name].spikes
    table = batch.if_encode_table(cfg)
    assert len(table) == cfg.count_max + 1
    for c, (sp, mem) in enumerate(table):
        assert sp == spikes.encode(c, cfg) and mem == spikes.membrane_trace(c, cfg)


@pytest.mark.parametrize("name", PRESET_NAMES)
@pytest.mark.parametrize("signed", [True, False])
def test_binary_linear_rows(name: str, signed: bool) -> None:
    pre = PRESETS[name]
    cfg = small_config(pre.linear_signed if signed else pre.linear_unsigned)
    rng = np.random.default_rng(4)
    n, o = cfg.in_features, cfg.out_features
    counts = rng.integers(0, 1 << cfg.bits, size=(6, n), dtype=np.int64)
    signs = rng.choice(np.array([-1, 1], dtype=np.int64), size=(6, o, n))
    acc, partial = batch.binary_linear_rows(counts, signs, cfg)
    for r in range(6):
        rows = signs[r].tolist()
        assert acc[r].tolist() == binary_linear.linear_count(counts[r].tolist(), rows, cfg)
        _, traces = binary_linear.linear_time(counts[r].tolist(), rows, cfg)
        assert partial[r].tolist() == traces
