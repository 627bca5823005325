"""Batches of fuzz cases: drawn, named and out-of-domain cases with their expected results.

A batch is :data:`BATCH` cases of one job, built from the stream keyed by the run's
seed and the batch's number (so a batch is the same wherever and whenever it is
built).  Its cases are:

- drawn cases (conformance/fuzz/draw.py), expected results by the fast tier; a sample
  (the cases at stream positions ``p = phase mod (canonical_every * sample_scale(job))``,
  ``p = index * BATCH + n``) is recomputed by the canonical tier and any disagreement is
  reported (the canonical result is used);
- out-of-domain cases (one in :data:`INVALID_EVERY`): a drawn case with one field
  pushed outside the domain (a value one past its format, a wrong length, a mask
  entry 2, ...), expected rejection by the canonical tier;
- named cases (:data:`NAMED_PER_BATCH` per batch): the edge and negative cases of
  conformance/vectors/cases.py, the same the committed suites hold (expected results
  computed once per job, see :func:`named_cases`).

With ``source="hypothesis"`` the cases are drawn by the suites' Hypothesis strategies
(conformance/vectors/strategies.py) instead, every expected result by the canonical
tier (slow: for exploring, not for throughput).

Each case carries its request line (compact JSON) and, when the expected result is a
set of outputs, the answer line a port writing JSON in Python's default layout gives
(``{"id": "...", "outputs": {...}}`` with the outputs in the operator's order): an
answer equal to it byte for byte passes without being parsed; any other answer is
parsed and judged in full (conformance/runner/check.py, ``judge``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.fuzz import draw
from conformance.fuzz.jobs import Job
from conformance.fuzz.rng import Stream, key_of
from conformance.operators import OPS, run_reference
from conformance.vectors import cases as named

JSON = Any

BATCH = 256
"""Cases per batch."""

INVALID_EVERY = 32
"""One drawn case in this many is pushed out of the domain."""

NAMED_PER_BATCH = 2
"""Named edge or negative cases per batch."""


@dataclass(slots=True)
class FuzzCase:
    """One request and what the reference expects of it."""

    id: str
    job: str
    """The job's name (conformance/fuzz/jobs.py)."""
    op: str
    config: dict[str, JSON]
    given: draw.Inputs
    """The inputs, or a function making them (drawn cases build them only when needed)."""
    expected: dict[str, JSON]
    """``{"outputs": {...}, "profile": {...}}`` or ``{"reject": cls, "message": text}``."""
    origin: str
    """``drawn``, ``hypothesis``, ``out-of-domain: ...`` or ``named: <comment>``."""
    request: bytes
    fast: bytes | None
    """The answer line that passes without parsing (None: always judged in full)."""

    @property
    def inputs(self) -> dict[str, JSON]:
        """The inputs (made on first use)."""
        if callable(self.given):
            self.given = self.given()
        return self.given


@dataclass
class Batch:
    """The cases of one batch and what building it found."""

    job: Job
    index: int
    cases: list[FuzzCase]
    canonical_checked: int = 0
    disagreements: list[str] = field(default_factory=list)
    """Fast-tier results the canonical tier did not confirm (a defect of the oracle)."""


_COMPACT = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
_DEFAULT = json.JSONEncoder().encode


def request_line(case_id: str, op: str, config_json: str, inputs: dict[str, JSON],
                 body: str | None = None) -> bytes:
    """The JSON request of spec/11 (keys sorted; ``body``: the inputs' JSON text when the
    caller wrote it, else compact)."""
    if body is None:
        body = _COMPACT(inputs)
    return (f'{{"config":{config_json},"id":"{case_id}","inputs":{body},'
            f'"op":"{op}"}}').encode()


def split_expected(op: str, outputs: dict[str, JSON]) -> dict[str, JSON]:
    """The expected block of a vector from all outputs: normative and profile parts."""
    spec = OPS[op]
    return {"outputs": {k: outputs[k] for k in spec.outputs},
            "profile": {k: outputs[k] for k in spec.profile_outputs if k in outputs}}


def fast_line(case_id: str, outputs: dict[str, JSON], text: str | None = None) -> bytes:
    """``{"id": ..., "outputs": {...}}`` in Python's default JSON layout (``text``: the
    outputs' JSON text in that layout, when the caller has it)."""
    return f'{{"id": "{case_id}", "outputs": {text or _DEFAULT(outputs)}}}'.encode()


def canonical_expected(op: str, config: dict[str, JSON],
                       inputs: dict[str, JSON]) -> tuple[dict[str, JSON], dict[str, JSON] | None]:
    """The canonical tier's expected block and, for outputs, all outputs in order."""
    res = run_reference(op, config, inputs)
    if "reject" in res:
        return {"reject": res["reject"], "message": res["message"]}, None
    spec = OPS[op]
    outs = res["outputs"]
    ordered = {k: outs[k] for k in (*spec.outputs, *spec.profile_outputs) if k in outs}
    return split_expected(op, ordered), ordered


# --- out of the domain ----------------------------------------------------------------


def _bump(values: list[int], pos: int, value: int) -> list[int]:
    out = list(values)
    out[pos % len(out)] = value
    return out


def _invalid_ptsoftmax(cfg: Any, inp: dict[str, JSON], r: int) -> tuple[dict[str, JSON], str]:
    fmt = cfg.score_format
    sc, m = inp["scores"], inp["mask"]
    kinds: list[Callable[[], tuple[dict[str, JSON], str]]] = [
        lambda: ({"mask": m, "scores": _bump(sc, r >> 8, fmt.max + 1)}, "a score above the format"),
        lambda: ({"mask": m, "scores": _bump(sc, r >> 8, fmt.min - 1)}, "a score below the format"),
        lambda: ({"mask": _bump(m, r >> 8, 2), "scores": sc}, "a mask entry 2"),
        lambda: ({"mask": [*m, 1], "scores": sc}, "a mask longer than the row"),
        lambda: ({"mask": [], "scores": []}, "an empty row"),
        lambda: ({"scores": sc}, "the field mask is missing"),
    ]
    if cfg.max_len <= 64:
        kinds.append(lambda: ({"mask": [1] * (cfg.max_len + 1), "scores": [0] * (
            cfg.max_len + 1)}, "a row one longer than max_len"))
    return kinds[r % len(kinds)]()


def _invalid_bspn(cfg: Any, inp: dict[str, JSON], r: int) -> tuple[dict[str, JSON], str]:
    kinds: list[tuple[str, Callable[[list[int]], list[int]], str]] = [
        ("x", lambda v: _bump(v, r >> 8, cfg.in_format.max + 1), "an x value above the format"),
        ("x", lambda v: _bump(v, r >> 8, cfg.in_format.min - 1), "an x value below the format"),
        ("weight_sign", lambda v: _bump(v, r >> 8, 2), "a weight sign 2"),
        ("weight_exp", lambda v: _bump(v, r >> 8, cfg.weight_exp_max + 1),
         "a weight exponent above weight_exp_max"),
        ("bias", lambda v: _bump(v, r >> 8, cfg.bias_format.max + 1), "a bias above its format"),
        ("x", lambda v: v[:-1], "x one channel short"),
    ]
    name, change, what = kinds[r % len(kinds)]
    return {**inp, name: change(inp[name])}, what


def _invalid_quantize(cfg: Any, inp: dict[str, JSON], r: int) -> tuple[dict[str, JSON], str]:
    kinds: list[tuple[dict[str, JSON], str]] = [
        ({**inp, "x": _bump(inp["x"], r >> 8, cfg.in_format.max + 1)}, "x above the format"),
        ({**inp, "x": _bump(inp["x"], r >> 8, cfg.in_format.min - 1)}, "x below the format"),
        ({**inp, "multiplier": 0}, "multiplier 0"),
        ({**inp, "multiplier": 1 << cfg.multiplier_bits}, "multiplier above multiplier_bits"),
        ({**inp, "shift": 63}, "shift 63"),
        ({**inp, "shift": -1}, "a negative shift"),
        ({**inp, "bias": 1 << (cfg.bias_width - 1)}, "a bias above bias_width"),
        ({k: v for k, v in inp.items() if k != "x"}, "the field x is missing"),
    ]
    return kinds[r % len(kinds)]


def _invalid_if_encode(cfg: Any, inp: dict[str, JSON], r: int) -> tuple[dict[str, JSON], str]:
    return ({"count": -1}, "count -1") if r % 2 else (
        {"count": cfg.count_max + 1}, "count one above 2^bits - 1")


def _invalid_binary_linear(cfg: Any, inp: dict[str, JSON],
                           r: int) -> tuple[dict[str, JSON], str]:
    kinds: list[tuple[dict[str, JSON], str]] = [
        ({**inp, "counts": _bump(inp["counts"], r >> 8, 1 << cfg.bits)},
         "a count above 2^bits - 1"),
        ({**inp, "counts": _bump(inp["counts"], r >> 8, -1)}, "a count -1"),
        ({**inp, "signs": _bump(inp["signs"], r >> 8, 0)}, "a sign 0"),
        ({**inp, "counts": inp["counts"][:-1]}, "counts one short"),
    ]
    return kinds[r % len(kinds)]


INVALID: dict[str, Callable[[Any, dict[str, JSON], int], tuple[dict[str, JSON], str]]] = {
    "ptsoftmax": _invalid_ptsoftmax, "bspn": _invalid_bspn, "quantize": _invalid_quantize,
    "if_encode": _invalid_if_encode, "binary_linear": _invalid_binary_linear,
}
"""Per operator: a drawn case pushed out of the domain, by a drawn number."""


# --- named cases ----------------------------------------------------------------------

NAMED_BUILDERS: dict[str, tuple[Callable[[Any], list[named.Case]], ...]] = {
    "ptsoftmax": (named.ptsoftmax_cases, named.ptsoftmax_negative),
    "bspn": (named.bspn_cases, named.bspn_negative),
    "quantize": (named.quantize_cases, named.quantize_negative),
    "if_encode": (named.if_encode_cases, named.if_encode_negative),
    "binary_linear": (named.binary_linear_cases, named.binary_linear_negative),
}
"""The suites' edge and negative cases of each operator."""

_NAMED: dict[str, list[tuple[dict[str, JSON], dict[str, JSON], str, dict[str, JSON],
                              dict[str, JSON] | None]]] = {}


def named_cases(job: Job) -> list[tuple[dict[str, JSON], dict[str, JSON], str, dict[str, JSON],
                                        dict[str, JSON] | None]]:
    """(config, inputs, comment, expected, ordered outputs) of the job's named cases
    (computed once per job: by the fast tier for BSPN and the binary linear layer inside
    the domain, whose canonical computation takes a second at full width, and otherwise
    by the canonical tier)."""
    got = _NAMED.get(job.name)
    if got is None:
        got = []
        for build in NAMED_BUILDERS[job.op]:
            for c in build(job.cfg):
                cfg = c.config if c.config is not None else job.config
                if job.op == "ptsoftmax" and len(c.inputs.get("scores", ())) > job.max_len \
                        and c.reject is None:
                    continue  # long rows belong to the long-row job
                exp: dict[str, JSON]
                ordered: dict[str, JSON] | None
                fast = None if c.reject is not None or c.config is not None else \
                    draw.fast_outputs(job, c.inputs)
                if fast is not None:
                    exp, ordered = split_expected(job.op, fast), fast
                else:
                    exp, ordered = canonical_expected(job.op, cfg, c.inputs)
                got.append((cfg, c.inputs, c.comment, exp, ordered))
        _NAMED[job.name] = got
    return got


# --- building ---------------------------------------------------------------------------


SAMPLE_UNIT = 1024
"""Input integers per case that one unit of the canonical sample's spacing pays for."""


def sample_scale(job: Job) -> int:
    """How much sparser the canonical sample of ``job`` is: ``max(1, m // SAMPLE_UNIT)`` for
    ``m`` input integers per case (BSPN at 768 channels and the binary linear layer at full
    fan-in take the canonical tier a fraction of a second per case; they are sampled
    proportionally less often, so every job costs the sample about the same time)."""
    cfg = job.cfg
    m: int
    if job.op == "bspn":
        m = 4 * cfg.channels
    elif job.op == "binary_linear":
        m = cfg.in_features * (cfg.out_features + 1)
    elif job.op == "ptsoftmax":
        m = 2 * job.max_len
    else:
        m = 1
    return max(1, m // SAMPLE_UNIT)


def case_id(seed: int, index: int, n: int) -> str:
    """The id of case ``n`` of batch ``index`` of the run with ``seed``."""
    return f"fz{seed}-{index}-{n}"


def build_batch(job: Job, seed: int, index: int, size: int = BATCH,
                canonical_every: int = 256, source: str = "fast") -> Batch:
    """The batch ``index`` of the run with ``seed`` (deterministic)."""
    s = Stream(key_of(seed, index, job.name, source))
    config = job.config
    config_json = json.dumps(config, separators=(",", ":"), sort_keys=True)
    op = job.op
    cases: list[FuzzCase] = []
    out = Batch(job, index, cases)
    if source == "hypothesis":
        for n, inputs in enumerate(_hypothesis_inputs(job, size, key_of(seed, index, job.name))):
            cid = case_id(seed, index, n)
            exp, ordered = canonical_expected(op, config, inputs)
            cases.append(FuzzCase(cid, job.name, op, config, inputs, exp, "hypothesis",
                                  request_line(cid, op, config_json, inputs),
                                  None if ordered is None else fast_line(cid, ordered)))
        out.canonical_checked = len(cases)
        return out
    inputs_l, outputs_l, texts, out_texts = draw.draw(job, s, size)
    seen: dict[int, tuple[dict[str, JSON], str]] = {}
    for n, (given, outputs) in enumerate(zip(inputs_l, outputs_l, strict=True)):
        cid = case_id(seed, index, n)
        known = seen.get(id(outputs))
        if known is None:
            known = (split_expected(op, outputs),
                     _DEFAULT(outputs) if out_texts is None else out_texts[n])
            seen[id(outputs)] = known
        cases.append(FuzzCase(cid, job.name, op, config, given, known[0], "drawn",
                              request_line(cid, op, config_json, draw.materialize(given),
                                           None) if texts is None else
                              request_line(cid, op, config_json, {}, texts[n]),
                              fast_line(cid, outputs, known[1])))
    picks = s.below(1 << 30, (size,)).tolist()
    # the canonical sample, taken before any case is replaced
    every = max(1, canonical_every) * sample_scale(job)
    phase = key_of(seed, "sample", job.name) % every
    first = (phase - index * BATCH) % every
    for n in range(first, size, every):
        _confirm(out, cases[n])
    for n in range(size):
        if picks[n] % INVALID_EVERY == 1:
            c = cases[n]
            inputs, what = INVALID[op](job.cfg, c.inputs, picks[n] >> 5)
            exp, ordered = canonical_expected(op, config, inputs)
            cases[n] = FuzzCase(c.id, job.name, op, config, inputs, exp, f"out-of-domain: {what}",
                                request_line(c.id, op, config_json, inputs),
                                None if ordered is None else fast_line(c.id, ordered))
    table = named_cases(job)
    for k in range(min(NAMED_PER_BATCH, size)):
        n = picks[k] % size
        cfg, inputs, comment, exp, ordered = table[(picks[-1 - k] >> 3) % len(table)]
        cid = cases[n].id
        cfg_json = config_json if cfg is config or cfg == config else json.dumps(
            cfg, separators=(",", ":"), sort_keys=True)
        cases[n] = FuzzCase(cid, job.name, op, cfg, inputs, exp, f"named: {comment}",
                            request_line(cid, op, cfg_json, inputs),
                            None if ordered is None else fast_line(cid, ordered))
    return out


def _confirm(out: Batch, case: FuzzCase) -> None:
    """Recompute ``case`` with the canonical tier; record and repair a disagreement."""
    exp, ordered = canonical_expected(case.op, case.config, case.inputs)
    out.canonical_checked += 1
    if exp != case.expected:
        out.disagreements.append(
            f"{case.id} ({out.job.name}): the fast tier computed "
            f"{json.dumps(case.expected)[:300]}, the canonical tier {json.dumps(exp)[:300]}")
        case.expected = exp
        case.fast = None if ordered is None else fast_line(case.id, ordered)


def _hypothesis_inputs(job: Job, size: int, seed_value: int) -> list[dict[str, JSON]]:
    """``size`` examples of the suite's Hypothesis strategy for ``job`` (derandomized)."""
    from conformance.vectors import strategies as strat

    strategies: dict[str, Callable[[], Any]] = {
        "ptsoftmax": lambda: strat.ptsoftmax_inputs(job.cfg, job.max_len),
        "bspn": lambda: strat.bspn_inputs(job.cfg),
        "quantize": lambda: strat.quantize_inputs(job.cfg),
        "if_encode": lambda: strat.if_encode_inputs(job.cfg),
        "binary_linear": lambda: strat.binary_linear_inputs(job.cfg),
    }
    got: list[dict[str, JSON]] = strat.collect(strategies[job.op](), size, seed_value)
    return got
