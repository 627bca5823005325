"""What the fuzzer draws: one *job* per operator, preset and configuration class.

A job names an operator, a preset (reference/presets.py) and the configuration the
committed suite of that operator uses (conformance/vectors/generate.py: the
quantizer and the binary linear layer in their signed and unsigned forms, the
binary linear layer with its fan-in and two outputs), plus PTsoftmax rows of every
length up to ``max_len`` beside the short rows the suite draws.  ``--ops`` and
``--preset`` select jobs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from conformance.operators import config_to_dict
from reference.presets import PRESETS, OperatorPreset

JSON = Any

FUZZ_OPS = ("ptsoftmax", "bspn", "quantize", "if_encode", "binary_linear")
"""Operators the fuzzer draws (the operator level, spec/02 to spec/05)."""

SHORT_ROWS = 32
"""Longest PTsoftmax row of the ``ptsoftmax`` jobs (the suite's Hypothesis row cap)."""


@dataclass(frozen=True)
class Job:
    """One operator at one configuration."""

    name: str
    op: str
    preset: str
    cfg: Any
    """The configuration dataclass."""
    max_len: int = 0
    """PTsoftmax: longest row drawn."""
    weight: int = 1
    """Relative share of the batches."""

    @property
    def config(self) -> dict[str, JSON]:
        """The JSON configuration."""
        return config_to_dict(self.cfg)


def _small_linear(cfg: Any) -> Any:
    return cfg if cfg.out_features <= 4 else dataclasses.replace(cfg, out_features=2)


def preset_jobs(pre: OperatorPreset) -> list[Job]:
    """The jobs of one preset, in the spec's operator order."""
    p = pre.name
    ps = pre.ptsoftmax
    jobs = [Job(f"ptsoftmax-{p}", "ptsoftmax", p, ps, min(SHORT_ROWS, ps.max_len), 2)]
    if ps.max_len > SHORT_ROWS:
        jobs.append(Job(f"ptsoftmax-long-{p}", "ptsoftmax", p, ps, ps.max_len))
    jobs.append(Job(f"bspn-{p}", "bspn", p, pre.bspn))
    jobs.append(Job(f"quantize-signed-{p}", "quantize", p, pre.quant_signed))
    jobs.append(Job(f"quantize-unsigned-{p}", "quantize", p, pre.quant_unsigned))
    jobs.append(Job(f"if_encode-{p}", "if_encode", p, pre.spikes, weight=2))
    jobs.append(Job(f"binary_linear-signed-{p}", "binary_linear", p,
                    _small_linear(pre.linear_signed)))
    jobs.append(Job(f"binary_linear-unsigned-{p}", "binary_linear", p,
                    _small_linear(pre.linear_unsigned)))
    return jobs


class JobError(ValueError):
    """An unknown operator or preset (the message lists the known ones)."""


def select_jobs(ops: tuple[str, ...], presets: tuple[str, ...]) -> list[Job]:
    """The jobs of ``presets`` whose operator is in ``ops`` (empty: every operator)."""
    for op in ops:
        if op not in FUZZ_OPS:
            raise JobError(f"--ops: unknown operator {op!r}; the fuzzer draws {list(FUZZ_OPS)}")
    for p in presets:
        if p not in PRESETS:
            raise JobError(f"--preset: unknown preset {p!r}; expected one of {sorted(PRESETS)}")
    jobs = [j for p in presets for j in preset_jobs(PRESETS[p]) if not ops or j.op in ops]
    if not jobs:
        raise JobError("no job selected")
    return jobs
