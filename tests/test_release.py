"""``sorbet-ref vectors release`` (spec/10-vectors.md, "Releases"): reproducible archives."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.vectors.manifest import COVERAGE, MANIFEST, default_vectors_dir, verify
from conformance.vectors.release import ReleaseError, write_release
from reference.version import SPEC_VERSION

NAME = f"sorbet-vectors-{SPEC_VERSION}"


def _release(out: Path, capsys: pytest.CaptureFixture[str],
             vectors: Path | None = None) -> tuple[int, str, str]:
    argv = ["vectors", "release", "--out", str(out)]
    if vectors is not None:
        argv += ["--dir", str(vectors)]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_two_runs_give_identical_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code1, out1, _ = _release(tmp_path / "a", capsys)
    code2, out2, _ = _release(tmp_path / "b", capsys)
    assert code1 == code2 == 0
    a = (tmp_path / "a" / f"{NAME}.tar.gz").read_bytes()
    b = (tmp_path / "b" / f"{NAME}.tar.gz").read_bytes()
    assert a == b
    digest = hashlib.sha256(a).hexdigest()
    line = f"{digest}  {NAME}.tar.gz"
    assert (tmp_path / "a" / f"{NAME}.tar.gz.sha256").read_text("ascii") == line + "\n"
    assert line in out1.splitlines() and line in out2.splitlines()


def test_archive_metadata_is_fixed(tmp_path: Path) -> None:
    rel = write_release(default_vectors_dir(), tmp_path)
    raw = rel.archive.read_bytes()
    # gzip header: magic, deflate, no flags (no file name), mtime 0
    assert raw[:4] == b"\x1f\x8b\x08\x00" and raw[4:8] == b"\x00\x00\x00\x00"
    with tarfile.open(rel.archive, "r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names, key=lambda n: n.split("/"))
    assert names[0] == NAME
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() else 0o644)
        assert m.isdir() or m.isfile()
    files = {n.split("/", 1)[1] for m, n in zip(members, names, strict=True) if m.isfile()}
    loaded = verify(default_vectors_dir())
    assert loaded.manifest is not None
    assert files == {MANIFEST, COVERAGE} | {str(e["path"]) for e in loaded.manifest["files"]}
    assert rel.files == len(loaded.files)
    assert rel.vectors == sum(int(e["vectors"]) for e in loaded.manifest["files"])


def test_extracted_archive_verifies(tmp_path: Path) -> None:
    rel = write_release(default_vectors_dir(), tmp_path / "out")
    with tarfile.open(rel.archive, "r:gz") as tar:
        tar.extractall(tmp_path / "x", filter="data")
    loaded = verify(tmp_path / "x" / NAME)
    assert not loaded.problems
    for rel_path in (MANIFEST, COVERAGE):
        assert (tmp_path / "x" / NAME / rel_path).read_bytes() == \
            (default_vectors_dir() / rel_path).read_bytes()


def test_tampered_vectors_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "vectors"
    shutil.copytree(default_vectors_dir(), src)
    target = src / "if_encode" / "if_encode-tiny.json"
    target.write_bytes(target.read_bytes().replace(b'"spikes":[0,', b'"spikes":[1,', 1))
    code, _, err = _release(tmp_path / "out", capsys, vectors=src)
    assert code == 1
    assert "does not verify" in err and "if_encode-tiny.json" in err
    assert not (tmp_path / "out" / f"{NAME}.tar.gz").exists()
    with pytest.raises(ReleaseError):
        write_release(src, tmp_path / "out")


def test_stale_coverage_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "vectors"
    shutil.copytree(default_vectors_dir(), src)
    (src / COVERAGE).write_text("stale\n", encoding="ascii")
    with pytest.raises(ReleaseError, match=r"COVERAGE\.md"):
        write_release(src, tmp_path / "out")
