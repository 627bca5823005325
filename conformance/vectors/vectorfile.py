"""Reading, writing and validating vector files (spec/10-vectors.md).

A vector file is one JSON object: a header (format and spec versions, suite,
operator, preset, configuration, counts, the notes explaining every flag, the
spec rules the vectors target) and the list ``vectors``.  Each vector carries a
stable identifier derived from its content:

``id = <op>-<preset>-<first 12 hex digits of SHA-256(canonical {op, config, inputs})>``

so regenerating a suite keeps every identifier.  Files are written canonically
(sorted keys, no spaces, one vector a line, newline at the end) so a
regeneration is byte-identical.

:func:`validate_file` is the lint of spec/10 ("Lint"); every problem names the
file, the vector id and the field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance import strictjson
from conformance.operators import REJECT_CLASSES
from reference.version import SPEC_VERSION

JSON = Any
"""A value decoded from JSON."""

FORMAT_VERSION = 1
"""Version of the vector file layout (spec/10-vectors.md, "Header")."""

GENERATOR_VERSION = "1.2.0"
"""Version of the generator: bumped when the same spec yields different vectors."""

HEADER_KEYS = (
    "config", "counts", "format_version", "generator_version", "notes", "op", "preset",
    "rules", "spec_version", "suite", "vectors",
)
"""Keys of a file's top-level object, all required."""

VECTOR_KEYS = ("comment", "config", "expected", "flags", "id", "inputs", "op", "rule", "shapes")
"""Keys of one vector, all required."""

ID_RE = re.compile(r"^[a-z0-9_]+-[a-z0-9_-]+-[0-9a-f]{12}$")
NAME_RE = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")
MAX_PROBLEMS = 50
"""How many problems :func:`validate_file` lists before it stops."""


class VectorFileError(Exception):
    """A vector file is unreadable, malformed or fails the lint; the text names where."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        super().__init__(f"{path}: {len(problems)} problem(s):\n  {shown}{more}")


def canonical(value: JSON) -> str:
    """Canonical JSON text: sorted keys, ``,``/``:`` separators, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def vector_id(op: str, preset: str, config: JSON, inputs: JSON) -> str:
    """The stable identifier ``op-preset-sha256(canonical {op, config, inputs})[:12]``."""
    body = canonical({"config": config, "inputs": inputs, "op": op})
    return f"{op}-{preset}-{hashlib.sha256(body.encode('ascii')).hexdigest()[:12]}"


def dumps_file(data: Mapping[str, JSON]) -> str:
    """The canonical text of a vector file: the header on the first line, one vector a line.

    The result is valid JSON whose keys are sorted at every level (``vectors``
    sorts last among the header keys), so it parses back to ``data``.
    """
    header = {k: v for k, v in data.items() if k != "vectors"}
    head = canonical(header)
    vectors = [canonical(v) for v in data["vectors"]]
    body = ",\n".join(vectors)
    sep = "," if header else ""
    return f'{head[:-1]}{sep}"vectors":[\n{body}\n]}}\n'


def write_file(path: Path, data: Mapping[str, JSON]) -> bytes:
    """Write ``data`` canonically to ``path``; returns the bytes written."""
    raw = dumps_file(data).encode("ascii")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return raw


def parse_json(raw: bytes, where: str) -> JSON:
    """Strict JSON: UTF-8, no duplicate keys, no NaN/Infinity; errors name ``where``."""
    try:
        return strictjson.loads(raw)
    except UnicodeDecodeError as exc:
        raise VectorFileError(where, [f"not UTF-8 text: {exc}"]) from None
    except json.JSONDecodeError as exc:
        raise VectorFileError(
            where, [f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]
        ) from None
    except ValueError as exc:
        raise VectorFileError(where, [f"malformed JSON: {exc}"]) from None


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_tensor(value: JSON, where: str, problems: list[str]) -> None:
    """A tensor is an integer or a flat list of integers."""
    if _is_int(value):
        return
    if not isinstance(value, list):
        problems.append(f"{where}: expected an integer or a list of integers, "
                        f"got {type(value).__name__}")
        return
    if set(map(type, value)) <= {int}:  # the common case, checked at C speed
        return
    for i, v in enumerate(value):
        if not _is_int(v):
            problems.append(f"{where}[{i}]: expected an integer, got {v!r}")
            return


def _check_shape(value: JSON, where: str, problems: list[str]) -> None:
    if not isinstance(value, list) or not all(_is_int(d) and d >= 0 for d in value):
        problems.append(f"{where}: expected a list of non-negative integers, got {value!r}")


def _product(dims: Iterable[int]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _check_shapes_agree(tensors: Mapping[str, JSON], shapes: JSON, where: str,
                        problems: list[str]) -> None:
    if not isinstance(shapes, dict):
        problems.append(f"{where}: expected an object, got {type(shapes).__name__}")
        return
    if sorted(shapes) != sorted(tensors):
        problems.append(f"{where}: names {sorted(shapes)} differ from the tensors "
                        f"{sorted(tensors)}")
        return
    for name, dims in shapes.items():
        _check_shape(dims, f"{where}.{name}", problems)
        if not isinstance(dims, list) or not all(_is_int(d) for d in dims):
            continue
        value = tensors[name]
        size = len(value) if isinstance(value, list) else None
        if size is None and dims != []:
            problems.append(f"{where}.{name}: a scalar has shape [], got {dims}")
        elif size is not None and _product(dims) != size:
            problems.append(f"{where}.{name}: shape {dims} holds {_product(dims)} values, "
                            f"the tensor has {size}")


def _check_vector(v: JSON, n: int, header: Mapping[str, JSON], where: str,
                  problems: list[str]) -> str | None:
    """Check one vector; returns its id (or None if it has none)."""
    if not isinstance(v, dict):
        problems.append(f"{where}: vectors[{n}]: expected an object, got {type(v).__name__}")
        return None
    vid = v.get("id")
    name = f"vector {vid}" if isinstance(vid, str) else f"vectors[{n}]"
    at = f"{where}: {name}"
    if _field_problems(v, VECTOR_KEYS, at, problems):
        return vid if isinstance(vid, str) else None
    if not isinstance(vid, str) or not ID_RE.match(vid):
        problems.append(f"{at}: field id: expected <op>-<preset>-<12 hex digits>, got {vid!r}")
    if v["op"] != header.get("op"):
        problems.append(f"{at}: field op: {v['op']!r} differs from the file's op "
                        f"{header.get('op')!r}")
    if not isinstance(v["config"], dict):
        problems.append(f"{at}: field config: expected an object")
    if not isinstance(v["comment"], str) or not v["comment"].strip():
        problems.append(f"{at}: field comment: expected a non-empty string")
    flags = v["flags"]
    notes: dict[str, JSON] = header["notes"] if isinstance(header.get("notes"), dict) else {}
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        problems.append(f"{at}: field flags: expected a list of strings")
    else:
        if flags != sorted(set(flags)):
            problems.append(f"{at}: field flags: expected sorted, unique names, got {flags}")
        for f in flags:
            if f not in notes:
                problems.append(f"{at}: field flags: flag {f!r} is not explained in notes")
    rules: dict[str, JSON] = header["rules"] if isinstance(header.get("rules"), dict) else {}
    if not isinstance(v["rule"], str) or v["rule"] not in rules:
        problems.append(f"{at}: field rule: {v['rule']!r} is not listed in the file's rules")
    inputs = v["inputs"]
    if not isinstance(inputs, dict):
        problems.append(f"{at}: field inputs: expected an object")
        inputs = {}
    expected = v["expected"]
    rejected = isinstance(expected, dict) and "reject" in expected
    for k, t in inputs.items():
        if not rejected:  # a negative vector's defect may be a non-integer (spec/10)
            _check_tensor(t, f"{at}: field inputs.{k}", problems)
    expected = v["expected"]
    outputs: dict[str, JSON] = {}
    if not isinstance(expected, dict):
        problems.append(f"{at}: field expected: expected an object")
    elif "reject" in expected:
        if sorted(expected) != ["reject"]:
            problems.append(f"{at}: field expected: a rejection has only the key 'reject', "
                            f"got {sorted(expected)}")
        if expected["reject"] not in REJECT_CLASSES:
            problems.append(f"{at}: field expected.reject: {expected['reject']!r} is not one "
                            f"of {list(REJECT_CLASSES)}")
    else:
        if sorted(expected) != ["outputs", "profile"]:
            problems.append(f"{at}: field expected: expected keys ['outputs', 'profile'] or "
                            f"['reject'], got {sorted(expected)}")
        for part in ("outputs", "profile"):
            block = expected.get(part)
            if not isinstance(block, dict):
                problems.append(f"{at}: field expected.{part}: expected an object")
                continue
            for k, t in block.items():
                _check_tensor(t, f"{at}: field expected.{part}.{k}", problems)
                if k in outputs:
                    problems.append(f"{at}: field expected.{part}.{k}: output named twice")
                outputs[k] = t
        if isinstance(expected.get("outputs"), dict) and not expected["outputs"]:
            problems.append(f"{at}: field expected.outputs: no normative output")
    shapes = v["shapes"]
    if not isinstance(shapes, dict) or sorted(shapes) != ["inputs", "outputs"]:
        problems.append(f"{at}: field shapes: expected an object with keys inputs, outputs")
    else:
        _check_shapes_agree(inputs, shapes["inputs"], f"{at}: field shapes.inputs", problems)
        _check_shapes_agree(outputs, shapes["outputs"], f"{at}: field shapes.outputs",
                            problems)
    if (isinstance(vid, str) and ID_RE.match(vid) and isinstance(header.get("preset"), str)
            and isinstance(v["config"], dict) and isinstance(v["inputs"], dict)):
        want = vector_id(str(v["op"]), header["preset"], v["config"], v["inputs"])
        if vid != want:
            problems.append(f"{at}: field id: does not match the vector's content "
                            f"(op, config, inputs give {want}); the vector was edited")
    return vid if isinstance(vid, str) else None


def _field_problems(obj: Mapping[str, Any], keys: Sequence[str], at: str,
                    problems: list[str]) -> bool:
    """Append the missing and the unknown fields of ``obj`` against ``keys``; whether any
    field is missing."""
    missing = [k for k in keys if k not in obj]
    extra = sorted(set(obj) - set(keys))
    if missing:
        problems.append(f"{at}: missing field(s) {missing}")
    if extra:
        problems.append(f"{at}: unknown field(s) {extra}")
    return bool(missing)


def validate_file(data: JSON, where: str) -> list[str]:
    """All lint problems of a decoded vector file (empty when it is valid)."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return [f"{where}: expected a JSON object at the top, got {type(data).__name__}"]
    _field_problems(data, HEADER_KEYS, f"{where}: header", problems)
    if data.get("format_version") != FORMAT_VERSION:
        problems.append(f"{where}: header field format_version: expected {FORMAT_VERSION}, "
                        f"got {data.get('format_version')!r}")
    if "spec_version" in data and data["spec_version"] != SPEC_VERSION:
        problems.append(f"{where}: header field spec_version: {data['spec_version']!r} differs "
                        f"from this reference's spec {SPEC_VERSION!r}")
    for key in ("generator_version", "suite", "op", "preset"):
        if key in data and (not isinstance(data[key], str) or not NAME_RE.match(data[key])):
            problems.append(f"{where}: header field {key}: expected a lowercase name, "
                            f"got {data[key]!r}")
    if "config" in data and not isinstance(data["config"], dict):
        problems.append(f"{where}: header field config: expected an object")
    notes = data.get("notes")
    if "notes" in data and (not isinstance(notes, dict)
                            or not all(isinstance(t, str) and t for t in notes.values())):
        problems.append(f"{where}: header field notes: expected an object of flag -> text")
    rules = data.get("rules")
    if "rules" in data and (not isinstance(rules, dict) or not all(
            isinstance(r, dict) and sorted(r) == ["section", "text"] for r in rules.values())):
        problems.append(f"{where}: header field rules: expected an object of "
                        "rule -> {section, text}")
    vectors = data.get("vectors")
    if not isinstance(vectors, list):
        if "vectors" in data:
            problems.append(f"{where}: header field vectors: expected a list")
        return problems
    ids: set[str] = set()
    used_flags: set[str] = set()
    n_reject = 0
    for n, v in enumerate(vectors):
        if len(problems) >= MAX_PROBLEMS:
            problems.append(f"{where}: stopped after {MAX_PROBLEMS} problems")
            return problems
        vid = _check_vector(v, n, data, where, problems)
        if vid is not None:
            if vid in ids:
                problems.append(f"{where}: vector {vid}: field id: duplicate identifier")
            ids.add(vid)
        if isinstance(v, dict):
            if isinstance(v.get("flags"), list):
                used_flags.update(f for f in v["flags"] if isinstance(f, str))
            if isinstance(v.get("expected"), dict) and "reject" in v["expected"]:
                n_reject += 1
    if isinstance(notes, dict):
        unused = sorted(set(notes) - used_flags)
        if unused:
            problems.append(f"{where}: header field notes: flag(s) {unused} explained but "
                            "used by no vector")
    counts = data.get("counts")
    want = {"reject": n_reject, "total": len(vectors), "valid": len(vectors) - n_reject}
    if counts != want:
        problems.append(f"{where}: header field counts: declares {counts!r}, the file holds "
                        f"{want}")
    return problems


def load_file(path: Path, where: str | None = None) -> dict[str, JSON]:
    """Read, parse and lint one vector file; VectorFileError lists every problem."""
    name = where or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise VectorFileError(name, [f"cannot read: {exc.strerror or exc}"]) from None
    data = parse_json(raw, name)
    problems = validate_file(data, name)
    if problems:
        raise VectorFileError(name, problems)
    result: dict[str, JSON] = data
    return result
