"""Fast tier: the integer model vectorized with numpy, bit-exact with the canonical tier.

:func:`forward_fast` runs the model; :func:`prepare` converts validated
parameters once; :func:`check_widths` is the up-front proof that no ``int64``
intermediate overflows and every float BLAS product is exact for a configuration.
"""

from reference.fast.model import FastOutput, attention_block, encoder_layer, ffn_block, forward_fast
from reference.fast.params import FastParams, check_widths, prepare

__all__ = [
    "FastOutput",
    "FastParams",
    "attention_block",
    "check_widths",
    "encoder_layer",
    "ffn_block",
    "forward_fast",
    "prepare",
]
