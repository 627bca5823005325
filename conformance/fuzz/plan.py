"""The case stream of a fuzz run and how shards partition it.

The stream of a run with seed ``S`` is a sequence of batches ``0, 1, 2, ...`` of
:data:`~conformance.fuzz.batch.BATCH` cases; batch ``b`` is built from its own key
``(S, b)`` and its job is drawn from ``(S, b)`` too, weighted by the jobs' shares
(conformance/fuzz/jobs.py).  With ``--cases N`` the stream is its first ``N`` cases
(the last batch cut short).  Shard ``I/N`` runs the batches ``b`` with
``b mod N = I``: the shards of one seed run disjoint parts of one stream, and
together all of it, whatever machine or order they run in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from conformance.fuzz.batch import BATCH
from conformance.fuzz.jobs import Job, select_jobs
from conformance.fuzz.rng import key_of

SOURCES = ("fast", "hypothesis")
"""Where cases come from: the vectorized draws (expected results by the fast tier) or the
suites' Hypothesis strategies (expected results by the canonical tier)."""


class PlanError(ValueError):
    """An impossible plan (the message names the option)."""


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` as ``(I, N)`` with ``0 <= I < N``; PlanError otherwise."""
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise PlanError(f"--shard {text}: expected I/N with integers 0 <= I < N (e.g. 0/4)")
    i, n = int(parts[0]), int(parts[1])
    if n < 1:
        raise PlanError(f"--shard {text}: the shard count N must be at least 1")
    if i >= n:
        raise PlanError(f"--shard {text}: the shard index I must be below the count N "
                        f"(shards are numbered 0 to {n - 1})")
    return i, n


@dataclass(frozen=True)
class Plan:
    """What one shard of a run draws."""

    seed: int
    shard: int = 0
    shards: int = 1
    cases: int | None = None
    """Cases in the whole stream (all shards); None: until the time budget ends."""
    time_budget: float | None = None
    """Seconds this shard may spend sending cases (shrinking has its own budget)."""
    ops: tuple[str, ...] = ()
    presets: tuple[str, ...] = ("sorbet",)
    source: str = "fast"
    batch: int = BATCH
    canonical_every: int = 4096

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 1 << 64:
            raise PlanError(f"--seed: expected an integer in [0, 2**64), got {self.seed}")
        if self.shards < 1 or not 0 <= self.shard < self.shards:
            raise PlanError(f"--shard {self.shard}/{self.shards}: the shard index must be "
                            f"in [0, {self.shards - 1}]")
        if self.cases is not None and self.cases < 1:
            raise PlanError(f"--cases {self.cases}: expected at least 1 case")
        if self.time_budget is not None and not (0 < self.time_budget < math.inf):
            raise PlanError(f"--time-budget {self.time_budget}: expected a finite number of "
                            "seconds > 0")
        if self.cases is None and self.time_budget is None:
            raise PlanError("give --cases N or --time-budget SECONDS (or both)")
        if self.source not in SOURCES:
            raise PlanError(f"--source {self.source}: expected one of {list(SOURCES)}")
        if self.batch < 1:
            raise PlanError(f"batch size {self.batch}: expected at least 1")
        if self.canonical_every < 1:
            raise PlanError(f"--canonical-every {self.canonical_every}: expected at least 1")
        select_jobs(self.ops, self.presets)  # raises JobError for unknown names

    @property
    def jobs(self) -> list[Job]:
        """The selected jobs."""
        return select_jobs(self.ops, self.presets)

    @property
    def total_batches(self) -> int | None:
        """Batches in the whole stream (None: unbounded)."""
        return None if self.cases is None else -(-self.cases // self.batch)

    def job_of(self, index: int, jobs: list[Job]) -> Job:
        """The job of batch ``index``: drawn from the key ``(seed, index)`` by weight."""
        total = sum(j.weight for j in jobs)
        pick = key_of(self.seed, "job", index) % total
        for j in jobs:
            if pick < j.weight:
                return j
            pick -= j.weight
        raise AssertionError("unreachable")

    def size_of(self, index: int) -> int:
        """Cases in batch ``index`` (the last one of a bounded stream may be short)."""
        if self.cases is None:
            return self.batch
        return max(0, min(self.batch, self.cases - index * self.batch))

    def batches(self) -> Iterator[int]:
        """This shard's batch numbers, in order (unbounded without ``cases``)."""
        b = self.shard
        total = self.total_batches
        while total is None or b < total:
            yield b
            b += self.shards

    def planned_cases(self) -> int | None:
        """Cases this shard runs when the stream is bounded."""
        if self.cases is None:
            return None
        return sum(self.size_of(b) for b in self.batches())
