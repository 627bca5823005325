"""Named operator configurations (spec/07-presets.md).

``sorbet`` holds the values of Sorbet-base; ``tiny`` and ``tiny-b2`` are small
configurations for tests and vectors (``tiny-b2`` also exercises 2-bit counts,
T = 3 steps and a group size that is not a power of two).
"""

from __future__ import annotations

from dataclasses import dataclass

from reference.binary_linear import BinaryLinearConfig
from reference.bspn import BSPNConfig
from reference.errors import ConfigError
from reference.ptsoftmax import PTSoftmaxConfig
from reference.quantizer import QuantizerConfig
from reference.spikes import SpikeConfig


@dataclass(frozen=True)
class OperatorPreset:
    """One configuration of every operator."""

    name: str
    ptsoftmax: PTSoftmaxConfig
    bspn: BSPNConfig
    quant_signed: QuantizerConfig
    quant_unsigned: QuantizerConfig
    spikes: SpikeConfig
    linear_signed: BinaryLinearConfig
    linear_unsigned: BinaryLinearConfig


SORBET = OperatorPreset(
    name="sorbet",
    ptsoftmax=PTSoftmaxConfig(
        max_len=512, score_width=40, score_frac=16, partition_frac=16, out_frac=16
    ),
    bspn=BSPNConfig(
        channels=768, group_size=64, in_width=32, in_frac=20, eps_exp=17,
        weight_exp_min=-16, weight_exp_max=15, bias_width=28, bias_frac=20,
        out_width=28, out_frac=20,
    ),
    quant_signed=QuantizerConfig(bits=4, signed=True, in_width=32, multiplier_bits=20,
                                 bias_width=40),
    quant_unsigned=QuantizerConfig(bits=4, signed=False, in_width=32, multiplier_bits=20,
                                   bias_width=40),
    spikes=SpikeConfig(bits=4, steps=16),
    linear_signed=BinaryLinearConfig(768, 768, bits=4, steps=16, signed_input=True),
    linear_unsigned=BinaryLinearConfig(3072, 768, bits=4, steps=16, signed_input=False),
)

TINY = OperatorPreset(
    name="tiny",
    ptsoftmax=PTSoftmaxConfig(max_len=8, score_width=10, score_frac=2, partition_frac=4, out_frac=4),
    bspn=BSPNConfig(
        channels=8, group_size=4, in_width=10, in_frac=2, eps_exp=3,
        weight_exp_min=-3, weight_exp_max=3, bias_width=8, bias_frac=2,
        out_width=8, out_frac=3,
    ),
    quant_signed=QuantizerConfig(bits=4, signed=True, in_width=12, multiplier_bits=8, bias_width=16),
    quant_unsigned=QuantizerConfig(bits=4, signed=False, in_width=12, multiplier_bits=8, bias_width=16),
    spikes=SpikeConfig(bits=4, steps=16),
    linear_signed=BinaryLinearConfig(6, 3, bits=4, steps=16, signed_input=True),
    linear_unsigned=BinaryLinearConfig(6, 3, bits=4, steps=16, signed_input=False),
)

TINY_B2 = OperatorPreset(
    name="tiny-b2",
    ptsoftmax=PTSoftmaxConfig(max_len=5, score_width=8, score_frac=0, partition_frac=3, out_frac=5),
    bspn=BSPNConfig(
        channels=6, group_size=3, in_width=8, in_frac=1, eps_exp=2,
        weight_exp_min=-2, weight_exp_max=2, bias_width=6, bias_frac=1,
        out_width=6, out_frac=2,
    ),
    quant_signed=QuantizerConfig(bits=2, signed=True, in_width=8, multiplier_bits=4, bias_width=8),
    quant_unsigned=QuantizerConfig(bits=2, signed=False, in_width=8, multiplier_bits=4, bias_width=8),
    spikes=SpikeConfig(bits=2, steps=3),
    linear_signed=BinaryLinearConfig(5, 2, bits=2, steps=3, signed_input=True),
    linear_unsigned=BinaryLinearConfig(5, 2, bits=2, steps=3, signed_input=False),
)

PRESETS: dict[str, OperatorPreset] = {p.name: p for p in (SORBET, TINY, TINY_B2)}


def get_preset(name: str) -> OperatorPreset:
    """The preset called ``name``; ConfigError lists the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r}; expected one of {sorted(PRESETS)}"
        ) from None
