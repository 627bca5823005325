"""Stage-by-stage agreement of the integer model with the float evaluation (spec/13, 13.9).

For every input both models run with a trace; each *stage* pairs one float trace
tensor with the integer one that stands for the same quantity, restricted to the
real tokens (rows of real tokens; for the probability counts, real query rows and
real keys):

- count stages (``cin_*``, ``c_q``, ``c_k``, ``c_v``, ``c_prob``, ``pooler.cin``):
  the spike counts, equal when the integers are equal;
- value stages (``h1``, ``h2``): the BSPN outputs, equal when
  ``int * 2**-h_frac == float`` exactly.

A stage's agreement is the share of equal entries over every input; an input's
first diverging stage is the first stage, in computation order, with any unequal
entry.  ``sorbet-ref compare --stages`` prints and writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reference.model_config import ModelConfig

LAYER_STAGES: tuple[tuple[str, str], ...] = (
    ("cin_q", "q.cin"), ("cin_k", "k.cin"), ("cin_v", "v.cin"),
    ("c_q", "c_q"), ("c_k", "c_k"), ("c_v", "c_v"), ("c_prob", "c_prob"),
    ("cin_o", "o.cin"), ("h1", "h1"), ("cin_ffn1", "ffn1.cin"), ("cin_ffn2", "ffn2.cin"),
    ("h2", "h2"),
)
"""Per-layer stages in computation order: (integer trace name, float trace name)."""

VALUE_STAGES = frozenset({"h1", "h2"})
"""Stages compared as hidden-format values rather than counts."""


def stage_keys(cfg: ModelConfig) -> list[tuple[str, str, str]]:
    """Every stage of ``cfg``: (stage = integer trace key, float trace key, kind)."""
    out: list[tuple[str, str, str]] = []
    for i in range(cfg.layers):
        for name, fkey in LAYER_STAGES:
            kind = "value" if name in VALUE_STAGES else "count"
            out.append((f"layer.{i}.{name}", f"layer.{i}.{fkey}", kind))
    out.append(("pooler.cin", "pooler.cin", "count"))
    return out


@dataclass
class StageTally:
    """Equal and total entries per stage, and first diverging stages, over many inputs."""

    cfg: ModelConfig
    equal: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    first_diverging: dict[str, int] = field(default_factory=dict)
    """Inputs whose first unequal stage is this one (``"none"``: every stage equal)."""

    def add(self, ftrace: Mapping[str, Any], itrace: Mapping[str, Any],
            mask: npt.NDArray[np.bool_]) -> str:
        """Tally one input; returns its first diverging stage (or ``"none"``)."""
        first = "none"
        scale = 2.0 ** -self.cfg.h_frac
        for stage, fkey, kind in stage_keys(self.cfg):
            f = np.asarray(ftrace[fkey], dtype=np.float64)
            i = np.asarray(itrace[stage], dtype=np.float64)
            if stage == "pooler.cin":
                f = f.reshape(-1)
            elif stage.endswith(".c_prob"):
                f, i = f[:, mask][:, :, mask], i[:, mask][:, :, mask]
            else:
                f, i = f[mask], i[mask]
            eq = f == (i * scale if kind == "value" else i)
            n_eq = int(np.count_nonzero(eq))
            self.equal[stage] = self.equal.get(stage, 0) + n_eq
            self.total[stage] = self.total.get(stage, 0) + int(eq.size)
            if first == "none" and n_eq < eq.size:
                first = stage
        self.first_diverging[first] = self.first_diverging.get(first, 0) + 1
        return first

    def agreement(self) -> dict[str, float]:
        """Share of equal entries per stage, in computation order."""
        return {s: self.equal[s] / self.total[s] if self.total[s] else 1.0
                for s, _, _ in stage_keys(self.cfg) if s in self.total}

    def first_stage(self) -> str:
        """The first stage, in computation order, with any unequal entry (``"none"``)."""
        return next((s for s, a in self.agreement().items() if a < 1.0), "none")

    def layer_min(self, layer: int) -> float:
        """The lowest agreement of any stage of encoder layer ``layer``."""
        return min((a for s, a in self.agreement().items() if s.startswith(f"layer.{layer}.")),
                   default=1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per-stage agreement and counts, first diverging stages."""
        agr = self.agreement()
        return {
            "agreement": agr,
            "equal": dict(self.equal),
            "total": dict(self.total),
            "first_diverging_stage": self.first_stage(),
            "first_diverging_by_input": dict(self.first_diverging),
            "layer_min_agreement": {str(i): self.layer_min(i) for i in range(self.cfg.layers)},
        }

    def summary(self) -> str:
        """Readable table of agreement by stage."""
        lines = ["  stage agreement (share of exactly equal entries, real tokens):"]
        for s, a in self.agreement().items():
            lines.append(f"    {s:<20} {a:9.5f}  ({self.total[s] - self.equal[s]} of "
                         f"{self.total[s]} differ)")
        lines.append(f"  first diverging stage {self.first_stage()}; per input: " + ", ".join(
            f"{k} {v}" for k, v in sorted(self.first_diverging.items(), key=lambda kv: -kv[1])))
        return "\n".join(lines)


def plot_stages(tally: StageTally, path: str | Path, title: str) -> bool:
    """Bar chart of agreement by stage as PNG; False (nothing written) without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agr = tally.agreement()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(agr)), 3.6))
    ax.bar(range(len(agr)), [100.0 * a for a in agr.values()], color="#4477aa")
    ax.set_xticks(range(len(agr)), list(agr), rotation=70, fontsize=7)
    low = min(agr.values(), default=1.0)
    ax.set_ylim(max(0.0, 100.0 * low - 2.0), 100.2)
    ax.set_ylabel("equal entries (%)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
