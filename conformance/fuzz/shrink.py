"""Shrinking a failing fuzz case to a small one that fails the same way (delta debugging).

Starting from a case the backend failed with status ``s`` (``mismatch``,
``not_rejected``, ``crash``, ...), candidates are tried in order and the first one
the backend still fails with the same status becomes the current case; the search
restarts from it, and ends when no candidate is accepted or the budget (a number of
backend calls and a time, both reported) is spent.  Each candidate's expected
result is computed by the canonical tier and its answer judged by the runner's
``judge``, so a shrunk case is exactly as trustworthy as a committed vector.

Candidates, simplest first:

1. smaller structure, with the configuration following: a shorter PTsoftmax row or
   quantizer input (chunks removed, halving chunk sizes as in ddmin); one output row
   of the binary linear layer (``out_features = 1``) and fewer input features; one
   BSPN group (``channels = group_size``), then half of it;
2. simpler values: a whole field, then halving chunks of it, then single entries set
   to a neutral value (0; 1 for masks, signs and multipliers), then single entries
   halved toward it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conformance.fuzz.batch import FuzzCase, canonical_expected
from conformance.fuzz.engine import vector_of
from conformance.runner.backends import Executor
from conformance.runner.check import judge

JSON = Any
Candidate = tuple[dict[str, JSON], dict[str, JSON]]
"""(config, inputs)."""

NEUTRAL = {"mask": 1, "weight_sign": 1, "signs": 1, "multiplier": 1}
"""The value an entry shrinks to, where it is not 0."""


@dataclass(frozen=True)
class ShrinkBudget:
    """Bounds on one shrink: backend calls and seconds."""

    calls: int = 400
    seconds: float = 60.0


@dataclass
class Shrunk:
    """A shrunk failing case and what it cost."""

    op: str
    config: dict[str, JSON]
    inputs: dict[str, JSON]
    status: str
    message: str
    original_id: str
    calls: int = 0
    seconds: float = 0.0
    accepted: int = 0
    """Candidates accepted (steps of the shrink)."""
    exhausted: str | None = None
    """Why the shrink stopped early (the budget), or None when no candidate was left."""
    size_before: int = 0
    size_after: int = 0
    mismatches: list[dict[str, JSON]] = field(default_factory=list)


def size(inputs: dict[str, JSON]) -> int:
    """Integers in the inputs plus the bit lengths of their values (what shrinking lowers)."""
    total = 0
    for v in inputs.values():
        vals = v if isinstance(v, list) else [v]
        for x in vals:
            total += 1 + (abs(x).bit_length() if isinstance(x, int) else 0)
    return total


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of chunks of halving sizes n/2, n/4, ..., 1."""
    k = n // 2
    while k >= 1:
        for start in range(0, n, k):
            yield start, min(n, start + k)
        k //= 2


def _structure(op: str, cfg: dict[str, JSON], inp: dict[str, JSON]) -> Iterator[Candidate]:
    if op == "ptsoftmax" and isinstance(inp.get("scores"), list):
        sc, m = inp["scores"], inp.get("mask")
        n = len(sc)
        for a, b in _chunks(n):
            if b - a < n:
                new = {**inp, "scores": sc[:a] + sc[b:]}
                if isinstance(m, list) and len(m) == n:
                    new["mask"] = m[:a] + m[b:]
                yield cfg, new
    elif op == "quantize" and isinstance(inp.get("x"), list):
        x = inp["x"]
        for a, b in _chunks(len(x)):
            if b - a < len(x):
                yield cfg, {**inp, "x": x[:a] + x[b:]}
    elif op == "binary_linear":
        yield from _linear(cfg, inp)
    elif op == "bspn":
        yield from _bspn(cfg, inp)


def _linear(cfg: dict[str, JSON], inp: dict[str, JSON]) -> Iterator[Candidate]:
    n, o = cfg.get("in_features"), cfg.get("out_features")
    counts, signs = inp.get("counts"), inp.get("signs")
    if not (isinstance(n, int) and isinstance(o, int) and isinstance(counts, list)
            and isinstance(signs, list) and len(counts) == n and len(signs) == n * o):
        return
    if o > 1:
        for r in range(o):
            yield {**cfg, "out_features": 1}, {**inp, "signs": signs[r * n:(r + 1) * n]}
    for a, b in _chunks(n):
        if b - a < n:
            keep = [j for j in range(n) if not a <= j < b]
            yield ({**cfg, "in_features": len(keep)},
                   {**inp, "counts": [counts[j] for j in keep],
                    "signs": [signs[r * n + j] for r in range(o) for j in keep]})


def _bspn(cfg: dict[str, JSON], inp: dict[str, JSON]) -> Iterator[Candidate]:
    c, g = cfg.get("channels"), cfg.get("group_size")
    names = ("x", "weight_sign", "weight_exp", "bias")
    if not (isinstance(c, int) and isinstance(g, int) and g >= 1
            and all(isinstance(inp.get(k), list) and len(inp[k]) == c for k in names)):
        return
    if c > g:
        for grp in range(c // g):
            yield ({**cfg, "channels": g},
                   {**inp, **{k: inp[k][grp * g:(grp + 1) * g] for k in names}})
    elif g > 1:
        h = g // 2
        for a in (0, h):
            yield ({**cfg, "channels": h, "group_size": h},
                   {**inp, **{k: inp[k][a:a + h] for k in names}})


def _values(inp: dict[str, JSON]) -> Iterator[dict[str, JSON]]:
    for name, v in inp.items():
        neutral = NEUTRAL.get(name, 0)
        if isinstance(v, int) and not isinstance(v, bool):
            if v != neutral:
                yield {**inp, name: neutral}
                half = neutral + (v - neutral) // 2
                if half not in (v, neutral):
                    yield {**inp, name: half}
            continue
        if not isinstance(v, list) or not v:
            continue
        if any(x != neutral for x in v):
            yield {**inp, name: [neutral] * len(v)}
            for a, b in _chunks(len(v)):
                if any(x != neutral for x in v[a:b]):
                    yield {**inp, name: v[:a] + [neutral] * (b - a) + v[b:]}
        for i, x in enumerate(v):
            if isinstance(x, int) and x != neutral:
                half = neutral + (x - neutral) // 2
                if half not in (x, neutral):
                    yield {**inp, name: [*v[:i], half, *v[i + 1:]]}


def candidates(op: str, cfg: dict[str, JSON], inp: dict[str, JSON]) -> Iterator[Candidate]:
    """Every candidate of ``(cfg, inp)``, simplest first (see the module's docstring)."""
    yield from _structure(op, cfg, inp)
    for new in _values(inp):
        yield cfg, new


def shrink(case: FuzzCase, status: str, message: str, executor: Executor,
           budget: ShrinkBudget) -> Shrunk:
    """Shrink ``case`` (failed with ``status``) against ``executor`` within ``budget``."""
    start = time.monotonic()
    out = Shrunk(case.op, dict(case.config), dict(case.inputs), status, message, case.id,
                 size_before=size(case.inputs))

    def still_fails(cfg: dict[str, JSON], inp: dict[str, JSON]) -> bool:
        exp, _ = canonical_expected(case.op, cfg, inp)
        trial = FuzzCase(f"{case.id}-s{out.calls}", case.job, case.op, cfg, inp, exp,
                         case.origin, b"", None)
        out.calls += 1
        got, msg, mismatches, _, _ = judge(vector_of(trial), executor.call(vector_of(trial)))
        if got == status:
            out.message, out.mismatches = msg, mismatches
            return True
        return False

    seen: set[str] = set()
    improved = True
    while improved and out.exhausted is None:
        improved = False
        for cfg, inp in candidates(case.op, out.config, out.inputs):
            key = repr((sorted(cfg.items()), sorted(inp.items())))
            if key in seen:
                continue
            seen.add(key)
            if out.calls >= budget.calls:
                out.exhausted = f"the budget of {budget.calls} backend calls was spent"
                break
            if time.monotonic() - start >= budget.seconds:
                out.exhausted = f"the budget of {budget.seconds:g} s was spent"
                break
            if still_fails(cfg, inp):
                out.config, out.inputs = cfg, inp
                out.accepted += 1
                improved = True
                break
    out.seconds = time.monotonic() - start
    out.size_after = size(out.inputs)
    return out
