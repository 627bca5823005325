"""Reports of a conformance run: a text summary, JSON and JUnit XML (spec/12).

:func:`write_reports` always writes both files, whatever happened in the run
(a crashed backend, unreadable vectors, an interrupt): the report of a failed
run is the one that matters most.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conformance.runner.check import (
    Outcome,
    Result,
    profiles_claimed,
    summary_counts,
    verdict_line,
)
from reference.version import SPEC_VERSION

JSON = Any

JSON_NAME = "check-report.json"
JUNIT_NAME = "check-junit.xml"
TEXT_FAILURES = 20
"""Failures printed in full by the text summary (all are in the JSON report)."""

MAX_TEXT = 2000
"""Characters of one message, problem or note copied into a report."""

MAX_STDERR = 4000
"""Characters of a vector's stderr copied into the report."""


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _clean(text: str) -> str:
    """Text safe for XML 1.0: control characters other than tab and newline escaped."""
    return "".join(ch if ch in "\t\n" or (ch >= " " and ch not in "\ufffe\uffff")
                   else f"\\x{ord(ch):02x}" for ch in text)


def _vector_json(o: Outcome) -> dict[str, JSON]:
    base: dict[str, JSON] = {"id": o.id, "op": o.op, "suite": o.suite, "status": o.status}
    if o.claimed:
        base["profiles"] = o.claimed
    if o.extra_outputs:
        base["unknown_outputs"] = o.extra_outputs
    if o.status == "pass":
        return base
    base.update({
        "file": o.file, "preset": o.preset, "rule": o.rule, "section": o.section,
        "rule_text": o.rule_text, "flags": o.flags, "comment": o.comment, "expect": o.expect,
        "message": _cut(o.message), "mismatches": o.mismatches, "inputs": o.inputs,
        "config": o.config,
    })
    if o.xfail_reason is not None:
        base["xfail_reason"] = o.xfail_reason
    if o.original_status is not None:
        base["original_status"] = o.original_status
    if o.stderr:
        base["stderr"] = o.stderr[-MAX_STDERR:]
    return base


def to_json(res: Result) -> dict[str, JSON]:
    """The JSON report."""
    counts: dict[str, int] = {}
    for o in res.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return {
        "verdict": res.verdict,
        "verdict_line": verdict_line(res),
        "exit_code": res.exit_code,
        "spec_version": SPEC_VERSION,
        "manifest_sha256": res.manifest_sha256,
        "suite": (res.identity.to_json() if res.identity is not None else
                  {"identity": "unknown", "label": "no readable manifest"}),
        "waivers": {"valid_vectors": res.waived_valid, "negative_vectors": res.waived_negative,
                    "unclaimed_suites": res.unclaimed_suites},
        "totals": {
            "selected": res.selected,
            "passed": sum(1 for o in res.outcomes if o.status == "pass"),
            "failed": sum(1 for o in res.outcomes if o.failed),
            "xfail": sum(1 for o in res.outcomes if o.status == "xfail"),
            "missing_from_manifest": res.missing_total,
        },
        "backend": {"name": res.backend, "kind": res.backend_kind},
        "vectors_dir": res.vectors_dir,
        "selection": {
            "include": list(res.options.include), "exclude": list(res.options.exclude),
            "xfail": [{"id" if x.is_id else "pattern": x.pattern, "reason": x.reason,
                       "negative": x.negative} for x in res.options.xfail],
            "manifest_vectors": res.manifest_total, "loaded_vectors": res.loaded_total,
            "selected_vectors": res.selected, "missing_vectors": res.missing_total,
            "partial_suites": res.partial_suites, "excluded_suites": res.excluded_suites,
            "passes": res.options.passes,
        },
        "problems": [_cut(p) for p in res.problems],
        "notes": [_cut(n) for n in res.notes],
        "aborted": res.aborted,
        "counts": dict(sorted(counts.items())),
        "per_operator": summary_counts(res.outcomes, lambda o: [o.op]),
        "per_suite": summary_counts(res.outcomes, lambda o: [o.suite]),
        "per_flag": summary_counts(res.outcomes, lambda o: o.flags),
        "per_rule": summary_counts(res.outcomes, lambda o: [o.rule]),
        "profiles": profiles_claimed(res.outcomes),
        "elapsed_s": round(res.elapsed_s, 3),
        "backend_stderr_tail": res.stderr_tail[-8000:],
        "vectors": [_vector_json(o) for o in res.outcomes],
    }


def _failure_text(o: Outcome) -> str:
    lines = [f"[{o.status}] {o.id}  ({o.file})",
             f"    rule {o.rule} ({o.section}): {o.rule_text}",
             f"    flags: {', '.join(o.flags) or '-'};  comment: {o.comment}",
             f"    {_cut(o.message)}"]
    for m in o.mismatches[:8]:
        if "more" in m:
            lines.append(f"      ... {m['more']} more differing element(s) of {m['field']}")
        elif m["index"] is None:
            lines.append(f"      {m['field']}: expected {m['expected']}, actual {m['actual']}")
        else:
            pos = ",".join(map(str, m["position"]))
            lines.append(f"      {m['field']}[{pos}]: expected {m['expected']}, "
                         f"actual {m['actual']}")
    if o.config and o.expect == "reject:config":
        cfg = json.dumps(o.config, sort_keys=True, separators=(",", ":"))
        lines.append(f"    config: {cfg if len(cfg) <= 300 else cfg[:300] + '...'}")
    if o.inputs:
        shown = []
        for k, v in o.inputs.items():
            if isinstance(v, dict) and "head" in v:
                head = ", ".join(map(str, v["head"][:12]))
                shown.append(f"{k}=[{head}, ... ({v['length']} values)]")
            else:
                text = json.dumps(v)
                shown.append(f"{k}={text if len(text) <= 100 else text[:100] + '...'}")
        text = "; ".join(shown)
        if len(text) > 800:
            text = text[:800] + " ... (every input in the JSON report)"
        lines.append(f"    inputs: {text}")
    if o.xfail_reason:
        lines.append(f"    expected failure: {o.xfail_reason}")
    if o.stderr.strip():
        tail = o.stderr.strip().splitlines()[-3:]
        lines.append("    backend stderr: " + " | ".join(tail))
    return "\n".join(lines)


def _table(title: str, rows: dict[str, dict[str, int]]) -> list[str]:
    if not rows:
        return []
    width = max(len(title), *(len(k) for k in rows))
    out = [f"{title:<{width}}  vectors   pass   fail  xfail"]
    for k, r in rows.items():
        out.append(f"{k:<{width}}  {r['vectors']:7d} {r['pass']:6d} {r['fail']:6d} "
                   f"{r['xfail']:6d}")
    return out


def to_text(res: Result, reports: list[Path] | None = None, failures: int = TEXT_FAILURES,
            flags: bool = True) -> str:
    """The human summary printed by ``sorbet-ref check``."""
    lines = [
        f"sorbet-ref check: backend {res.backend} ({res.backend_kind}); vectors "
        f"{res.vectors_dir}; spec {SPEC_VERSION}",
        "suite: " + (res.identity.label() if res.identity is not None else
                     "unknown (no readable manifest)"),
        f"vectors: {res.manifest_total} in the manifest, {res.loaded_total} loaded, "
        f"{res.selected} selected; each run {res.options.passes} time(s)"
        + (", the second pass in reverse order" if res.options.passes > 1 else ""),
        "",
    ]
    lines += _table("operator", summary_counts(res.outcomes, lambda o: [o.op]))
    if flags:
        lines += ["", *_table("flag", summary_counts(res.outcomes, lambda o: o.flags))]
    prof = profiles_claimed(res.outcomes)
    if prof:
        lines.append("")
        lines.append("profile outputs returned (checked when returned):")
        for op, row in prof.items():
            claimed = row["claimed"]
            avail = row["available"]
            if not avail:
                continue
            total = row["valid_vectors"]
            if len(claimed) > 8:
                every = sum(1 for n in claimed.values() if n == total)
                got = (f"{len(claimed)} of {len(avail)} profile outputs ({every} of them on "
                       f"all {total} vectors)")
            else:
                got = ", ".join(f"{k} ({n}/{total})" for k, n in claimed.items())
            none = [k for k in avail if k not in claimed]
            rest = (", ".join(none) if len(none) <= 8 else f"{len(none)} others")
            lines.append(f"  {op}: {got or 'none'}"
                         + (f"; not returned: {rest}" if none and claimed else ""))
    bad = [o for o in res.outcomes if o.status != "pass"]
    if bad and all(o.status == "not_run" and o.message == bad[0].message for o in bad):
        lines += ["", f"not run ({len(bad)} vectors): {bad[0].message or 'no backend'}"]
    elif bad:
        groups = _same_failures(bad)
        lines += ["", f"failures and expected failures ({len(bad)} in {len(groups)} kind(s); "
                      f"the first of each of the first {min(failures, len(groups))} kinds "
                      "shown, all in the JSON report):"]
        for group in groups[:failures]:
            lines.append(_failure_text(group[0]))
            if len(group) > 1:
                more = ", ".join(o.id for o in group[1:4]) + (", ..." if len(group) > 4 else "")
                lines.append(f"    ... and {len(group) - 1} more vector(s) with the same "
                             f"{group[0].status} message: {more}")
    if res.problems:
        lines += ["", "problems:"] + [f"  - {_cut(p)}" for p in res.problems]
    if res.notes:
        lines += ["", "notes:"] + [f"  - {_cut(p)}" for p in res.notes]
    if res.stderr_tail.strip() and any(o.status in ("crash", "timeout", "garbage") for o in bad):
        tail = _runs(res.stderr_tail.strip().splitlines()[-200:])[-5:]
        lines += ["", "backend stderr (last lines):"] + [f"  {_cut(t, 300)}" for t in tail]
    if res.waived_valid or res.waived_negative:
        lines += ["", f"WAIVED by --xfail: {len(res.waived_valid)} valid vector(s) (no claim "
                      f"for suite(s) {', '.join(res.unclaimed_suites) or '-'}), "
                      f"{len(res.waived_negative)} negative vector(s) (no claim about "
                      "rejections); each is listed above with its reason"]
    lines += ["", f"VERDICT: {verdict_line(res)} in {res.elapsed_s:.1f} s"]
    if reports:
        lines.append("reports: " + ", ".join(str(p) for p in reports))
    return "\n".join(lines)


def _runs(lines: list[str]) -> list[str]:
    """Consecutive equal lines written once, with their count (a backend restarted five
    times prints its start-up error five times)."""
    out: list[str] = []
    count = 0
    for i, line in enumerate(lines):
        count += 1
        if i + 1 == len(lines) or lines[i + 1] != line:
            out.append(line if count == 1 else f"{line}  ({count} times)")
            count = 0
    return out


def _same_failures(bad: list[Outcome]) -> list[list[Outcome]]:
    """Failures grouped by status, message (with the vector's own id taken out) and stderr,
    in order of first appearance: a backend that fails the same way on every vector (one
    that cannot start, say) is described once."""
    groups: dict[tuple[str, str, str], list[Outcome]] = {}
    for o in bad:
        key = (o.status, o.message.replace(o.id, "<id>"), o.stderr.strip()[-500:])
        groups.setdefault(key, []).append(o)
    return list(groups.values())


def to_junit(res: Result) -> ET.Element:
    """The JUnit XML report: one testsuite per vector suite, one testcase per vector."""
    root = ET.Element("testsuites", name="sorbet-ref check")
    by_suite: dict[str, list[Outcome]] = {}
    for o in res.outcomes:
        by_suite.setdefault(o.suite, []).append(o)
    total = fails = errors = skipped = 0
    root.set("verdict", _clean(verdict_line(res)))
    suite_label = res.identity.label() if res.identity is not None else "unknown suite"
    props = ET.SubElement(root, "properties")
    ET.SubElement(props, "property", name="verdict", value=res.verdict)
    ET.SubElement(props, "property", name="suite", value=_clean(suite_label))
    ET.SubElement(props, "property", name="manifest_sha256", value=res.manifest_sha256 or "")
    if res.verdict in ("UNPUBLISHED", "WAIVED", "INCOMPLETE") or (
            res.identity is not None and not res.identity.claimable):
        ts = ET.SubElement(root, "testsuite", name="claim", tests="1", failures="1",
                           errors="0", skipped="0")
        tc = ET.SubElement(ts, "testcase", classname="sorbet-ref.run", name="conformance claim")
        el = ET.SubElement(tc, "failure", message=_clean(verdict_line(res))[:500],
                           type=res.verdict.lower())
        el.text = _clean(f"{verdict_line(res)}\nsuite: {suite_label}")
        total += 1
        fails += 1
    if res.problems or not res.outcomes:
        ts = ET.SubElement(root, "testsuite", name="run", tests="1", failures="0", errors="1",
                           skipped="0")
        tc = ET.SubElement(ts, "testcase", classname="sorbet-ref.run", name="run-level checks")
        err = ET.SubElement(tc, "error", message=_clean("; ".join(res.problems)[:500])
                            or "empty run", type="run")
        err.text = _clean("\n".join(_cut(p) for p in res.problems)) or "empty run"
        total += 1
        errors += 1
    for suite, outs in by_suite.items():
        nf = sum(1 for o in outs if o.failed and o.status not in ("crash", "timeout", "not_run"))
        ne = sum(1 for o in outs if o.status in ("crash", "timeout", "not_run"))
        ns = sum(1 for o in outs if o.status == "xfail")
        ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(outs)),
                           failures=str(nf), errors=str(ne), skipped=str(ns))
        for o in outs:
            tc = ET.SubElement(ts, "testcase", classname=f"sorbet-ref.{o.op}.{suite}", name=o.id)
            if o.status == "pass":
                continue
            if o.status == "xfail":
                ET.SubElement(tc, "skipped", message=_clean(
                    f"expected failure ({o.original_status}): {o.xfail_reason}"))
                continue
            tag = "error" if o.status in ("crash", "timeout", "not_run") else "failure"
            el = ET.SubElement(tc, tag, message=_clean(f"{o.status}: {o.message[:500]}"),
                               type=o.status)
            el.text = _clean(_failure_text(o))
        total += len(outs)
        fails += nf
        errors += ne
        skipped += ns
    root.set("tests", str(total))
    root.set("failures", str(fails))
    root.set("errors", str(errors))
    root.set("skipped", str(skipped))
    return root


def write_reports(res: Result, report_dir: Path) -> list[Path]:
    """Write the JSON and JUnit reports under ``report_dir``; returns their paths."""
    report_dir.mkdir(parents=True, exist_ok=True)
    jpath = report_dir / JSON_NAME
    xpath = report_dir / JUNIT_NAME
    jpath.write_text(json.dumps(to_json(res), indent=1, sort_keys=False) + "\n",
                     encoding="utf-8")
    tree = ET.ElementTree(to_junit(res))
    ET.indent(tree)
    tree.write(xpath, encoding="utf-8", xml_declaration=True)
    return [jpath, xpath]
