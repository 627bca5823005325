"""The plain export: vectors as hex words, one value a line (spec/10-vectors.md, "Plain form").

For C and RTL test benches that have no JSON parser.  ``export(files, out)``
writes, per vector, a directory ``<out>/<suite>/<id>/`` with

- ``vector.txt``: one record a line, fields separated by one space::

      id <id>
      op <op>
      config <name> <decimal integer>        (booleans as 0/1)
      expect ok | expect reject <class>
      input <name> <rank> <dim>... <file>
      output <name> <rank> <dim>... <file> normative|profile

- one file per tensor (``<name>.in.hex``, ``<name>.out.hex``): every value as a
  64-bit two's complement word, 16 lowercase hex digits, one a line, row-major
  (Verilog ``$readmemh`` reads it; C reads it with ``strtoull`` and a cast to
  ``int64_t``);

and ``<out>/index.txt`` lists ``<suite>/<id>`` of every vector, one a line.
:func:`read_hex` parses the same form back (the offline backend accepts outputs
written this way).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

JSON = Any
WORD_BITS = 64
_MASK = (1 << WORD_BITS) - 1


class ExportError(Exception):
    """A value cannot be written or read in the plain form (names file and position)."""


def to_word(v: int, where: str) -> str:
    """``v`` as a 64-bit two's complement word in 16 hex digits."""
    if not -(1 << (WORD_BITS - 1)) <= v < (1 << (WORD_BITS - 1)):
        raise ExportError(f"{where}: {v} does not fit a 64-bit word")
    return f"{v & _MASK:016x}"


def from_word(text: str, where: str) -> int:
    """Parse one hex word (up to 16 digits, two's complement at 64 bits)."""
    t = text.strip().lower()
    if t.startswith("0x"):
        t = t[2:]
    if not t or len(t) > 16 or any(ch not in "0123456789abcdef" for ch in t):
        raise ExportError(f"{where}: expected a hex word of at most 16 digits, got {text!r}")
    u = int(t, 16)
    return u - (1 << WORD_BITS) if u >> (WORD_BITS - 1) else u


def read_hex(path: Path) -> list[int]:
    """Every word of a hex file (blank lines and ``//`` or ``#`` comments ignored)."""
    out: list[int] = []
    for n, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), 1):
        body = line.split("//", 1)[0].split("#", 1)[0].strip()
        if body:
            out.append(from_word(body, f"{path}:{n}"))
    return out


def _tensor_lines(value: JSON, where: str) -> str:
    values = value if isinstance(value, list) else [value]
    return "".join(to_word(int(v), f"{where}[{i}]") + "\n" for i, v in enumerate(values))


def _config_lines(config: dict[str, JSON]) -> list[str]:
    lines = []
    for k in sorted(config):
        v = config[k]
        if isinstance(v, bool):
            lines.append(f"config {k} {int(v)}")
        elif isinstance(v, int):
            lines.append(f"config {k} {v}")
        else:
            raise ExportError(f"config {k}: only integers and booleans have a plain form")
    return lines


def export_vector(vector: dict[str, JSON], suite: str, out: Path) -> Path:
    """Write one vector's directory; returns it."""
    vid = str(vector["id"])
    d = out / suite / vid
    d.mkdir(parents=True, exist_ok=True)
    lines = [f"id {vid}", f"op {vector['op']}", *_config_lines(vector["config"])]
    expected = vector["expected"]
    lines.append(f"expect reject {expected['reject']}" if "reject" in expected else "expect ok")
    shapes = vector["shapes"]
    for name in sorted(vector["inputs"]):
        fname = f"{name}.in.hex"
        dims = shapes["inputs"][name]
        (d / fname).write_text(_tensor_lines(vector["inputs"][name], f"{vid}: inputs.{name}"),
                               encoding="ascii")
        lines.append(" ".join(["input", name, str(len(dims)), *map(str, dims), fname]))
    if "reject" not in expected:
        for part, kind in (("outputs", "normative"), ("profile", "profile")):
            for name in sorted(expected[part]):
                fname = f"{name}.out.hex"
                dims = shapes["outputs"][name]
                (d / fname).write_text(
                    _tensor_lines(expected[part][name], f"{vid}: expected.{name}"),
                    encoding="ascii")
                lines.append(" ".join(["output", name, str(len(dims)), *map(str, dims),
                                       fname, kind]))
    (d / "vector.txt").write_text("\n".join(lines) + "\n", encoding="ascii")
    return d


def _word(v: JSON) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and (
        -(1 << (WORD_BITS - 1)) <= v < (1 << (WORD_BITS - 1)))


def has_plain_form(vector: dict[str, JSON]) -> bool:
    """Whether every input is an integer or a list of integers that fit 64-bit words.

    The negative vectors of the wire rules (a JSON float or boolean where an integer
    belongs, an integer beyond 64 bits; spec/11, "Rejections") test how a port reads
    JSON; they have no plain form and are not exported.
    """
    for value in vector["inputs"].values():
        values = value if isinstance(value, list) else [value]
        if not all(_word(v) for v in values):
            return False
    return all(isinstance(v, int) for v in vector["config"].values())


def export(files: Iterable[dict[str, JSON]], out: Path) -> int:
    """Export every vector that has a plain form under ``out``; returns the vector count."""
    out.mkdir(parents=True, exist_ok=True)
    index: list[str] = []
    for data in files:
        suite = str(data["suite"])
        for v in data["vectors"]:
            if not has_plain_form(v):
                continue
            export_vector(v, suite, out)
            index.append(f"{suite}/{v['id']}")
    (out / "index.txt").write_text("".join(f"{line}\n" for line in index), encoding="ascii")
    return len(index)
