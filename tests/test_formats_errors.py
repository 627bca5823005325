"""Every invalid input gets a clear error naming the argument (spec/01-formats.md, "Errors").

Categories: invalid configuration (each field just outside its documented
range, wrong types, inconsistent fields), out-of-range integers for their
width, non-integers, wrong shape or length, masks of the wrong length or with
non-boolean entries; and the same through the JSON registry as rejection
classes. The documented valid ranges (the parameter tables of spec/02 to 05)
are checked at both ends: the end itself is accepted, one past it rejected.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from conformance.operators import run_reference
from reference.binary_linear import BinaryLinearConfig, linear_count, linear_time
from reference.bspn import BSPNConfig, BSPNParams, bspn
from reference.errors import ConfigError, MaskError, RangeError, ShapeError, SorbetError
from reference.formats import IntFormat
from reference.presets import PRESETS, get_preset
from reference.ptsoftmax import PTSoftmaxConfig, ptsoftmax
from reference.quantizer import QuantizerConfig, QuantParams, quantize
from reference.spikes import SpikeConfig, encode, membrane_trace, spike_times

TINY = PRESETS["tiny"]

# (class, base configuration overrides, field, documented lo, documented hi)
RANGES: list[tuple[type[Any], dict[str, Any], str, int, int]] = [
    (PTSoftmaxConfig, {}, "max_len", 1, 65536),
    (PTSoftmaxConfig, {"score_frac": 0}, "score_width", 2, 48),
    (PTSoftmaxConfig, {}, "score_frac", 0, 9),  # 0 .. score_width - 1, score_width = 10
    (PTSoftmaxConfig, {}, "partition_frac", 0, 30),
    (PTSoftmaxConfig, {}, "out_frac", 0, 30),
    (BSPNConfig, {"group_size": 1}, "channels", 1, 65536),
    (BSPNConfig, {}, "group_size", 1, 8),  # 1 .. channels (and divides it)
    (BSPNConfig, {}, "in_width", 2, 32),
    (BSPNConfig, {}, "in_frac", 0, 31),
    (BSPNConfig, {}, "eps_exp", 0, 40),
    (BSPNConfig, {"weight_exp_max": 32}, "weight_exp_min", -32, 32),
    (BSPNConfig, {}, "weight_exp_max", -3, 32),  # weight_exp_min .. 32
    (BSPNConfig, {}, "bias_width", 2, 32),
    (BSPNConfig, {}, "bias_frac", 0, 31),
    (BSPNConfig, {"out_frac": 0}, "out_width", 2, 32),
    (BSPNConfig, {}, "out_frac", 0, 6),  # 0 .. out_width - 2, out_width = 8
    (QuantizerConfig, {}, "bits", 1, 8),
    (QuantizerConfig, {}, "in_width", 2, 32),
    (QuantizerConfig, {}, "multiplier_bits", 1, 24),
    (QuantizerConfig, {}, "bias_width", 2, 40),
    (SpikeConfig, {"steps": 255}, "bits", 1, 8),
    (SpikeConfig, {}, "steps", 15, 1024),  # 2**bits - 1 .. 1024, bits = 4
    (SpikeConfig, {"bits": 1}, "steps", 1, 1024),
    (BinaryLinearConfig, {}, "in_features", 1, 65536),
    (BinaryLinearConfig, {}, "out_features", 1, 65536),
    (BinaryLinearConfig, {"steps": 255}, "bits", 1, 8),
    (BinaryLinearConfig, {}, "steps", 15, 1024),
]

BASES: dict[type[Any], Any] = {
    PTSoftmaxConfig: TINY.ptsoftmax,
    BSPNConfig: TINY.bspn,
    QuantizerConfig: TINY.quant_signed,
    SpikeConfig: TINY.spikes,
    BinaryLinearConfig: TINY.linear_signed,
}


def _build(cls: type[Any], overrides: dict[str, Any]) -> Any:
    return dataclasses.replace(BASES[cls], **overrides)


@pytest.mark.parametrize(
    ("cls", "base", "field", "lo", "hi"), RANGES,
    ids=[f"{r[0].__name__}.{r[2]}[{r[3]},{r[4]}]" for r in RANGES],
)
def test_config_ranges(cls: type[Any], base: dict[str, Any], field: str, lo: int, hi: int) -> None:
    for ok in (lo, hi):
        _build(cls, {**base, field: ok})
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ConfigError, match=field):
            _build(cls, {**base, field: bad})
    for bad_type in (1.5, "3", True, None):
        with pytest.raises(ConfigError, match=field):
            _build(cls, {**base, field: bad_type})


def test_every_int_field_has_a_range_row() -> None:
    covered = {(cls, field) for cls, _, field, _, _ in RANGES}
    for cls in BASES:
        for f in dataclasses.fields(cls):
            if f.type in ("int", int):
                assert (cls, f.name) in covered, f"{cls.__name__}.{f.name}"


@pytest.mark.parametrize(
    ("cls", "field"),
    [(QuantizerConfig, "signed"), (BinaryLinearConfig, "signed_input")],
)
def test_flags_must_be_bool(cls: type[Any], field: str) -> None:
    for bad in (1, 0, "true", None):
        with pytest.raises(ConfigError, match=field):
            _build(cls, {field: bad})


def test_inconsistent_configs() -> None:
    with pytest.raises(ConfigError, match=r"group_size: 3 does not divide channels=8"):
        _build(BSPNConfig, {"group_size": 3})
    with pytest.raises(ConfigError, match=r"SpikeConfig.steps: T=14 is below"):
        SpikeConfig(4, 14)
    with pytest.raises(ConfigError, match="steps"):
        BinaryLinearConfig(4, 4, bits=4, steps=14, signed_input=True)


def test_int_format_validation() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"width": 0, "signed": False}, "width"),
        ({"width": 65, "signed": False}, "width"),
        ({"width": 1, "signed": True}, "width"),
        ({"width": 8, "signed": True, "frac": 65}, "frac"),
        ({"width": 8.0, "signed": True}, "width"),
        ({"width": 8, "signed": True, "frac": "2"}, "frac"),
    ]
    for kwargs, name in cases:
        with pytest.raises(ConfigError, match=name):
            IntFormat(**kwargs)
    fmt = IntFormat(16, True, 8)
    assert (fmt.min, fmt.max, fmt.describe()) == (-32768, 32767, "s16.8")
    assert fmt.real(-384) == -1.5
    assert IntFormat(17, False, 16).max == 131071


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'huge'.*sorbet"):
        get_preset("huge")


# --- operator inputs -------------------------------------------------------------------


def test_ptsoftmax_inputs() -> None:
    cfg = TINY.ptsoftmax
    with pytest.raises(RangeError, match=r"scores\[1\]: 512 is outside format s10.2"):
        ptsoftmax([0, 512], None, cfg)
    with pytest.raises(RangeError, match=r"scores\[0\]"):
        ptsoftmax([-513], None, cfg)
    for bad in (1.0, True, "1"):
        with pytest.raises(RangeError, match=r"scores\[0\]: expected an integer"):
            ptsoftmax([bad], None, cfg)  # type: ignore[list-item]
    with pytest.raises(ShapeError, match="scores: row length 0"):
        ptsoftmax([], None, cfg)
    with pytest.raises(ShapeError, match="scores: row length 9"):
        ptsoftmax([0] * 9, None, cfg)
    with pytest.raises(ShapeError, match="scores: expected a list"):
        ptsoftmax(5, None, cfg)  # type: ignore[arg-type]


def test_ptsoftmax_mask() -> None:
    cfg = TINY.ptsoftmax
    with pytest.raises(MaskError, match="mask: expected length 2, got 1"):
        ptsoftmax([1, 2], [True], cfg)
    with pytest.raises(MaskError, match="mask: expected length 2, got 3"):
        ptsoftmax([1, 2], [True, True, False], cfg)
    with pytest.raises(MaskError, match=r"mask\[1\]: expected a bool, got int 0"):
        ptsoftmax([1, 2], [True, 0], cfg)  # type: ignore[list-item]
    with pytest.raises(MaskError, match="mask: expected a list"):
        ptsoftmax([1, 2], 3, cfg)  # type: ignore[arg-type]
    with pytest.raises(MaskError, match="mask"):
        ptsoftmax([1, 2], "tt", cfg)  # type: ignore[arg-type]
    assert issubclass(MaskError, ShapeError)


def _params(n: int, **over: Any) -> BSPNParams:
    base = {"weight_sign": (1,) * n, "weight_exp": (0,) * n, "bias": (0,) * n}
    base.update(over)
    return BSPNParams(**base)


def test_bspn_inputs() -> None:
    cfg = TINY.bspn
    x = [0] * 8
    with pytest.raises(ShapeError, match="x: expected length 8, got 7"):
        bspn([0] * 7, _params(8), cfg)
    with pytest.raises(RangeError, match=r"x\[3\]: 512 is outside format s10.2"):
        bspn([0, 0, 0, 512, 0, 0, 0, 0], _params(8), cfg)
    with pytest.raises(RangeError, match=r"x\[0\]: expected an integer"):
        bspn([0.5] + [0] * 7, _params(8), cfg)  # type: ignore[arg-type]
    for field in ("weight_sign", "weight_exp", "bias"):
        with pytest.raises(ShapeError, match=f"BSPNParams.{field}: expected length 8"):
            bspn(x, _params(8, **{field: (0,) * 9}), cfg)
    with pytest.raises(RangeError, match=r"weight_sign\[2\]: 2 is outside"):
        bspn(x, _params(8, weight_sign=(1, 1, 2, 1, 1, 1, 1, 1)), cfg)
    with pytest.raises(RangeError, match=r"weight_exp\[0\]: 4 is outside its declared range"):
        bspn(x, _params(8, weight_exp=(4,) + (0,) * 7), cfg)
    with pytest.raises(RangeError, match=r"weight_exp\[0\]: -4 is outside"):
        bspn(x, _params(8, weight_exp=(-4,) + (0,) * 7), cfg)
    with pytest.raises(RangeError, match=r"bias\[7\]: 128 is outside format s8.2"):
        bspn(x, _params(8, bias=(0,) * 7 + (128,)), cfg)


def test_quantizer_inputs() -> None:
    cfg = TINY.quant_signed  # in s12.0, multiplier_bits 8, bias_width 16
    ok = QuantParams(1, 0, 0)
    with pytest.raises(RangeError, match=r"quantize: x\[1\]: 2048 is outside format s12.0"):
        quantize([0, 2048], ok, cfg)
    with pytest.raises(RangeError, match=r"x\[0\]: expected an integer"):
        quantize([True], ok, cfg)
    with pytest.raises(ShapeError, match="x: expected a list"):
        quantize(7, ok, cfg)  # type: ignore[arg-type]
    for params, name in [
        (QuantParams(0, 0, 0), "multiplier"),
        (QuantParams(256, 0, 0), "multiplier"),
        (QuantParams(1, -1, 0), "shift"),
        (QuantParams(1, 63, 0), "shift"),
        (QuantParams(1, 0, 2**15), "bias"),
        (QuantParams(1, 0, -(2**15) - 1), "bias"),
    ]:
        with pytest.raises(RangeError, match=f"QuantParams.{name}"):
            quantize([0], params, cfg)
    quantize([0], QuantParams(255, 62, -(2**15)), cfg)


def test_spike_inputs() -> None:
    cfg = TINY.spikes
    for fn in (encode, membrane_trace, spike_times):
        with pytest.raises(RangeError, match=r"count: 16 is outside format u4\.0"):
            fn(16, cfg)
        with pytest.raises(RangeError, match="count: -1 is outside"):
            fn(-1, cfg)
        with pytest.raises(RangeError, match="count: expected an integer"):
            fn(2.0, cfg)  # type: ignore[arg-type]


def test_binary_linear_inputs() -> None:
    cfg = TINY.linear_signed  # 6 in, 3 out, 4 bits
    counts = [0] * 6
    signs = [[1] * 6] * 3
    for fn in (linear_count, linear_time):
        with pytest.raises(ShapeError, match="counts: expected length 6, got 5"):
            fn([0] * 5, signs, cfg)
        with pytest.raises(RangeError, match=r"counts\[2\]: 16 is outside format u4.0"):
            fn([0, 0, 16, 0, 0, 0], signs, cfg)
        with pytest.raises(ShapeError, match="signs: expected length 3, got 2"):
            fn(counts, signs[:2], cfg)
        with pytest.raises(ShapeError, match=r"signs\[1\]: expected length 6, got 5"):
            fn(counts, [[1] * 6, [1] * 5, [1] * 6], cfg)
        with pytest.raises(RangeError, match=r"signs\[0\]\[1\]: expected -1 or \+1, got 0"):
            fn(counts, [[1, 0, 1, 1, 1, 1], [1] * 6, [1] * 6], cfg)
        with pytest.raises(RangeError, match=r"signs\[2\]\[0\]: expected -1 or \+1, got True"):
            fn(counts, [[1] * 6, [1] * 6, [True] + [1] * 5], cfg)


def test_errors_are_value_errors() -> None:
    for cls in (ConfigError, RangeError, ShapeError, MaskError):
        assert issubclass(cls, SorbetError) and issubclass(cls, ValueError)


# --- the same through the JSON registry -------------------------------------------------

CFG = {
    "ptsoftmax": dataclasses.asdict(TINY.ptsoftmax),
    "bspn": dataclasses.asdict(TINY.bspn),
    "quantize": dataclasses.asdict(TINY.quant_signed),
    "if_encode": dataclasses.asdict(TINY.spikes),
    "binary_linear": dataclasses.asdict(TINY.linear_signed),
}
Z8 = [0] * 8
REJECTIONS: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    ("ptsoftmax", {}, {"scores": [600]}, "range", "scores[0]"),
    ("ptsoftmax", {}, {"scores": [1, 2], "mask": [1, 2]}, "mask", "mask[1]"),
    ("ptsoftmax", {}, {"scores": [1, 2], "mask": [1]}, "mask", "mask"),
    ("ptsoftmax", {}, {"scores": [1, 2], "mask": 1}, "mask", "mask"),
    ("ptsoftmax", {}, {}, "shape", "scores"),
    ("ptsoftmax", {"max_len": 0}, {"scores": [1]}, "config", "max_len"),
    ("ptsoftmax", {"bogus": 1}, {"scores": [1]}, "config", "bogus"),
    ("bspn", {"group_size": 3}, {"x": Z8, "weight_sign": Z8, "weight_exp": Z8, "bias": Z8},
     "config", "group_size"),
    ("bspn", {}, {"x": Z8[:7], "weight_sign": Z8, "weight_exp": Z8, "bias": Z8}, "shape", "x"),
    ("bspn", {}, {"x": Z8, "weight_sign": Z8, "weight_exp": [9, *Z8[1:]], "bias": Z8},
     "range", "weight_exp[0]"),
    ("bspn", {}, {"x": Z8, "weight_sign": Z8, "weight_exp": Z8}, "shape", "bias"),
    ("quantize", {}, {"x": [1], "multiplier": 0, "shift": 0, "bias": 0}, "range", "multiplier"),
    ("quantize", {"signed": 1}, {"x": [1], "multiplier": 1, "shift": 0, "bias": 0},
     "config", "signed"),
    ("quantize", {}, {"x": 1, "multiplier": 1, "shift": 0, "bias": 0}, "shape", "x"),
    ("if_encode", {}, {"count": 99}, "range", "count"),
    ("if_encode", {"steps": 3}, {"count": 1}, "config", "steps"),
    ("binary_linear", {}, {"counts": [0] * 6, "signs": [1] * 17}, "shape", "signs"),
    ("binary_linear", {}, {"counts": [0] * 6, "signs": [1] * 17 + [0]}, "range", "signs[2][5]"),
    ("binary_linear", {}, {"counts": [0] * 5, "signs": [1] * 18}, "shape", "counts"),
]


@pytest.mark.parametrize(
    ("op", "cfg_over", "inputs", "cls", "name"), REJECTIONS,
    ids=[f"{r[0]}-{r[3]}-{r[4]}" for r in REJECTIONS],
)
def test_registry_rejections(
    op: str, cfg_over: dict[str, Any], inputs: dict[str, Any], cls: str, name: str
) -> None:
    result = run_reference(op, {**CFG[op], **cfg_over}, inputs)
    assert result.get("reject") == cls, result
    assert name in result["message"], result["message"]


def test_registry_unknown_operator() -> None:
    with pytest.raises(ConfigError, match=r"unknown operator 'softmax'; expected one of"):
        run_reference("softmax", {}, {})
