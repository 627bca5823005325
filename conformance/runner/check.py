"""The conformance runner (spec/12-conformance-levels.md).

``run(options, executor)`` loads the vectors through the manifest (hashes, lint,
counts), selects them (include/exclude globs over id, operator and suite), runs
each selected vector twice, the second pass in reverse order, judges every
answer exactly against the expected result, applies the expected-failure list
and decides the verdict:

- PASS only when every selected vector passed in both passes (or is listed as an
  expected failure with a reason), nothing the manifest declares is missing or
  unreadable, no suite is only partly selected, and at least one vector ran;
- otherwise FAIL, or INCOMPLETE when the only defect is a partial selection.

A run with one pass (``--once``, for debugging) says in its notes that the state
check of the second pass was skipped.

Integers are compared exactly; a float, a boolean or a string where an integer
is expected is a malformed answer, never "close enough".
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance import strictjson
from conformance.operators import OPS, REJECT_CLASSES
from conformance.runner.backends import Answer, Executor
from conformance.vectors.manifest import MANIFEST, load_vectors
from reference.version import SPEC_VERSION

JSON = Any

MAX_MISMATCHES = 20
"""Mismatching elements listed per output field."""

INPUT_HEAD = 32
"""Elements of a long input shown in a report."""

FAIL_STATUSES = ("mismatch", "not_rejected", "wrong_reject_class", "unexpected_reject",
                 "malformed", "error", "crash", "timeout", "garbage", "missing", "inconsistent",
                 "not_run", "xpass")
"""Every status that makes a run fail."""

NO_SECOND_PASS = ("crash", "timeout", "not_run")
"""Pass-one statuses not retried in pass two (already failures, and slow to repeat)."""

BACKEND_FAILURES = ("crash", "timeout", "garbage", "error")
"""Answer kinds that are a failure of the backend rather than an answer to judge; one that
only happens in the second pass is reported as itself, not as ``inconsistent``."""


@dataclass(frozen=True)
class XfailEntry:
    """An expected failure: a vector id or a glob over id/op/suite, with the reason."""

    pattern: str
    reason: str


class XfailFileError(ValueError):
    """An unreadable or malformed ``--xfail`` file (names the file and entry)."""


def load_xfail(path: Path) -> list[XfailEntry]:
    """Read an xfail file: a JSON list of ``{"id" or "pattern": ..., "reason": ...}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise XfailFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise XfailFileError(f"{path}: malformed JSON: {exc}") from None
    if not isinstance(data, list):
        raise XfailFileError(f"{path}: expected a JSON list of {{id|pattern, reason}}")
    out: list[XfailEntry] = []
    for n, e in enumerate(data):
        if not isinstance(e, dict):
            raise XfailFileError(f"{path}: entry {n}: expected an object")
        pat = e.get("id", e.get("pattern"))
        reason = e.get("reason")
        if not isinstance(pat, str) or not pat:
            raise XfailFileError(f"{path}: entry {n}: needs a non-empty 'id' or 'pattern'")
        if not isinstance(reason, str) or not reason.strip():
            raise XfailFileError(f"{path}: entry {n} ({pat}): needs a non-empty 'reason'")
        unknown = sorted(set(e) - {"id", "pattern", "reason"})
        if unknown:
            raise XfailFileError(f"{path}: entry {n} ({pat}): unknown field(s) {unknown}")
        out.append(XfailEntry(pat, reason))
    return out


@dataclass
class Options:
    """What to run and how."""

    vectors_dir: Path
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    xfail: Sequence[XfailEntry] = ()
    passes: int = 2
    flags: Sequence[str] = ()
    """Keep only vectors carrying a flag matching one of these globs (``--flag``)."""
    rules: Sequence[str] = ()
    """Keep only vectors whose rule matches one of these globs (``--rule``)."""
    ids: frozenset[str] | None = None
    """Keep only these vector ids (``--rerun-failures``); None keeps every id."""


@dataclass
class Outcome:
    """The judgement of one vector."""

    id: str
    suite: str
    file: str
    op: str
    preset: str
    rule: str
    section: str
    rule_text: str
    flags: list[str]
    comment: str
    expect: str
    status: str = "not_run"
    message: str = ""
    mismatches: list[dict[str, JSON]] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    """Profile outputs the vector carries (the ones a backend may return)."""
    xfail_reason: str | None = None
    original_status: str | None = None
    inputs: dict[str, JSON] = field(default_factory=dict)
    config: dict[str, JSON] = field(default_factory=dict)
    """The vector's configuration (reported for vectors that did not pass)."""
    stderr: str = ""
    extra_outputs: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether this vector makes the run fail."""
        return self.status in FAIL_STATUSES


@dataclass
class Result:
    """Everything a run found; the reports are written from this."""

    backend: str
    backend_kind: str
    vectors_dir: str
    options: Options
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Run-level problems (manifest, files, backend start), each naming where."""
    manifest_total: int = 0
    loaded_total: int = 0
    missing_total: int = 0
    partial_suites: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Remarks that do not by themselves fail the run."""
    excluded_suites: list[str] = field(default_factory=list)
    verdict: str = "FAIL"
    exit_code: int = 1
    elapsed_s: float = 0.0
    stderr_tail: str = ""
    aborted: str | None = None
    manifest_sha256: str | None = None
    """SHA-256 of the manifest.json the run used (pins the vectors; None when unreadable)."""

    @property
    def selected(self) -> int:
        """Vectors selected to run."""
        return len(self.outcomes)


def abbreviate(value: JSON) -> JSON:
    """A long list shortened to its head and its length (for reports)."""
    if isinstance(value, list) and len(value) > INPUT_HEAD:
        return {"head": value[:INPUT_HEAD], "length": len(value)}
    return value


def _position(index: int, dims: Sequence[int]) -> list[int]:
    if len(dims) <= 1:
        return [index]
    pos = []
    for d in reversed(dims):
        pos.append(index % d if d else 0)
        index = index // d if d else 0
    return list(reversed(pos))


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_output(name: str, part: str, want: JSON, got: JSON, dims: Sequence[int],
                  mismatches: list[dict[str, JSON]]) -> str | None:
    """Compare one output; returns a malformation message or None (mismatches appended)."""
    where = f"outputs.{name}"
    if _is_int(want):
        if not _is_int(got):
            return f"{where}: expected an integer, got {json.dumps(got)[:80]}"
        if got != want:
            mismatches.append({"field": name, "part": part, "index": None, "position": [],
                               "expected": want, "actual": got})
        return None
    if not isinstance(got, list):
        return f"{where}: expected a list of {len(want)} integers, got {type(got).__name__}"
    if len(got) != len(want):
        return (f"{where}: wrong shape: expected {len(want)} values (shape {list(dims)}), "
                f"got {len(got)}")
    for i, v in enumerate(got):
        if not _is_int(v):
            return f"{where}[{i}]: expected an integer, got {json.dumps(v)[:80]}"
    shown = 0
    total = 0
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        if w != g:
            total += 1
            if shown < MAX_MISMATCHES:
                mismatches.append({"field": name, "part": part, "index": i,
                                   "position": _position(i, dims), "expected": w, "actual": g})
                shown += 1
    if total > shown:
        mismatches.append({"field": name, "part": part, "index": None, "position": None,
                           "expected": None, "actual": None, "more": total - shown})
    return None


def judge(vector: Mapping[str, JSON], answer: Answer) -> tuple[str, str,
                                                             list[dict[str, JSON]], list[str],
                                                             list[str]]:
    """Status, message, mismatches, profile outputs returned, unknown outputs returned."""
    expected = vector["expected"]
    if answer.kind in ("crash", "timeout", "garbage", "error", "missing"):
        return answer.kind, answer.message, [], [], []
    if "reject" in expected:
        want = expected["reject"]
        if answer.kind == "reject":
            if answer.reject == want:
                return "pass", "", [], [], []
            known = "" if answer.reject in REJECT_CLASSES else (
                f" (not a rejection class; expected one of {list(REJECT_CLASSES)})")
            return ("wrong_reject_class", f"rejected as {answer.reject!r}{known}, expected "
                    f"{want!r}: {answer.message}".rstrip(": "), [], [], [])
        return ("not_rejected", f"expected a rejection of class {want!r} ({vector['comment']}); "
                "the backend returned outputs instead", [], [], [])
    if answer.kind == "reject":
        return ("unexpected_reject", f"the backend rejected a vector inside the domain as "
                f"{answer.reject!r}: {answer.message}".rstrip(": "), [], [], [])
    got = answer.outputs or {}
    normative: dict[str, JSON] = expected["outputs"]
    profile: dict[str, JSON] = expected["profile"]
    shapes: dict[str, JSON] = vector["shapes"]["outputs"]
    problems: list[str] = []
    mismatches: list[dict[str, JSON]] = []
    missing = [k for k in normative if k not in got]
    if missing:
        problems.append(f"missing output(s) {missing} (the backend returned {sorted(got)})")
    claimed = sorted(k for k in profile if k in got)
    unknown = sorted(k for k in got if k not in normative and k not in profile)
    for part, block in (("outputs", normative), ("profile", profile)):
        for name, want in block.items():
            if name in got:
                bad = _check_output(name, part, want, got[name], shapes.get(name, []),
                                    mismatches)
                if bad:
                    problems.append(bad)
    if problems:
        return "malformed", "; ".join(problems), mismatches, claimed, unknown
    if mismatches:
        parts = []
        fields = _in_computation_order(str(vector.get("op", "")),
                                       dict.fromkeys(m["field"] for m in mismatches))
        if len(fields) > 1:
            parts.append(f"first diverging in computation order: {fields[0]}")
        rank = {n: i for i, n in enumerate(fields)}
        mismatches.sort(key=lambda m: rank[str(m["field"])])
        for name in fields:
            ms = [m for m in mismatches if m["field"] == name]
            n = sum(1 for m in ms if "more" not in m) + sum(int(m.get("more", 0)) for m in ms)
            first = next(m for m in ms if "more" not in m)
            size = len(normative.get(name, profile.get(name)) or [0]) if isinstance(
                normative.get(name, profile.get(name)), list) else 1
            kind = "profile output" if first["part"] == "profile" else "output"
            pos = "" if first["index"] is None else f"[{','.join(map(str, first['position']))}]"
            parts.append(f"{kind} {name}: {n} of {size} differ; first {name}{pos}: expected "
                         f"{first['expected']}, got {first['actual']}")
        return "mismatch", "; ".join(parts), mismatches, claimed, unknown
    return "pass", "", [], claimed, unknown


def _in_computation_order(op: str, names: Iterable[str]) -> list[str]:
    """``names`` sorted as the operator computes them: its profile outputs (declared in
    computation order, e.g. the trace tensors of spec/08) before its normative outputs,
    so the first name is where a port's computation first diverges."""
    spec = OPS.get(op)
    order = [*spec.profile_outputs, *spec.outputs] if spec is not None else []
    rank = {n: i for i, n in enumerate(order)}
    return sorted(names, key=lambda n: rank.get(n, len(order)))


def _matches(patterns: Sequence[str], *names: str) -> bool:
    return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)


def _narrowed(options: Options, v: Mapping[str, JSON]) -> bool:
    """Whether ``v`` passes the selection by flag, rule and id (spec/12, "The run", step 2)."""
    if options.flags and not _matches(options.flags, *v["flags"]):
        return False
    if options.rules and not _matches(options.rules, str(v["rule"])):
        return False
    return options.ids is None or str(v["id"]) in options.ids


class RerunError(Exception):
    """A previous report that cannot be read (names the file and what is wrong)."""


def failed_ids(report: Path) -> frozenset[str]:
    """Ids of the vectors a previous ``check-report.json`` did not pass (``--rerun-failures``).

    ``xfail`` counts as passed; every other status but ``pass`` is rerun.
    """
    try:
        data = strictjson.loads(report.read_bytes())
    except (OSError, ValueError) as exc:
        raise RerunError(f"{report}: cannot read the report: {exc}") from None
    vectors = data.get("vectors") if isinstance(data, dict) else None
    if not isinstance(vectors, list) or not all(
            isinstance(v, dict) and isinstance(v.get("id"), str)
            and isinstance(v.get("status"), str) for v in vectors):
        raise RerunError(f"{report}: field vectors: expected a list of objects with string "
                         "id and status (a check-report.json)")
    return frozenset(v["id"] for v in vectors if v["status"] not in ("pass", "xfail"))


class Progress:
    """``done/total`` vectors with the elapsed time and an estimate of the time left."""

    def __init__(self, total: int, report: Callable[[str], None], every: float = 2.0) -> None:
        self.total, self.report, self.every = total, report, every
        self.start = self.last = time.monotonic()

    def step(self, done: int, what: str) -> None:
        """Report ``done`` calls of ``total`` when ``every`` seconds passed (and at the end)."""
        now = time.monotonic()
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        spent = now - self.start
        eta = spent / done * (self.total - done) if done else 0.0
        self.report(f"{what}: {done}/{self.total} calls, {spent:.0f} s elapsed, "
                    f"ETA {eta:.0f} s")


def _outcome(entry: Mapping[str, JSON], data: Mapping[str, JSON], v: Mapping[str, JSON],
             root: Path) -> Outcome:
    rule = data["rules"][v["rule"]]
    exp = v["expected"]
    return Outcome(
        id=v["id"], suite=data["suite"], file=str(root / str(entry["path"])), op=v["op"],
        preset=data["preset"], rule=v["rule"], section=rule["section"], rule_text=rule["text"],
        flags=list(v["flags"]), comment=v["comment"],
        expect=f"reject:{exp['reject']}" if "reject" in exp else "outputs",
    )


def run(options: Options, executor: Executor | None,
        progress: Callable[[str], None] | None = None,
        backend_error: str | None = None, backend_spec: str = "") -> Result:
    """Run the selected vectors against ``executor`` (None: it could not be opened)."""
    start = time.monotonic()
    res = Result(backend=executor.name if executor else backend_spec,
                 backend_kind=executor.kind if executor else "unavailable",
                 vectors_dir=str(options.vectors_dir), options=options)
    loaded = load_vectors(options.vectors_dir)
    res.problems.extend(loaded.problems)
    if loaded.manifest is not None:
        with contextlib.suppress(OSError):
            res.manifest_sha256 = hashlib.sha256(
                (options.vectors_dir / MANIFEST).read_bytes()).hexdigest()
    res.manifest_total = loaded.expected_total
    res.loaded_total = sum(len(d["vectors"]) for _, d in loaded.files)
    include, exclude = list(options.include), list(options.exclude)

    def selected(v_id: str, op: str, suite: str) -> bool:
        if include and not _matches(include, v_id, op, suite):
            return False
        return not (exclude and _matches(exclude, v_id, op, suite))

    # vectors the manifest declares but that could not be loaded count as missing
    for e in loaded.bad_entries:
        if selected("", str(e.get("op", "")), str(e.get("suite", ""))):
            res.missing_total += int(e.get("vectors", 0)) if isinstance(
                e.get("vectors"), int) else 0
    work: list[tuple[Outcome, Mapping[str, JSON]]] = []
    for entry, data in loaded.files:
        picked = [v for v in data["vectors"] if selected(v["id"], v["op"], data["suite"])
                  and _narrowed(options, v)]
        if picked and len(picked) < len(data["vectors"]):
            res.partial_suites.append(str(data["suite"]))
        if not picked:
            res.excluded_suites.append(str(data["suite"]))
        for v in picked:
            work.append((_outcome(entry, data, v, options.vectors_dir),
                         {**v, "_suite": data["suite"]}))
    res.outcomes = [o for o, _ in work]
    if backend_error:
        res.problems.append(backend_error)
    load_error = getattr(executor, "load_error", None)
    if isinstance(load_error, str) and load_error:
        res.problems.append(load_error)
    if executor is None:
        for o in res.outcomes:
            o.status, o.message = "not_run", backend_error or "no backend"
        _finish(res, options, start)
        return res
    first: dict[str, Answer] = {}
    meter = Progress(len(work) * options.passes, progress) if progress else None
    try:
        for n, (o, v) in enumerate(work):
            answer = executor.call(v)
            first[o.id] = answer
            _apply(o, v, answer)
            if meter:
                meter.step(n + 1, "pass 1")
        if options.passes > 1:
            for n, (o, v) in enumerate(reversed(work)):
                if meter:
                    meter.step(len(work) + n + 1, "pass 2")
                if first[o.id].kind in NO_SECOND_PASS:
                    continue
                again = executor.call(v)
                if again.kind in BACKEND_FAILURES and o.status == "pass":
                    o.status = again.kind
                    o.message = (f"second pass (reverse order): {again.message or again.kind}; "
                                 "the first pass answered correctly")
                    o.stderr = again.stderr or o.stderr
                    o.inputs = {k: abbreviate(val) for k, val in v["inputs"].items()}
                    o.config = dict(v["config"])
                elif again.key() != first[o.id].key():
                    _, msg2, _, _, _ = judge(v, again)
                    note = (f"second pass (reverse order) answered differently: "
                            f"{_describe(first[o.id])} then {_describe(again)}"
                            f"{'; ' + msg2 if msg2 else ''}")
                    if o.status == "pass":
                        o.status, o.message = "inconsistent", note
                    else:
                        o.message = f"{o.message}; {note}"
                    o.stderr = o.stderr or again.stderr
                    o.inputs = {k: abbreviate(val) for k, val in v["inputs"].items()}
                    o.config = dict(v["config"])
                if progress and (n + 1) % 200 == 0:
                    progress(f"pass 2: {n + 1}/{len(work)} vectors")
    except KeyboardInterrupt:
        res.aborted = "interrupted"
        res.problems.append("the run was interrupted; vectors not run are marked not_run")
    finally:
        res.stderr_tail = executor.stderr_tail()
        executor.close()
    gave_up = getattr(executor, "gave_up", None)
    if isinstance(gave_up, str) and gave_up:
        res.problems.append(gave_up)
    _finish(res, options, start)
    return res


def _describe(a: Answer) -> str:
    if a.kind == "outputs":
        text = json.dumps(a.outputs, sort_keys=True)
        return "outputs " + (text if len(text) <= 120 else text[:120] + "...")
    if a.kind == "reject":
        return f"reject {a.reject}"
    return a.kind


def _apply(o: Outcome, v: Mapping[str, JSON], answer: Answer) -> None:
    status, message, mismatches, claimed, unknown = judge(v, answer)
    o.status, o.message, o.mismatches, o.claimed = status, message, mismatches, claimed
    expected = v.get("expected")
    if isinstance(expected, dict) and isinstance(expected.get("profile"), dict):
        o.offered = list(expected["profile"])
    o.extra_outputs = unknown
    o.stderr = answer.stderr
    if status != "pass":
        o.inputs = {k: abbreviate(val) for k, val in v["inputs"].items()}
        o.config = dict(v["config"])


def _finish(res: Result, options: Options, start: float) -> None:
    unused = [x.pattern for x in options.xfail
              if not any(_matches([x.pattern], o.id, o.op, o.suite) for o in res.outcomes)]
    if unused and res.outcomes:
        res.notes.append(f"--xfail entries matching no selected vector (stale, a typo, or "
                         f"outside the selection): {unused}")
    for o in res.outcomes:
        hit = next((x for x in options.xfail if _matches([x.pattern], o.id, o.op, o.suite)),
                   None)
        if hit is None:
            continue
        if o.status == "pass":
            o.status, o.xfail_reason = "xpass", hit.reason
            o.message = (f"listed as an expected failure ({hit.reason}) but passed: remove it "
                         "from the xfail list")
        else:
            o.original_status, o.status, o.xfail_reason = o.status, "xfail", hit.reason
    failed = any(o.failed for o in res.outcomes)
    if not res.outcomes:
        res.problems.append("empty run: no vector was selected or loaded; an empty run is a "
                            "failure")
    if res.missing_total:
        res.problems.append(f"{res.missing_total} vector(s) declared by the manifest could not "
                            "be loaded (see the problems above)")
    if res.partial_suites:
        res.notes.append(f"suites only partly selected by --include/--exclude: "
                         f"{res.partial_suites}; a conformance claim covers whole suites "
                         "(use --xfail with a reason to set vectors aside)")
    if options.passes < 2:
        res.notes.append("each vector ran once (--once): the second pass in reverse order, "
                         "which catches state kept between calls, was skipped; a conformance "
                         "claim needs the full run")
    if failed or res.problems or res.aborted:
        res.verdict, res.exit_code = "FAIL", 1
    elif res.partial_suites:
        res.verdict, res.exit_code = "INCOMPLETE", 1
    else:
        res.verdict, res.exit_code = "PASS", 0
    res.elapsed_s = time.monotonic() - start


def summary_counts(outcomes: Sequence[Outcome], key: Callable[[Outcome], Sequence[str]]
                   ) -> dict[str, dict[str, int]]:
    """Per group (operator, flag, suite...): vectors, passed, failed, xfail and each status."""
    out: dict[str, dict[str, int]] = {}
    for o in outcomes:
        for k in key(o):
            row = out.setdefault(k, {"vectors": 0, "pass": 0, "fail": 0, "xfail": 0})
            row["vectors"] += 1
            if o.status == "pass":
                row["pass"] += 1
            elif o.status == "xfail":
                row["xfail"] += 1
            else:
                row["fail"] += 1
                row[o.status] = row.get(o.status, 0) + 1
    return dict(sorted(out.items()))


def profiles_claimed(outcomes: Sequence[Outcome]) -> dict[str, dict[str, JSON]]:
    """Per operator: profile outputs the backend returned, on how many valid vectors."""
    out: dict[str, dict[str, JSON]] = {}
    for o in outcomes:
        if o.expect != "outputs" or o.op not in OPS:
            continue
        row = out.setdefault(o.op, {"valid_vectors": 0, "claimed": {}, "available": []})
        row["valid_vectors"] += 1
        for name in o.offered:
            if name not in row["available"]:
                row["available"].append(name)
        for name in o.claimed:
            row["claimed"][name] = row["claimed"].get(name, 0) + 1
    return dict(sorted(out.items()))


SPEC = SPEC_VERSION
"""Spec version the runner judges against."""
