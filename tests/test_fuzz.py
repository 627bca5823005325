"""``sorbet-ref fuzz``: a planted bug found and shrunk, shards disjoint and merged,
determinism, and bad input (conformance/fuzz/, docs/fuzzing.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.cli import main
from conformance.fuzz.draw import fixed_width_rows
from conformance.fuzz.plan import Plan, PlanError, parse_shard
from conformance.fuzz.rng import Stream, regime_rows
from conformance.vectors.strategies import SplitMix64

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "examples" / "c_port" / "src"
JSON = Any

TIE_LINE = "if (r > half || (r == half && (q % 2 != 0))) {"
BROKEN_LINE = "if (r >= half) {"
"""The planted bug: the quantizer rounds ties up instead of to even."""


def _build(out: Path, src: Path) -> Path:
    cc = next((c for c in (os.environ.get("CC", ""), "cc", "gcc", "clang")
               if c and shutil.which(c)), None)
    if cc is None:
        pytest.skip("no C compiler: the C port cannot be built")
    done = subprocess.run([cc, "-std=c99", "-O1", "-o", str(out), *map(str, sorted(
        src.glob("*.c")))], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The C port as written, and a copy with the planted bug."""
    d = tmp_path_factory.mktemp("ports")
    broken_src = d / "broken_src"
    shutil.copytree(SRC, broken_src)
    q = broken_src / "op_quantize.c"
    text = q.read_text(encoding="utf-8")
    assert TIE_LINE in text, "the line the planted bug replaces has changed"
    q.write_text(text.replace(TIE_LINE, BROKEN_LINE), encoding="utf-8")
    return {"good": _build(d / "sorbet-c", SRC), "broken": _build(d / "broken-c", broken_src)}


def _fuzz(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["fuzz", *args])
    return code, capsys.readouterr().out


def _report(d: Path) -> dict[str, JSON]:
    data: dict[str, JSON] = json.loads((d / "fuzz-report.json").read_text(encoding="utf-8"))
    return data


# --- the planted bug ------------------------------------------------------------------


def test_finds_and_shrinks_planted_bug(ports: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    rep = tmp_path / "rep"
    code, out = _fuzz(capsys, "--backend", f"exec:{ports['broken']}", "--ops", "quantize",
                      "--preset", "tiny", "--cases", "1500", "--seed", "3",
                      "--report-dir", str(rep))
    assert code == 1
    data = _report(rep)
    assert data["verdict"] == "FAIL"
    assert data["counts"].get("mismatch", 0) > 0
    shrunk = data["shrunk"]
    assert shrunk and shrunk[0]["status"] == "mismatch"
    s = shrunk[0]
    assert len(s["inputs"]["x"]) == 1, s  # one value shows a tie rounded the wrong way
    assert s["size_after"] < s["size_before"]
    assert s["calls"] <= s["budget"]["calls"]
    assert s["rule"].startswith("quantize.")
    assert "rule " + s["rule"] in out and s["vector_file"] in out
    # the shrunk case is a vectors directory check runs: the reference passes it, the
    # broken port fails it, the port as written passes it; the directory is not the
    # published suite, so a full pass ends UNPUBLISHED (exit 3), never a plain PASS
    shrunk_dir = rep / "shrunk"
    assert main(["check", "--backend", "reference", "--vectors", str(shrunk_dir),
                 "--report-dir", str(tmp_path / "c1")]) == 3
    assert main(["check", "--backend", f"exec:{ports['broken']}", "--vectors",
                 str(shrunk_dir), "--report-dir", str(tmp_path / "c2")]) == 1
    assert main(["check", "--backend", f"exec:{ports['good']}", "--vectors", str(shrunk_dir),
                 "--report-dir", str(tmp_path / "c3")]) == 3


def test_port_as_written_passes(ports: dict[str, Path], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    rep = tmp_path / "rep"
    code, out = _fuzz(capsys, "--backend", f"exec:{ports['good']}", "--preset", "tiny",
                      "--preset", "tiny-b2", "--cases", "3000", "--canonical-every", "16",
                      "--report-dir", str(rep))
    assert code == 0, out
    data = _report(rep)
    assert data["totals"]["cases"] == 3000 and data["totals"]["failed"] == 0
    assert set(data["per_operator"]) == {"ptsoftmax", "bspn", "quantize", "if_encode",
                                         "binary_linear"}
    assert data["oracle"]["canonical_checked"] >= 3000 // 16
    assert data["oracle"]["fast_path"] > 0 and data["oracle"]["judged_in_full"] > 0
    suite = ET.parse(rep / "fuzz-junit.xml").getroot()
    assert suite.get("failures") == "0"
    assert {tc.get("name") for tc in suite} == set(data["per_job"])


def test_shrink_budget_is_reported(ports: dict[str, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    rep = tmp_path / "rep"
    code, out = _fuzz(capsys, "--backend", f"exec:{ports['broken']}", "--ops", "quantize",
                      "--preset", "tiny", "--cases", "1500", "--seed", "3",
                      "--shrink-calls", "3", "--report-dir", str(rep))
    assert code == 1
    s = _report(rep)["shrunk"][0]
    assert s["calls"] == 3
    assert "budget of 3 backend calls" in s["stopped_by_budget"]
    assert "budget of 3 backend calls" in out


# --- determinism and shards -----------------------------------------------------------


def _requests(ports: dict[str, Path], tmp: Path, capsys: pytest.CaptureFixture[str],
              *args: str) -> list[bytes]:
    req = tmp / "req.jsonl"
    code, out = _fuzz(capsys, "--backend", f"exec:{ports['good']}", "--preset", "tiny",
                      "--save-requests", str(req), "--report-dir", str(tmp), *args)
    assert code == 0, out
    return req.read_bytes().splitlines()


def test_deterministic_per_seed_and_shard(ports: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    a = _requests(ports, tmp_path / "a", capsys, "--cases", "1200", "--seed", "9")
    b = _requests(ports, tmp_path / "b", capsys, "--cases", "1200", "--seed", "9")
    c = _requests(ports, tmp_path / "c", capsys, "--cases", "1200", "--seed", "10")
    assert a == b
    assert len(a) == 1200
    assert a != c


def test_shards_partition_the_stream_and_merge(ports: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    whole = _requests(ports, tmp_path / "whole", capsys, "--cases", "2000", "--seed", "5")
    parts = [_requests(ports, tmp_path / f"s{i}", capsys, "--cases", "2000", "--seed", "5",
                       "--shard", f"{i}/3") for i in range(3)]
    ids = [{json.loads(line)["id"] for line in p} for p in parts]
    assert all(not (ids[i] & ids[j]) for i in range(3) for j in range(i + 1, 3))
    assert sorted(line for p in parts for line in p) == sorted(whole)
    code = main(["fuzz", "merge", *(str(tmp_path / f"s{i}") for i in range(3)),
                 "--report-dir", str(tmp_path / "merged")])
    out = capsys.readouterr().out
    assert code == 0, out
    merged = json.loads((tmp_path / "merged" / "fuzz-merged.json").read_text())
    assert merged["verdict"] == "PASS" and merged["totals"]["cases"] == 2000
    # a missing shard: not a pass
    code = main(["fuzz", "merge", str(tmp_path / "s0"), str(tmp_path / "s2"),
                 "--report-dir", str(tmp_path / "m2")])
    assert code == 1
    assert "INCOMPLETE" in capsys.readouterr().out
    # the same shard twice: refused
    code = main(["fuzz", "merge", str(tmp_path / "s0"), str(tmp_path / "s0"),
                 "--report-dir", str(tmp_path / "m3")])
    assert code == 2
    assert "shard 0/3 is also" in capsys.readouterr().err
    # another run: refused
    code = main(["fuzz", "merge", str(tmp_path / "s0"), str(tmp_path / "whole"),
                 "--report-dir", str(tmp_path / "m4")])
    assert code == 2


def test_plan_partitions_batches() -> None:
    plans = [Plan(seed=1, shard=i, shards=4, cases=10_000) for i in range(4)]
    seen = [set(p.batches()) for p in plans]
    assert set().union(*seen) == set(range(Plan(seed=1, cases=10_000).total_batches or 0))
    assert sum(len(s) for s in seen) == len(set().union(*seen))
    assert sum(p.planned_cases() or 0 for p in plans) == 10_000


def test_rng_is_splitmix64() -> None:
    s, ref = Stream(0xDEADBEEF), SplitMix64(0xDEADBEEF)
    assert s.raw(7).tolist() == [ref.next64() for _ in range(7)]
    assert s.raw(3).tolist() == [ref.next64() for _ in range(3)]
    rows = regime_rows(Stream(4), 200, 9, -5, 7)
    assert rows.min() >= -5 and rows.max() <= 7
    signs = Stream(5).signs((3, 100))
    assert set(np.unique(signs).tolist()) == {-1, 1}


def test_fixed_width_rows_are_json() -> None:
    a = Stream(6).ints(-(10 ** 9), 10 ** 9, (20, 30))
    a[0] = 0
    a[1, :5] = [-1, 1, -10, 10, -(10 ** 9)]
    assert [json.loads(t) for t in fixed_width_rows(a)] == a.tolist()


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--shard", "3/2"], "the shard index I must be below the count N"),
    (["--shard", "x"], "expected I/N"),
    (["--cases", "0"], "--cases 0: expected at least 1 case"),
    (["--preset", "huge"], "unknown preset"),
])
def test_impossible_plans(args: list[str], message: str, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """Exit code 2, the message on stderr, and a report saying so."""
    code = main(["fuzz", "--backend", "reference", "--report-dir", str(tmp_path), *args])
    assert code == 2
    assert message in capsys.readouterr().err
    data = _report(tmp_path)
    assert data["verdict"] == "FAIL" and data["exit_code"] == 2
    assert message in data["problems"][0]
    assert ET.parse(tmp_path / "fuzz-junit.xml").getroot().get("failures") == "1"


def test_unknown_operator_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["fuzz", "--backend", "reference", "--ops", "nope"])
    assert exc.value.code == 2
    assert "unknown operator" in capsys.readouterr().err


def test_shard_parser() -> None:
    assert parse_shard("2/5") == (2, 5)
    with pytest.raises(PlanError):
        parse_shard("5/5")


def test_backend_dying_mid_fuzz(ports: dict[str, Path], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """A port that exits after 100 requests: every death is one crash, the cases in flight
    are run again, the run goes on, and the report is written."""
    wrapper = tmp_path / "dies.sh"
    wrapper.write_text(f"#!/bin/sh\nsed -u 100q | {ports['good']}\n", encoding="utf-8")
    wrapper.chmod(0o755)
    rep = tmp_path / "rep"
    code, _ = _fuzz(capsys, "--backend", f"exec:{wrapper}", "--preset", "tiny",
                      "--ops", "if_encode", "--cases", "600", "--shrink", "0",
                      "--report-dir", str(rep))
    assert code == 1
    data = _report(rep)
    assert data["totals"]["cases"] == 600
    assert data["counts"].get("crash", 0) >= 1
    assert data["counts"]["pass"] >= 500
    assert data["stream_failures"] >= 1


def test_backend_that_never_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rep = tmp_path / "rep"
    code, out = _fuzz(capsys, "--backend", f"exec:{shutil.which('false')}", "--preset", "tiny",
                      "--cases", "300", "--report-dir", str(rep))
    assert code == 1
    data = _report(rep)
    assert data["stopped"] == "the backend was given up"
    assert any("not restarted" in p or "times in a row" in p for p in data["problems"])
    assert "stopped: the backend was given up" in out


def test_port_slower_than_the_timeout(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A port that takes longer per answer than --timeout: each wait ends, the cases are
    reported as timeouts, the backend is given up, and the run ends in bounded time."""
    slow = tmp_path / "slow.py"
    slow.write_text("import sys, time\nfor line in sys.stdin:\n    time.sleep(5)\n",
                    encoding="utf-8")
    rep = tmp_path / "rep"
    code, _ = _fuzz(capsys, "--backend", f"exec:{sys.executable} {slow}", "--preset", "tiny",
                      "--ops", "if_encode", "--cases", "50", "--timeout", "0.3",
                      "--shrink-time", "1", "--report-dir", str(rep))
    assert code == 1
    data = _report(rep)
    assert data["counts"].get("timeout", 0) >= 1
    assert data["stopped"] == "the backend was given up"
    assert data["elapsed_s"] < 60


def test_hypothesis_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rep = tmp_path / "rep"
    code, out = _fuzz(capsys, "--backend", "reference", "--source", "hypothesis",
                      "--preset", "tiny", "--ops", "ptsoftmax", "--cases", "40",
                      "--report-dir", str(rep))
    assert code == 0, out
    assert _report(rep)["plan"]["source"] == "hypothesis"


@pytest.mark.parametrize("preset", ["tiny", "tiny-b2", "sorbet"])
def test_request_and_expected_lines(preset: str) -> None:
    """Every request line is JSON of the case's own config and inputs; every precomputed
    answer line is the expected outputs in Python's JSON layout."""
    from conformance.fuzz.batch import build_batch
    from conformance.fuzz.jobs import select_jobs
    from conformance.operators import OPS

    for job in select_jobs((), (preset,)):
        batch = build_batch(job, 11, 2, size=64, canonical_every=10 ** 9)
        for case in batch.cases:
            req = json.loads(case.request)
            assert req == {"config": case.config, "id": case.id, "inputs": case.inputs,
                           "op": job.op}
            if "reject" in case.expected:
                continue
            spec = OPS[job.op]
            outputs = {**case.expected["outputs"], **case.expected["profile"]}
            ordered = {k: outputs[k] for k in (*spec.outputs, *spec.profile_outputs)}
            assert case.fast == json.dumps({"id": case.id, "outputs": ordered}).encode()


def test_garbage_line_mid_stream(ports: dict[str, Path], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The 40th answer of every port process garbled: each such case is ``garbage``, the
    port is restarted, every other case is judged and passes."""
    wrapper = tmp_path / "garbles.sh"
    wrapper.write_text(f"#!/bin/sh\n{ports['good']} | sed -u '40s/^/oops /'\n",
                       encoding="utf-8")
    wrapper.chmod(0o755)
    rep = tmp_path / "rep"
    code, _ = _fuzz(capsys, "--backend", f"exec:{wrapper}", "--preset", "tiny",
                    "--ops", "quantize", "--cases", "300", "--shrink", "0",
                    "--report-dir", str(rep))
    assert code == 1
    data = _report(rep)
    assert data["counts"] == {"garbage": data["counts"]["garbage"], "pass": 300 - data[
        "counts"]["garbage"]}
    assert data["counts"]["garbage"] >= 1
    assert data["stream_failures"] >= 1
    assert all(f["status"] == "garbage" and "oops" in f["message"] for f in data["failures"])


def test_python_backend_is_pipelined(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ``python:`` backend runs in the runner's worker process and gets the pipelined
    stream like an exec port."""
    rep = tmp_path / "rep"
    code, out = _fuzz(capsys, "--backend", "python:conformance.runner.backends:ReferenceBackend",
                      "--preset", "tiny-b2", "--cases", "300", "--report-dir", str(rep))
    assert code == 0, out
    data = _report(rep)
    assert data["backend"]["kind"] == "python"
    assert data["totals"]["passed"] == 300
    assert data["oracle"]["fast_path"] == 0  # the worker's layout differs: judged in full


def test_time_budget_cuts_a_bounded_stream(ports: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """--cases with a --time-budget that ends first: INCOMPLETE, and the report says why."""
    rep = tmp_path / "rep"
    code, out = _fuzz(capsys, "--backend", f"exec:{ports['good']}", "--preset", "tiny",
                      "--cases", "10000000", "--time-budget", "0.5", "--report-dir", str(rep))
    assert code == 1
    data = _report(rep)
    assert data["verdict"] == "INCOMPLETE"
    assert data["totals"]["failed"] == 0 and data["totals"]["cases"] > 0
    assert "time budget" in data["stopped"]
    assert "INCOMPLETE" in out
