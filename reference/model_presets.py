"""Named model configurations (spec/08-model.md, "Presets").

- ``sorbet-base``: the shapes of BERT-base (12 layers, 768 hidden, 12 heads of 64,
  3072 feed-forward, vocabulary 30522, 512 positions, 2 token types, 2 labels)
  with the default formats of :class:`reference.model_config.ModelConfig`.
- ``tiny``: 2 layers, hidden 8, 2 heads of 4, feed-forward 16, sequences of up to
  6 tokens, 4-bit counts over 16 steps, narrow formats (tests and vectors).
- ``tiny-odd``: 2 layers, hidden 6, 2 heads of 3 (head size and BSPN group not a
  power of two), feed-forward 10, 2-bit counts over T = 3 steps.
- ``micro``: 1 layer, hidden 2, one head, feed-forward 3, 2 tokens, 2-bit counts over
  3 steps: small enough to work the worked examples of spec/06 and the operation
  counts by hand.
"""

from __future__ import annotations

from reference.errors import ConfigError
from reference.model_config import ModelConfig

SORBET_BASE = ModelConfig(
    layers=12, hidden=768, heads=12, ffn=3072, vocab=30522, max_positions=512,
    type_vocab=2, max_seq=512, num_labels=2,
)

TINY = ModelConfig(
    layers=2, hidden=8, heads=2, ffn=16, vocab=32, max_positions=16, type_vocab=2,
    max_seq=6, num_labels=2, bits=4, steps=16,
    h_width=12, h_frac=4, r_width=16, u_width=12, u_frac=4,
    eps_exp=8, bspn_wexp_min=-4, bspn_wexp_max=4, bspn_bias_width=12, bspn_bias_frac=4,
    score_width=24, score_frac=4, partition_frac=8, prob_frac=8,
    multiplier_bits=8, bias_width=16, cls_width=8, cls_frac=4,
)

TINY_ODD = ModelConfig(
    layers=2, hidden=6, heads=2, ffn=10, vocab=16, max_positions=8, type_vocab=2,
    max_seq=5, num_labels=3, bits=2, steps=3,
    h_width=10, h_frac=3, r_width=12, u_width=10, u_frac=3,
    eps_exp=6, bspn_wexp_min=-3, bspn_wexp_max=3, bspn_bias_width=10, bspn_bias_frac=3,
    score_width=16, score_frac=2, partition_frac=5, prob_frac=6,
    multiplier_bits=6, bias_width=12, cls_width=6, cls_frac=3,
)

MICRO = ModelConfig(
    layers=1, hidden=2, heads=1, ffn=3, vocab=4, max_positions=2, type_vocab=1,
    max_seq=2, num_labels=1, bits=2, steps=3,
    h_width=8, h_frac=2, r_width=10, u_width=8, u_frac=2,
    eps_exp=4, bspn_wexp_min=-2, bspn_wexp_max=2, bspn_bias_width=8, bspn_bias_frac=2,
    score_width=12, score_frac=1, partition_frac=3, prob_frac=3,
    multiplier_bits=4, bias_width=8, cls_width=4, cls_frac=1,
)

MODEL_PRESETS: dict[str, ModelConfig] = {
    "sorbet-base": SORBET_BASE,
    "tiny": TINY,
    "tiny-odd": TINY_ODD,
    "micro": MICRO,
}
"""Every model preset by name."""


def get_model_preset(name: str) -> ModelConfig:
    """The model configuration called ``name``; ConfigError lists the known names otherwise."""
    try:
        return MODEL_PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model preset {name!r}; expected one of {sorted(MODEL_PRESETS)}"
        ) from None
