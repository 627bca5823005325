"""Every operator a vector can target, and the JSON conventions they share (spec/10, spec/11).

``wire`` holds the operator descriptor and the JSON decoding; ``kernels`` and ``layers``
define the operator-level and model-level entries; ``registry`` puts them in one table.
The names below are re-exported for the rest of the suite.
"""

from conformance.operators.registry import OPS, get_op, run_reference
from conformance.operators.wire import (
    JSON,
    REJECT_CLASSES,
    OpSpec,
    config_from_dict,
    config_to_dict,
    input_field,
    input_int,
    input_ints,
    input_mask,
    reject_class,
)

__all__ = [
    "JSON",
    "OPS",
    "REJECT_CLASSES",
    "OpSpec",
    "config_from_dict",
    "config_to_dict",
    "get_op",
    "input_field",
    "input_int",
    "input_ints",
    "input_mask",
    "reject_class",
    "run_reference",
]
