"""Bad input: tampered, malformed and invalid vector files; crashing, hanging and lying backends.

Every case must give a clear message naming the file, vector or field; the
reports must still be written; and the exit code must say failure.
"""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.vectors.coverage import coverage_markdown
from conformance.vectors.manifest import COVERAGE, manifest_entry, sha256, write_manifest

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"
FAULTY = ROOT / "tests" / "backends" / "faulty.py"
IF_FILE = "if_encode/if_encode-tiny-b2.json"
LIN_FILE = "binary_linear/binary_linear-signed-tiny-b2.json"


def mini(root: Path) -> Path:
    entries = []
    for rel in (IF_FILE, LIN_FILE):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(VECTORS / rel, root / rel)
        entries.append(manifest_entry(rel, (root / rel).read_bytes()))
    write_manifest(root, entries)
    (root / COVERAGE).write_text(coverage_markdown(
        json.loads((root / rel).read_text()) for rel in (IF_FILE, LIN_FILE)), encoding="ascii")
    return root


def rehash(root: Path, rel: str) -> None:
    """Update the manifest's hash of ``rel`` (so the next check is past the hash)."""
    m = json.loads((root / "manifest.json").read_text())
    for e in m["files"]:
        if e["path"] == rel:
            e["sha256"] = sha256((root / rel).read_bytes())
    (root / "manifest.json").write_text(json.dumps(m))


def edit_vector(root: Path, rel: str, fn: Any, index: int = 0) -> str:
    path = root / rel
    data = json.loads(path.read_text())
    vid = str(data["vectors"][index]["id"])
    fn(data, data["vectors"][index])
    path.write_text(json.dumps(data))
    rehash(root, rel)
    return vid


def run_check(tmp: Path, vec: Path, backend: str, *extra: str) -> tuple[int, dict[str, Any], str,
                                                                        Path]:
    rep = tmp / "reports"
    if rep.exists():
        shutil.rmtree(rep)
    code = main(["check", "--vectors", str(vec), "--backend", backend, "--report-dir", str(rep),
                 *extra])
    assert (rep / "check-junit.xml").exists(), "the JUnit report must always be written"
    return code, json.loads((rep / "check-report.json").read_text()), "", rep


def faulty(mode: str, target: str = "*") -> str:
    return f"exec:{sys.executable} {FAULTY} {mode} {target}"


def first_id(vec: Path) -> str:
    return str(json.loads((vec / IF_FILE).read_text())["vectors"][3]["id"])


# --- vector files ---------------------------------------------------------------------


def test_tampered_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vec = mini(tmp_path / "v")
    path = vec / IF_FILE
    path.write_text(path.read_text().replace('"count":2', '"count":3', 1))
    assert main(["vectors", "verify", "--dir", str(vec)]) == 1
    out = capsys.readouterr().out
    assert "SHA-256 mismatch" in out and str(path) in out
    code, rep, _, _ = run_check(tmp_path, vec, "reference")
    assert code == 1 and rep["verdict"] == "FAIL"
    declared = json.loads((VECTORS / IF_FILE).read_text())["counts"]["total"]
    assert rep["selection"]["missing_vectors"] == declared
    assert any("SHA-256 mismatch" in p and IF_FILE in p for p in rep["problems"])
    # the untouched file still ran and passed
    assert rep["per_operator"]["binary_linear"]["pass"] > 0


def test_malformed_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vec = mini(tmp_path / "v")
    path = vec / IF_FILE
    path.write_text(path.read_text()[:-20])
    rehash(vec, IF_FILE)
    assert main(["vectors", "verify", "--dir", str(vec)]) == 1
    out = capsys.readouterr().out
    assert "malformed JSON at line" in out and str(path) in out
    code, rep, _, _ = run_check(tmp_path, vec, "reference")
    assert code == 1 and any("malformed JSON" in p for p in rep["problems"])


def test_missing_and_broken_manifest(tmp_path: Path) -> None:
    vec = mini(tmp_path / "v")
    (vec / "manifest.json").unlink()
    code, rep, _, _ = run_check(tmp_path, vec, "reference")
    assert code == 1 and any("manifest" in p for p in rep["problems"])
    assert any("empty run" in p for p in rep["problems"])
    (vec / "manifest.json").write_text("{not json")
    code, rep, _, _ = run_check(tmp_path, vec, "reference")
    assert code == 1 and any("manifest.json" in p and "malformed" in p for p in rep["problems"])
    code, rep, _, _ = run_check(tmp_path, tmp_path / "nowhere", "reference")
    assert code == 1 and any("does not exist" in p for p in rep["problems"])


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda d, v: v.pop("comment"), "missing field(s) ['comment']"),
    (lambda d, v: v["inputs"].update(count=2.5), "field inputs.count: expected an integer"),
    (lambda d, v: v["flags"].append("no_such_flag"), "flag 'no_such_flag' is not explained"),
    (lambda d, v: v.update(rule="nowhere.rule"), "field rule: 'nowhere.rule' is not listed"),
    (lambda d, v: v["inputs"].update(count=3), "does not match the vector's content"),
    (lambda d, v: v["expected"].update(reject="bogus"), "field expected"),
    (lambda d, v: d["counts"].update(total=99), "header field counts"),
    (lambda d, v: d.update(spec_version="9.9.9"), "header field spec_version"),
    (lambda d, v: v["shapes"]["inputs"].update(count=[2]), "field shapes.inputs.count"),
])
def test_schema_violations(tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any,
                           needle: str) -> None:
    vec = mini(tmp_path / "v")
    vid = edit_vector(vec, IF_FILE, edit)
    assert main(["vectors", "verify", "--dir", str(vec)]) == 1
    out = capsys.readouterr().out
    assert needle in out, out
    assert str(vec / IF_FILE) in out
    if "header" not in needle:
        assert vid in out or "vectors[0]" in out
    code, rep, _, _ = run_check(tmp_path, vec, "reference")
    assert code == 1 and any(needle in p for p in rep["problems"])


def test_duplicate_ids_across_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vec = mini(tmp_path / "v")
    rel2 = "if_encode/copy.json"
    data = json.loads((vec / IF_FILE).read_text())
    data["suite"] = "copy"
    (vec / rel2).write_text(json.dumps(data))
    m = json.loads((vec / "manifest.json").read_text())
    entry = manifest_entry(rel2, (vec / rel2).read_bytes())
    write_manifest(vec, [*m["files"], entry])
    assert main(["vectors", "verify", "--dir", str(vec)]) == 1
    out = capsys.readouterr().out
    assert "identifiers must be unique across files" in out


# --- backends -------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "status", "needle"), [
    ("crash", "crash", "exited with status 3"),
    ("garbage", "garbage", "not JSON"),
    ("wrong_id", "garbage", "answer for id"),
    ("shape", "malformed", "wrong shape: expected 3 values"),
    ("fewer", "malformed", "missing output(s) ['spikes']"),
    ("float", "malformed", "expected an integer, got 0.0"),
])
def test_faulty_subprocess_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   mode: str, status: str, needle: str) -> None:
    vec = mini(tmp_path / "v")
    target = first_id(vec)
    code, rep, _, _ = run_check(tmp_path, vec, faulty(mode, target))
    assert code == 1 and rep["verdict"] == "FAIL"
    st = {v["id"]: v for v in rep["vectors"]}
    assert st[target]["status"] == status
    assert needle in st[target]["message"]
    assert st[target]["file"].endswith(IF_FILE)
    # the backend was restarted or kept going: every other vector passed
    assert sum(1 for v in rep["vectors"] if v["status"] == "pass") == len(st) - 1
    out = capsys.readouterr().out
    assert target in out and "VERDICT: FAIL" in out
    if mode == "crash":
        assert "crashing on" in st[target]["stderr"]


def test_hanging_backend(tmp_path: Path) -> None:
    vec = mini(tmp_path / "v")
    target = first_id(vec)
    code, rep, _, _ = run_check(tmp_path, vec, faulty("hang", target), "--timeout", "1")
    st = {v["id"]: v for v in rep["vectors"]}
    assert code == 1 and st[target]["status"] == "timeout"
    assert f"no answer to {target} within 1 s" in st[target]["message"]
    assert "does the port flush stdout" in st[target]["message"]
    assert sum(1 for v in rep["vectors"] if v["status"] == "pass") == len(st) - 1


def test_backend_that_always_crashes(tmp_path: Path) -> None:
    vec = mini(tmp_path / "v")
    code, rep, _, rep_dir = run_check(tmp_path, vec, faulty("crash"))
    assert code == 1
    assert all(v["status"] == "crash" for v in rep["vectors"])
    assert any("not restarted" in v["message"] for v in rep["vectors"])
    assert "errors=" in (rep_dir / "check-junit.xml").read_text()


def test_backend_that_cannot_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A program that does not exist, is not on PATH or is not executable is named up front."""
    vec = mini(tmp_path / "v")
    script = tmp_path / "port.py"
    script.write_text("print('hi')\n")
    for spec, needle in (("exec:/nonexistent/port --serve", "'/nonexistent/port' does not exist"),
                         ("exec:no-such-port-xyz --serve", "'no-such-port-xyz' is not on PATH"),
                         (f"exec:{script}", "is not an executable file")):
        code, rep, _, rep_dir = run_check(tmp_path, vec, spec)
        assert code == 1 and all(v["status"] == "not_run" for v in rep["vectors"]), spec
        assert any(needle in p for p in rep["problems"]), (spec, rep["problems"])
        assert needle in rep["vectors"][0]["message"]
        ET.parse(rep_dir / "check-junit.xml")
        out = capsys.readouterr().out
        assert f"not run ({len(rep['vectors'])} vectors)" in out and needle in out


def test_banner_on_stdout_is_explained_and_gives_up(tmp_path: Path) -> None:
    """A start-up line on stdout garbles every start: the hint names stderr, and giving up
    restarting is a run-level problem."""
    vec = mini(tmp_path / "v")
    code, rep, _, _ = run_check(tmp_path, vec, faulty("banner"))
    assert code == 1
    first = rep["vectors"][0]
    assert first["status"] == "garbage" and "faulty backend 1.0 ready" in first["message"]
    assert "write logs to stderr" in first["message"]
    assert any("not restarted" in p for p in rep["problems"]), rep["problems"]


def test_failure_only_in_the_second_pass_is_not_inconsistent(tmp_path: Path) -> None:
    """A backend that exits after a few answers fails some vectors only in the reverse pass;
    they are reported as crash (what happened), not as state kept between calls."""
    vec = mini(tmp_path / "v")
    code, rep, _, _ = run_check(tmp_path, vec, faulty("exit_after", "4"))
    assert code == 1
    st = [v["status"] for v in rep["vectors"]]
    assert "inconsistent" not in st
    late = [v for v in rep["vectors"] if v.get("message", "").startswith("second pass")]
    assert late and all(v["status"] == "crash" for v in late)
    assert "first pass answered correctly" in late[0]["message"] and late[0]["inputs"]


def test_bom_and_crlf_answers_are_accepted(tmp_path: Path) -> None:
    vec = mini(tmp_path / "v")
    code, rep, _, _ = run_check(tmp_path, vec, faulty("bom_crlf"))
    assert code == 0, [v for v in rep["vectors"] if v["status"] != "pass"][:1]


def test_bad_timeout_and_show_are_usage_errors(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    vec = mini(tmp_path / "v")
    for extra in (["--timeout", "-1"], ["--timeout", "nan"], ["--timeout", "soon"],
                  ["--show", "-3"]):
        with pytest.raises(SystemExit) as exc:
            main(["check", "--vectors", str(vec), "--backend", "reference", "--report-dir",
                  str(tmp_path / "r"), *extra])
        assert exc.value.code == 2, extra
        assert extra[0] in capsys.readouterr().err


def test_bad_backend_specs_and_xfail_files(tmp_path: Path) -> None:
    vec = mini(tmp_path / "v")
    for spec, needle in (("python:no_such_module_xyz:Backend", "cannot import"),
                         ("python:conformance.operators:OPS", "no run("),
                         ("bogus:thing", "unknown kind"), ("exec:", "expected reference")):
        code, rep, _, _ = run_check(tmp_path, vec, spec)
        assert code == 1, spec
        assert any(needle in p for p in rep["problems"]), (spec, rep["problems"])
        assert all(v["status"] == "not_run" for v in rep["vectors"])
    xf = tmp_path / "x.json"
    xf.write_text(json.dumps([{"id": "abc"}]))
    code, rep, _, _ = run_check(tmp_path, vec, "reference", "--xfail", str(xf))
    assert code == 1 and any("needs a non-empty 'reason'" in p for p in rep["problems"])


def test_offline_garbage_and_missing_dir(tmp_path: Path) -> None:
    vec = mini(tmp_path / "v")
    code, rep, _, _ = run_check(tmp_path, vec, f"offline:{tmp_path / 'none'}")
    assert code == 1 and all(v["status"] == "missing" for v in rep["vectors"])
    assert "does not exist" in rep["vectors"][0]["message"]
    res = tmp_path / "res"
    res.mkdir()
    target = first_id(vec)
    (res / f"{target}.json").write_text("{oops")
    code, rep, _, _ = run_check(tmp_path, vec, f"offline:{res}")
    st = {v["id"]: v for v in rep["vectors"]}
    assert code == 1 and st[target]["status"] == "garbage" and target in st[target]["message"]


def test_offline_results_file_problems_are_run_level(tmp_path: Path) -> None:
    vec = mini(tmp_path / "v")
    res = tmp_path / "res"
    res.mkdir()
    (res / "results.json").write_text(json.dumps([{"id": "a", "reject": "range"},
                                                  {"reject": "range"}]))
    code, rep, _, _ = run_check(tmp_path, vec, f"offline:{res}")
    assert code == 1
    assert any("results[1]" in p and "string id" in p for p in rep["problems"]), rep["problems"]


def test_offline_refuses_the_plain_export(tmp_path: Path) -> None:
    """The plain export holds the expected outputs as *.out.hex: read as results it would
    pass every valid vector without running anything."""
    vec = mini(tmp_path / "v")
    plain = tmp_path / "plain"
    assert main(["vectors", "export", "--dir", str(vec), "--out", str(plain)]) == 0
    code, rep, _, _ = run_check(tmp_path, vec, f"offline:{plain}")
    assert code == 1
    assert not any(v["status"] == "pass" for v in rep["vectors"])
    assert "plain export" in rep["vectors"][0]["message"]


def test_sigterm_still_writes_the_reports(tmp_path: Path) -> None:
    """A CI job's timeout sends SIGTERM: the run stops like Ctrl-C and the reports say so."""
    import os
    import signal
    import subprocess
    import time

    vec = mini(tmp_path / "v")
    marker = tmp_path / "started"
    rep = tmp_path / "reports"
    pyb = ROOT / "tests" / "backends" / "py_backends.py"
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "check", "--vectors", str(vec), "--backend",
         f"python:{pyb}:Blocks", "--timeout", "300", "--report-dir", str(rep)],
        cwd=ROOT, env={**os.environ, "SORBET_TEST_MARKER": str(marker)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if marker.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    report = json.loads((rep / "check-report.json").read_text())
    assert report["aborted"] == "interrupted" and report["verdict"] == "FAIL"
    assert "not_run" in report["counts"]
    ET.parse(rep / "check-junit.xml")
    assert b"interrupted" in out
