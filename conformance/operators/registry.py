"""The operator registry: every operator a vector can target (spec/10-vectors.md).

Each entry (:class:`~conformance.operators.wire.OpSpec`) names its configuration
dataclass, its JSON inputs and outputs and the spec section that defines it, and runs
the canonical reference on JSON values.  The vector generator, the reference backend
and the mutants all go through this table.  The registry depends on the two modules
that define entries (``kernels`` for the operators, ``layers`` for the model levels);
they depend only on ``wire``, so the imports run one way.
"""

from __future__ import annotations

from collections.abc import Mapping

from conformance.operators.kernels import KERNEL_OPS
from conformance.operators.layers import LAYER_OPS
from conformance.operators.wire import JSON, OpSpec, config_from_dict, reject_class
from reference.errors import ConfigError, SorbetError


def _table(entries: tuple[OpSpec, ...]) -> dict[str, OpSpec]:
    table: dict[str, OpSpec] = {}
    for op in entries:
        if op.name in table:
            raise ValueError(f"operator {op.name!r} registered twice")
        table[op.name] = op
    return table


OPS: Mapping[str, OpSpec] = _table((*KERNEL_OPS, *LAYER_OPS))
"""Every operator by name: the operator level first, then the model levels."""


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
