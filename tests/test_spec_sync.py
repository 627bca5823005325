"""The spec text and the code say the same thing (DESIGN principle 1).

- every ``example`` block of ``spec/*.md`` runs through the reference and gives
  exactly the outputs (or the rejection) it lists;
- every ``python source=...`` block equals ``inspect.getsource`` of the function;
- every dotted ``reference...`` name in ``spec/*.md`` resolves;
- every theorem name cited anywhere in spec/ is registered in the proofs, each
  operator file cites the theorems of its operator, and every registered
  theorem is in spec/09's table (with a witness) and cited in a rule file (01-06);
- every obligation's rule string equals its spec/09 "rule it bounds" entry, of the
  form ``spec/NN-file.md, "Heading"``, naming headings of that rule file (01-06);
- every configuration field appears in its operator's parameter table;
- the numeric tables of spec/01 and spec/07 equal what the code computes.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conformance.operators import run_reference
from conformance.proofs.core import Obligation
from conformance.proofs.registry import NAMES, OBLIGATIONS
from conformance.vectors.flags import RULES as VECTOR_RULES
from reference import arith, binary_linear, bspn, ptsoftmax, quantizer, spikes
from reference.algebra import PY
from reference.formats import IntFormat
from reference.presets import PRESETS
from reference.version import SPEC_VERSION

SPEC = Path(__file__).resolve().parent.parent / "spec"

THEOREMS = frozenset(NAMES) | {"arith.shift_round"}
"""The stable theorem names: the proofs registry (spec/09-theorems.md), plus the family
name ``arith.shift_round`` the text uses for its five modes."""

RULE_FILES = ("01-formats.md", "02-ptsoftmax.md", "03-bspn.md", "04-quantizer-spikes.md",
              "05-binary-linear.md", "06-layers.md")
"""The files stating rules; every theorem is cited in at least one of them."""

OPERATOR_FILES = {
    "01-formats.md": ("arith.",),
    "02-ptsoftmax.md": ("ptsm.",),
    "03-bspn.md": ("bspn.",),
    "04-quantizer-spikes.md": ("quant.", "if."),
    "05-binary-linear.md": ("lin.",),
}
"""Each operator file and the theorem families it must cite in full."""

EXAMPLE_OPS = {
    "02-ptsoftmax.md": {"ptsoftmax"},
    "03-bspn.md": {"bspn"},
    "04-quantizer-spikes.md": {"quantize", "if_encode"},
    "05-binary-linear.md": {"binary_linear"},
}

PARAMETER_TABLES: dict[str, tuple[type[Any], ...]] = {
    "02-ptsoftmax.md": (ptsoftmax.PTSoftmaxConfig,),
    "03-bspn.md": (bspn.BSPNConfig, bspn.BSPNParams),
    "04-quantizer-spikes.md": (quantizer.QuantizerConfig, quantizer.QuantParams,
                               spikes.SpikeConfig),
    "05-binary-linear.md": (binary_linear.BinaryLinearConfig,),
}

REQUIRED_QUOTES = (
    "reference.arith.nearest_pow2_exp",
    "reference.arith.log_nearest_pow2_exp",
    "reference.arith.shift_round",
    "reference.bspn.divisor_j",
    "reference.ptsoftmax.term",
    "reference.ptsoftmax.output",
    "reference.spikes.if_run",
    "reference.binary_linear.dot_count",
)

SPEC_FILES_INDEXED = (
    "01-formats.md", "02-ptsoftmax.md", "03-bspn.md", "04-quantizer-spikes.md",
    "05-binary-linear.md", "06-layers.md", "07-presets.md", "08-model.md",
    "09-theorems.md", "10-vectors.md", "11-backend-protocol.md",
    "12-conformance-levels.md", "13-converter.md", "14-model-file.md",
)

PRESET_FIELD_DEFAULT = {
    "ptsoftmax": "ptsoftmax",
    "bspn": "bspn",
    "quantize": "quant_signed",
    "if_encode": "spikes",
    "binary_linear": "linear_signed",
}
"""Which configuration of a preset an example's ``"preset"`` names, per operator."""

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)


def _spec_files() -> list[Path]:
    return sorted(SPEC.glob("*.md"))


def _blocks(path: Path) -> list[tuple[str, str, int]]:
    """Fenced blocks of a file: (info string, body, line number)."""
    text = path.read_text(encoding="utf-8")
    return [
        (m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


def _prose(path: Path) -> str:
    """The file with fenced blocks removed."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def _examples() -> list[tuple[str, int, dict[str, Any]]]:
    found = []
    for path in _spec_files():
        for info, body, line in _blocks(path):
            if info == "example":
                found.append((path.name, line, json.loads(body)))
    return found


def _config_of(example: dict[str, Any]) -> dict[str, Any]:
    if "config" in example:
        cfg: dict[str, Any] = example["config"]
        return cfg
    preset = PRESETS[example["preset"]]
    field = example.get("preset_field", PRESET_FIELD_DEFAULT[example["op"]])
    return dataclasses.asdict(getattr(preset, field))


EXAMPLES = _examples()


def test_examples_found() -> None:
    per_file: dict[str, set[str]] = {}
    for name, _, ex in EXAMPLES:
        per_file.setdefault(name, set()).add(ex["op"])
    for name, ops in EXAMPLE_OPS.items():
        assert ops <= per_file.get(name, set()), f"spec/{name}: no worked example for {ops}"


@pytest.mark.parametrize(
    ("name", "line", "example"), EXAMPLES, ids=[f"{n}:{ln}" for n, ln, _ in EXAMPLES]
)
def test_example(name: str, line: int, example: dict[str, Any]) -> None:
    keys = set(example)
    assert keys <= {"op", "config", "preset", "preset_field", "inputs", "outputs", "reject"}, keys
    assert ("config" in keys) != ("preset" in keys), "give exactly one of config, preset"
    assert ("outputs" in keys) != ("reject" in keys), "give exactly one of outputs, reject"
    result = run_reference(example["op"], _config_of(example), example["inputs"])
    where = f"spec/{name} line {line}"
    if "reject" in example:
        assert result.get("reject") == example["reject"], f"{where}: {result}"
        return
    assert "outputs" in result, f"{where}: rejected: {result}"
    for key, want in example["outputs"].items():
        assert key in result["outputs"], f"{where}: no output {key!r}"
        assert result["outputs"][key] == want, f"{where}: output {key}"


def _resolve(name: str) -> object:
    """The object a dotted ``reference...`` name denotes; raises LookupError otherwise."""
    parts = name.split(".")
    module: ModuleType | None = None
    used = 0
    for i in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        used = i
        break
    if module is None:
        raise LookupError(name)
    obj: object = module
    for part in parts[used:]:
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif dataclasses.is_dataclass(obj) and part in {f.name for f in dataclasses.fields(obj)}:
            obj = None
        else:
            raise LookupError(f"{name}: no attribute {part!r}")
    return obj


QUOTES = [
    (path.name, line, info.split("source=", 1)[1].strip(), body)
    for path in _spec_files()
    for info, body, line in _blocks(path)
    if info.startswith("python") and "source=" in info
]


@pytest.mark.parametrize(
    ("name", "line", "target", "body"), QUOTES, ids=[f"{q[0]}:{q[2]}" for q in QUOTES]
)
def test_code_quote_matches_source(name: str, line: int, target: str, body: str) -> None:
    obj = _resolve(target)
    assert callable(obj), f"spec/{name} line {line}: {target} is not a function"
    source = inspect.getsource(obj)
    assert body.rstrip("\n") == source.rstrip("\n"), (
        f"spec/{name} line {line}: the quote of {target} differs from the code; "
        "update the spec text or the code"
    )


def test_required_quotes_present() -> None:
    quoted = {target for _, _, target, _ in QUOTES}
    missing = [q for q in REQUIRED_QUOTES if q not in quoted]
    assert not missing, f"spec does not quote {missing}"


REF_NAME = re.compile(r"(?<![\w/.])reference(?:\.[A-Za-z_]\w*)+")


def test_reference_names_resolve() -> None:
    bad = []
    for path in _spec_files():
        for m in REF_NAME.finditer(path.read_text(encoding="utf-8")):
            try:
                _resolve(m.group(0))
            except LookupError as exc:
                bad.append(f"spec/{path.name}: {exc}")
    assert not bad, "\n".join(bad)


THEOREM_CITE = re.compile(r"`((?:arith|ptsm|bspn|quant|if|lin)\.[A-Za-z_][\w.]*)`")


@pytest.mark.parametrize("name", sorted(OPERATOR_FILES))
def test_theorem_names(name: str) -> None:
    cited = set(THEOREM_CITE.findall(_prose(SPEC / name)))
    unknown = sorted(cited - THEOREMS)
    assert not unknown, f"spec/{name} cites unknown theorems {unknown}"
    families = OPERATOR_FILES[name]
    expected = {t for t in THEOREMS if t.startswith(families)}
    if name == "01-formats.md":
        expected.discard("arith.shift_round")  # the family; each mode is cited
    missing = sorted(expected - cited)
    assert not missing, f"spec/{name} does not cite {missing}"


@pytest.mark.parametrize("path", _spec_files(), ids=lambda p: p.name)
def test_cited_theorems_are_registered(path: Path) -> None:
    cited = set(THEOREM_CITE.findall(_prose(path)))
    unknown = sorted(cited - THEOREMS - set(VECTOR_RULES))  # vector rule ids: another namespace
    assert not unknown, f"spec/{path.name} cites theorems the proofs do not register: {unknown}"


def _theorem_table() -> dict[str, list[str]]:
    text = (SPEC / "09-theorems.md").read_text(encoding="utf-8")
    start = text.index("| theorem | rule it bounds |")
    rows: dict[str, list[str]] = {}
    lines = text[start:].splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[-1] == "tightness witness", header
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == len(header), line
        m = re.fullmatch(r"`([\w.]+)`", cells[0])
        assert m, line
        rows[m.group(1)] = cells
    return rows


def test_every_registered_theorem_is_in_the_table_and_a_rule_file() -> None:
    table = _theorem_table()
    assert list(table) == list(NAMES), "spec/09's table must list the registry, in its order"
    for name, cells in table.items():
        assert cells[-1], f"spec/09: {name} has no tightness witness"
    cited: set[str] = set()
    for name in RULE_FILES:
        cited |= set(THEOREM_CITE.findall(_prose(SPEC / name)))
    missing = [n for n in NAMES if n not in cited]
    assert not missing, f"no rule file (spec/01-06) cites {missing}"


RULE_FORM = re.compile(r'spec/(?P<file>[\w-]+\.md), (?P<sections>"[^"]+"(?:(?:, | and )"[^"]+")*)')
"""An obligation's rule: ``spec/NN-file.md, "Heading"`` or ``..., "A", "B" and "C"``."""


def _headings(name: str) -> set[str]:
    """The heading texts of a spec file (any level, outside fenced blocks)."""
    return {m.group(1).strip()
            for m in re.finditer(r"^#+\s+(.+?)\s*$", _prose(SPEC / name), re.MULTILINE)}


@pytest.mark.parametrize("ob", OBLIGATIONS, ids=lambda o: o.name)
def test_obligation_rule_matches_table_and_headings(ob: Obligation) -> None:
    table = _theorem_table()
    assert ob.name in table, f"spec/09's table lacks {ob.name}"
    entry = table[ob.name][1]
    assert ob.rule == entry, (
        f"{ob.name}: the obligation's rule {ob.rule!r} differs from spec/09's "
        f"'rule it bounds' entry {entry!r}"
    )
    m = RULE_FORM.fullmatch(ob.rule)
    assert m, f'{ob.name}: rule {ob.rule!r} is not of the form spec/NN-file.md, "Heading"'
    assert m.group("file") in RULE_FILES, (
        f"{ob.name}: rule names {m.group('file')}, expected one of the rule files {RULE_FILES}"
    )
    headings = _headings(m.group("file"))
    sections = re.findall(r'"([^"]+)"', m.group("sections"))
    unknown = [s for s in sections if s not in headings]
    assert not unknown, (
        f"{ob.name}: rule names sections {unknown} that are not headings of "
        f"spec/{m.group('file')} (headings: {sorted(headings)})"
    )


def _table_first_cells(text: str) -> set[str]:
    cells = set()
    for line in text.splitlines():
        m = re.match(r"\|\s*\*?`([A-Za-z_]\w*)`\*?\s*\|", line)
        if m:
            cells.add(m.group(1))
    return cells


@pytest.mark.parametrize("name", sorted(PARAMETER_TABLES))
def test_parameter_tables_list_every_field(name: str) -> None:
    cells = _table_first_cells((SPEC / name).read_text(encoding="utf-8"))
    for cls in PARAMETER_TABLES[name]:
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in cells]
        assert not missing, f"spec/{name}: {cls.__name__} fields {missing} not in a table"


def test_sqrt2_threshold_table() -> None:
    text = (SPEC / "01-formats.md").read_text(encoding="utf-8")
    pairs: dict[int, int] = {}
    for line in text.splitlines():
        if re.match(r"\|\s*\d+\s*\|\s*\d+\s*\|\s*\d+\s*\|\s*\d+\s*\|\s*\d+", line):
            nums = [int(v) for v in re.findall(r"\d+", line)]
            if len(nums) == 8:
                for k, t in zip(nums[0::2], nums[1::2], strict=True):
                    pairs[k] = t
    assert sorted(pairs) == list(range(16)), sorted(pairs)
    for k, t in pairs.items():
        assert t == arith.sqrt2_threshold(k), k


def test_rounding_table() -> None:
    text = (SPEC / "01-formats.md").read_text(encoding="utf-8")
    start = text.index("| x | x/4 | floor | ceil | trunc | half_up | half_even |")
    rows = 0
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        x = int(cells[0])
        modes = [arith.Rounding(m) for m in ("floor", "ceil", "trunc", "half_up", "half_even")]
        for mode, cell in zip(modes, cells[2:], strict=True):
            assert arith.shift_round(PY, x, 2, mode) == int(cell), (x, mode)
        rows += 1
    assert rows == 5


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, IntFormat):
        return value.describe()
    return str(value)


def test_preset_tables() -> None:
    text = (SPEC / "07-presets.md").read_text(encoding="utf-8")
    names = ["sorbet", "tiny", "tiny-b2"]
    checked: set[str] = set()
    role = None
    for line in text.splitlines():
        heading = re.match(r"### `(\w+)`", line)
        if heading:
            role = heading.group(1)
            continue
        row = re.match(r"\|\s*\*?`(\w+)`\*?\s*\|(.*)\|\s*$", line)
        if role is None or row is None:
            continue
        attr = row.group(1)
        cells = [c.strip() for c in row.group(2).split("|")]
        assert len(cells) == 3, line
        for preset, cell in zip(names, cells, strict=True):
            want = _fmt(getattr(getattr(PRESETS[preset], role), attr))
            assert cell == want, f"spec/07 {role}.{attr} for {preset}: {cell} != {want}"
        checked.add(f"{role}.{attr}")
    for role_name in PRESET_FIELD_DEFAULT.values():
        cfg = getattr(PRESETS["sorbet"], role_name)
        for f in dataclasses.fields(cfg):
            assert f"{role_name}.{f.name}" in checked, f"spec/07 lacks {role_name}.{f.name}"
    assert {"quant_unsigned.signed", "linear_unsigned.signed_input"} <= checked
    assert set(PRESETS) == set(names)


def test_readme_version_and_index() -> None:
    text = (SPEC / "README.md").read_text(encoding="utf-8")
    assert f"Spec version: **{SPEC_VERSION}**" in text
    for name in SPEC_FILES_INDEXED:
        assert f"]({name})" in text, f"spec/README.md does not index {name}"
    for path in _spec_files():
        if path.name != "README.md":
            assert f"]({path.name})" in text, f"spec/README.md does not index {path.name}"
