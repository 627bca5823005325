"""The rule inventory: how each spec rule is broken on purpose (spec/10-vectors.md, "Flags
and rules").

Data only, so the coverage table (:mod:`conformance.vectors.coverage`) can name the ports
without importing the ports themselves (:mod:`conformance.mutants.rule_ports`), which
run the runner.
"""

from __future__ import annotations

COMPUTATION: dict[str, tuple[str, ...]] = {
    "ptsoftmax.ceil": ("ptsm-score-floor", "ptsm-score-trunc", "ptsm-score-half-up",
                       "ptsm-ceil-no-sign-extension"),
    "ptsoftmax.terms": ("ptsm-small-terms-saturate", "ptsm-shift-mod32",
                        "ptsm-partition-frac-minus1", "ptsm-partition-frac-plus1"),
    "ptsoftmax.partition": ("ptsm-partition-ties-down", "ptsm-partition-log",
                            "ptsm-partition-floor"),
    "ptsoftmax.output": ("ptsm-out-shift-minus1", "ptsm-out-shift-plus1"),
    "ptsoftmax.mask": ("ptsm-masked-in-max", "ptsm-masked-in-partition",
                       "ptsm-all-masked-uniform"),
    "bspn.divisor": ("bspn-eps-dropped", "bspn-divisor-strict", "bspn-divisor-floor",
                     "bspn-group-token", "bspn-group-pow2", "bspn-mean-shift",
                     "bspn-abs-ones-complement"),
    "bspn.affine": ("bspn-zero-weight-plus", "bspn-bias-ignored"),
    "bspn.output": ("bspn-out-linear", "bspn-out-floor", "bspn-no-saturation",
                    "bspn-underflow-min", "bspn-narrow-intermediate"),
    "bspn.width": ("bspn-int64",),
    "quantize.round": ("quant-half-up", "quant-half-away", "quant-trunc", "quant-floor",
                       "quant-shift-mod32", "quant-bias-rounded-apart"),
    "quantize.clamp": ("quant-no-clamp", "quant-unsigned-negative",
                       "quant-signed-offset-minus1"),
    "if.encode": ("if-strict", "if-reset-zero", "if-initial-half", "if-threshold-minus1",
                  "if-fire-before-integrate"),
    "linear.count": ("lin-acc-wrap-8", "lin-acc-wrap-12", "lin-acc-one-bit-short",
                     "lin-minus-as-zero", "lin-inverted-signs", "lin-offset-minus1",
                     "lin-offset-for-unsigned"),
    "linear.time": ("lin-offset-per-step",),
    "layer.attention": ("att-qkv-move-dropped", "att-kv-swapped", "att-score-floor-after-ceil",
                        "att-score-mult-dropped", "att-masked-query-zeroed",
                        "att-prob-half-up", "att-ctx-prob-offset", "bspn-groups-whole-hidden"),
    "layer.prob_offset": ("att-prob-offset-none", "att-prob-offset-per-head",
                          "att-prob-offset-per-row", "att-ctx-offset-dropped"),
    "layer.ffn": ("ffn-relu-missing", "res-wrap"),
    "layer.encoder": ("ffn-residual-from-r1",),
    "model.forward": ("pool-last-token", "cls-bias-dropped"),
}
"""Computation rule -> the mutants that break it (each breaks this rule only)."""

ANSWER_PORTS: dict[str, str] = {
    "ptsoftmax.mask_absent": "mask-required",
    "quantize.empty": "empty-rejected",
    "model.fracs_free": "fracs-tied",
}
"""Answer rule -> the port of :class:`AnswerPort` that answers the other way."""


def ports_text(rule: str) -> str:
    """How the inventory breaks ``rule``, for the coverage table."""
    if rule in COMPUTATION:
        return "mutants " + ", ".join(f"`{m}`" for m in COMPUTATION[rule])
    if rule in ANSWER_PORTS:
        return f"port `{ANSWER_PORTS[rule]}`"
    return "port skipping the check"
