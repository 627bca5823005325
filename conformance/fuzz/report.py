"""Reports of a fuzz run and of merged shards: text, JSON and JUnit XML.

The JSON report (``fuzz-report.json``) carries the plan (seed, shard, stream
size, operators, presets, source), the batches the shard ran, counts per status,
operator and job, the failing cases (the first :data:`~conformance.fuzz.run.MAX_REPORTED`
in full), the shrunk cases with their vector files and spec rules, and the
run-level problems.  :func:`merge` combines the reports of the shards of one
run into one verdict: PASS only when every shard of the plan is present exactly
once, the shards ran disjoint batches covering the whole stream, and every shard
passed.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conformance import strictjson
from conformance.fuzz.run import FuzzResult
from reference.version import SPEC_VERSION

JSON = Any

JSON_NAME = "fuzz-report.json"
JUNIT_NAME = "fuzz-junit.xml"
MERGED_JSON = "fuzz-merged.json"
MERGED_JUNIT = "fuzz-merged-junit.xml"
KIND = "sorbet-ref fuzz report"
MAX_REPORT_BYTES = 64 * 1024 * 1024
"""Largest report :func:`load_report` reads."""


def plan_json(res: FuzzResult) -> dict[str, JSON]:
    """The plan part of a report (what every shard of one run shares, and its shard)."""
    p = res.options.plan
    return {"seed": p.seed, "shard": p.shard, "shards": p.shards, "cases": p.cases,
            "time_budget": p.time_budget, "ops": list(p.ops), "presets": list(p.presets),
            "source": p.source, "batch": p.batch, "canonical_every": p.canonical_every,
            "jobs": [j.name for j in p.jobs]}


def to_json(res: FuzzResult) -> dict[str, JSON]:
    """The JSON report of one shard."""
    rate = res.cases / res.send_s if res.send_s > 0 else 0.0
    return {
        "kind": KIND,
        "verdict": res.verdict,
        "exit_code": res.exit_code,
        "spec_version": SPEC_VERSION,
        "backend": {"name": res.backend, "kind": res.backend_kind},
        "plan": plan_json(res),
        "options": {"window": res.options.window, "timeout": res.options.timeout,
                    "max_failures": res.options.max_failures,
                    "shrink_max": res.options.shrink_max,
                    "shrink_budget": {"calls": res.options.shrink_budget.calls,
                                      "seconds": res.options.shrink_budget.seconds},
                    "save_requests": (str(res.options.save_requests)
                                      if res.options.save_requests else None)},
        "totals": {"cases": res.cases, "passed": res.counts.get("pass", 0),
                   "failed": res.failed, "planned": res.options.plan.planned_cases()},
        "counts": dict(sorted(res.counts.items())),
        "per_operator": dict(sorted(res.per_operator.items())),
        "per_job": dict(sorted(res.per_job.items())),
        "batches": res.batches,
        "oracle": {"canonical_checked": res.canonical_checked, "fast_path": res.fast_path,
                   "judged_in_full": res.judged},
        "stream_failures": res.stream_failures,
        "problems": res.problems,
        "notes": res.notes,
        "stopped": res.stopped,
        "failures": res.failures,
        "shrunk": res.shrunk,
        "elapsed_s": round(res.elapsed_s, 3),
        "send_s": round(res.send_s, 3),
        "shrink_s": round(res.shrink_s, 3),
        "cases_per_s": round(rate, 1),
        "backend_stderr_tail": res.stderr_tail[-8000:],
    }


def _junit(name: str, verdict: str, per_job: dict[str, dict[str, int]],
           failures: list[dict[str, JSON]], problems: list[str], elapsed: float) -> bytes:
    suite = ET.Element("testsuite", name=name, time=f"{elapsed:.3f}")
    n_fail = 0
    for job, row in sorted(per_job.items()):
        tc = ET.SubElement(suite, "testcase", classname="fuzz", name=job)
        if row.get("fail"):
            n_fail += 1
            shown = [f for f in failures if f.get("job") == job][:10]
            text = "\n".join(f"[{f['status']}] {f['id']}: {f['message']}" for f in shown)
            ET.SubElement(tc, "failure", message=f"{row['fail']} of {row['cases']} cases "
                          "failed").text = text
    if problems or verdict != "PASS":
        tc = ET.SubElement(suite, "testcase", classname="fuzz", name="run")
        if problems or (verdict == "FAIL" and not n_fail):
            n_fail += 1
            ET.SubElement(tc, "failure", message=f"verdict {verdict}").text = "\n".join(problems)
        elif verdict != "PASS":
            ET.SubElement(tc, "skipped", message=f"verdict {verdict}")
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(n_fail))
    raw: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return raw


def write_reports(res: FuzzResult, out_dir: Path) -> list[Path]:
    """Write the JSON and JUnit reports of one shard; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = to_json(res)
    jpath, xpath = out_dir / JSON_NAME, out_dir / JUNIT_NAME
    jpath.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    p = res.options.plan
    xpath.write_bytes(_junit(f"sorbet-ref fuzz shard {p.shard}/{p.shards}", res.verdict,
                             res.per_job, res.failures, res.problems, res.elapsed_s))
    return [jpath, xpath]


def write_usage_error(out_dir: Path, message: str, backend: str) -> list[Path]:
    """The reports of a run that could not start because its options are impossible
    (``--shard 3/2``, ``--cases 0``): verdict FAIL, exit code 2, the message as its problem.
    ``fuzz merge`` refuses such a report (it has no plan)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = [f"usage error: {message}"]
    data: dict[str, JSON] = {
        "kind": KIND, "verdict": "FAIL", "exit_code": 2, "spec_version": SPEC_VERSION,
        "backend": {"name": backend, "kind": "unavailable"}, "plan": None,
        "problems": problems, "totals": {"cases": 0}}
    jpath, xpath = out_dir / JSON_NAME, out_dir / JUNIT_NAME
    jpath.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    xpath.write_bytes(_junit("sorbet-ref fuzz", "FAIL", {}, [], problems, 0.0))
    return [jpath, xpath]


def to_text(res: FuzzResult, paths: list[Path], backend_spec: str) -> str:
    """The summary printed at the end of a run."""
    p = res.options.plan
    rate = res.cases / res.send_s if res.send_s > 0 else 0.0
    lines = [f"sorbet-ref fuzz: {res.verdict}  (backend {res.backend}, seed {p.seed}, "
             f"shard {p.shard}/{p.shards})",
             f"  {res.cases} cases in {res.send_s:.2f} s ({rate:,.0f}/s), {res.failed} failing; "
             f"{res.fast_path} answers matched their expected line byte for byte, "
             f"{res.judged} judged in full; {res.canonical_checked} expected results "
             "re-checked by the canonical tier"]
    for op, row in sorted(res.per_operator.items()):
        bad = {k: v for k, v in row.items() if k not in ("cases", "pass", "fail")}
        lines.append(f"  {op:14s} {row['cases']:9d} cases  {row['fail']:6d} failing"
                     + (f"  {bad}" if bad else ""))
    for f in res.failures[:5]:
        lines.append(f"  [{f['status']}] {f['id']} ({f['job']}, {f['origin']}): "
                     f"{str(f['message'])[:300]}")
    for s in res.shrunk:
        lines.append("")
        lines.append(f"  shrunk {s['original_id']} ({s['status']}) in {s['calls']} backend "
                     f"calls, {s['seconds']:.1f} s (budget {s['budget']['calls']} calls, "
                     f"{s['budget']['seconds']:g} s"
                     + (f"; stopped: {s['stopped_by_budget']}" if s["stopped_by_budget"]
                        else "; no smaller failing case left") + ")")
        if "rule" in s:
            lines.append(f"    rule {s['rule']} ({s['section']}): {s['rule_text']}")
        lines.append(f"    config: {json.dumps(s['config'], sort_keys=True)[:400]}")
        lines.append(f"    inputs: {json.dumps(s['inputs'], sort_keys=True)[:800]}")
        if "expected" in s:
            lines.append(f"    expected: {json.dumps(s['expected'], sort_keys=True)[:800]}")
        lines.append(f"    the backend: {s['message'][:400]}")
        if "vector_file" in s:
            lines.append(f"    vector file: {s['vector_file']}")
    if res.shrunk and res.exported:
        root = res.options.shrunk_dir
        lines.append(f"  replay the shrunk cases: sorbet-ref check --backend {backend_spec!r} "
                     f"--vectors {root}")
    for prob in res.problems[:10]:
        lines.append(f"  problem: {prob}")
    if res.stopped:
        lines.append(f"  stopped: {res.stopped}")
    for note in res.notes:
        lines.append(f"  note: {note}")
    if p.shards > 1:
        lines.append(f"  combine the shards: sorbet-ref fuzz merge REPORT_DIR... (this is shard "
                     f"{p.shard} of {p.shards})")
    if paths:
        lines.append(f"  reports: {', '.join(str(x) for x in paths)}")
    return "\n".join(lines)


# --- merging ------------------------------------------------------------------------------


class MergeError(ValueError):
    """A report that cannot be merged (names the file and why)."""


def load_report(path: Path) -> dict[str, JSON]:
    """A shard's JSON report (a directory means its ``fuzz-report.json``)."""
    if path.is_dir():
        path = path / JSON_NAME
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            raise MergeError(f"{path}: larger than {MAX_REPORT_BYTES} bytes")
        data = strictjson.loads(path.read_bytes())
    except OSError as exc:
        raise MergeError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise MergeError(f"{path}: not a JSON report: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise MergeError(f"{path}: not a fuzz report (field kind: expected {KIND!r})")
    for key, typ in (("plan", dict), ("batches", list), ("counts", dict), ("verdict", str),
                     ("per_operator", dict), ("per_job", dict), ("totals", dict)):
        if not isinstance(data.get(key), typ):
            raise MergeError(f"{path}: field {key}: expected a {typ.__name__}")
    data["_path"] = str(path)
    return data


SHARED = ("seed", "shards", "cases", "time_budget", "ops", "presets", "source", "batch",
          "canonical_every", "jobs")
"""Plan fields every shard of one run shares."""


def merge(reports: list[dict[str, JSON]]) -> dict[str, JSON]:
    """One verdict for the shards of one run (see the module's docstring)."""
    if not reports:
        raise MergeError("no report to merge")
    first = reports[0]
    problems: list[str] = []
    plan = {k: first["plan"].get(k) for k in SHARED}
    for r in reports[1:]:
        diff = [k for k in SHARED if r["plan"].get(k) != plan[k]]
        if diff:
            raise MergeError(f"{r['_path']}: another run than {first['_path']} (plan fields "
                             f"{diff} differ)")
    shards = int(plan["shards"])
    seen: dict[int, str] = {}
    for r in reports:
        i = r["plan"].get("shard")
        if not isinstance(i, int) or not 0 <= i < shards:
            raise MergeError(f"{r['_path']}: field plan.shard: expected 0..{shards - 1}")
        if i in seen:
            raise MergeError(f"{r['_path']}: shard {i}/{shards} is also {seen[i]}")
        seen[i] = r["_path"]
    missing = [i for i in range(shards) if i not in seen]
    notes = [f"shards {missing} of {shards} are missing: the stream is not covered"] \
        if missing else []
    batches: dict[int, str] = {}
    for r in reports:
        for b in r["batches"]:
            if b in batches:
                problems.append(f"batch {b} ran in both {batches[b]} and {r['_path']}")
            batches[b] = r["_path"]
            if not isinstance(b, int) or b % shards != r["plan"]["shard"]:
                problems.append(f"{r['_path']}: batch {b} does not belong to its shard")
    cases = plan["cases"]
    if isinstance(cases, int) and not missing:
        total = -(-cases // int(plan["batch"]))
        absent = sorted(set(range(total)) - set(batches))
        if absent:
            problems.append(f"{len(absent)} batch(es) of the stream did not run "
                            f"(first: {absent[:5]})")
    counts: dict[str, int] = {}
    per_op: dict[str, dict[str, int]] = {}
    per_job: dict[str, dict[str, int]] = {}
    for r in reports:
        for k, v in r["counts"].items():
            counts[k] = counts.get(k, 0) + int(v)
        for table, src in ((per_op, r["per_operator"]), (per_job, r["per_job"])):
            for key, row in src.items():
                dst = table.setdefault(key, {})
                for k, v in row.items():
                    dst[k] = dst.get(k, 0) + int(v)
        problems.extend(f"shard {r['plan']['shard']}: {p}" for p in r.get("problems", []))
    verdicts = {r["plan"]["shard"]: r["verdict"] for r in reports}
    failed = sum(v for k, v in counts.items() if k != "pass")
    if failed or problems or any(v == "FAIL" for v in verdicts.values()):
        verdict = "FAIL"
    elif missing or any(v != "PASS" for v in verdicts.values()):
        verdict = "INCOMPLETE"
    else:
        verdict = "PASS"
    return {
        "kind": "sorbet-ref fuzz merged report",
        "verdict": verdict,
        "exit_code": 0 if verdict == "PASS" else 1,
        "spec_version": SPEC_VERSION,
        "plan": plan,
        "shards": {str(k): {"report": v, "verdict": verdicts[k]} for k, v in sorted(seen.items())},
        "missing_shards": missing,
        "totals": {"cases": sum(counts.values()), "passed": counts.get("pass", 0),
                   "failed": failed},
        "counts": dict(sorted(counts.items())),
        "per_operator": dict(sorted(per_op.items())),
        "per_job": dict(sorted(per_job.items())),
        "problems": problems,
        "notes": notes,
        "failures": [f for r in reports for f in r.get("failures", [])][:200],
        "shrunk": [s for r in reports for s in r.get("shrunk", [])],
    }


def write_merged(merged: dict[str, JSON], out_dir: Path) -> list[Path]:
    """Write the merged JSON and JUnit reports."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath, xpath = out_dir / MERGED_JSON, out_dir / MERGED_JUNIT
    jpath.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    xpath.write_bytes(_junit("sorbet-ref fuzz (merged)", merged["verdict"], merged["per_job"],
                             merged["failures"], merged["problems"], 0.0))
    return [jpath, xpath]
