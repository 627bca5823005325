"""The wire side of an operator: its descriptor and the JSON decoding every operator shares.

spec/10-vectors.md and spec/11-backend-protocol.md: tensors are flat lists of integers in
row-major order (their shapes follow from the configuration); booleans are 0/1 integers.
A malformed field raises the reference error of its rejection class, naming the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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
