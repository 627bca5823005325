"""Bug-class flags, spec rules, and the analysis that flags a vector by its content.

Every vector names the bug classes it targets (``flags``, explained once in the
file's ``notes``) and the spec rule it exercises (``rule``; spec/10-vectors.md,
"Flags and rules").  Flags are computed from the vector's inputs and the
reference's intermediates, so a vector drawn at random that happens to hit a tie
is flagged as a tie; named edge cases add the flags they were built for.

Later operators extend the tables with :func:`register_flag`,
:func:`register_rule` and :func:`register_analyzer`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from conformance.vectors import rejections
from reference import arith, bspn, ptsoftmax, quantizer, spikes
from reference.algebra import PY
from reference.binary_linear import BinaryLinearConfig

JSON = Any

FLAG_NOTES: dict[str, str] = {
    "accumulator_extreme": "An accumulator reaches the extreme its declared width must hold "
                           "(every term at its largest magnitude with the same sign).",
    "all_masked": "Every entry of the row is masked: the defined result is all zeros.",
    "count_extreme": "A spike count at 0 or at its largest value 2^bits - 1.",
    "divisor_boundary": "mean|x| + eps is exactly a power of two: the ceil of log2 lands on "
                        "the boundary (floating point log2 may choose the wrong side).",
    "eps_dominant": "The group's mean |x| is below eps, so eps decides the divisor "
                    "(a port that drops eps divides by a smaller power).",
    "format_extreme": "An input at the smallest or largest value of its declared format.",
    "log_round_boundary": "A magnitude at the integer cut-over ceil(sqrt(2) * 2^k) of the "
                          "log-domain rounding, or one below it.",
    "masked_row": "Some entries of the row are masked: they take no part in the max or the "
                  "partition and output zero.",
    "max_length": "A row or tensor of the largest length the configuration allows.",
    "partition_tie": "The partition Z is exactly 1.5 * 2^k, halfway between two powers of "
                     "two: the nearest power rounds the tie up.",
    "proof_regression": "A counterexample once found by a proof obligation, kept as a "
                        "regression vector.",
    "proof_witness": "A boundary input taken from a proof's tightness witness.",
    "reject_config": "Negative vector: the configuration or an operator parameter is outside "
                     "its valid range; the port must reject with class 'config'.",
    "reject_mask": "Negative vector: the mask has the wrong length or an entry other than "
                   "0/1; the port must reject with class 'mask'.",
    "reject_range": "Negative vector: an integer lies outside its declared format; the port "
                    "must reject with class 'range'.",
    "reject_shape": "Negative vector: a tensor has the wrong length or is missing; the port "
                    "must reject with class 'shape'.",
    "rounding_tie": "A rounded quotient lies exactly halfway between two integers: ties go "
                    "to even (quantizer).",
    "saturation": "A result is clamped at the end of its range (quantizer clamp, BSPN output "
                  "exponent saturation).",
    "shift_at_width": "A shift by at least the width of the shifted value (quantizer shift "
                      "past the product's width, the largest partition exponent).",
    "sign_extension": "A negative value goes through an arithmetic shift or a ceil: a "
                      "logical shift or a truncating division gives a different result.",
    "threshold_equality": "A comparison lands exactly on its threshold (IF membrane equal to "
                          "T, so >= fires and > does not).",
    "truncated_term": "A term 2^(F - d) of the partition falls below 2^-F and is dropped.",
    "underflow": "A non-zero intermediate becomes a zero output (PTsoftmax output below "
                 "2^-out_frac, BSPN exponent below the output format).",
    "wide_32": "An intermediate needs more than 32 bits (the quantizer's x * M + bias, BSPN's "
               "exact value N): a port with 32-bit registers wraps.",
    "wide_64": "An intermediate needs more than 64 bits (BSPN's A or N in a general "
               "configuration): a port with 64-bit registers wraps.",
    "zero_input": "Every input value is zero.",
    "zero_weight": "A weight whose sign is 0 (BSPN weight_sign 0; sign(0) of the authors' "
                   "binarization), or a sign 0 where only +1/-1 are allowed.",
}
"""Flag name -> the bug class it targets (written into each file's ``notes``)."""

RULES: dict[str, tuple[str, str]] = {
    "ptsoftmax.ceil": ("spec/02-ptsoftmax.md", "Step 1: s = ceil(x / 2^score_frac)."),
    "ptsoftmax.terms": ("spec/02-ptsoftmax.md",
                        "Steps 2-3: d = max s - s; e = 2^(F - d), 0 when d > F."),
    "ptsoftmax.partition": ("spec/02-ptsoftmax.md",
                            "Step 4: K = nearest power of two of Z, linear distance, ties up."),
    "ptsoftmax.output": ("spec/02-ptsoftmax.md",
                         "Step 5: p = floor(e * 2^out_frac / 2^K)."),
    "ptsoftmax.mask": ("spec/02-ptsoftmax.md",
                       "Masking: masked entries output 0; an all-masked row outputs zeros."),
    "bspn.divisor": ("spec/03-bspn.md",
                     "Steps 1-2: divisor 2^k, k = ceil(log2(mean|x| + eps)), exactly."),
    "bspn.affine": ("spec/03-bspn.md",
                    "Step 3: y = w * x / 2^k + beta, exact at P fractional bits."),
    "bspn.output": ("spec/03-bspn.md",
                    "Step 4: log-domain nearest power of two, flush below and saturate above."),
    "bspn.width": ("spec/03-bspn.md",
                   "Widths: A and N are exact at every valid configuration (A up to 89 bits, "
                   "N below 2^113); nothing wraps."),
    "ptsoftmax.mask_absent": ("spec/02-ptsoftmax.md",
                              "An absent or null mask masks no entry."),
    "quantize.empty": ("spec/04-quantizer-spikes.md", "An empty x gives empty counts."),
    "quantize.round": ("spec/04-quantizer-spikes.md",
                       "Quantizer: round half to even of (x * M + bias) / 2^shift."),
    "quantize.clamp": ("spec/04-quantizer-spikes.md",
                       "Quantizer: clamp to [q_min, q_max], count = q - q_min."),
    "if.encode": ("spec/04-quantizer-spikes.md",
                  "IF encoder: V += c; fire when V >= T; subtract T; exactly c spikes."),
    "linear.count": ("spec/05-binary-linear.md",
                     "Count level: acc_i = sum_j (c_j - o) * s_ij (normative)."),
    "linear.time": ("spec/05-binary-linear.md",
                    "Time level: per-step partial sums of the spike trains (profile)."),
}
"""Rule id -> (spec file, what the rule says)."""

DEFAULT_RULE: dict[str, str] = {
    "ptsoftmax": "ptsoftmax.terms",
    "bspn": "bspn.output",
    "quantize": "quantize.round",
    "if_encode": "if.encode",
    "binary_linear": "linear.count",
}
"""Rule of a drawn vector whose flags name no more specific rule."""

RULE_BY_FLAG: dict[str, tuple[tuple[str, str], ...]] = {
    "ptsoftmax": (("all_masked", "ptsoftmax.mask"), ("partition_tie", "ptsoftmax.partition"),
                  ("underflow", "ptsoftmax.output"), ("masked_row", "ptsoftmax.mask"),
                  ("truncated_term", "ptsoftmax.terms"), ("sign_extension", "ptsoftmax.ceil")),
    "bspn": (("divisor_boundary", "bspn.divisor"), ("eps_dominant", "bspn.divisor"),
             ("zero_weight", "bspn.affine")),
    "quantize": (("rounding_tie", "quantize.round"), ("saturation", "quantize.clamp")),
}
"""Per operator: the first flag present picks the rule of a drawn vector."""

Analyzer = Callable[[Any, Mapping[str, JSON], Mapping[str, JSON]], set[str]]
ANALYZERS: dict[str, Analyzer] = {}
"""Operator -> function(config object, inputs, outputs) -> flags."""


def register_flag(name: str, text: str) -> None:
    """Add a flag and its explanation (later operators)."""
    if name in FLAG_NOTES and FLAG_NOTES[name] != text:
        raise ValueError(f"flag {name!r} already explained differently")
    FLAG_NOTES[name] = text


def register_rule(rule: str, section: str, text: str) -> None:
    """Add a spec rule that vectors may target."""
    if rule in RULES and RULES[rule] != (section, text):
        raise ValueError(f"rule {rule!r} already registered differently")
    RULES[rule] = (section, text)


def register_analyzer(op: str, fn: Analyzer) -> None:
    """Set the function that flags valid vectors of ``op`` by content."""
    ANALYZERS[op] = fn


def rule_for(op: str, flags: set[str]) -> str:
    """The rule of a drawn vector: the first matching flag's rule, else the default."""
    for flag, rule in RULE_BY_FLAG.get(op, ()):
        if flag in flags:
            return rule
    return DEFAULT_RULE.get(op, f"{op}.all")


def analyze(op: str, cfg: Any, inputs: Mapping[str, JSON],
            outputs: Mapping[str, JSON]) -> set[str]:
    """Flags of a valid vector of ``op`` found in its content (empty if no analyzer)."""
    fn = ANALYZERS.get(op)
    return fn(cfg, inputs, outputs) if fn is not None else set()


def _is_tie_half(v: int) -> bool:
    """Whether ``v >= 2`` is ``1.5 * 2^k``: the leading one, the next bit, nothing else."""
    if v < 3:
        return False
    k = v.bit_length() - 1
    return v == (1 << k) | (1 << (k - 1))


def _ptsoftmax(cfg: ptsoftmax.PTSoftmaxConfig, inputs: Mapping[str, JSON],
               outputs: Mapping[str, JSON]) -> set[str]:
    scores: list[int] = inputs["scores"]
    mask: list[int] = inputs.get("mask") or [1] * len(scores)
    flags: set[str] = set()
    fmt = cfg.score_format
    unit = 1 << cfg.score_frac
    live = [i for i, m in enumerate(mask) if m == 1]
    if len(live) < len(scores):
        flags.add("masked_row")
    if not live:
        flags.add("all_masked")
        return flags
    if len(scores) == cfg.max_len:
        flags.add("max_length")
    if any(s in (fmt.min, fmt.max) for s in scores):
        flags.add("format_extreme")
    if any(scores[i] < 0 and scores[i] % unit != 0 for i in live):
        flags.add("sign_extension")
    s = [ptsoftmax.ceil_score(PY, x, cfg.score_frac) for x in scores]
    top = max(s[i] for i in live)
    if any(top - s[i] > cfg.partition_frac for i in live):
        flags.add("truncated_term")
    z: int = outputs["partition"]
    k: int = outputs["k"]
    if _is_tie_half(z):
        flags.add("partition_tie")
    if k == cfg.k_max:
        flags.add("shift_at_width")
    for i in live:
        e = ptsoftmax.term(PY, top - s[i], cfg.partition_frac)
        if e > 0 and outputs["out"][i] == 0:
            flags.add("underflow")
    return flags


def _bspn(cfg: bspn.BSPNConfig, inputs: Mapping[str, JSON],
          outputs: Mapping[str, JSON]) -> set[str]:
    x: list[int] = inputs["x"]
    flags: set[str] = set()
    fmt = cfg.in_format
    if all(v == 0 for v in x):
        flags.add("zero_input")
    if any(v in (fmt.min, fmt.max) for v in x):
        flags.add("format_extreme")
    if any(w == 0 for w in inputs["weight_sign"]):
        flags.add("zero_weight")
    p = cfg.exact_frac
    for g in range(cfg.groups):
        lo = g * cfg.group_size
        group = x[lo: lo + cfg.group_size]
        total = sum(abs(v) for v in group)
        j = bspn.divisor_j(PY, total, cfg)
        big_a = (total << cfg.eps_exp) + (cfg.group_size << cfg.in_frac)
        if big_a >= 1 << 63:
            flags.add("wide_64")
        if big_a == cfg.group_size << j:
            flags.add("divisor_boundary")
        if (total << cfg.eps_exp) < (cfg.group_size << cfg.in_frac):
            flags.add("eps_dominant")
        for i in range(lo, lo + cfg.group_size):
            shift = p + inputs["weight_exp"][i] + cfg.eps_exp - j
            n = inputs["weight_sign"][i] * x[i] * (1 << shift) + inputs["bias"][i] * (
                1 << (p - cfg.bias_frac))
            if n == 0:
                continue
            if not -(1 << 31) <= n < 1 << 31:
                flags.add("wide_32")
            if not -(1 << 63) <= n < 1 << 63:
                flags.add("wide_64")
            if x[i] < 0 and inputs["weight_sign"][i] != 0:
                flags.add("sign_extension")
            mag = abs(n)
            kk = mag.bit_length() - 1
            thr = arith.sqrt2_threshold(kk)
            if mag in (thr, thr - 1) and mag > 1:
                flags.add("log_round_boundary")
            r = arith.log_nearest_pow2_exp(PY, mag, mag.bit_length()) - p + cfg.out_frac
            if r < 0:
                flags.add("underflow")
            elif r > cfg.r_max:
                flags.add("saturation")
    return flags


def _quantize(cfg: quantizer.QuantizerConfig, inputs: Mapping[str, JSON],
              outputs: Mapping[str, JSON]) -> set[str]:
    flags: set[str] = set()
    m, shift, bias = inputs["multiplier"], inputs["shift"], inputs["bias"]
    fmt = cfg.in_format
    if shift >= cfg.product_width:
        flags.add("shift_at_width")
    for x in inputs["x"]:
        if x in (fmt.min, fmt.max):
            flags.add("format_extreme")
        v = x * m + bias
        if not -(1 << 31) <= v < 1 << 31:
            flags.add("wide_32")
        if shift > 0:
            r = v - ((v >> shift) << shift)
            if r == 1 << (shift - 1):
                flags.add("rounding_tie")
            if v < 0 and r != 0:
                flags.add("sign_extension")
        q = arith.shift_round(PY, v, shift, quantizer.ROUNDING)
        if not cfg.q_min <= q <= cfg.q_max:
            flags.add("saturation")
    if all(x == 0 for x in inputs["x"]):
        flags.add("zero_input")
    return flags


def _if_encode(cfg: spikes.SpikeConfig, inputs: Mapping[str, JSON],
               outputs: Mapping[str, JSON]) -> set[str]:
    c: int = inputs["count"]
    flags: set[str] = set()
    if c in (0, cfg.count_max):
        flags.add("count_extreme")
    v = 0
    for _ in range(cfg.steps):
        v += c
        if v == cfg.threshold:
            flags.add("threshold_equality")
        if v >= cfg.threshold:
            v -= cfg.threshold
    return flags


def _binary_linear(cfg: BinaryLinearConfig, inputs: Mapping[str, JSON],
                   outputs: Mapping[str, JSON]) -> set[str]:
    flags: set[str] = set()
    counts: list[int] = inputs["counts"]
    cmax = (1 << cfg.bits) - 1
    if all(c in (0, cmax) for c in counts):
        flags.add("count_extreme")
    if all(c == cfg.offset for c in counts):
        flags.add("zero_input")
    bound = cfg.in_features * cfg.max_abs_term
    if any(abs(a) == bound for a in outputs["acc"]):
        flags.add("accumulator_extreme")
    if cfg.signed_input and any(a < 0 for a in outputs["acc"]):
        flags.add("sign_extension")
    return flags


register_analyzer("ptsoftmax", _ptsoftmax)
register_analyzer("bspn", _bspn)
register_analyzer("quantize", _quantize)
register_analyzer("if_encode", _if_encode)
register_analyzer("binary_linear", _binary_linear)


# The model-level rules live here too, so the table of rules (and the coverage table
# built from it) is the same in every process, whatever it imported.
for _rule, _text in (
    ("layer.attention", "Attention block: Q/K/V counts, scores, PTsoftmax with the mask, "
                        "probability counts, context, output projection, residual, BSPN_1."),
    ("layer.prob_offset", "Probability offset: P_min over every head, query row and key of "
                          "the layer; pm = 2^round(log2 P_min), 0 when P_min = 0; counts of "
                          "p - pm; context offset W * V added to o's input bias."),
    ("layer.ffn", "Feed-forward block: binary linear, ReLU as the clamp at 0, unsigned-input "
                  "binary linear, residual with saturation, BSPN_2."),
    ("layer.encoder", "Encoder layer: the attention block followed by the feed-forward block."),
    ("model.forward", "Stack of encoder layers, pooler on the first token (ReLU clamp), "
                      "integer classifier."),
    ("model.fracs_free", "u_frac and cls_frac name real scales only: cls_frac is not tied to "
                         "cls_width, and neither changes a computed integer."),
):
    register_rule(_rule, "spec/06-layers.md" if _rule.startswith("layer")
                  else "spec/08-model.md", _text)

for _rej in rejections.rejection_rules():
    register_rule(_rej.id, _rej.section, f"Rejection ({_rej.cls}): {_rej.condition}.")
