"""The conformance runner (spec/12-conformance-levels.md).

``run(options, executor)`` loads the vectors through the manifest exactly as
``sorbet-ref vectors verify`` checks them (hashes, lint, counts, totals,
COVERAGE.md), identifies the suite against the published one pinned in the
package (conformance/vectors/identity.py), selects vectors (include/exclude globs
over id, operator and suite), runs each selected vector twice, the second pass in
reverse order, judges every answer exactly against the expected result, applies
the expected-failure list and decides the verdict:

- PASS only when every selected vector passed in both passes (or is a waived
  negative vector), nothing the manifest declares is missing or unreadable, no
  suite is only partly selected, something passed, and the suite is the published
  one or an unchanged subset of its files;
- INCOMPLETE for a partial selection or a single pass (``--once``); WAIVED when
  valid vectors were waived (their suites support no claim); UNPUBLISHED (exit 3)
  when everything passed on a suite that is not the published one; otherwise FAIL.

An interrupt or a defect of the runner at any stage keeps the results so far.
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
from conformance.runner.backends import Answer, Executor, clip
from conformance.vectors.identity import PinError, SuiteIdentity, identify
from conformance.vectors.manifest import MANIFEST, MAX_MANIFEST_BYTES, Loaded, read_bounded
from conformance.vectors.release import verified_vectors
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

EXIT_UNPUBLISHED = 3
"""Exit code of a run in which everything passed on a suite that is not the published one."""

BACKEND_FAILURES = ("crash", "timeout", "garbage", "error")
"""Answer kinds that are a failure of the backend rather than an answer to judge; one that
only happens in the second pass is reported as itself, not as ``inconsistent``."""


@dataclass(frozen=True)
class XfailEntry:
    """An expected failure (spec/12, "Expected failures"): one vector id, or a glob over
    id, operator and suite, with the reason; ``negative`` limits it to the vectors that
    expect a rejection (the waiver of a port that validates nothing)."""

    pattern: str
    reason: str
    negative: bool = False
    is_id: bool = False
    """Whether the entry names one vector (``id``) rather than a glob (``pattern``)."""

    def __post_init__(self) -> None:
        if not self.pattern:
            raise ValueError("XfailEntry: the id or pattern must not be empty")
        if not self.reason.strip():
            raise ValueError(f"XfailEntry {self.pattern!r}: the reason must not be empty")

    @property
    def covers_anything(self) -> bool:
        """Whether the glob is made of wildcards only (``*``, ``?*``...): it names nothing."""
        return not self.is_id and not self.pattern.strip("*?")

    def matches(self, vid: str, op: str, suite: str, expect: str) -> bool:
        """Whether this entry waives the vector."""
        if self.negative and not expect.startswith("reject"):
            return False
        if self.is_id:
            return vid == self.pattern
        return _matches([self.pattern], vid, op, suite)

    def describe(self) -> str:
        """The entry as the reports show it."""
        what = f"id {self.pattern}" if self.is_id else f"pattern {self.pattern!r}"
        return what + (" (negative vectors only)" if self.negative else "")


class XfailFileError(ValueError):
    """An unreadable or malformed ``--xfail`` file (names the file and entry)."""


MAX_XFAIL_BYTES = 4 * 1024 * 1024
"""Largest --xfail file read."""


def load_xfail(path: Path) -> list[XfailEntry]:
    """Read an xfail file: a JSON list of ``{"id" or "pattern": ..., "reason": ...,
    "negative": bool (optional)}``; an entry whose pattern is wildcards only is refused."""
    try:
        data = strictjson.loads(read_bounded(path, MAX_XFAIL_BYTES))
    except OSError as exc:
        raise XfailFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise XfailFileError(f"{path}: malformed JSON: {exc}") from None
    if not isinstance(data, list):
        raise XfailFileError(f"{path}: expected a JSON list of {{id|pattern, reason}}")
    out: list[XfailEntry] = []
    for n, e in enumerate(data):
        if not isinstance(e, dict):
            raise XfailFileError(f"{path}: entry {n}: expected an object")
        if ("id" in e) == ("pattern" in e):
            raise XfailFileError(f"{path}: entry {n}: needs exactly one of 'id' and 'pattern'")
        is_id = "id" in e
        pat = e["id"] if is_id else e["pattern"]
        reason = e.get("reason")
        negative = e.get("negative", False)
        if not isinstance(pat, str) or not pat:
            raise XfailFileError(f"{path}: entry {n}: needs a non-empty 'id' or 'pattern'")
        shown = pat[:80]
        if not isinstance(reason, str) or not reason.strip():
            raise XfailFileError(f"{path}: entry {n} ({shown}): needs a non-empty 'reason'")
        if not isinstance(negative, bool):
            raise XfailFileError(f"{path}: entry {n} ({shown}): field negative: expected true "
                                 "or false")
        unknown = sorted(set(e) - {"id", "pattern", "reason", "negative"})
        if unknown:
            raise XfailFileError(f"{path}: entry {n} ({shown}): unknown field(s) {unknown}")
        entry = XfailEntry(pat, reason[:MAX_REASON], negative, is_id)
        if entry.covers_anything and not negative:
            raise XfailFileError(f"{path}: entry {n}: pattern {shown!r} names no vector, it "
                                 "covers everything; list what is expected to fail (ids, "
                                 "suites or operators), or use \"negative\": true to waive the "
                                 "rejections")
        out.append(entry)
    return out


MAX_REASON = 500
"""Characters of an xfail reason kept."""


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
    identity: SuiteIdentity | None = None
    """Whether the vectors are the published suite (None: no manifest could be read)."""
    waived_valid: list[str] = field(default_factory=list)
    """Ids of valid vectors waived by --xfail (their suites support no claim)."""
    waived_negative: list[str] = field(default_factory=list)
    """Ids of negative vectors waived by --xfail (no claim about rejections)."""
    unclaimed_suites: list[str] = field(default_factory=list)
    """Suites with a waived valid vector: not conformant, whatever else passed."""
    universe: list[tuple[str, str, str, str]] = field(default_factory=list, repr=False)
    """(id, op, suite, expect) of every loaded vector, selected or not (xfail matching)."""

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
    if answer.kind in ("crash", "timeout", "garbage", "error", "missing", "malformed"):
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


def _load(res: Result, options: Options) -> list[tuple[Outcome, Mapping[str, JSON]]]:
    """Load and verify the vectors as ``sorbet-ref vectors verify`` does (manifest, hashes,
    lint, counts, totals, COVERAGE.md), identify the suite, select; the work list."""
    loaded: Loaded
    loaded, problems = verified_vectors(options.vectors_dir)
    res.problems.extend(problems)
    if loaded.manifest is not None:
        raw: bytes | None = None
        with contextlib.suppress(OSError, ValueError):
            raw = read_bounded(options.vectors_dir / MANIFEST, MAX_MANIFEST_BYTES)
        if raw is not None:
            res.manifest_sha256 = hashlib.sha256(raw).hexdigest()
        try:
            res.identity = identify(raw, [e for e in loaded.manifest["files"]
                                          if isinstance(e, dict)])
        except PinError as exc:
            res.problems.append(str(exc))
    res.manifest_total = loaded.expected_total
    res.loaded_total = sum(len(d["vectors"]) for _, d in loaded.files)
    include, exclude = list(options.include), list(options.exclude)

    def selected(v_id: str, op: str, suite: str) -> bool:
        if include and not _matches(include, v_id, op, suite):
            return False
        return not (exclude and _matches(exclude, v_id, op, suite))

    # vectors the manifest declares but that could not be loaded count as missing
    for e in loaded.bad_entries:
        count = e.get("vectors")
        if (selected("", str(e.get("op", "")), str(e.get("suite", "")))
                and isinstance(count, int) and not isinstance(count, bool) and count > 0):
            res.missing_total += count
    work: list[tuple[Outcome, Mapping[str, JSON]]] = []
    for entry, data in loaded.files:
        for v in data["vectors"]:
            exp = v["expected"]
            res.universe.append((v["id"], v["op"], data["suite"],
                                 "reject" if "reject" in exp else "outputs"))
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
    return work


def run(options: Options, executor: Executor | None,
        progress: Callable[[str], None] | None = None,
        backend_error: str | None = None, backend_spec: str = "") -> Result:
    """Run the selected vectors against ``executor`` (None: it could not be opened).

    Never raises for anything the vectors, the backend or an interrupt do: an interrupt
    (KeyboardInterrupt, SIGTERM through the command) at any point, loading included,
    keeps the results so far and marks the rest ``not_run``; an unexpected error of the
    runner itself is a run-level problem with the results so far kept. The executor is
    closed in every case."""
    start = time.monotonic()
    res = Result(backend=executor.name if executor else backend_spec,
                 backend_kind=executor.kind if executor else "unavailable",
                 vectors_dir=str(options.vectors_dir), options=options)
    stage = "loading the vectors"
    try:
        work = _load(res, options)
        if backend_error:
            res.problems.append(backend_error)
        load_error = getattr(executor, "load_error", None)
        if isinstance(load_error, str) and load_error:
            res.problems.append(load_error)
        if executor is None:
            for o in res.outcomes:
                o.status, o.message = "not_run", backend_error or "no backend"
        else:
            stage = "the first pass"
            _passes(res, options, executor, work, progress)
    except KeyboardInterrupt:
        res.aborted = "interrupted"
        res.problems.append(f"the run was interrupted during {stage}; vectors not run are "
                            "marked not_run")
    except (Exception, SystemExit) as exc:  # a defect of the runner: keep every result
        res.problems.append(clip(f"the runner failed during {stage}: {type(exc).__name__}: "
                                 f"{exc}; the results so far are kept"))
    finally:
        if executor is not None:
            _close(res, executor)
    for o in res.outcomes:
        if o.status == "not_run" and not o.message:
            o.message = "not run: the run stopped before this vector"
    gave_up = getattr(executor, "gave_up", None)
    if isinstance(gave_up, str) and gave_up:
        res.problems.append(gave_up)
    _finish(res, options, start)
    return res


def _close(res: Result, executor: Executor) -> None:
    """Keep the stderr tail and close the executor; a failure to do so is a problem."""
    try:
        res.stderr_tail = executor.stderr_tail()
        executor.close()
    except (Exception, KeyboardInterrupt) as exc:
        res.problems.append(clip(f"closing the backend failed: {type(exc).__name__}: {exc}"))
        if isinstance(exc, KeyboardInterrupt):
            res.aborted = "interrupted"


def _passes(res: Result, options: Options, executor: Executor,
            work: Sequence[tuple[Outcome, Mapping[str, JSON]]],
            progress: Callable[[str], None] | None) -> None:
    """Pass one in file order, pass two in reverse (spec/12, "The run", step 3)."""
    first: dict[str, Answer] = {}
    meter = Progress(len(work) * options.passes, progress) if progress else None
    for n, (o, v) in enumerate(work):
        answer = executor.call(v)
        first[o.id] = answer
        _apply(o, v, answer)
        if meter:
            meter.step(n + 1, "pass 1")
    if options.passes < 2:
        return
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


def _apply_xfail(res: Result, options: Options) -> None:
    """Waive the listed vectors (spec/12, "Expected failures"): every entry must match a
    loaded vector, none may cover every selected vector, and what was waived is kept for
    the verdict."""
    for x in options.xfail:
        if x.covers_anything and not x.negative:
            res.problems.append(f"--xfail entry {x.describe()} names no vector, it covers "
                                "everything; the entry was not applied")
            continue
        hits = [o for o in res.outcomes if x.matches(o.id, o.op, o.suite, o.expect)]
        if not hits:
            if any(x.matches(*u) for u in res.universe):
                res.notes.append(f"--xfail entry {x.describe()} matches no selected vector "
                                 "(only vectors outside the selection)")
            elif res.universe:
                res.problems.append(f"--xfail entry {x.describe()} matches no vector of the "
                                    "suite (stale or a typo); every entry must name something "
                                    "that exists")
            continue
        if not x.is_id and len(hits) == len(res.outcomes) and len(hits) > 1:
            res.problems.append(f"--xfail entry {x.describe()} covers every selected vector "
                                f"({len(hits)}): a waiver of the whole run is not an expected "
                                "failure; the entry was not applied")
    usable = [x for x in options.xfail if not (x.covers_anything and not x.negative)]
    usable = [x for x in usable
              if x.is_id or len(res.outcomes) < 2
              or sum(1 for o in res.outcomes if x.matches(o.id, o.op, o.suite, o.expect))
              < len(res.outcomes)]
    for o in res.outcomes:
        hit = next((x for x in usable if x.matches(o.id, o.op, o.suite, o.expect)), None)
        if hit is None:
            continue
        if o.status == "pass":
            o.status, o.xfail_reason = "xpass", hit.reason
            o.message = (f"listed as an expected failure ({hit.reason}) but passed: remove it "
                         "from the xfail list")
            continue
        o.original_status, o.status, o.xfail_reason = o.status, "xfail", hit.reason
        if o.expect == "outputs":
            res.waived_valid.append(o.id)
            if o.suite not in res.unclaimed_suites:
                res.unclaimed_suites.append(o.suite)
        else:
            res.waived_negative.append(o.id)


def _finish(res: Result, options: Options, start: float) -> None:
    """Apply the expected failures and decide the verdict (spec/12, "Verdict and exit code")."""
    _apply_xfail(res, options)
    failed = any(o.failed for o in res.outcomes)
    if not res.outcomes:
        res.problems.append("empty run: no vector was selected or loaded; an empty run is a "
                            "failure")
    elif not any(o.status == "pass" for o in res.outcomes):
        res.problems.append("no vector passed: a run in which every vector failed or was "
                            "waived is a failure")
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
    if res.waived_valid:
        res.notes.append(f"{len(res.waived_valid)} valid vector(s) waived by --xfail in "
                         f"suite(s) {res.unclaimed_suites}: those suites are not conformant")
    if res.waived_negative:
        res.notes.append(f"{len(res.waived_negative)} negative vector(s) waived by --xfail: no "
                         "claim about rejections")
    if failed or res.problems or res.aborted:
        res.verdict, res.exit_code = "FAIL", 1
    elif res.partial_suites or options.passes < 2:
        res.verdict, res.exit_code = "INCOMPLETE", 1
    elif res.waived_valid:
        res.verdict, res.exit_code = "WAIVED", 1
    elif res.identity is None or not res.identity.claimable:
        res.verdict, res.exit_code = "UNPUBLISHED", EXIT_UNPUBLISHED
    else:
        res.verdict, res.exit_code = "PASS", 0
    res.elapsed_s = time.monotonic() - start


def verdict_line(res: Result) -> str:
    """The verdict with everything that limits it, on one line (text summary, reports)."""
    passed = sum(1 for o in res.outcomes if o.status == "pass")
    failed = sum(1 for o in res.outcomes if o.failed)
    xfail = sum(1 for o in res.outcomes if o.status == "xfail")
    text = (f"{res.verdict}: {passed} passed, {failed} failed, {xfail} waived (expected "
            f"failures) of {res.selected} selected ({res.manifest_total} in the manifest)")
    limits = []
    if res.verdict == "WAIVED":
        limits.append(f"no claim for suite(s) {', '.join(res.unclaimed_suites)}: "
                      f"{len(res.waived_valid)} valid vector(s) waived")
    if res.verdict == "UNPUBLISHED":
        limits.append("every selected vector passed, on a suite that is not the published "
                      "one: not a conformance claim")
    if res.waived_negative:
        limits.append(f"rejections waived on {len(res.waived_negative)} negative vector(s): "
                      "no claim about rejections")
    if res.verdict == "PASS":
        suites = sorted({o.suite for o in res.outcomes})
        whole = len(suites) == (res.identity.published_files if res.identity else 0)
        limits.append("claim: the whole published suite" if whole else
                      f"claim: {len(suites)} suite(s) only: {', '.join(suites)}")
    if res.identity is not None and not res.identity.claimable:
        limits.append("UNPUBLISHED suite")
    return text + "".join(f"; {x}" for x in limits)


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
