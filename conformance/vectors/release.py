"""Reproducible release archives of the committed vectors (spec/10-vectors.md, "Releases").

``sorbet-ref vectors release --out DIR`` writes ``DIR/sorbet-vectors-<spec>.tar.gz``
holding ``manifest.json``, ``COVERAGE.md`` and every suite the manifest lists, under
one top directory ``sorbet-vectors-<spec>/``, and ``DIR/sorbet-vectors-<spec>.tar.gz.sha256``
in the format of ``sha256sum``. The archive's bytes depend on the vector files only:

- entries are the directories and files in sorted order (by path components),
  directories before their contents;
- every entry has mtime 0, uid and gid 0, empty owner and group names, mode
  ``0755`` (directories) or ``0644`` (files), and the POSIX ustar format;
- the gzip stream has mtime 0, no file name, compression level 9.

So two runs on any machine with the same deflate implementation (zlib) give
identical bytes, and the ``.sha256`` file pins the release. The archive is only
written when the directory verifies (the checks of ``sorbet-ref vectors verify``,
:func:`vectors_problems`), and each file's bytes are hashed again as they are
read into the archive.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from conformance.vectors.coverage import coverage_markdown
from conformance.vectors.manifest import COVERAGE, MANIFEST, Loaded, verify

ARCHIVE_PREFIX = "sorbet-vectors-"
"""Archive names are ``sorbet-vectors-<spec_version>.tar.gz``."""

FILE_MODE = 0o644
DIR_MODE = 0o755
GZIP_LEVEL = 9


class ReleaseError(Exception):
    """The vectors directory cannot be released; the message lists every problem."""


@dataclass(frozen=True)
class Release:
    """What :func:`write_release` wrote."""

    archive: Path
    """``DIR/sorbet-vectors-<spec>.tar.gz``."""
    checksum_file: Path
    """``DIR/sorbet-vectors-<spec>.tar.gz.sha256``."""
    sha256: str
    """SHA-256 of the archive's bytes, lowercase hex."""
    spec_version: str
    files: int
    """Vector files (suites) in the archive."""
    vectors: int
    """Vectors in those files."""
    size: int
    """Bytes of the archive."""


def vectors_problems(root: Path) -> list[str]:
    """Every problem ``sorbet-ref vectors verify`` reports for ``root`` (empty: it verifies).

    The manifest and file checks of :func:`conformance.vectors.manifest.verify`, and
    ``COVERAGE.md`` equal to the table the files give (spec/10, "Lint").
    """
    return verified_vectors(root)[1]


def verified_vectors(root: Path) -> tuple[Loaded, list[str]]:
    """``root`` read through its manifest, and every problem of :func:`vectors_problems`."""
    loaded = verify(root)
    problems = list(loaded.problems)
    cov = root / COVERAGE
    if loaded.files and not loaded.problems:
        want = coverage_markdown(d for _, d in loaded.files)
        raw = want.encode("ascii", errors="replace")
        if (not cov.is_file() or cov.stat().st_size != len(raw)  # sized first: read bounded
                or cov.read_bytes() != raw):
            problems.append(f"{cov}: out of date; run `sorbet-ref vectors coverage`")
    return loaded, problems


def _info(name: str, size: int, is_dir: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = DIR_MODE if is_dir else FILE_MODE
    info.size = 0 if is_dir else size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def archive_bytes(members: dict[str, bytes], top: str) -> bytes:
    """The gzip-compressed ustar archive of ``members`` (relative POSIX path -> bytes).

    Every member sits under ``top/``; the directories on the way get their own
    entries. Deterministic: see the module docstring.
    """
    dirs: set[tuple[str, ...]] = {(top,)}
    for rel in members:
        parts = PurePosixPath(rel).parts
        for n in range(1, len(parts)):
            dirs.add((top, *parts[:n]))
    entries: list[tuple[tuple[str, ...], bytes | None]] = [(d, None) for d in dirs]
    entries += [((top, *PurePosixPath(rel).parts), raw) for rel, raw in members.items()]
    entries.sort(key=lambda e: e[0])
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for parts, raw in entries:
            name = "/".join(parts)
            if raw is None:
                tar.addfile(_info(name, 0, True))
            else:
                tar.addfile(_info(name, len(raw), False), io.BytesIO(raw))
    gz_buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz_buf, mtime=0,
                       compresslevel=GZIP_LEVEL) as gz:
        gz.write(tar_buf.getvalue())
    return gz_buf.getvalue()


def release_members(root: Path) -> tuple[str, dict[str, bytes], int]:
    """(spec version, archive members, vector count) of a verified vectors directory.

    Raises ReleaseError listing every problem when ``root`` does not verify, or
    when a file changed between the check and the read.
    """
    loaded, problems = verified_vectors(root)
    if problems or loaded.manifest is None:
        shown = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ReleaseError(f"{root} does not verify ({len(problems)} problem(s)); "
                           f"nothing released:\n{shown}{more}")
    members: dict[str, bytes] = {
        MANIFEST: (root / MANIFEST).read_bytes(),
        COVERAGE: (root / COVERAGE).read_bytes(),
    }
    vectors = 0
    for entry, data in loaded.files:
        rel = str(entry["path"])
        raw = (root / rel).read_bytes()
        if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
            raise ReleaseError(f"{root / rel}: changed while the release was being written")
        members[rel] = raw
        vectors += len(data["vectors"])
    return str(loaded.manifest["spec_version"]), members, vectors


def write_release(root: Path, out: Path) -> Release:
    """Verify ``root`` and write the archive and its ``.sha256`` file under ``out``."""
    spec, members, vectors = release_members(root)
    name = f"{ARCHIVE_PREFIX}{spec}"
    raw = archive_bytes(members, name)
    digest = hashlib.sha256(raw).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"{name}.tar.gz"
    archive.write_bytes(raw)
    checksum = out / f"{name}.tar.gz.sha256"
    checksum.write_text(f"{digest}  {archive.name}\n", encoding="ascii")
    return Release(archive, checksum, digest, spec, len(members) - 2, vectors, len(raw))
