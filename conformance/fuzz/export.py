"""Shrunk cases as a vectors directory that ``sorbet-ref check --vectors DIR`` runs.

Each shrunk case becomes one vector file (spec/10-vectors.md, the standard format),
built by the suite generator itself (``conformance.vectors.generate.build_suite``:
expected result by the canonical tier, flags, spec rule, stable id, lint), in a
suite named ``fuzz-<op>-<preset>-<seed>-<n>`` that is not one of the published
suites; the directory's ``manifest.json`` lists the files with their hashes, so
``check`` loads them like the committed vectors.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.fuzz.shrink import Shrunk

JSON = Any


@dataclass(frozen=True)
class Exported:
    """One written vector of a shrunk case."""

    path: Path
    suite: str
    vector: dict[str, JSON]
    rule_section: str
    rule_text: str


def export_shrunk(out_dir: Path, items: list[tuple[Shrunk, str, dict[str, JSON]]],
                  seed: int) -> list[Exported]:
    """Write ``(shrunk, preset, suite config)`` items under ``out_dir`` with a manifest and
    its ``COVERAGE.md``, so the directory verifies like any suite (spec/10, "Lint")."""
    from conformance.operators import run_reference
    from conformance.vectors import flags as flagmod
    from conformance.vectors.cases import Case
    from conformance.vectors.coverage import coverage_markdown
    from conformance.vectors.generate import Suite, build_suite
    from conformance.vectors.manifest import COVERAGE, manifest_entry, write_manifest
    from conformance.vectors.vectorfile import write_file

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Exported] = []
    entries = []
    files = []
    for n, (sh, preset, suite_config) in enumerate(items):
        name = f"fuzz-{sh.op}-{preset}-{seed}-{n}"
        res = run_reference(sh.op, sh.config, sh.inputs)
        reject = str(res["reject"]) if "reject" in res else None
        comment = (f"shrunk from fuzz case {sh.original_id} ({sh.status}: "
                   f"{sh.message[:200]})")
        case = Case(dict(sh.inputs), comment, (),
                    config=None if sh.config == suite_config else dict(sh.config),
                    reject=reject)
        suite = Suite(name, sh.op, preset, dict(suite_config), functools.partial(list, [case]))
        data = build_suite(suite)
        files.append(data)
        raw = write_file(out_dir / suite.path, data)
        entries.append(manifest_entry(suite.path, raw))
        vec = data["vectors"][0]
        section, text = flagmod.RULES[vec["rule"]]
        written.append(Exported(out_dir / suite.path, name, vec, section, text))
    write_manifest(out_dir, entries)
    (out_dir / COVERAGE).write_text(coverage_markdown(files), encoding="ascii")
    return written
