"""The package layout stays legible (docs/architecture.md).

- ``conformance/`` keeps at most 8 top-level modules; its jobs live in subpackages.
- No import circle among the modules of ``reference`` and ``conformance``.
- Every dotted name ``conformance.X.Y`` and every path ``conformance/X.py`` that the
  docs, the spec, the README, the tests or the code mention exists, so a move cannot
  leave a stale pointer behind.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reference", "conformance")
JOB_PACKAGES = ("operators", "vectors", "runner", "fuzz", "mutants", "model", "proofs", "commands")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from P import M`` counts as ``P.M`` when M is
    a module)."""
    out: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if is_pkg else name.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        out.update(t for t in targets if t in modules and t != name)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_conformance_top_level_is_small_and_split_by_job() -> None:
    top = sorted(p.name for p in (ROOT / "conformance").glob("*.py"))
    assert len(top) <= 8, top
    for pkg in JOB_PACKAGES:
        assert (ROOT / "conformance" / pkg / "__init__.py").is_file(), pkg


def test_no_import_circle() -> None:
    modules = all_modules()
    graph = {n: imports_of(n, p, modules) for n, p in modules.items()}
    assert cycles(graph) == []


def test_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


DOTTED = re.compile(r"\b(?:conformance|reference)(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
PATHS = re.compile(r"\b(?:conformance|reference|tests|benchmarks)/[A-Za-z0-9_/]+\.(?:py|json)\b")
TEST_NODES = re.compile(r"\b(tests/[A-Za-z0-9_/]+\.py)::([A-Za-z_][A-Za-z0-9_]*)")


def text_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder in ("spec", "docs", "tests", "conformance", "reference", "examples",
                   "benchmarks", "scripts"):
        files += [p for p in (ROOT / folder).rglob("*")
                  if p.suffix in (".md", ".py", ".sh", ".c", ".h", ".toml")
                  and "build" not in p.relative_to(ROOT).parts]
    return sorted(p for p in files if p.is_file() and p.name != "test_layout.py")


def resolves(dotted: str) -> bool:
    """``dotted`` names a module, or an attribute reachable from one."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                # a dataclass field without a default is no class attribute
                fields = getattr(obj, "__dataclass_fields__", {})
                return attr == parts[-1] and attr in fields
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("path", text_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_mentioned_module_and_path_exists(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    stale = sorted({m for m in DOTTED.findall(text) if not resolves(m)})
    stale += sorted({m for m in PATHS.findall(text) if not (ROOT / m).exists()})
    stale += sorted({f"{f}::{name}" for f, name in TEST_NODES.findall(text)
                     if not (ROOT / f).exists() or not re.search(
                         rf"^(?:async )?def {name}\b", (ROOT / f).read_text(encoding="utf-8"),
                         re.M)})
    assert not stale, f"{path.relative_to(ROOT)} points at names that do not exist: {stale}"
