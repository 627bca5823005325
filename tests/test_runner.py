"""The runner: backends of every kind, judging, two passes, selection, xfail, reports."""

from __future__ import annotations

import hashlib
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.runner.backends import (
    Answer,
    InProcess,
    ReferenceBackend,
    Unsupported,
    open_backend,
)
from conformance.runner.check import Options, judge, run
from conformance.vectors.plain_export import to_word
from tests.support import copy_suites

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"
PYB = ROOT / "tests" / "backends" / "py_backends.py"
SERVER = ROOT / "examples" / "reference_server.py"
MINI = ("if_encode/if_encode-tiny-b2.json", "ptsoftmax/ptsoftmax-tiny-b2.json",
        "binary_linear/binary_linear-signed-tiny-b2.json")


def mini_vectors(root: Path, files: tuple[str, ...] = MINI) -> Path:
    """A vectors directory holding copies of a few committed suites, with its manifest."""
    return copy_suites(root, files)


def check(tmp: Path, *args: str) -> tuple[int, dict[str, Any]]:
    rep = tmp / "reports"
    code = main(["check", "--report-dir", str(rep), *args])
    return code, json.loads((rep / "check-report.json").read_text())


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {v["id"]: v["status"] for v in report["vectors"]}


def test_reference_passes_every_committed_vector(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, rep = check(tmp_path, "--backend", "reference")
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert rep["verdict"] == "PASS"
    assert rep["selection"]["selected_vectors"] == rep["selection"]["manifest_vectors"] > 1000
    assert "VERDICT: PASS" in out
    junit = ET.parse(tmp_path / "reports" / "check-junit.xml").getroot()
    assert int(junit.get("tests", "0")) == rep["selection"]["selected_vectors"]
    assert junit.get("failures") == "0" and junit.get("errors") == "0"
    assert rep["profiles"]["ptsoftmax"]["claimed"]["partition"] == rep["profiles"][
        "ptsoftmax"]["valid_vectors"]


def test_subprocess_reference_server_passes(tmp_path: Path) -> None:
    code, rep = check(tmp_path, "--backend", f"exec:{sys.executable} {SERVER}",
                      "--include", "*-tiny-b2", "--include", "*-tiny")
    assert code == 0, rep["problems"]
    assert rep["backend"]["kind"] == "exec"
    assert "ptsoftmax-sorbet" in rep["selection"]["excluded_suites"]


def test_offline_backends(tmp_path: Path) -> None:
    vec = mini_vectors(tmp_path / "v")
    data = [json.loads((vec / rel).read_text()) for rel in MINI]
    ref = ReferenceBackend()
    answers = []
    for d in data:
        for v in d["vectors"]:
            a = InProcess(ref, None).call(v)
            answers.append({"id": v["id"], **({"outputs": a.outputs} if a.kind == "outputs"
                                              else {"reject": a.reject})})
    # one results.json
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "results.json").write_text(json.dumps({"results": answers}))
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"offline:{tmp_path / 'r1'}")
    assert code == 0 and rep["verdict"] == "PASS"
    # one file per id, one missing
    (tmp_path / "r2").mkdir()
    for a in answers[1:]:
        (tmp_path / "r2" / f"{a['id']}.json").write_text(json.dumps(a))
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"offline:{tmp_path / 'r2'}")
    assert code == 1 and statuses(rep)[answers[0]["id"]] == "missing"
    # the plain hex form
    r3 = tmp_path / "r3"
    for a in answers:
        d = r3 / a["id"]
        d.mkdir(parents=True)
        if "reject" in a:
            (d / "reject.txt").write_text(a["reject"] + "\n")
            continue
        for name, val in a["outputs"].items():
            vals = val if isinstance(val, list) else [val]
            (d / f"{name}.out.hex").write_text("".join(to_word(x, name) + "\n" for x in vals))
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"offline:{r3}")
    assert code == 0, [v for v in rep["vectors"] if v["status"] != "pass"][:2]


def test_mismatch_report_shows_position_inputs_and_rule(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    vec = mini_vectors(tmp_path / "v")
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:OffByOne")
    assert code == 1 and rep["verdict"] == "FAIL"
    bad = [v for v in rep["vectors"] if v["status"] == "mismatch"]
    assert bad and all(v["op"] == "ptsoftmax" for v in bad)
    m = bad[0]["mismatches"][0]
    assert m["field"] == "out" and m["index"] == 0 and m["actual"] == m["expected"] + 1
    assert bad[0]["rule"].startswith("ptsoftmax.") and bad[0]["section"].endswith(".md")
    assert "scores" in bad[0]["inputs"]
    assert rep["per_operator"]["ptsoftmax"]["fail"] == len(bad)
    assert rep["per_operator"]["if_encode"]["fail"] == 0
    out = capsys.readouterr().out
    assert "out[0]: expected" in out and "inputs: " in out


def test_rejections_must_match_class(tmp_path: Path) -> None:
    vec = mini_vectors(tmp_path / "v")
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:NeverRejects")
    assert code == 1
    assert "not_rejected" in set(statuses(rep).values())
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:AlwaysRange")
    wrong = [v for v in rep["vectors"] if v["status"] == "wrong_reject_class"]
    assert code == 1 and wrong and "expected" in wrong[0]["message"]


def test_profiles_checked_only_when_returned(tmp_path: Path) -> None:
    vec = mini_vectors(tmp_path / "v")
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend",
                      f"python:{PYB}:NormativeOnly")
    assert code == 0 and rep["profiles"]["if_encode"]["claimed"] == {}
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:WrongProfile")
    bad = [v for v in rep["vectors"] if v["status"] == "mismatch"]
    assert code == 1 and bad and bad[0]["mismatches"][0]["part"] == "profile"


def test_state_leaking_between_calls_is_caught(tmp_path: Path) -> None:
    vec = mini_vectors(tmp_path / "v")
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:Stateful")
    assert code == 1
    inc = [v for v in rep["vectors"] if v["status"] == "inconsistent"]
    assert inc and "second pass" in inc[0]["message"]


def test_xfail_and_xpass(tmp_path: Path) -> None:
    vec = mini_vectors(tmp_path / "v")
    _, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:OffByOne")
    failing = [v["id"] for v in rep["vectors"] if v["status"] != "pass"]
    xf = tmp_path / "xfail.json"
    entries = [{"id": i, "reason": "known off-by-one in out[0]"} for i in failing]
    xf.write_text(json.dumps(entries))
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:OffByOne",
                      "--xfail", str(xf))
    # waived valid vectors: no claim for their suite, listed loudly, never a PASS
    assert code == 1 and rep["verdict"] == "WAIVED", rep["problems"]
    assert rep["counts"] == {"pass": len(rep["vectors"]) - len(failing), "xfail": len(failing)}
    assert rep["waivers"]["unclaimed_suites"] == ["ptsoftmax-tiny-b2"]
    assert sorted(rep["waivers"]["valid_vectors"]) == sorted(failing)
    assert "no claim for suite(s) ptsoftmax-tiny-b2" in rep["verdict_line"]
    xf.write_text(json.dumps([*entries, {"pattern": "if_encode-*", "reason": "stale entry"}]))
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:OffByOne",
                      "--xfail", str(xf))
    assert code == 1 and "xpass" in set(statuses(rep).values())


def test_selection_partial_and_empty(tmp_path: Path) -> None:
    vec = mini_vectors(tmp_path / "v")
    first = json.loads((vec / MINI[0]).read_text())["vectors"][0]["id"]
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", "reference",
                      "--exclude", first)
    assert code == 1 and rep["verdict"] == "INCOMPLETE"
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", "reference",
                      "--include", "if_encode")
    assert code == 0 and rep["verdict"] == "PASS"
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", "reference",
                      "--include", "nothing-matches")
    assert code == 1 and any("empty run" in p for p in rep["problems"])


def test_python_backend_exceptions_and_timeouts(tmp_path: Path) -> None:
    vec = mini_vectors(tmp_path / "v", (MINI[0],))
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:Raises")
    crashed = [v for v in rep["vectors"] if v["status"] == "crash"]
    assert code == 1 and crashed and "ZeroDivisionError" in crashed[0]["message"]
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:Sleepy",
                      "--timeout", "0.5")
    st = statuses(rep)
    assert code == 1 and list(st.values()).count("timeout") == 1
    assert list(st.values()).count("pass") == len(st) - 1


def test_judge_is_exact() -> None:
    v = {"comment": "c", "expected": {"outputs": {"out": [1, 2]}, "profile": {"k": 3}},
         "shapes": {"outputs": {"out": [2], "k": []}}}
    assert judge(v, Answer("outputs", outputs={"out": [1, 2]}))[0] == "pass"
    assert judge(v, Answer("outputs", outputs={"out": [1, 2.0]}))[0] == "malformed"
    assert judge(v, Answer("outputs", outputs={"out": [1, True]}))[0] == "malformed"
    assert judge(v, Answer("outputs", outputs={"out": [1, 3]}))[0] == "mismatch"
    assert judge(v, Answer("outputs", outputs={"out": [1, 2], "k": 4}))[0] == "mismatch"
    assert judge(v, Answer("outputs", outputs={"out": [1, 2], "k": 3}))[3] == ["k"]


def test_run_api_with_an_object(tmp_path: Path) -> None:
    vec = mini_vectors(tmp_path / "v", (MINI[0],))
    res = run(Options(vec), open_backend("reference", None))
    assert res.verdict == "PASS" and res.exit_code == 0 and res.selected == res.manifest_total


def test_report_has_config_totals_and_manifest_hash(tmp_path: Path) -> None:
    """A dashboard needs the totals and which vectors ran; a port engineer needs the config
    (a negative vector's defect may be in it) next to the inputs."""
    vec = mini_vectors(tmp_path / "v")
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"python:{PYB}:NeverRejects")
    assert code == 1
    assert rep["manifest_sha256"] == hashlib.sha256((vec / "manifest.json").read_bytes()
                                                    ).hexdigest()
    t = rep["totals"]
    assert t["selected"] == len(rep["vectors"]) == t["passed"] + t["failed"] + t["xfail"]
    bad = [v for v in rep["vectors"] if v["status"] == "not_rejected"]
    assert bad and all(isinstance(v["config"], dict) and v["config"] for v in bad)


def test_xfail_entries_must_name_something(tmp_path: Path) -> None:
    """An entry matching no vector of the suite is a problem (stale or a typo); one matching
    only vectors outside the selection is a note."""
    vec = mini_vectors(tmp_path / "v")
    xf = tmp_path / "xfail.json"
    xf.write_text(json.dumps([{"id": "ptsoftmax-tiny-b2-000000000000", "reason": "typo"}]))
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", "reference",
                      "--xfail", str(xf))
    assert code == 1 and rep["verdict"] == "FAIL"
    assert any("ptsoftmax-tiny-b2-000000000000" in p and "matches no vector" in p
               for p in rep["problems"]), rep["problems"]
    xf.write_text(json.dumps([{"pattern": "ptsoftmax-*", "reason": "not selected"}]))
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", "reference",
                      "--xfail", str(xf), "--include", "if_encode")
    assert code == 0 and rep["verdict"] == "PASS", rep["problems"]
    assert any("outside the selection" in n for n in rep["notes"]), rep["notes"]


def test_wrong_length_is_reported_before_element_types() -> None:
    """A huge wrong-length answer is judged by its length without walking every element."""
    v = {"comment": "c", "expected": {"outputs": {"out": [1, 2]}, "profile": {}},
         "shapes": {"outputs": {"out": [2]}}}
    status, msg, *_ = judge(v, Answer("outputs", outputs={"out": [0.5] * 3}))
    assert status == "malformed" and "wrong shape: expected 2 values" in msg


def test_offline_files_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    vec = mini_vectors(tmp_path / "v", (MINI[0],))
    data = json.loads((vec / MINI[0]).read_text())
    ref = InProcess(ReferenceBackend(), None)
    answers = []
    for v in data["vectors"]:
        a = ref.call(v)
        answers.append({"id": v["id"], **({"outputs": a.outputs} if a.kind == "outputs"
                                          else {"reject": a.reject})})
    res = tmp_path / "res"
    res.mkdir()
    (res / "results.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(answers).encode())
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", f"offline:{res}")
    assert code == 0, rep["problems"]


def test_once_is_noted(tmp_path: Path) -> None:
    """One pass skips the state check of the reverse pass: the notes say so, and the run
    supports no claim (INCOMPLETE, never PASS)."""
    vec = mini_vectors(tmp_path / "v", (MINI[0],))
    code, rep = check(tmp_path, "--vectors", str(vec), "--backend", "reference", "--once")
    assert code == 1 and rep["verdict"] == "INCOMPLETE" and rep["selection"]["passes"] == 1
    assert rep["counts"] == {"pass": len(rep["vectors"])}
    assert any("--once" in n for n in rep["notes"])


def test_python_backend_unsupported_operator_is_an_error_not_a_crash() -> None:
    class OnlyQuantize:
        name = "only-quantize"

        def run(self, op: str, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
            if op != "quantize":
                raise Unsupported(f"no operator {op!r}")
            return ReferenceBackend().run(op, config, inputs)

    vec = {"id": "x", "op": "ptsoftmax", "config": {}, "inputs": {}}
    a = InProcess(OnlyQuantize(), None).call(vec)
    assert a.kind == "error" and "no operator 'ptsoftmax'" in a.message


def test_mismatches_are_listed_in_computation_order() -> None:
    """A port that goes wrong at the probabilities sees them named first, before the
    hidden states they spoil, though the vector file lists outputs alphabetically."""
    v = {"op": "attention", "comment": "c",
         "expected": {"outputs": {"h1": [1, 2]},
                      "profile": {"c_prob": [3], "probs": [4], "scores": [5]}},
         "shapes": {"outputs": {"h1": [2], "c_prob": [1], "probs": [1], "scores": [1]}}}
    got = {"h1": [1, 0], "c_prob": [9], "probs": [7], "scores": [5]}
    status, message, mismatches, _, _ = judge(v, Answer("outputs", outputs=got))
    assert status == "mismatch"
    assert message.startswith("first diverging in computation order: probs;")
    assert [m["field"] for m in mismatches] == ["probs", "c_prob", "h1"]
