"""The manifest of a vectors directory and its verification (spec/10-vectors.md, "Manifest").

``vectors/manifest.json`` lists every vector file with its SHA-256, suite,
operator, preset, vector counts and spec version.  :func:`verify` checks a
directory against it: hashes, the lint of every file (schema, unique ids within
and across files, declared counts), files present but not listed, and listed
but missing.  The runner loads vectors only through :func:`load_vectors`, which
applies the same checks and keeps going past a bad file, so one tampered file
cannot hide the others' results.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.vectors.vectorfile import (
    FORMAT_VERSION,
    GENERATOR_VERSION,
    VectorFileError,
    parse_json,
    validate_file,
)
from reference.version import SPEC_VERSION

JSON = Any
MANIFEST = "manifest.json"
COVERAGE = "COVERAGE.md"


def default_vectors_dir() -> Path:
    """The committed ``vectors/`` beside the package, else ``./vectors``."""
    here = Path(__file__).resolve().parents[2] / "vectors"
    return here if here.is_dir() else Path("vectors")


def sha256(raw: bytes) -> str:
    """Hex SHA-256 of ``raw``."""
    return hashlib.sha256(raw).hexdigest()


def manifest_entry(path: str, raw: bytes) -> dict[str, JSON]:
    """The manifest line of one vector file (its bytes must parse)."""
    data = parse_json(raw, path)
    counts = data["counts"]
    return {
        "op": data["op"],
        "path": path,
        "preset": data["preset"],
        "reject": counts["reject"],
        "sha256": sha256(raw),
        "spec_version": data["spec_version"],
        "suite": data["suite"],
        "valid": counts["valid"],
        "vectors": counts["total"],
    }


def build_manifest(entries: Iterable[dict[str, JSON]]) -> dict[str, JSON]:
    """The manifest object for the given file entries (sorted by path)."""
    # Imported here: reading and verifying a manifest needs neither library.
    import hypothesis
    import z3

    files = sorted(entries, key=lambda e: str(e["path"]))
    return {
        "files": files,
        "format_version": FORMAT_VERSION,
        "generated_with": {"hypothesis": hypothesis.__version__, "z3": z3.get_version_string()},
        "generator_version": GENERATOR_VERSION,
        "spec_version": SPEC_VERSION,
        "totals": {
            "files": len(files),
            "reject": sum(int(e["reject"]) for e in files),
            "valid": sum(int(e["valid"]) for e in files),
            "vectors": sum(int(e["vectors"]) for e in files),
        },
    }


def dumps_manifest(manifest: dict[str, JSON]) -> str:
    """Canonical text of a manifest: sorted keys, one-space indent, newline at the end."""
    return json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=True) + "\n"


def write_manifest(root: Path, entries: Iterable[dict[str, JSON]]) -> bytes:
    """Write ``root/manifest.json``; returns its bytes."""
    raw = dumps_manifest(build_manifest(entries)).encode("ascii")
    (root / MANIFEST).write_bytes(raw)
    return raw


@dataclass
class Loaded:
    """The result of reading a vectors directory through its manifest."""

    root: Path
    manifest: dict[str, JSON] | None = None
    files: list[tuple[dict[str, JSON], dict[str, JSON]]] = field(default_factory=list)
    """(manifest entry, file data) of every file that passed every check."""
    problems: list[str] = field(default_factory=list)
    """Every problem found, each naming the file (and vector and field)."""
    bad_entries: list[dict[str, JSON]] = field(default_factory=list)
    """Manifest entries whose file was missing or failed a check."""

    @property
    def expected_total(self) -> int:
        """Vectors the manifest declares."""
        if self.manifest is None:
            return 0
        return sum(e["vectors"] for e in self.manifest.get("files", [])
                   if isinstance(e, dict) and _is_count(e.get("vectors")))


MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Largest manifest read (the committed one is under 10 KB)."""

MAX_VECTOR_FILE_BYTES = 64 * 1024 * 1024
"""Largest vector file read (the largest committed one is under 200 KB)."""


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``; ValueError naming the file when it holds
    more than ``limit`` bytes or is not a regular file (a FIFO or a device would block or
    never end). OSError when it cannot be opened."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path}: not a regular file; not read")
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(f"{path}: larger than {limit} bytes; not read")
    return raw


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _check_entry(e: object, n: int, where: str) -> list[str]:
    keys = {"op", "path", "preset", "reject", "sha256", "spec_version", "suite", "valid",
            "vectors"}
    if not isinstance(e, dict):
        return [f"{where}: files[{n}]: expected an object"]
    missing = sorted(keys - set(e))
    if missing:
        return [f"{where}: files[{n}]: missing field(s) {missing}"]
    for key in ("vectors", "valid", "reject"):
        if not _is_count(e[key]):
            return [f"{where}: files[{n}]: field {key}: expected a count (an integer >= 0), "
                    f"got {json.dumps(e[key])[:80]}"]
    for key in ("op", "preset", "spec_version", "suite", "sha256"):
        if not isinstance(e[key], str):
            return [f"{where}: files[{n}]: field {key}: expected a string, got "
                    f"{json.dumps(e[key])[:80]}"]
    path = e["path"]
    if (not isinstance(path, str) or path.startswith("/") or ".." in Path(path).parts
            or not path.endswith(".json")):
        return [f"{where}: files[{n}]: field path: expected a relative .json path inside the "
                f"vectors directory, got {path!r}"]
    return []


def load_vectors(root: Path) -> Loaded:
    """Read ``root/manifest.json`` and every file it lists, checking everything."""
    out = Loaded(root)
    mpath = root / MANIFEST
    where = str(mpath)
    if not root.is_dir():
        out.problems.append(f"{root}: the vectors directory does not exist")
        return out
    try:
        manifest = parse_json(read_bounded(mpath, MAX_MANIFEST_BYTES), where)
    except OSError as exc:
        out.problems.append(f"{where}: cannot read the manifest: {exc.strerror or exc}")
        return out
    except ValueError as exc:
        out.problems.append(str(exc))
        return out
    except VectorFileError as exc:
        out.problems.extend(f"{where}: {p}" for p in exc.problems)
        return out
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        out.problems.append(f"{where}: expected an object with a list 'files'")
        return out
    out.manifest = manifest
    if manifest.get("spec_version") != SPEC_VERSION:
        out.problems.append(f"{where}: field spec_version: {manifest.get('spec_version')!r} "
                            f"differs from this reference's spec {SPEC_VERSION!r}")
    ids: dict[str, str] = {}
    listed: set[str] = set()
    for n, e in enumerate(manifest["files"]):
        bad = _check_entry(e, n, where)
        if bad:
            out.problems.extend(bad)
            if isinstance(e, dict):
                out.bad_entries.append(e)
            continue
        path = str(e["path"])
        listed.add(path)
        fpath = root / path
        try:
            raw = read_bounded(fpath, MAX_VECTOR_FILE_BYTES)
        except OSError:
            out.problems.append(f"{fpath}: listed in the manifest but missing or unreadable")
            out.bad_entries.append(e)
            continue
        except ValueError as exc:
            out.problems.append(str(exc))
            out.bad_entries.append(e)
            continue
        digest = sha256(raw)
        if digest != e["sha256"]:
            out.problems.append(
                f"{fpath}: SHA-256 mismatch: the manifest says {e['sha256']}, the file has "
                f"{digest}; the file was changed after generation (restore it or regenerate "
                "with `sorbet-ref vectors generate`)")
            out.bad_entries.append(e)
            continue
        try:
            data = parse_json(raw, str(fpath))
        except VectorFileError as exc:
            out.problems.extend(exc.problems if exc.problems[0].startswith(str(fpath))
                                else [f"{fpath}: {p}" for p in exc.problems])
            out.bad_entries.append(e)
            continue
        problems = validate_file(data, str(fpath))
        if isinstance(data, dict):
            for key, mkey in (("suite", "suite"), ("op", "op"), ("preset", "preset"),
                              ("spec_version", "spec_version")):
                if data.get(key) != e[mkey]:
                    problems.append(f"{fpath}: header field {key}: {data.get(key)!r} differs "
                                    f"from the manifest's {e[mkey]!r}")
            counts = data.get("counts")
            if isinstance(counts, dict) and (counts.get("total"), counts.get("valid"),
                                             counts.get("reject")) != (
                    e["vectors"], e["valid"], e["reject"]):
                problems.append(f"{fpath}: header field counts: {counts} differs from the "
                                f"manifest's vectors={e['vectors']}, valid={e['valid']}, "
                                f"reject={e['reject']}")
        if problems:
            out.problems.extend(problems)
            out.bad_entries.append(e)
            continue
        dup = False
        for v in data["vectors"]:
            if v["id"] in ids:
                out.problems.append(f"{fpath}: vector {v['id']}: field id: also in "
                                    f"{ids[v['id']]}; identifiers must be unique across files")
                dup = True
            ids[v["id"]] = path
        if dup:
            out.bad_entries.append(e)
            continue
        out.files.append((e, data))
    for fpath in sorted(root.rglob("*.json")):
        rel = fpath.relative_to(root).as_posix()
        if rel != MANIFEST and rel not in listed:
            out.problems.append(f"{fpath}: a vector file not listed in the manifest "
                                "(stale or added by hand)")
    return out


def verify(root: Path) -> Loaded:
    """Verify a vectors directory (``sorbet-ref vectors verify``); see :func:`load_vectors`."""
    loaded = load_vectors(root)
    if loaded.manifest is not None:
        m = loaded.manifest
        totals = m.get("totals")
        files = [e for e in m["files"] if isinstance(e, dict)]
        want = build_manifest(files)["totals"] if all(
            isinstance(e.get(k), int) for e in files for k in ("vectors", "valid", "reject")
        ) else None
        if want is not None and totals != want:
            loaded.problems.append(f"{root / MANIFEST}: field totals: declares {totals}, the "
                                   f"files listed sum to {want}")
        if not m["files"]:
            loaded.problems.append(f"{root / MANIFEST}: lists no vector files")
    return loaded
