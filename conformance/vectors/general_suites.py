"""The general suites: valid non-preset configurations at the edges of every range.

spec/12-conformance-levels.md, "Claims": a port claiming the **general** level
implements every valid configuration, not only the presets' widths.  Each suite
here is one operator on one configuration chosen at the ends of the fields'
ranges, with the named edge cases, the negative cases and drawn inputs of the
preset suites.  The BSPN configurations include ones whose intermediates need
more than 64 bits (``A`` up to 81 bits, ``|N|`` up to 2^100 on these vectors;
spec/03-bspn.md, "Widths over every valid configuration"), so a port holding
them in int64 fails the general claim while it passes every preset whose registers fit
64 bits (the Sorbet preset's reach 71 bits); the mutant ``bspn-int64``
(:mod:`conformance.mutants.catalog`) is such a port.

The suites' preset name is ``general``; their names are ``<op>-general-<tag>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import strategies as st

from conformance.operators import config_to_dict, run_reference
from conformance.vectors import strategies as strat
from conformance.vectors.cases import (
    Case,
    _bspn_inputs,
    binary_linear_cases,
    binary_linear_negative,
    bspn_cases,
    bspn_negative,
    if_encode_cases,
    if_encode_negative,
    ptsoftmax_cases,
    ptsoftmax_negative,
    quantize_cases,
    quantize_negative,
)
from conformance.vectors.generate import Suite, drawn, register_suite
from reference import arith
from reference.binary_linear import BinaryLinearConfig
from reference.bspn import BSPNConfig
from reference.ptsoftmax import PTSoftmaxConfig
from reference.quantizer import QuantizerConfig
from reference.spikes import SpikeConfig

JSON = Any

PRESET = "general"
"""The preset name of every general suite (not a named configuration of spec/07)."""

BSPN_GENERAL: dict[str, BSPNConfig] = {
    "wide": BSPNConfig(channels=8, group_size=4, in_width=32, in_frac=0, eps_exp=40,
                       weight_exp_min=-32, weight_exp_max=32, bias_width=32, bias_frac=31,
                       out_width=32, out_frac=30),
    "widegroup": BSPNConfig(channels=1024, group_size=1024, in_width=32, in_frac=0,
                            eps_exp=40, weight_exp_min=-32, weight_exp_max=32, bias_width=32,
                            bias_frac=0, out_width=32, out_frac=0),
    "narrow": BSPNConfig(channels=1, group_size=1, in_width=2, in_frac=0, eps_exp=0,
                         weight_exp_min=0, weight_exp_max=0, bias_width=2, bias_frac=0,
                         out_width=2, out_frac=0),
    "fracs": BSPNConfig(channels=6, group_size=3, in_width=32, in_frac=31, eps_exp=0,
                        weight_exp_min=32, weight_exp_max=32, bias_width=2, bias_frac=31,
                        out_width=32, out_frac=0),
    "cutover": BSPNConfig(channels=12, group_size=6, in_width=8, in_frac=2, eps_exp=40,
                          weight_exp_min=0, weight_exp_max=3, bias_width=32, bias_frac=12,
                          out_width=16, out_frac=4),
}
"""BSPN at the ends of its ranges; ``wide`` and ``widegroup`` need more than 64 bits,
``cutover`` has ``P = bias_frac`` so a bias alone reaches every cut-over ``-t(k)``."""

PTSOFTMAX_GENERAL: dict[str, PTSoftmaxConfig] = {
    "narrow": PTSoftmaxConfig(max_len=1, score_width=2, score_frac=0, partition_frac=0,
                              out_frac=0),
    "wide": PTSoftmaxConfig(max_len=48, score_width=48, score_frac=16, partition_frac=30,
                            out_frac=30),
    "coarse": PTSoftmaxConfig(max_len=40, score_width=48, score_frac=0, partition_frac=30,
                              out_frac=0),
}

QUANTIZE_GENERAL: dict[str, QuantizerConfig] = {
    "wide-signed": QuantizerConfig(bits=8, signed=True, in_width=32, multiplier_bits=24,
                                   bias_width=40),
    "wide-unsigned": QuantizerConfig(bits=8, signed=False, in_width=32, multiplier_bits=24,
                                     bias_width=40),
    "narrow": QuantizerConfig(bits=1, signed=True, in_width=2, multiplier_bits=1,
                              bias_width=2),
}

SPIKES_GENERAL: dict[str, SpikeConfig] = {
    "narrow": SpikeConfig(bits=1, steps=1),
    "wide": SpikeConfig(bits=8, steps=255),
    "longest": SpikeConfig(bits=2, steps=1024),
    "odd": SpikeConfig(bits=3, steps=12),
}
"""``wide`` has the smallest ``T = 2^bits - 1`` at the largest ``bits``, ``longest`` the
largest ``T``, ``odd`` a ``T`` that is neither a power of two nor ``2^bits - 1``."""

LINEAR_GENERAL: dict[str, BinaryLinearConfig] = {
    "narrow": BinaryLinearConfig(in_features=1, out_features=1, bits=1, steps=1,
                                 signed_input=True),
    "wide-signed": BinaryLinearConfig(in_features=300, out_features=2, bits=8, steps=255,
                                      signed_input=True),
    "wide-unsigned": BinaryLinearConfig(in_features=300, out_features=2, bits=8, steps=300,
                                        signed_input=False),
}

DRAWN = {"ptsoftmax": 30, "bspn": 20, "quantize": 30, "if_encode": 12, "binary_linear": 8}
"""Drawn vectors per general suite (before duplicates are removed)."""


def bspn_cutover(cfg: BSPNConfig) -> list[Case]:
    """Exact values ``N = +-t(k)`` and ``N = -(t(k) - 1)`` from the bias alone (sign 0).

    With ``P = bias_frac`` the bias is ``N`` itself, so every cut-over of the
    log-domain rounding inside the bias format is reached, negative ones included.
    """
    if cfg.exact_frac != cfg.bias_frac or arith.sqrt2_threshold(1) > cfg.bias_format.max:
        return []
    c = cfg.channels
    vals: list[int] = []
    k = 1
    while len(vals) < 2 * c:
        t = arith.sqrt2_threshold(k)
        if t > cfg.bias_format.max:
            k = 1
            continue
        vals += [-t, -(t - 1), t, t - 1]
        k += 1
    out = []
    for part in range(2):
        bias = vals[part * c:(part + 1) * c]
        out.append(Case(_bspn_inputs(cfg, [0] * c, sign=0, bias=bias),
                        f"weight sign 0, biases at -t(k), -(t(k) - 1), t(k), t(k) - 1 (part "
                        f"{part + 1}): negative exact values at the log-rounding cut-over",
                        ("log_round_boundary",), "bspn.output"))
    return out


def bspn_wide(cfg: BSPNConfig) -> list[Case]:
    """Values whose ``A`` or ``N`` need more than 64 bits (rule ``bspn.width``)."""
    if cfg.a_width <= 64:
        return []
    c, g = cfg.channels, cfg.group_size
    fmt, bfmt = cfg.in_format, cfg.bias_format
    cases = [
        Case(_bspn_inputs(cfg, [fmt.min] * c, sign=-1, wexp=cfg.weight_exp_max, bias=bfmt.max),
             "every input at the format's minimum, largest weight: A and N beyond 64 bits",
             ("format_extreme",), "bspn.width"),
        Case(_bspn_inputs(cfg, [fmt.max if i % g == 0 else 0 for i in range(c)], sign=1,
                          wexp=cfg.weight_exp_max, bias=bfmt.min),
             "one large input per group, largest weight, smallest bias: N beyond 64 bits",
             ("format_extreme",), "bspn.width"),
        Case(_bspn_inputs(cfg, [1 if i % g == 0 else 0 for i in range(c)], sign=1,
                          wexp=cfg.weight_exp_max, bias=0),
             "a single input 1 per group (eps decides the divisor) with the largest weight: "
             "the shift of step 4 at its largest", ("eps_dominant",), "bspn.width"),
        Case(_bspn_inputs(cfg, [(-1) ** i * (fmt.max >> (i % 17)) for i in range(c)],
                          sign=[(-1) ** (i // 2) for i in range(c)],
                          wexp=[cfg.weight_exp_max - (i % 5) for i in range(c)],
                          bias=[bfmt.max >> (i % 9) for i in range(c)]),
             "mixed large inputs, weights and biases: A and N beyond 64 bits",
             (), "bspn.width"),
    ]
    return cases


def _suite(op: str, tag: str, cfg: Any, edge: Callable[[Any], list[Case]],
           neg: Callable[[Any], list[Case]],
           strategy: st.SearchStrategy[dict[str, JSON]] | None) -> Suite:
    name = f"{op}-{PRESET}-{tag}"
    config: Mapping[str, JSON] = config_to_dict(cfg)

    def build() -> list[Case]:
        # The preset edge cases assume room in the formats; those a narrow
        # configuration cannot hold (the reference rejects them) are left out.
        cases = [c for c in [*edge(cfg), *neg(cfg)] if _reachable(op, config, c)]
        if strategy is not None:
            cases += drawn(strategy, DRAWN[op], name)
        return cases

    return Suite(name, op, PRESET, dict(config), build)


def _reachable(op: str, config: Mapping[str, JSON], case: Case) -> bool:
    """Whether the reference agrees with what ``case`` was built for (computed or rejected)."""
    res = run_reference(op, dict(case.config or config), case.inputs)
    return ("reject" in res) == (case.reject is not None)


def _bspn_edges(cfg: BSPNConfig) -> list[Case]:
    return [*bspn_wide(cfg), *bspn_cutover(cfg), *bspn_cases(cfg)]


def general_suites() -> list[Suite]:
    """Every general suite, in the order the files are written."""
    suites: list[Suite] = []
    for tag, pc in PTSOFTMAX_GENERAL.items():
        suites.append(_suite("ptsoftmax", tag, pc, ptsoftmax_cases, ptsoftmax_negative,
                             strat.ptsoftmax_inputs(pc, pc.max_len)))
    for tag, bc in BSPN_GENERAL.items():
        big = bc.channels > 64
        suites.append(_suite("bspn", tag, bc, _bspn_edges, bspn_negative,
                             None if big else strat.bspn_inputs(bc)))
    for tag, qc in QUANTIZE_GENERAL.items():
        suites.append(_suite("quantize", tag, qc, quantize_cases, quantize_negative,
                             strat.quantize_inputs(qc)))
    for tag, sc in SPIKES_GENERAL.items():
        suites.append(_suite("if_encode", tag, sc, if_encode_cases, if_encode_negative,
                             strat.if_encode_inputs(sc)))
    for tag, lc in LINEAR_GENERAL.items():
        suites.append(_suite("binary_linear", tag, lc, binary_linear_cases,
                             binary_linear_negative, strat.binary_linear_inputs(lc)))
    return suites


for _suite_obj in general_suites():
    register_suite(_suite_obj)
