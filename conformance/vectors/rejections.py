"""The rejection rules: every condition under which a request MUST be rejected, with a stable id.

spec/11-backend-protocol.md, "Rejections", lists them in one table generated from
:func:`rejection_rules` (``sorbet-ref vectors rules --rejections``; a test fails when
the spec and this module drift apart).  Each rule is one check a port performs:

- ``wire.*``: how a request is read (unknown or missing configuration fields, a
  missing input, an input that is not a list or holds a non-integer, a mask entry
  other than ``0``/``1``, integers beyond 64 bits);
- ``<op>.config.<field>``: one field of one configuration dataclass outside its
  range (or not an integer, or not a JSON boolean for the two flags), and the
  named consistency rules between fields (``bspn.config.group_divides``, ...);
- ``<op>.range.<input>`` and ``<op>.shape.<input>``: an element of an input outside
  its declared range, an input of the wrong length;
- ``<op>.mask.length``: a mask whose length is not the row's or sequence's.

:func:`classify` names the rule a rejection of the reference falls under, from
the reference's own message (which names the argument it checked).  The vector
generator labels every negative vector with it, and the rule inventory
(:mod:`conformance.mutants.rule_ports`) derives for each rule a port that skips
exactly that check: the reference, answering with outputs wherever the reference's
rejection falls under the rule.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from reference.binary_linear import BinaryLinearConfig
from reference.bspn import BSPNConfig
from reference.model_config import ModelConfig
from reference.ptsoftmax import PTSoftmaxConfig
from reference.quantizer import QuantizerConfig
from reference.spikes import SpikeConfig


@dataclass(frozen=True)
class RejectionRule:
    """One rejection: stable id, class, condition in words, and the spec file defining it."""

    id: str
    cls: str
    """Rejection class: ``config``, ``range``, ``shape`` or ``mask``."""
    condition: str
    section: str
    """The spec file that defines the rule."""


PREFIX: dict[str, str] = {
    "ptsoftmax": "ptsoftmax", "bspn": "bspn", "quantize": "quantize", "if_encode": "if",
    "binary_linear": "linear", "attention": "layer", "ffn": "layer", "encoder_layer": "layer",
    "model": "layer",
}
"""Operator -> prefix of its rule ids (the four model-level operators share ``layer``)."""

CONFIG_PREFIX: dict[type, str] = {
    PTSoftmaxConfig: "ptsoftmax", BSPNConfig: "bspn", QuantizerConfig: "quantize",
    SpikeConfig: "if", BinaryLinearConfig: "linear", ModelConfig: "model",
}
"""Configuration dataclass -> prefix of its field rules."""

SECTION: dict[str, str] = {
    "wire": "spec/11-backend-protocol.md", "ptsoftmax": "spec/02-ptsoftmax.md",
    "bspn": "spec/03-bspn.md", "quantize": "spec/04-quantizer-spikes.md",
    "if": "spec/04-quantizer-spikes.md", "linear": "spec/05-binary-linear.md",
    "layer": "spec/06-layers.md", "model": "spec/08-model.md",
}
"""Rule prefix -> the spec file defining its rules."""

WIRE_RULES: tuple[RejectionRule, ...] = (
    RejectionRule("wire.config.unknown", "config",
                  "the config object has a field the configuration dataclass does not define",
                  SECTION["wire"]),
    RejectionRule("wire.config.missing", "config",
                  "the config object lacks a field (every field is required on the wire, "
                  "defaults included)", SECTION["wire"]),
    RejectionRule("wire.input.missing", "shape", "an input field is missing (except the "
                  "optional PTsoftmax mask)", SECTION["wire"]),
    RejectionRule("wire.input.not_list", "shape", "a tensor input is not a JSON list",
                  SECTION["wire"]),
    RejectionRule("wire.input.not_integer", "range", "a tensor element or scalar input is not "
                  "a JSON integer (a float such as 2.0, a boolean, a string, null)",
                  SECTION["wire"]),
    RejectionRule("wire.mask.not_list", "mask", "a mask is not a JSON list",
                  SECTION["wire"]),
    RejectionRule("wire.mask.entry", "mask", "a mask entry is not the integer 0 or 1 (JSON "
                  "true and false included)", SECTION["wire"]),
    RejectionRule("wire.int.wide", "range", "an integer beyond the 64-bit range (any "
                  "magnitude is valid JSON; it is outside every declared format)",
                  SECTION["wire"]),
)
"""How a request is read, for every operator."""

CONSISTENCY_RULES: tuple[RejectionRule, ...] = (
    RejectionRule("bspn.config.group_divides", "config", "group_size does not divide channels",
                  SECTION["bspn"]),
    RejectionRule("if.config.steps_cover", "config", "steps T is below 2^bits - 1 (the "
                  "encoder fires at most once a step)", SECTION["if"]),
    RejectionRule("model.config.heads_divide", "config", "heads does not divide hidden",
                  SECTION["model"]),
    RejectionRule("model.config.group_divides", "config", "the BSPN group (bspn_group, or "
                  "hidden / heads when 0) does not divide hidden", SECTION["model"]),
    RejectionRule("model.config.score_fits", "config", "score_width cannot hold the largest "
                  "score head_dim * 2^(2(bits-1)) * (2^multiplier_bits - 1)", SECTION["model"]),
)
"""Rules between fields of one configuration."""

INPUT_RULES: tuple[RejectionRule, ...] = (
    RejectionRule("ptsoftmax.range.scores", "range", "a score outside the score format "
                  "s{score_width}.{score_frac}", SECTION["ptsoftmax"]),
    RejectionRule("ptsoftmax.shape.scores", "shape", "the row length is outside "
                  "[1, max_len]", SECTION["ptsoftmax"]),
    RejectionRule("ptsoftmax.mask.length", "mask", "the mask's length is not the row's",
                  SECTION["ptsoftmax"]),
    RejectionRule("bspn.shape.x", "shape", "x is not of length channels", SECTION["bspn"]),
    RejectionRule("bspn.range.x", "range", "an x value outside the input format",
                  SECTION["bspn"]),
    RejectionRule("bspn.shape.params", "shape", "weight_sign, weight_exp or bias is not of "
                  "length channels", SECTION["bspn"]),
    RejectionRule("bspn.range.weight_sign", "range", "a weight_sign not in {-1, 0, 1}",
                  SECTION["bspn"]),
    RejectionRule("bspn.range.weight_exp", "range", "a weight_exp outside "
                  "[weight_exp_min, weight_exp_max]", SECTION["bspn"]),
    RejectionRule("bspn.range.bias", "range", "a bias outside the bias format",
                  SECTION["bspn"]),
    RejectionRule("quantize.range.x", "range", "an x value outside the input format",
                  SECTION["quantize"]),
    RejectionRule("quantize.range.multiplier", "range", "multiplier outside "
                  "[1, 2^multiplier_bits - 1]", SECTION["quantize"]),
    RejectionRule("quantize.range.shift", "range", "shift outside [0, 62]",
                  SECTION["quantize"]),
    RejectionRule("quantize.range.bias", "range", "bias outside s{bias_width}.0",
                  SECTION["quantize"]),
    RejectionRule("if.range.count", "range", "count outside [0, 2^bits - 1]", SECTION["if"]),
    RejectionRule("linear.shape.counts", "shape", "counts is not of length in_features",
                  SECTION["linear"]),
    RejectionRule("linear.range.counts", "range", "a count outside [0, 2^bits - 1]",
                  SECTION["linear"]),
    RejectionRule("linear.shape.signs", "shape", "signs has not out_features x in_features "
                  "entries", SECTION["linear"]),
    RejectionRule("linear.range.signs", "range", "a sign other than -1 or +1",
                  SECTION["linear"]),
    RejectionRule("layer.shape.h", "shape", "the hidden states are not whole rows of hidden "
                  "values, or the sequence length is outside [1, max_seq]", SECTION["layer"]),
    RejectionRule("layer.range.h", "range", "a hidden value outside its format "
                  "s{h_width}.{h_frac}", SECTION["layer"]),
    RejectionRule("layer.mask.length", "mask", "the mask's length is not the sequence length",
                  SECTION["layer"]),
    RejectionRule("layer.range.param", "range", "a parameter element outside its format: a "
                  "sign other than +-1, a move or bias outside s{bias_width}.0, a BSPN or "
                  "classifier parameter outside its range", SECTION["layer"]),
    RejectionRule("layer.config.param", "config", "a per-layer constant outside its range: "
                  "in_mult, out_mult, score_mult, prob_mult in [1, 2^multiplier_bits - 1], "
                  "a shift in [0, 62]", SECTION["layer"]),
    RejectionRule("layer.shape.param", "shape", "a parameter tensor of the wrong length",
                  SECTION["layer"]),
)
"""Rules on the inputs of each operator."""

OP_CONFIG: dict[str, type] = {
    "ptsoftmax": PTSoftmaxConfig, "bspn": BSPNConfig, "quantize": QuantizerConfig,
    "if": SpikeConfig, "linear": BinaryLinearConfig, "model": ModelConfig,
}


def field_rules() -> tuple[RejectionRule, ...]:
    """One rule per field of every configuration dataclass the operators take."""
    out: list[RejectionRule] = []
    for prefix, cls in OP_CONFIG.items():
        for f in dataclasses.fields(cls):
            kind = "a JSON boolean" if f.type in ("bool", bool) else "an integer"
            out.append(RejectionRule(f"{prefix}.config.{f.name}", "config",
                                     f"{cls.__name__}.{f.name} is not {kind} inside its "
                                     "range", SECTION[prefix]))
    return tuple(out)


def rejection_rules() -> tuple[RejectionRule, ...]:
    """Every rejection rule, in the order of the spec's table."""
    return (*WIRE_RULES, *field_rules(), *CONSISTENCY_RULES, *INPUT_RULES)


MODEL_DERIVED: dict[tuple[str, str], str] = {
    ("PTSoftmaxConfig", "score_frac"): "score_frac",
    ("PTSoftmaxConfig", "partition_frac"): "partition_frac",
    ("PTSoftmaxConfig", "out_frac"): "prob_frac",
    ("PTSoftmaxConfig", "score_width"): "score_width",
    ("PTSoftmaxConfig", "max_len"): "max_seq",
    ("BSPNConfig", "eps_exp"): "eps_exp",
    ("BSPNConfig", "weight_exp_min"): "bspn_wexp_min",
    ("BSPNConfig", "weight_exp_max"): "bspn_wexp_max",
    ("BSPNConfig", "bias_width"): "bspn_bias_width",
    ("BSPNConfig", "bias_frac"): "bspn_bias_frac",
    ("BSPNConfig", "in_width"): "r_width",
    ("BSPNConfig", "in_frac"): "h_frac",
    ("BSPNConfig", "out_width"): "h_width",
    ("BSPNConfig", "out_frac"): "h_frac",
    ("BSPNConfig", "channels"): "hidden",
    ("BSPNConfig", "group_size"): "bspn_group",
    ("SpikeConfig", "bits"): "bits",
    ("SpikeConfig", "steps"): "steps",
    ("BinaryLinearConfig", "bits"): "bits",
    ("BinaryLinearConfig", "steps"): "steps",
    ("BinaryLinearConfig", "in_features"): "ffn",
    ("BinaryLinearConfig", "out_features"): "ffn",
}
"""A model configuration's field checked through the operator configuration it builds."""

_CLASS_NAMES = {cls.__name__: prefix for cls, prefix in CONFIG_PREFIX.items()}

_Matcher = Callable[[str, "re.Match[str]"], str]


def _config_field(prefix: str, m: re.Match[str]) -> str:
    cls, fld, rest = m.group(1), m.group(2), m.group(3)
    if prefix == "layer":
        if cls == "ModelConfig":
            if "does not divide" in rest:
                return "model.config.heads_divide"
            if "cannot hold the largest score" in rest:
                return "model.config.score_fits"
            return f"model.config.{fld}"
        if cls == "BSPNConfig" and "does not divide" in rest:
            return "model.config.group_divides"
        if cls == "SpikeConfig" and "is below the largest count" in rest:
            return "model.config.steps"
        return f"model.config.{MODEL_DERIVED.get((cls, fld), fld)}"
    if prefix == "linear" and cls == "SpikeConfig":  # bits and steps, checked as a train's
        return f"linear.config.{fld}"
    if cls == "BSPNConfig" and "does not divide" in rest:
        return "bspn.config.group_divides"
    if cls == "SpikeConfig" and "is below the largest count" in rest:
        return "if.config.steps_cover"
    return f"{_CLASS_NAMES[cls]}.config.{fld}"


_WIDE = 1 << 63


def _wide_int(message: str) -> bool:
    """Whether the rejected value the message quotes lies beyond the 64-bit range."""
    m = re.search(r": (-?\d+) is outside", message)
    return m is not None and not -_WIDE <= int(m.group(1)) < _WIDE


PATTERNS: tuple[tuple[str, _Matcher], ...] = (
    (r"config: unknown field", lambda p, m: "wire.config.unknown"),
    (r"config: missing field", lambda p, m: "wire.config.missing"),
    (r"config: (\w+Config)\.(\w+): (.*)", _config_field),
    (r"^inputs: missing field", lambda p, m: "wire.input.missing"),
    (r"^inputs\.mask\[\d+\]: expected 0 or 1", lambda p, m: "wire.mask.entry"),
    (r"^inputs\.mask: expected a list", lambda p, m: "wire.mask.not_list"),
    (r"^inputs\.[\w.]+: expected a list", lambda p, m: "wire.input.not_list"),
    (r"^inputs\.[\w.]+(\[\d+\])?: expected an integer", lambda p, m: "wire.input.not_integer"),
    (r"mask: expected length", lambda p, m: f"{p}.mask.length"),
    (r"^ptsoftmax: scores: row length", lambda p, m: "ptsoftmax.shape.scores"),
    (r"^ptsoftmax: scores\[", lambda p, m: "ptsoftmax.range.scores"),
    (r"^bspn: x: expected length", lambda p, m: "bspn.shape.x"),
    (r"^bspn: x\[", lambda p, m: "bspn.range.x"),
    (r"^BSPNParams\.(weight_sign|weight_exp|bias): expected length",
     lambda p, m: "bspn.shape.params"),
    (r"^BSPNParams\.(weight_sign|weight_exp|bias)\[", lambda p, m: f"bspn.range.{m.group(1)}"),
    (r"^quantize: x\[", lambda p, m: "quantize.range.x"),
    (r"^QuantParams\.(multiplier|shift|bias)", lambda p, m: f"quantize.range.{m.group(1)}"),
    (r"^(encode|membrane_trace): count", lambda p, m: "if.range.count"),
    (r"^linear_count: counts: expected length", lambda p, m: "linear.shape.counts"),
    (r"^linear_count: counts\[", lambda p, m: "linear.range.counts"),
    (r"^inputs\.signs: expected", lambda p, m: "linear.shape.signs"),
    (r"^linear_count: signs\[", lambda p, m: "linear.range.signs"),
    (r"^inputs\.h: length", lambda p, m: "layer.shape.h"),
    (r"^(attention|ffn|encoder_layer|model)?:? ?(h|h0|h1)(\[\d+\])+: .* outside format",
     lambda p, m: "layer.range.h"),
    (r"^(attention|ffn|encoder_layer|model)?:? ?(h|h0|h1): sequence length",
     lambda p, m: "layer.shape.h"),
    (r"^(inputs\.)?(layer\.)?[\w.]*(signs|bias|weight_sign|weight_exp|cls_weight)\[\d+\]",
     lambda p, m: "layer.range.param"),
    (r"^(inputs\.)?(layer\.)?[\w.]*(signs|bias|weight_sign|weight_exp|cls_weight|layers)"
     r"[:]? .*(expected length|entries|expected \d+ )", lambda p, m: "layer.shape.param"),
    (r"^(layer\.)?[\w.]*(mult|shift): ", lambda p, m: "layer.config.param"),
)
"""Message pattern -> rule, tried in order; the message is the reference's."""

_COMPILED = tuple((re.compile(pat), fn) for pat, fn in PATTERNS)


def classify(op: str, message: str) -> str | None:
    """The rejection rule a reference rejection of ``op`` with ``message`` falls under.

    None when no rule matches (the inventory test fails then: every rejection the
    reference can make must have a rule).
    """
    prefix = PREFIX.get(op, op)
    if _wide_int(message):
        return "wire.int.wide"
    text = message.split(": config: ", 1)
    if len(text) == 2:
        message = "config: " + text[1]
    for pat, fn in _COMPILED:
        m = pat.search(message)
        if m is not None:
            return fn(prefix, m)
    return None


def rules_by_id() -> dict[str, RejectionRule]:
    """Every rejection rule by id."""
    return {r.id: r for r in rejection_rules()}


def table_markdown() -> str:
    """The spec's single table of rejections (spec/11-backend-protocol.md, "Rejections")."""
    lines = ["| rule | class | condition | defined in |", "| --- | --- | --- | --- |"]
    for r in rejection_rules():
        cond = r.condition.replace("|", "\\|")
        lines.append(f"| `{r.id}` | `{r.cls}` | {cond} | {r.section} |")
    return "\n".join(lines) + "\n"
