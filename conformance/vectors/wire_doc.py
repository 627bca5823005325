"""docs/wire.md: the one-page wire reference, generated from the operator registry.

For every operator of :data:`conformance.operators.OPS`: its configuration fields
(name, valid range, meaning, default), its inputs, its normative and profile
outputs, and its rejection rules.  The ranges are read from the ``check_int`` and
``check_bool`` calls of each configuration dataclass's ``__post_init__`` (a model
field checked through the operator configuration it builds takes that check),
the meanings from the field tables of the operator's spec file, the defaults from
the dataclass, the inputs and outputs from the :class:`~conformance.operators.wire.OpSpec`
entries, and the rejections from :mod:`conformance.vectors.rejections`.
``sorbet-ref vectors wire > docs/wire.md`` writes it; tests/test_wire_doc.py fails
when the file and the code drift apart.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

from conformance.operators.registry import OPS
from conformance.operators.wire import OpSpec
from conformance.vectors.rejections import (
    CONFIG_PREFIX,
    MODEL_DERIVED,
    PREFIX,
    rejection_rules,
)
from reference import model
from reference.binary_linear import BinaryLinearConfig
from reference.bspn import BSPNConfig
from reference.model_config import ModelConfig
from reference.ptsoftmax import PTSoftmaxConfig
from reference.quantizer import QuantizerConfig
from reference.spikes import SpikeConfig

ROOT = Path(__file__).resolve().parent.parent.parent

_CHECK = re.compile(r'check_(int|bool)\(self\.(\w+), "[^"]+"(?:, (.+?), (.+?))?\)\s*$', re.M)


def _expr(text: str) -> str:
    """A range bound as text: ``1 << 16`` -> ``65536``, ``self.x - 2`` -> ``x - 2``."""
    t = text.replace("self.", "").strip()
    m = re.fullmatch(r"(\d+) << (\d+)", t)
    return str(int(m.group(1)) << int(m.group(2))) if m else t


def source_ranges(cls: type) -> dict[str, str]:
    """Field -> valid range as written in ``cls.__post_init__`` (``lo .. hi`` or a boolean)."""
    src = inspect.getsource(cls.__post_init__)  # type: ignore[attr-defined]
    out: dict[str, str] = {}
    for kind, name, lo, hi in _CHECK.findall(src):
        out[name] = "`true` / `false`" if kind == "bool" else f"`{_expr(lo)} .. {_expr(hi)}`"
    return out


_DERIVED_CLASS = {"PTSoftmaxConfig": PTSoftmaxConfig, "BSPNConfig": BSPNConfig,
                  "SpikeConfig": SpikeConfig, "BinaryLinearConfig": BinaryLinearConfig}


def field_ranges(cls: type) -> dict[str, str]:
    """Every field's range; a model field without its own check takes its operator's."""
    own = source_ranges(cls)
    if cls is SpikeConfig or cls is BinaryLinearConfig:
        own = {**source_ranges(SpikeConfig), **own}
    if cls is ModelConfig:
        for (cname, fld), mfield in MODEL_DERIVED.items():
            if mfield not in own:
                r = field_ranges(_DERIVED_CLASS[cname]).get(fld)
                if r is not None:
                    own[mfield] = f"{r} (as `{cname}.{fld}`)"
    return own


SPEC_FILES: dict[type, tuple[str, ...]] = {
    PTSoftmaxConfig: ("02-ptsoftmax.md",), BSPNConfig: ("03-bspn.md",),
    QuantizerConfig: ("04-quantizer-spikes.md",), SpikeConfig: ("04-quantizer-spikes.md",),
    BinaryLinearConfig: ("05-binary-linear.md",), ModelConfig: ("06-layers.md", "08-model.md")}


def spec_meanings(cls: type) -> dict[str, str]:
    """Field -> meaning, from the first field table row of the spec file naming it."""
    text = "\n".join((ROOT / "spec" / name).read_text(encoding="utf-8")
                     for name in SPEC_FILES[cls])
    names = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        for name in re.findall(r"`(\w+)`", cells[0]):
            if name in names and name not in out:
                out[name] = cells[1]
    return out


def _default(f: dataclasses.Field[object]) -> str:
    if f.default is dataclasses.MISSING:
        return "required"
    return f"`{str(f.default).lower() if isinstance(f.default, bool) else f.default}`"


def config_table(cls: type) -> list[str]:
    """The Markdown table of one configuration dataclass."""
    ranges, meanings = field_ranges(cls), spec_meanings(cls)
    lines = ["| field | range | meaning | default |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        meaning = meanings.get(f.name, "").replace("|", "\\|")
        lines.append(f"| `{f.name}` | {ranges.get(f.name, '')} | {meaning} | {_default(f)} |")
    return lines


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "none"


def _grouped(names: list[str], prefix: str = "") -> str:
    """Dotted names folded: ``q.signs, k.signs, q.in_mult, ...`` -> ``{q,k}.{signs,in_mult}``."""
    plain = [n for n in names if "." not in n]
    groups: dict[str, list[str]] = {}
    for n in names:
        if "." in n:
            head, tail = n.rsplit(".", 1)
            groups.setdefault(head, []).append(tail)
    by_tails: dict[tuple[str, ...], list[str]] = {}
    for head, members in groups.items():
        by_tails.setdefault(tuple(members), []).append(head)
    parts = [f"`{prefix}{n}`" for n in plain]
    for ends, heads in by_tails.items():
        h = heads[0] if len(heads) == 1 else "{" + ",".join(heads) + "}"
        parts.append(f"`{prefix}{h}.{{{','.join(ends)}}}`")
    return ", ".join(parts)


def _inputs(op: OpSpec) -> str:
    if op.name != "model":
        text = _grouped(list(op.inputs))
        return text + (" (`mask` optional)" if op.name == "ptsoftmax" else "")
    per = [n.split(".", 2)[2] for n in op.inputs if n.startswith("layer.0.")]
    rest = [n for n in op.inputs if not n.startswith("layer.")]
    return (_grouped([n for n in rest if n in ("h", "mask")]) + "; per layer `i`: "
            + _grouped(per, "layer.{i}.") + "; "
            + _grouped([n for n in rest if n not in ("h", "mask")]))


def _outputs(op: OpSpec) -> tuple[str, str]:
    if op.name == "model":
        return (_names(op.outputs), "`layer.{i}.NAME` for every layer `i` and NAME in "
                + _names(model.TRACE_LAYER_NAMES) + "; `pooler.cin`, `pooler.acc`")
    return _names(op.outputs), _names(op.profile_outputs)


def render() -> str:
    """docs/wire.md."""
    lines = [
        "# Wire reference",
        "",
        "Generated from the operator registry (`conformance/operators/registry.py`), the "
        "configuration dataclasses and the rejection rules by `sorbet-ref vectors wire`; "
        "do not edit (`tests/test_wire_doc.py` fails when it drifts). The protocol is "
        "[spec/11](../spec/11-backend-protocol.md): one request `{\"id\", \"op\", \"config\", "
        "\"inputs\"}` a line; tensors are flat lists of integers in row-major order, masks "
        "`0`/`1`, the flags `signed` and `signed_input` JSON booleans. Every config field is "
        "required on the wire, those with a default included.",
        "",
        "## Operators",
        "",
        "| op | config | inputs | normative outputs | profile outputs | spec |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for op in OPS.values():
        inputs = _inputs(op)
        norm, prof = _outputs(op)
        lines.append(f"| `{op.name}` | `{op.config_type.__name__}` | {inputs} | {norm} | "
                     f"{prof} | [{op.spec_section.split('/')[-1]}](../{op.spec_section}) |")
    seen: set[type] = set()
    rules = rejection_rules()
    for op in OPS.values():
        cls = op.config_type
        if cls in seen:
            continue
        seen.add(cls)
        users = [o.name for o in OPS.values() if o.config_type is cls]
        lines += ["", f"## `{cls.__name__}` ({', '.join(f'`{u}`' for u in users)})", ""]
        lines += config_table(cls)
        prefixes = {CONFIG_PREFIX[cls], *(PREFIX[u] for u in users)}
        own = [r for r in rules if r.id.split(".")[0] in prefixes]
        lines += ["", "Rejections: " + ", ".join(f"`{r.id}` ({r.cls})" for r in own)
                  + "; and the `wire.*` rules of every operator."]
    lines += ["", "## Rejections of every operator", "",
              ", ".join(f"`{r.id}` ({r.cls})" for r in rules if r.id.startswith("wire."))
              + ". Each rule's condition and defining file: "
              "[spec/11](../spec/11-backend-protocol.md), \"Rejections\"."]
    return "\n".join(lines) + "\n"
