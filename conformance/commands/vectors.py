"""``sorbet-ref vectors generate|verify|coverage|export|rejections|wire|release`` (spec/10)."""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from conformance.vectors.coverage import coverage_markdown
from conformance.vectors.identity import PIN_FILE, PinError, identify, pin_text
from conformance.vectors.manifest import (
    COVERAGE,
    MANIFEST,
    Loaded,
    default_vectors_dir,
    manifest_entry,
    verify,
    write_manifest,
)
from conformance.vectors.plain_export import ExportError, export
from conformance.vectors.release import ReleaseError, verified_vectors, write_release
from reference.version import SPEC_VERSION


def register(sub: Any) -> None:
    """Add the ``vectors`` command and its subcommands."""
    p = sub.add_parser("vectors", help="generate, verify, cover, export and release the "
                       "conformance vectors")
    vs = p.add_subparsers(dest="vectors_command", metavar="SUBCOMMAND")
    vs.required = True

    g = vs.add_parser("generate", help="build every suite deterministically, with manifest and "
                      "coverage table")
    g.add_argument("--out", type=Path, default=None,
                   help="directory to write (default: the committed vectors/)")
    g.add_argument("--check", action="store_true",
                   help="regenerate into a temporary directory and compare byte for byte "
                   "with --out instead of writing")
    g.set_defaults(handler=run_generate)

    v = vs.add_parser("verify", help="check the manifest, hashes, schema, ids and counts")
    v.add_argument("--dir", type=Path, default=None, help="vectors directory (default: vectors/)")
    v.set_defaults(handler=run_verify)

    c = vs.add_parser("coverage", help="write the coverage table (spec rule and flag -> "
                      "vector count)")
    c.add_argument("--dir", type=Path, default=None, help="vectors directory (default: vectors/)")
    c.add_argument("--out", type=Path, default=None,
                   help="Markdown file to write (default: DIR/COVERAGE.md)")
    c.set_defaults(handler=run_coverage)

    e = vs.add_parser("export", help="write the plain form: hex words, one value a line, "
                      "per tensor")
    e.add_argument("--dir", type=Path, default=None, help="vectors directory (default: vectors/)")
    e.add_argument("--out", type=Path, required=True, help="directory to write")
    e.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="only suites, operators or ids matching GLOB (repeatable)")
    e.set_defaults(handler=run_export)

    j = vs.add_parser("rejections", help="print the table of every rejection rule (spec/11)")
    j.set_defaults(handler=run_rejections)

    w = vs.add_parser("wire", help="print the one-page wire reference (docs/wire.md)")
    w.set_defaults(handler=run_wire)

    r = vs.add_parser("release", help="write a reproducible archive of the vectors "
                      "(sorbet-vectors-<spec>.tar.gz and its .sha256); refuses if verify fails")
    r.add_argument("--dir", type=Path, default=None, help="vectors directory (default: vectors/)")
    r.add_argument("--out", type=Path, required=True, help="directory to write the archive to")
    r.set_defaults(handler=run_release)


def generate_into(out: Path) -> tuple[int, int]:
    """Write every suite, the manifest and the coverage table under ``out``."""
    # Hypothesis and Z3 load only for generation, not for the other vector commands or check.
    from conformance.vectors.generate import write_suites

    written = write_suites(out)
    entries = [manifest_entry(s.path, raw) for s, raw in written]
    write_manifest(out, entries)
    files = [json.loads(raw) for _, raw in written]
    (out / COVERAGE).write_text(coverage_markdown(files), encoding="ascii")
    return len(written), sum(int(e["vectors"]) for e in entries)


def _compare(fresh: Path, committed: Path) -> list[str]:
    diffs: list[str] = []
    fresh_files = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
    old_files = {p.relative_to(committed).as_posix() for p in committed.rglob("*")
                 if p.is_file() and (p.suffix == ".json" or p.name == COVERAGE)}
    for rel in sorted(fresh_files):
        target = committed / rel
        if not target.exists():
            diffs.append(f"{target}: missing (the generator writes it)")
        elif target.read_bytes() != (fresh / rel).read_bytes():
            diffs.append(f"{target}: differs from a fresh regeneration")
    for rel in sorted(old_files - fresh_files):
        diffs.append(f"{committed / rel}: not produced by the generator (stale)")
    return diffs


def run_generate(args: argparse.Namespace) -> int:
    """Generate (or with --check, regenerate and compare)."""
    from conformance.vectors.generate import GeneratorError

    out: Path = args.out or default_vectors_dir()
    try:
        if args.check:
            with tempfile.TemporaryDirectory(prefix="sorbet-vectors-") as tmp:
                nfiles, nvec = generate_into(Path(tmp))
                diffs = _compare(Path(tmp), out)
                if _is_source_tree_vectors(out):
                    diffs += _pin_diffs(out)
            if diffs:
                print(f"vectors generate --check: {len(diffs)} file(s) differ from {out}:")
                for d in diffs:
                    print(f"  {d}")
                _hint_versions(out)
                print("regenerate with `sorbet-ref vectors generate` and review the diff")
                return 1
            print(f"vectors generate --check: {nfiles} files, {nvec} vectors, manifest and "
                  f"coverage reproduce {out} byte for byte")
            return 0
        nfiles, nvec = generate_into(out)
        if _is_source_tree_vectors(out):
            PIN_FILE.write_text(pin_text((out / MANIFEST).read_bytes()), encoding="ascii")
            print(f"vectors generate: pinned this suite as the published suite of spec "
                  f"{SPEC_VERSION} in {PIN_FILE}")
    except (GeneratorError, ExportError) as exc:
        print(f"vectors generate: {exc}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in out.rglob("*.json"))
    print(f"vectors generate: wrote {nfiles} files, {nvec} vectors ({size / 1e6:.2f} MB), "
          f"{out / MANIFEST} and {out / COVERAGE}")
    return 0


def _is_source_tree_vectors(out: Path) -> bool:
    """Whether ``out`` is the ``vectors/`` of the source tree this package belongs to (the
    only directory whose suite is pinned as the published one; an installed package never
    re-pins itself from a directory that happens to be called ``vectors``)."""
    return out.resolve() == (PIN_FILE.parents[2] / "vectors").resolve()


def _pin_diffs(committed: Path) -> list[str]:
    """The published-suite pin of the package against the committed manifest."""
    try:
        want = pin_text((committed / MANIFEST).read_bytes())
        have = PIN_FILE.read_text(encoding="ascii")
    except (OSError, ValueError) as exc:
        return [f"{PIN_FILE}: cannot compare with the committed manifest: {exc}"]
    if want != have:
        return [f"{PIN_FILE}: the published-suite pin differs from {committed / MANIFEST} "
                "(regenerate with `sorbet-ref vectors generate`)"]
    return []


def _hint_versions(out: Path) -> None:
    import hypothesis

    try:
        m = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        was = m.get("generated_with", {}).get("hypothesis")
    except (OSError, ValueError, AttributeError):
        return
    if was and was != hypothesis.__version__:
        print(f"note: the committed vectors were generated with Hypothesis {was}; this is "
              f"{hypothesis.__version__}, which may draw different examples")


def run_verify(args: argparse.Namespace) -> int:
    """Verify a vectors directory; print every problem."""
    root: Path = args.dir or default_vectors_dir()
    loaded, problems = verified_vectors(root)
    if problems:
        print(f"vectors verify: {root}: {len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        return 1
    n = sum(len(d["vectors"]) for _, d in loaded.files)
    print(f"vectors verify: {root}: OK: {len(loaded.files)} files, {n} vectors; hashes match "
          "the manifest, every file passes the lint, identifiers are unique, counts agree")
    _print_identity(root)
    return 0


def run_release(args: argparse.Namespace) -> int:
    """Verify the vectors and write the release archive and its checksum file."""
    root: Path = args.dir or default_vectors_dir()
    try:
        rel = write_release(root, args.out)
    except ReleaseError as exc:
        print(f"vectors release: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"vectors release: cannot write under {args.out}: {exc}", file=sys.stderr)
        return 1
    print(f"vectors release: {rel.archive} ({rel.files} files, {rel.vectors} vectors, "
          f"spec {rel.spec_version}, {rel.size} bytes); checksum in {rel.checksum_file}")
    print(f"{rel.sha256}  {rel.archive.name}")
    _print_identity(root)
    return 0


def _print_identity(root: Path) -> None:
    """Say whether ``root`` is the published suite pinned in the package (spec/10)."""
    try:
        raw = (root / MANIFEST).read_bytes()
        files = json.loads(raw)["files"]
        print(f"suite: {identify(raw, [e for e in files if isinstance(e, dict)]).label()}")
    except (OSError, ValueError, KeyError, TypeError, PinError) as exc:
        print(f"suite: cannot be identified: {exc}")


def _verified_or_report(root: Path, command: str) -> Loaded | None:
    """``root`` read through its manifest, or None after printing the first problems."""
    loaded = verify(root)
    if not loaded.problems:
        return loaded
    print(f"vectors {command}: {root} does not verify:", file=sys.stderr)
    for p in loaded.problems[:20]:
        print(f"  - {p}", file=sys.stderr)
    return None


def run_coverage(args: argparse.Namespace) -> int:
    """Write the coverage table from the vector files."""
    root: Path = args.dir or default_vectors_dir()
    loaded = _verified_or_report(root, "coverage")
    if loaded is None:
        return 1
    out: Path = args.out or root / COVERAGE
    out.write_text(coverage_markdown(d for _, d in loaded.files), encoding="ascii")
    print(f"vectors coverage: wrote {out}")
    return 0


def run_rejections(args: argparse.Namespace) -> int:
    """Print spec/11's table of rejections (rule, class, condition, defining file)."""
    from conformance.vectors.rejections import table_markdown

    print(table_markdown(), end="")
    return 0


def run_wire(args: argparse.Namespace) -> int:
    """Print docs/wire.md: every operator's config fields, inputs, outputs and rejections."""
    from conformance.vectors.wire_doc import render

    print(render(), end="")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the plain (hex) form of the vectors."""
    root: Path = args.dir or default_vectors_dir()
    loaded = _verified_or_report(root, "export")
    if loaded is None:
        return 1
    files = []
    for _, d in loaded.files:
        if args.include:
            vs = [v for v in d["vectors"] if any(
                fnmatch.fnmatchcase(n, pat) for pat in args.include
                for n in (v["id"], v["op"], d["suite"]))]
            if not vs:
                continue
            d = {**d, "vectors": vs}
        files.append(d)
    if not files:
        print(f"vectors export: no vector of {root} matches --include {args.include}; nothing "
              "written", file=sys.stderr)
        return 1
    try:
        n = export(files, args.out)
    except (ExportError, OSError) as exc:
        print(f"vectors export: {exc}", file=sys.stderr)
        return 1
    print(f"vectors export: wrote {n} vectors under {args.out} (index: {args.out / 'index.txt'})")
    return 0
