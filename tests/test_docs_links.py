"""Every relative Markdown link in README.md, spec/, docs/ and examples/ names an existing file.

Inline links ``[text](target)`` and reference definitions ``[label]: target`` are
checked; links with a scheme (``https:``, ``mailto:``) and in-page anchors
(``#...``) are not; text inside fenced code blocks and code spans is not a link.
A ``#fragment`` after a path is dropped before the check.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+[\"'(][^)]*)?\)")
"""``[text](target "title")``, images included; the text may hold one level of brackets."""

DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
"""``[label]: target`` at the start of a line."""

SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")


def markdown_files() -> list[Path]:
    """README.md and every ``.md`` under spec/, docs/ and examples/."""
    files = [ROOT / "README.md"]
    for folder in ("spec", "docs", "examples"):
        files += sorted(p for p in (ROOT / folder).rglob("*.md")
                        if "build" not in p.relative_to(ROOT).parts)
    return [p for p in files if p.is_file()]


def relative_links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every relative link outside code, in order."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        marker = stripped[:3]
        if marker in ("```", "~~~"):
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
            continue
        if fence is not None:
            continue
        plain = CODE_SPAN.sub("", line)
        targets = [m.group(1) for m in INLINE.finditer(plain)]
        d = DEFINITION.match(plain)
        if d:
            targets.append(d.group(1))
        for t in targets:
            t = t[1:-1] if t.startswith("<") and t.endswith(">") else t
            if not t or t.startswith("#") or SCHEME.match(t):
                continue
            out.append((n, t))
    return out


def broken_links(path: Path) -> list[str]:
    """``line: target`` for every relative link of ``path`` whose file does not exist.

    A target starting with ``/`` is taken from the repository root.
    """
    bad = []
    for n, target in relative_links(path.read_text(encoding="utf-8")):
        rel = target.split("#", 1)[0].split("?", 1)[0]
        if not rel:
            continue
        resolved = (ROOT / rel.lstrip("/")) if rel.startswith("/") else (path.parent / rel)
        if not resolved.exists():
            bad.append(f"{n}: {target}")
    return bad


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    bad = broken_links(path)
    assert not bad, f"{path.relative_to(ROOT)}: links to missing files (line: target): {bad}"


def test_the_link_scan_finds_links() -> None:
    """The extractor sees inline, image and reference links, and skips code and URLs."""
    text = "\n".join([
        "See [the spec](spec/README.md#intro) and ![plot](img/p.png \"title\").",
        "[ref]: docs/mutants.md",
        "A `[not](a-link.md)` code span, a [web](https://example.org) link, [anchor](#x).",
        "```",
        "[inside](fence.md)",
        "```",
        "[with [brackets]](<spec/01-formats.md>)",
    ])
    assert relative_links(text) == [(1, "spec/README.md#intro"), (1, "img/p.png"),
                                    (2, "docs/mutants.md"), (7, "spec/01-formats.md")]


def test_a_broken_link_is_reported(tmp_path: Path) -> None:
    (tmp_path / "here.md").write_text("x\n", encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text("[gone](no-such-file.md)\n[ok](here.md#top)\n`[code](nope.md)`\n",
                   encoding="utf-8")
    assert broken_links(doc) == ["1: no-such-file.md"]


def test_every_doc_is_indexed() -> None:
    """docs/README.md links every other file of docs/."""
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    linked = {t.split("#", 1)[0] for _, t in relative_links(index)}
    for p in sorted((ROOT / "docs").glob("*.md")):
        if p.name != "README.md":
            assert p.name in linked, f"docs/README.md does not link {p.name}"
