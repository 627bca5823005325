"""The hostile-input catalog (docs/hostile-inputs.md): ports, Python backends, vector
suites, expected-failure lists, offline results and checkpoints built to make the runner
lie, hang, blow up or lose results.  For every class: the exit code, the report written,
the message, memory bounded where a port could grow it, no result lost, and no way to a
plain PASS on an empty, waived, modified or partial run."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance import api
from conformance.cli import main
from conformance.model.checkpoint import CheckpointError, CheckpointLimits, load_checkpoint
from conformance.runner import check as check_module
from conformance.vectors.coverage import coverage_markdown
from conformance.vectors.manifest import COVERAGE, manifest_entry, write_manifest
from tests.support import copy_suites, gone_soon

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"
PORT = ROOT / "tests" / "hostile" / "port.py"
PYH = ROOT / "tests" / "hostile" / "py_hostile.py"
PYB = ROOT / "tests" / "backends" / "py_backends.py"
IF_FILE = "if_encode/if_encode-tiny-b2.json"
PT_FILE = "ptsoftmax/ptsoftmax-tiny-b2.json"


def suite_dir(root: Path, files: tuple[str, ...] = (IF_FILE,)) -> Path:
    """Copies of committed suites with their manifest and coverage table (a subset of the
    published suite, unchanged)."""
    return copy_suites(root, files)


def reseal(root: Path) -> None:
    """Re-hash every file into the manifest and rewrite the coverage table (what someone
    editing the vectors would do to get past the hashes)."""
    m = json.loads((root / "manifest.json").read_text())
    files = [e["path"] for e in m["files"]]
    write_manifest(root, [manifest_entry(rel, (root / rel).read_bytes()) for rel in files])
    (root / COVERAGE).write_text(coverage_markdown(
        json.loads((root / rel).read_text()) for rel in files), encoding="ascii")


def ids(vec: Path, rel: str = IF_FILE) -> list[str]:
    return [str(v["id"]) for v in json.loads((vec / rel).read_text())["vectors"]]


def check(tmp: Path, vec: Path, backend: str, *extra: str) -> tuple[int, dict[str, Any], Path]:
    rep = tmp / "reports"
    if rep.exists():
        shutil.rmtree(rep)
    code = main(["check", "--vectors", str(vec), "--backend", backend, "--report-dir", str(rep),
                 *extra])
    assert (rep / "check-junit.xml").exists(), "the JUnit report is always written"
    ET.parse(rep / "check-junit.xml")
    return code, json.loads((rep / "check-report.json").read_text()), rep


def by_id(rep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in rep["vectors"]}


def port(mode: str, target: str = "*") -> str:
    return f"exec:{sys.executable} {PORT} {mode} {target}"


def no_lost_results(rep: dict[str, Any], bad: set[str]) -> None:
    """Every vector but ``bad`` passed: one bad answer took no other result with it."""
    assert {v["id"] for v in rep["vectors"] if v["status"] != "pass"} == bad, [
        (v["id"], v["status"], v.get("message", "")[:200]) for v in rep["vectors"]
        if v["status"] != "pass"]


def pids_in(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"helper pid (\d+)", text)]


# --- answers that break spec/11 ----------------------------------------------------------


@pytest.mark.parametrize(("mode", "status", "needle"), [
    ("no_id", "malformed", "the answer has no 'id'"),
    ("both", "malformed", "exactly one of 'outputs', 'reject', 'error'; got 'outputs' and "
     "'reject'"),
    ("extra_key", "malformed", "unknown field(s) ['debug']"),
    ("int_id", "garbage", "answer for id 7"),
    ("reject_number", "malformed", "field reject: expected a string"),
    ("outputs_list", "malformed", "field outputs: expected an object"),
    ("bigint", "malformed", "a number with 5001 digits"),
    ("deep", "malformed", "nested more than 16 deep"),
    ("not_utf8", "garbage", "not UTF-8"),
])
def test_answers_outside_the_protocol_fail_their_vector(tmp_path: Path, mode: str, status: str,
                                                        needle: str) -> None:
    vec = suite_dir(tmp_path / "v")
    target = ids(vec)[2]
    code, rep, _ = check(tmp_path, vec, port(mode, target))
    assert code == 1 and rep["verdict"] == "FAIL"
    got = by_id(rep)[target]
    assert got["status"] == status and needle in got["message"], got["message"]
    no_lost_results(rep, {target})


# --- processes left behind, streams, stderr ---------------------------------------------


def test_background_child_holding_stdout_does_not_hold_the_runner(tmp_path: Path) -> None:
    """The port exits at end of input; a child in its process group still holds stdout."""
    vec = suite_dir(tmp_path / "v")
    rc, rep, _ = check(tmp_path, vec, port("background"))
    assert rc == 0 and rep["verdict"] == "PASS"
    helpers = pids_in(rep["backend_stderr_tail"])
    assert helpers and all(gone_soon(p) for p in helpers)  # the whole process group was killed


def test_setsid_grandchild_holding_stdout_does_not_hold_the_runner(tmp_path: Path) -> None:
    """The port exits on the target; a grandchild in its own session keeps stdout open.
    The crash is seen when the port exits, not when the grandchild does; a port that
    ignores end of input is killed after the bounded shutdown."""
    vec = suite_dir(tmp_path / "v")
    target = ids(vec)[1]
    helpers: list[int] = []
    try:
        rc, rep, _ = check(tmp_path, vec, port("setsid_exit", target), "--timeout", "60")
        helpers += pids_in(rep["backend_stderr_tail"])
        assert rc == 1
        got = by_id(rep)[target]
        assert got["status"] == "crash" and "exited with status 5" in got["message"]
        no_lost_results(rep, {target})
        rc, rep, _ = check(tmp_path, vec, port("setsid_daemon"), "--timeout", "60")
        helpers += pids_in(rep["backend_stderr_tail"])
        assert rc == 0 and rep["verdict"] == "PASS"
    finally:
        for pid in helpers:  # they left the port's session: ours to end
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert helpers


def test_never_flushing_port_is_told_so(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    rc, rep, _ = check(tmp_path, vec, port("noflush"), "--timeout", "0.5")
    assert rc == 1
    first = rep["vectors"][0]
    assert first["status"] == "timeout"
    assert f"no answer to {first['id']} within 0.5 s" in first["message"]
    assert "does the port flush stdout after each answer?" in first["message"]
    assert any("not restarted" in p for p in rep["problems"])


def test_port_failing_at_start_up_is_described_once(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    vec = suite_dir(tmp_path / "v")
    rc, rep, _ = check(tmp_path, vec, port("startup_fail"))
    out = capsys.readouterr().out
    assert rc == 1 and all(v["status"] == "crash" for v in rep["vectors"])
    assert "exited with status 1" in rep["vectors"][0]["message"]
    assert "status None" not in out
    blocks = [line for line in out.splitlines() if line.startswith("[crash]")]
    assert len(blocks) == 2, blocks  # five identical start-up crashes, then "not restarted"
    assert "more vector(s) with the same crash message" in out
    assert out.count("cannot open /dev/accel0") <= 3


def test_flood_of_lines_is_out_of_step_and_restarted(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    target = ids(vec)[0]
    rc, rep, _ = check(tmp_path, vec, port("flood", target))
    got = by_id(rep)[target]
    assert rc == 1 and got["status"] == "garbage" and "'noise'" in got["message"]
    no_lost_results(rep, {target})


_PEAK_WRAPPER = """
import sys
from conformance.cli import main
code = main(sys.argv[2:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
with open(sys.argv[1], "w") as out:
    out.write(peak)
sys.exit(code)
"""
"""Runs ``sorbet-ref check`` and records its own peak resident memory: ``VmHWM`` belongs to
the process image after ``exec``, unlike ``ru_maxrss``, which also counts the pages of the
(possibly large) test process that the child shared before ``exec``."""


def _cli(tmp: Path, *args: str) -> tuple[int, int, dict[str, Any]]:
    """``sorbet-ref check`` in its own process: exit code, peak memory (KB), report."""
    rep = tmp / "reports"
    peak = tmp / "peak-kb"
    proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, str(peak), "check",
                           "--report-dir", str(rep), *args],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                          check=False)
    return (proc.returncode, int(peak.read_text()),
            json.loads((rep / "check-report.json").read_text()))


PEAK_KB = 400 * 1024
"""Far above the runner's own footprint, far below what the unbounded runner reached
(2.7 GB for a port streaming without a newline)."""


def test_endless_line_is_bounded(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    target = ids(vec)[0]
    rc, peak, rep = _cli(tmp_path, "--vectors", str(vec), "--backend", port("endless", target))
    got = by_id(rep)[target]
    assert rc == 1 and got["status"] == "garbage"
    assert "passed 4194304 bytes without a line end" in got["message"]
    no_lost_results(rep, {target})
    assert peak < PEAK_KB


def test_stderr_and_messages_are_bounded_in_reports(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    rc, peak, rep = _cli(tmp_path, "--vectors", str(vec), "--backend", port("stderr_flood"))
    failing = [(v["id"], v["status"], v["message"][:300])
               for v in rep["vectors"] if v["status"] != "pass"]
    assert (rc, rep["verdict"]) == (0, "PASS"), (rep["problems"], failing)
    assert peak < PEAK_KB
    assert 0 < len(rep["backend_stderr_tail"]) <= 8000
    rc, rep, rep_dir = check(tmp_path, vec, port("huge_message"))
    assert rc == 1
    valid = [v for v in rep["vectors"] if v["status"] == "unexpected_reject"]
    assert valid and all(len(v["message"]) < 3000 for v in valid)
    assert (rep_dir / "check-report.json").stat().st_size < 1024 * 1024
    rc, rep, rep_dir = check(tmp_path, vec, f"python:{PYH}:HugeError")
    crashed = [v for v in rep["vectors"] if v["status"] == "crash"]
    assert rc == 1 and len(crashed) == len(rep["vectors"])
    assert all("RuntimeError" in v["message"] and len(v["message"]) < 3000 for v in crashed)
    assert (rep_dir / "check-report.json").stat().st_size < 1024 * 1024


# --- Python backends ---------------------------------------------------------------------


@pytest.mark.parametrize(("attr", "status", "needle", "extra"), [
    ("OsExit", "crash", "exited with status 0", ()),
    ("SelfKill", "crash", "was killed by SIGKILL", ()),
    ("Hang", "timeout", "within 1 s", ("--timeout", "1")),
    ("HugeOutputs", "crash", "RecursionError", ()),
])
def test_python_backend_cannot_end_or_stall_the_runner(tmp_path: Path, attr: str, status: str,
                                                       needle: str, extra: tuple[str, ...]
                                                       ) -> None:
    vec = suite_dir(tmp_path / "v")
    data = json.loads((vec / IF_FILE).read_text())["vectors"]
    targets = {v["id"] for v in data if v["inputs"].get("count") == 2}
    assert targets
    rc, rep, _ = check(tmp_path, vec, f"python:{PYH}:{attr}", *extra)
    assert rc == 1 and rep["verdict"] == "FAIL"
    for t in targets:
        assert by_id(rep)[t]["status"] == status and needle in by_id(rep)[t]["message"]
    no_lost_results(rep, targets)


def test_python_system_exit_is_a_crash_of_each_vector(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v", (IF_FILE, PT_FILE))
    rc, rep, _ = check(tmp_path, vec, f"python:{PYH}:SysExit")
    assert rc == 1
    st = by_id(rep)
    assert all(st[i]["status"] == "crash" and "SystemExit" in st[i]["message"] for i in ids(vec))
    assert all(st[i]["status"] == "pass" for i in ids(vec, PT_FILE))


def test_python_backend_printing_to_stdout_still_passes(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    rc, rep, _ = check(tmp_path, vec, f"python:{PYH}:Chatty")
    assert rc == 0 and rep["verdict"] == "PASS"
    assert "computing if_encode" in rep["backend_stderr_tail"]


def test_python_backend_exiting_at_import_is_a_run_level_problem(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    rc, rep, _ = check(tmp_path, vec, f"python:{PYH.parent / 'import_exits.py'}:Backend")
    assert rc == 1 and all(v["status"] == "not_run" for v in rep["vectors"])
    assert any("exited with status 0 while loading it" in p for p in rep["problems"])


def test_api_check_isolates_a_backend_object(tmp_path: Path) -> None:
    sys.path.insert(0, str(PYH.parent))
    try:
        import py_hostile
    finally:
        sys.path.remove(str(PYH.parent))
    vec = suite_dir(tmp_path / "v")
    res = api.check(py_hostile.OsExit(), vec, timeout=10)
    assert res.verdict == "FAIL" and res.exit_code == 1
    bad = {o.id: o for o in res.outcomes if o.status != "pass"}
    assert bad and all(o.status == "crash" for o in bad.values())
    res = api.check(py_hostile.Chatty(), vec, timeout=10)
    assert res.verdict == "PASS", res.problems


# --- suites that are not the published one -----------------------------------------------


def test_published_subset_passes_and_says_what_it_covers(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    rc, rep, _ = check(tmp_path, vec, "reference")
    assert rc == 0 and rep["verdict"] == "PASS"
    assert rep["suite"]["identity"] == "published-subset"
    assert "claim: 1 suite(s) only: if_encode-tiny-b2" in rep["verdict_line"]


def test_edited_and_resealed_suite_is_never_a_pass(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    vec = suite_dir(tmp_path / "v")
    path = vec / IF_FILE
    data = json.loads(path.read_text())
    data["vectors"][0]["comment"] += " (edited)"
    path.write_text(json.dumps(data))
    reseal(vec)
    rc, rep, rep_dir = check(tmp_path, vec, "reference")
    out = capsys.readouterr().out
    assert rc == 3 and rep["verdict"] == "UNPUBLISHED"
    assert rep["suite"]["identity"] == "unpublished" and rep["suite"]["not_published"] == [IF_FILE]
    assert "VERDICT: UNPUBLISHED" in out and "UNPUBLISHED suite" in out
    junit = ET.parse(rep_dir / "check-junit.xml").getroot()
    assert "UNPUBLISHED" in junit.get("verdict", "") and junit.get("failures") == "1"
    # an expected value changed: the reference fails it, and the label stays
    data["vectors"][0]["expected"]["outputs"]["spikes"][0] ^= 1
    path.write_text(json.dumps(data))
    reseal(vec)
    rc, rep, _ = check(tmp_path, vec, "reference")
    assert rc == 1 and rep["verdict"] == "FAIL" and "UNPUBLISHED suite" in rep["verdict_line"]


def test_dropped_vector_with_counts_fixed_is_unpublished(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    path = vec / IF_FILE
    data = json.loads(path.read_text())
    dropped = data["vectors"].pop()
    data["counts"]["total"] -= 1
    data["counts"]["reject" if "reject" in dropped["expected"] else "valid"] -= 1
    path.write_text(json.dumps(data))
    reseal(vec)
    rc, rep, _ = check(tmp_path, vec, "reference")
    assert not rep["problems"], rep["problems"]
    assert rc == 3 and rep["verdict"] == "UNPUBLISHED"


def test_stale_coverage_fails_check_as_it_fails_verify(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    (vec / COVERAGE).write_text("stale\n")
    rc, rep, _ = check(tmp_path, vec, "reference")
    assert rc == 1 and any("COVERAGE.md: out of date" in p for p in rep["problems"])


# --- expected-failure lists --------------------------------------------------------------


def _xfail(tmp: Path, entries: list[dict[str, Any]]) -> str:
    f = tmp / "xfail.json"
    f.write_text(json.dumps(entries))
    return str(f)


def test_all_covering_xfail_never_passes(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v", (IF_FILE, PT_FILE))
    nothing = f"python:{PYH}:NothingImplemented"
    for pattern in ("*", "**", "*?"):
        rc, rep, _ = check(tmp_path, vec, nothing, "--xfail",
                           _xfail(tmp_path, [{"pattern": pattern, "reason": "wip"}]))
        assert rc == 1 and rep["verdict"] == "FAIL"
        assert any("covers everything" in p for p in rep["problems"]), rep["problems"]
    # a pattern that happens to cover every selected vector
    rc, rep, _ = check(tmp_path, vec, nothing, "--include", "if_encode*", "--xfail",
                       _xfail(tmp_path, [{"pattern": "if_encode*", "reason": "wip"}]))
    assert rc == 1 and any("covers every selected vector" in p for p in rep["problems"])
    # every vector waived through one entry per suite: nothing passed
    rc, rep, _ = check(tmp_path, vec, nothing, "--xfail", _xfail(tmp_path, [
        {"pattern": "if_encode", "reason": "wip"}, {"pattern": "ptsoftmax", "reason": "wip"}]))
    assert rc == 1 and rep["verdict"] == "FAIL"
    assert any("no vector passed" in p for p in rep["problems"])


def test_waived_valid_vectors_mean_no_claim(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v", (IF_FILE, PT_FILE))
    _, rep, _ = check(tmp_path, vec, f"python:{PYB}:OffByOne")
    failing = [v["id"] for v in rep["vectors"] if v["status"] != "pass"]
    rc, rep, _ = check(tmp_path, vec, f"python:{PYB}:OffByOne", "--xfail", _xfail(
        tmp_path, [{"id": i, "reason": "off by one"} for i in failing]))
    assert rc == 1 and rep["verdict"] == "WAIVED"
    assert rep["waivers"]["unclaimed_suites"] == ["ptsoftmax-tiny-b2"]
    assert "no claim for suite(s) ptsoftmax-tiny-b2" in rep["verdict_line"]


def test_rejection_waiver_is_the_only_waiver_of_a_pass(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v", (IF_FILE, PT_FILE))
    rc, rep, _ = check(tmp_path, vec, f"python:{PYB}:NeverRejects", "--xfail", _xfail(
        tmp_path, [{"pattern": "*", "negative": True, "reason": "fed by a trusted sequencer"}]))
    assert rc == 0 and rep["verdict"] == "PASS", rep["problems"]
    assert rep["waivers"]["negative_vectors"] and not rep["waivers"]["valid_vectors"]
    assert "no claim about rejections" in rep["verdict_line"]


def test_stale_xfail_entry_fails_the_run(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    rc, rep, _ = check(tmp_path, vec, "reference", "--xfail", _xfail(
        tmp_path, [{"id": "if_encode-tiny-b2-000000000000", "reason": "typo"}]))
    assert rc == 1 and any("matches no vector" in p for p in rep["problems"])


# --- bad files -----------------------------------------------------------------------------


def test_manifest_with_a_non_integer_count_fails_that_file_only(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v", (IF_FILE, PT_FILE))
    m = json.loads((vec / "manifest.json").read_text())
    m["files"][0]["vectors"] = "many"
    (vec / "manifest.json").write_text(json.dumps(m))
    rc, rep, _ = check(tmp_path, vec, "reference")
    assert rc == 1
    assert any("field vectors: expected a count" in p for p in rep["problems"]), rep["problems"]
    assert rep["counts"].get("pass", 0) == len(ids(vec, m["files"][1]["path"]))


def test_manifest_that_is_a_fifo_does_not_hang(tmp_path: Path) -> None:
    vec = tmp_path / "v"
    vec.mkdir()
    os.mkfifo(vec / "manifest.json")
    rc, rep, _ = check(tmp_path, vec, "reference")
    assert rc == 1 and any("not a regular file" in p for p in rep["problems"])


@pytest.mark.parametrize(("payload", "needle"), [
    ("[" * 100000 + "]" * 100000, "nested more than 64 deep"),
    ("1" * 5000, "a number with 5000 digits"),
])
def test_vector_file_bombs_fail_that_file_only(tmp_path: Path, payload: str, needle: str) -> None:
    vec = suite_dir(tmp_path / "v", (IF_FILE, PT_FILE))
    text = (vec / IF_FILE).read_text()
    (vec / IF_FILE).write_text(text.replace('"comment":', f'"bomb":{payload},"comment":', 1))
    reseal_hash_only(vec, IF_FILE)
    rc, rep, _ = check(tmp_path, vec, "reference")
    assert rc == 1 and any(needle in p and IF_FILE in p for p in rep["problems"]), rep["problems"]
    assert rep["counts"] == {"pass": len(ids(vec, PT_FILE))}
    assert rep["totals"]["missing_from_manifest"] == len(ids(VECTORS, IF_FILE))


def reseal_hash_only(root: Path, rel: str) -> None:
    m = json.loads((root / "manifest.json").read_text())
    for e in m["files"]:
        if e["path"] == rel:
            e["sha256"] = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    (root / "manifest.json").write_text(json.dumps(m))


def test_offline_bad_files_fail_per_vector_or_per_run(tmp_path: Path) -> None:
    vec = suite_dir(tmp_path / "v")
    first, *rest = ids(vec)
    res = tmp_path / "r"
    res.mkdir()
    for vid in [first, *rest]:
        d = res / vid
        d.mkdir()
        (d / "reject.txt").write_bytes(b"\xff\xfe range" if vid == first else b"range\n")
    rc, rep, _ = check(tmp_path, vec, f"offline:{res}")
    assert rc == 1
    assert by_id(rep)[first]["status"] == "garbage" and "not UTF-8" in by_id(rep)[first]["message"]
    assert all(by_id(rep)[v]["status"] != "garbage" for v in rest)
    for payload, needle in (("[" * 100000 + "]" * 100000, "nested more than 18 deep"),
                            ('{"results": 1' + "0" * 5000 + "}", "a number with 5001 digits"),
                            ('{"results": [1,', "not a readable JSON file")):
        (res / "results.json").write_text(payload)
        rc, rep, _ = check(tmp_path, vec, f"offline:{res}")
        assert rc == 1 and all(v["status"] == "missing" for v in rep["vectors"])
        assert any(needle in p for p in rep["problems"]), rep["problems"]


# --- interrupts and runner defects ---------------------------------------------------------


def test_interrupt_while_loading_writes_the_report(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(root: Path) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(check_module, "verified_vectors", interrupted)
    rc, rep, _ = check(tmp_path, suite_dir(tmp_path / "v"), "reference")
    assert rc == 1 and rep["aborted"] == "interrupted"
    assert any("interrupted during loading the vectors" in p for p in rep["problems"])


@pytest.mark.parametrize("exc", [RuntimeError("defect"), SystemExit(0)])
def test_a_runner_that_dies_never_exits_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          exc: BaseException) -> None:
    real = check_module._apply
    calls: list[int] = []

    def dies_late(*args: Any) -> None:
        calls.append(1)
        if len(calls) > 3:
            raise exc
        real(*args)

    monkeypatch.setattr(check_module, "_apply", dies_late)
    vec = suite_dir(tmp_path / "v")
    rc, rep, _ = check(tmp_path, vec, "reference")
    assert rc == 1 and rep["verdict"] == "FAIL"
    assert any("the runner failed" in p for p in rep["problems"])
    assert rep["counts"]["pass"] == 3  # the results before the failure are kept


# --- checkpoints -------------------------------------------------------------------------


def _npz(path: Path, members: dict[str, bytes], compress: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
                         ) as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
    return path


def _npy(arr: np.ndarray[Any, Any]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def test_checkpoint_member_sizes_are_checked_before_reading(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a member whose header declares a billion floats in a few bytes
    head = _npy(np.zeros(4, dtype=np.float32)).replace(b"(4,)", b"(1000000000,)", 1)
    lying = _npz(tmp_path / "lying.npz", {"w.npy": head})
    with pytest.raises(CheckpointError, match=r"member 'w\.npy'.*1000000000"):
        load_checkpoint(lying)
    assert main(["convert", str(lying), "-o", str(tmp_path / "m.npz"), "--quiet"]) == 2
    assert "member 'w.npy'" in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()
    # a deflated member far larger than the limit (10 MB of zeros in a few KB)
    bomb = _npz(tmp_path / "bomb.npz", {"w.npy": _npy(np.zeros(2_500_000, np.float32))},
                compress=True)
    assert bomb.stat().st_size < 100_000
    with pytest.raises(CheckpointError, match=r"member 'w\.npy': declares 10000128 bytes"):
        load_checkpoint(bomb, CheckpointLimits(max_tensor_bytes=1024 * 1024))


def test_interrupt_while_the_backend_starts_writes_the_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.commands import check as check_command

    def interrupted(spec: str, timeout: float | None) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(check_command, "open_backend", interrupted)
    rc, rep, _ = check(tmp_path, suite_dir(tmp_path / "v"), f"python:{PYH}:Chatty")
    assert rc == 1 and rep["aborted"] == "interrupted" and rep["verdict"] == "FAIL"
    assert all(v["status"] == "not_run" for v in rep["vectors"])
    assert any("interrupted while starting the backend" in p for p in rep["problems"])
