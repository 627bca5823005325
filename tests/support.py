"""Helpers shared by several test modules (imported as ``tests.support``)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from conformance.vectors.coverage import coverage_markdown
from conformance.vectors.manifest import COVERAGE, manifest_entry, write_manifest

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"


def copy_suites(root: Path, files: tuple[str, ...]) -> Path:
    """A vectors directory at ``root`` holding copies of committed suites, with their
    manifest and coverage table (a subset of the published suite, unchanged)."""
    entries = []
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(VECTORS / rel, root / rel)
        entries.append(manifest_entry(rel, (root / rel).read_bytes()))
    write_manifest(root, entries)
    (root / COVERAGE).write_text(coverage_markdown(
        json.loads((root / rel).read_text()) for rel in files), encoding="ascii")
    return root


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (a zombie counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gone_soon(pid: int) -> bool:
    """Whether ``pid`` is gone (or a zombie of init) within a few seconds."""
    for _ in range(100):
        if not alive(pid):
            return True
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"):
            return True
        time.sleep(0.05)
    return False
