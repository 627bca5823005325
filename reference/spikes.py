"""The integrate-and-fire spike encoder (spec/04-quantizer-spikes.md, "IF encoder").

A count ``c`` in ``[0, 2**bits - 1]`` becomes a spike train over ``T`` steps:
the membrane starts at ``V_0 = 0``; at step ``t = 1..T`` it integrates
``V <- V + c``, fires if ``V >= T`` (the threshold equals ``T``), and on a spike
subtracts ``T``.  It fires exactly ``c`` times, at most once a step, and the
``k``-th spike falls at step ``t_k = ceil(k * T / c)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from reference.algebra import PY, Algebra
from reference.errors import ConfigError
from reference.formats import IntFormat, check_int

V = TypeVar("V")
B = TypeVar("B")


@dataclass(frozen=True)
class SpikeConfig:
    """``bits`` of the count and ``steps`` T (spec/04, "IF encoder", "Parameters")."""

    bits: int
    steps: int

    def __post_init__(self) -> None:
        check_int(self.bits, "SpikeConfig.bits", 1, 8)
        check_int(self.steps, "SpikeConfig.steps", 1, 1024)
        if self.steps < self.count_max:
            raise ConfigError(
                f"SpikeConfig.steps: T={self.steps} is below the largest count "
                f"{self.count_max}; the encoder fires at most once a step, so T >= 2**bits - 1"
            )

    @property
    def count_max(self) -> int:
        """Largest count: ``2**bits - 1``."""
        return (1 << self.bits) - 1

    @property
    def threshold(self) -> int:
        """Firing threshold: ``T``."""
        return self.steps

    @property
    def count_format(self) -> IntFormat:
        """Unsigned format of a count."""
        return IntFormat(self.bits, False)

    @property
    def membrane_width(self) -> int:
        """Unsigned width of the membrane, which stays in ``[0, 2T)`` (theorem if.membrane)."""
        return (2 * self.steps - 1).bit_length()


def if_run(a: Algebra[V, B], c: V, steps: int) -> tuple[list[B], list[V]]:
    """Spikes and membrane after each step for constant input ``c`` (threshold ``steps``)."""
    v = a.const(0)
    theta = a.const(steps)
    spikes: list[B] = []
    trace: list[V] = []
    for _ in range(steps):
        v = a.add(v, c)
        fire = a.le(theta, v)
        v = a.select(fire, a.sub(v, theta), v)
        spikes.append(fire)
        trace.append(v)
    return spikes, trace


def encode(count: int, cfg: SpikeConfig) -> list[int]:
    """The spike train (0/1 per step, step 1 first) of ``count``."""
    c = cfg.count_format.check(count, "encode: count")
    spikes, _ = if_run(PY, c, cfg.steps)
    return [1 if s else 0 for s in spikes]


def membrane_trace(count: int, cfg: SpikeConfig) -> list[int]:
    """Membrane potential after each step (after any reset)."""
    c = cfg.count_format.check(count, "membrane_trace: count")
    _, trace = if_run(PY, c, cfg.steps)
    return trace


def spike_times(count: int, cfg: SpikeConfig) -> list[int]:
    """Closed form: steps ``t_k = ceil(k * T / c)`` for ``k = 1..c`` (1-based)."""
    c = cfg.count_format.check(count, "spike_times: count")
    return [-((-k * cfg.steps) // c) for k in range(1, c + 1)]
