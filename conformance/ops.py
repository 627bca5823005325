"""The operator registry: every operator a vector can target (spec/10-vectors.md).

Each entry names its configuration dataclass, its JSON inputs and outputs and
the spec section that defines it, and runs the canonical reference on JSON
values.  The vector generator, the reference backend and the mutants all go
through this table, so an operator is added in one place.

JSON conventions: tensors are flat lists of integers in row-major order (their
shapes follow from the configuration); booleans are 0/1 integers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reference import binary_linear, bspn, ptsoftmax, quantizer, spikes
from reference.errors import ConfigError, MaskError, RangeError, ShapeError, SorbetError

JSON = Any
"""A value decoded from JSON."""

REJECT_CLASSES = ("config", "range", "shape", "mask")
"""Rejection classes of spec/11-backend-protocol.md, "Rejections"."""


def reject_class(exc: SorbetError) -> str:
    """The rejection class of a reference error."""
    if isinstance(exc, MaskError):
        return "mask"
    if isinstance(exc, ShapeError):
        return "shape"
    if isinstance(exc, RangeError):
        return "range"
    if isinstance(exc, ConfigError):
        return "config"
    return "range"


@dataclass(frozen=True)
class OpSpec:
    """One operator: how to build its configuration and run it on JSON inputs."""

    name: str
    config_type: type[Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    """Normative outputs: a port must match these."""
    profile_outputs: tuple[str, ...]
    """Optional outputs (time level, intermediates) checked when a port returns them."""
    spec_section: str
    run: Callable[[Any, Mapping[str, JSON]], dict[str, JSON]]


def config_from_dict(op: OpSpec, data: object, where: str) -> Any:
    """Build ``op``'s configuration from a JSON object; ConfigError names the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: config: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(op.config_type)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: config: unknown field(s) {unknown} for {op.name}")
    missing = sorted(
        n for n, f in fields.items()
        if n not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ConfigError(f"{where}: config: missing field(s) {missing} for {op.name}")
    try:
        return op.config_type(**data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: config: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: config: {exc}") from None


def config_to_dict(cfg: object) -> dict[str, JSON]:
    """The JSON object of a configuration dataclass."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"not a configuration dataclass: {cfg!r}")
    return dataclasses.asdict(cfg)


def input_field(inputs: Mapping[str, JSON], name: str) -> JSON:
    """The input ``name``; ShapeError when it is missing."""
    if name not in inputs:
        raise ShapeError(f"inputs: missing field {name!r}")
    return inputs[name]


def input_ints(inputs: Mapping[str, JSON], name: str) -> list[int]:
    """A list of integers (ShapeError if not a list, RangeError naming a bad element)."""
    value = input_field(inputs, name)
    if not isinstance(value, list):
        raise ShapeError(f"inputs.{name}: expected a list of integers, got {type(value).__name__}")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int):
            raise RangeError(f"inputs.{name}[{i}]: expected an integer, got {v!r}")
    return value


def input_int(inputs: Mapping[str, JSON], name: str) -> int:
    """One integer (RangeError otherwise)."""
    value = input_field(inputs, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RangeError(f"inputs.{name}: expected an integer, got {value!r}")
    return value


def input_mask(raw: JSON) -> list[bool]:
    """A mask of JSON 0/1 integers as booleans (MaskError naming a bad entry)."""
    if not isinstance(raw, list):
        raise MaskError(f"inputs.mask: expected a list of 0/1, got {type(raw).__name__}")
    out: list[bool] = []
    for i, m in enumerate(raw):
        if type(m) is not int or m not in (0, 1):
            raise MaskError(f"inputs.mask[{i}]: expected 0 or 1, got {m!r}")
        out.append(m == 1)
    return out


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


OPS: dict[str, OpSpec] = {}


def register(op: OpSpec) -> None:
    """Add an operator to the registry (the model layers register theirs too)."""
    if op.name in OPS:
        raise ValueError(f"operator {op.name!r} registered twice")
    OPS[op.name] = op


register(OpSpec("ptsoftmax", ptsoftmax.PTSoftmaxConfig, ("scores", "mask"), ("out",),
                ("partition", "k"), "spec/02-ptsoftmax.md", _run_ptsoftmax))
register(OpSpec("bspn", bspn.BSPNConfig, ("x", "weight_sign", "weight_exp", "bias"), ("out",),
                ("divisor_exp",), "spec/03-bspn.md", _run_bspn))
register(OpSpec("quantize", quantizer.QuantizerConfig, ("x", "multiplier", "shift", "bias"),
                ("counts",), (), "spec/04-quantizer-spikes.md", _run_quantize))
register(OpSpec("if_encode", spikes.SpikeConfig, ("count",), ("spikes",), ("membrane",),
                "spec/04-quantizer-spikes.md", _run_if_encode))
register(OpSpec("binary_linear", binary_linear.BinaryLinearConfig, ("counts", "signs"), ("acc",),
                ("partial",), "spec/05-binary-linear.md", _run_binary_linear))


def get_op(name: str) -> OpSpec:
    """The operator called ``name``; ConfigError lists the known names otherwise."""
    try:
        return OPS[name]
    except KeyError:
        raise ConfigError(f"unknown operator {name!r}; expected one of {sorted(OPS)}") from None


def run_reference(op_name: str, config: object, inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    """Run the reference: ``{"outputs": {...}}`` or ``{"reject": cls, "message": text}``."""
    op = get_op(op_name)
    try:
        cfg = config_from_dict(op, config, op_name)
        return {"outputs": op.run(cfg, inputs)}
    except SorbetError as exc:
        return {"reject": reject_class(exc), "message": str(exc)}


# The model-level operators register themselves (spec/06-layers.md, spec/08-model.md).
import conformance.model_ops  # noqa: E402,F401
