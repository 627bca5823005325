"""docs/quickstart.md, the port skeletons, and the runner's selection, rerun and progress.

- the README links the quickstart before any other document;
- both skeletons answer every request with a well-formed ``error`` (never a crash);
- the quickstart's ``if_encode``, added to the Python skeleton, passes every
  ``if_encode`` vector; with ``>`` for ``>=`` it fails, and the failure the
  quickstart shows is the one the runner prints;
- ``--rerun-failures`` runs exactly the vectors a report did not pass; ``--flag``
  and ``--rule`` select by flag and by rule; progress has a count and an ETA.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.runner.backends import InProcess, ReferenceBackend
from conformance.runner.check import Options, Progress, failed_ids, run

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "docs" / "quickstart.md"
SKELETON_PY = ROOT / "examples" / "skeleton_py" / "port.py"


def _port_with_if_encode(tmp_path: Path, bug: bool = False) -> Path:
    block = re.search(r"```python\n(.*?)```", QUICKSTART.read_text(encoding="utf-8"), re.S)
    assert block is not None
    code = SKELETON_PY.read_text(encoding="utf-8").replace(
        "OPERATORS: dict[str, Operator] = {}",
        block.group(1) + '\n\nOPERATORS: dict[str, Operator] = {"if_encode": if_encode}')
    if bug:
        code = code.replace("fire = v >= steps", "fire = v > steps")
    path = tmp_path / ("port_bug.py" if bug else "port.py")
    path.write_text(code, encoding="utf-8")
    return path


def _report(tmp: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((tmp / "check-report.json").read_text())
    return data


def test_readme_links_the_quickstart_first() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+\.md)", readme)
    assert links[0] == "docs/quickstart.md"


def test_python_skeleton_answers_not_implemented(tmp_path: Path) -> None:
    code = main(["check", "--backend", f"exec:{sys.executable} {SKELETON_PY}",
                 "--include", "ptsoftmax-tiny", "--report-dir", str(tmp_path)])
    assert code == 1
    statuses = {v["status"] for v in _report(tmp_path)["vectors"]}  # type: ignore[attr-defined]
    assert statuses == {"error"}


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_skeleton_answers_not_implemented(tmp_path: Path) -> None:
    subprocess.run(["sh", str(ROOT / "examples" / "skeleton_c" / "build.sh")], check=True)
    code = main(["check", "--backend", f"exec:{ROOT / 'examples/skeleton_c/build/port'}",
                 "--include", "model-tiny", "--report-dir", str(tmp_path)])
    assert code == 1
    vectors = _report(tmp_path)["vectors"]
    assert {v["status"] for v in vectors} == {"error"}  # type: ignore[attr-defined]


def test_quickstart_operator_passes_and_its_failure_is_shown(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _port_with_if_encode(tmp_path)
    assert main(["check", "--backend", f"exec:{sys.executable} {good}", "--include",
                 "if_encode", "--report-dir", str(tmp_path / "good")]) == 0
    capsys.readouterr()
    bad = _port_with_if_encode(tmp_path, bug=True)
    assert main(["check", "--backend", f"exec:{sys.executable} {bad}", "--include",
                 "if_encode", "--show", "1", "--report-dir", str(tmp_path / "bad")]) == 1
    out = capsys.readouterr().out
    shown = QUICKSTART.read_text(encoding="utf-8")
    first = out[out.index("[mismatch]"):].split("\n\n", 1)[0].replace(str(ROOT) + "/", "")
    assert first in shown
    verdict = re.search(r"VERDICT: FAIL: (\d+) passed, (\d+) failed", out)
    assert verdict is not None and verdict.group(0) in shown

    # rerun only the failures of that report
    failed = failed_ids(tmp_path / "bad" / "check-report.json")
    assert len(failed) == int(verdict.group(2))
    assert main(["check", "--backend", f"exec:{sys.executable} {good}", "--rerun-failures",
                 str(tmp_path / "bad" / "check-report.json"),
                 "--report-dir", str(tmp_path / "rerun")]) == 1  # INCOMPLETE: part of suites
    rerun = _report(tmp_path / "rerun")
    assert {v["id"] for v in rerun["vectors"]} == failed  # type: ignore[attr-defined]
    assert rerun["verdict"] == "INCOMPLETE"


def test_select_by_flag_and_rule() -> None:
    ex = InProcess(ReferenceBackend(), timeout=None)
    res = run(Options(ROOT / "vectors", flags=["rounding_tie"], passes=1), ex)
    assert res.outcomes and all("rounding_tie" in o.flags for o in res.outcomes)
    res = run(Options(ROOT / "vectors", rules=["bspn.config.*"], passes=1), ex)
    assert res.outcomes and all(o.rule.startswith("bspn.config.") for o in res.outcomes)
    assert any(o.rule == "bspn.config.group_divides" for o in res.outcomes)
    ex.close()


def test_progress_counts_and_estimates() -> None:
    lines: list[str] = []
    meter = Progress(10, lines.append, every=0.0)
    for n in range(1, 11):
        meter.step(n, "pass 1")
    assert lines[-1].startswith("pass 1: 10/10 calls") and "ETA 0 s" in lines[-1]
    assert all(re.search(r"\d+/10 calls, \d+ s elapsed, ETA \d+ s", x) for x in lines)


def test_rerun_of_an_unreadable_report(tmp_path: Path) -> None:
    bad = tmp_path / "r.json"
    bad.write_text('{"vectors": 3}')
    assert main(["check", "--backend", "reference", "--rerun-failures", str(bad),
                 "--report-dir", str(tmp_path)]) == 1
    assert "field vectors" in " ".join(_report(tmp_path)["problems"])  # type: ignore[arg-type]
