"""The operator-level entries of the registry: PTsoftmax, BSPN, quantizer, IF encoder,
binary linear layer (spec/02 to spec/05), each run on JSON inputs by the canonical tier."""

from __future__ import annotations

from collections.abc import Mapping

from conformance.operators.wire import JSON, OpSpec, input_int, input_ints, input_mask
from reference import binary_linear, bspn, ptsoftmax, quantizer, spikes
from reference.errors import ShapeError


def _run_ptsoftmax(cfg: ptsoftmax.PTSoftmaxConfig, inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    scores = input_ints(inputs, "scores")
    mask_raw = inputs.get("mask")
    mask = None if mask_raw is None else input_mask(mask_raw)
    res = ptsoftmax.ptsoftmax(scores, mask, cfg)
    return {
        "out": list(res.out),
        "partition": res.partition,
        "k": -1 if res.k is None else res.k,
    }


def _run_bspn(cfg: bspn.BSPNConfig, inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    params = bspn.BSPNParams(
        tuple(input_ints(inputs, "weight_sign")),
        tuple(input_ints(inputs, "weight_exp")),
        tuple(input_ints(inputs, "bias")),
    )
    res = bspn.bspn(input_ints(inputs, "x"), params, cfg)
    return {"out": list(res.out), "divisor_exp": list(res.divisor_exp)}


def _run_quantize(cfg: quantizer.QuantizerConfig, inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    params = quantizer.QuantParams(
        input_int(inputs, "multiplier"), input_int(inputs, "shift"), input_int(inputs, "bias")
    )
    return {"counts": quantizer.quantize(input_ints(inputs, "x"), params, cfg)}


def _run_if_encode(cfg: spikes.SpikeConfig, inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    count = input_int(inputs, "count")
    return {
        "spikes": spikes.encode(count, cfg),
        "membrane": spikes.membrane_trace(count, cfg),
    }


def _signs(inputs: Mapping[str, JSON], cfg: binary_linear.BinaryLinearConfig) -> list[list[int]]:
    flat = input_ints(inputs, "signs")
    n = cfg.in_features
    if len(flat) != cfg.out_features * n:
        raise ShapeError(
            f"inputs.signs: expected {cfg.out_features}x{n} = {cfg.out_features * n} "
            f"entries, got {len(flat)}"
        )
    return [flat[r * n : (r + 1) * n] for r in range(cfg.out_features)]


def _run_binary_linear(
    cfg: binary_linear.BinaryLinearConfig, inputs: Mapping[str, JSON]
) -> dict[str, JSON]:
    counts = input_ints(inputs, "counts")
    signs = _signs(inputs, cfg)
    acc = binary_linear.linear_count(counts, signs, cfg)
    acc_time, partial = binary_linear.linear_time(counts, signs, cfg)
    if acc_time != acc:  # theorem lin.time_eq_count; never expected
        raise AssertionError("time-level and count-level accumulators differ")
    return {"acc": acc, "partial": [v for row in partial for v in row]}


KERNEL_OPS: tuple[OpSpec, ...] = (
    OpSpec("ptsoftmax", ptsoftmax.PTSoftmaxConfig, ("scores", "mask"), ("out",),
        ("partition", "k"), "spec/02-ptsoftmax.md", _run_ptsoftmax),
    OpSpec("bspn", bspn.BSPNConfig, ("x", "weight_sign", "weight_exp", "bias"), ("out",),
        ("divisor_exp",), "spec/03-bspn.md", _run_bspn),
    OpSpec("quantize", quantizer.QuantizerConfig, ("x", "multiplier", "shift", "bias"),
        ("counts",), (), "spec/04-quantizer-spikes.md", _run_quantize),
    OpSpec("if_encode", spikes.SpikeConfig, ("count",), ("spikes",), ("membrane",),
        "spec/04-quantizer-spikes.md", _run_if_encode),
    OpSpec("binary_linear", binary_linear.BinaryLinearConfig, ("counts", "signs"), ("acc",),
        ("partial",), "spec/05-binary-linear.md", _run_binary_linear),
)
"""The operator-level operators, in the order of the spec."""
