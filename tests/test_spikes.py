"""The IF encoder: count, membrane, spike times (spec/04-quantizer-spikes.md, "IF encoder").

Also the framework notes of spec/04: the rule variants other frameworks
implement, run on the same inputs, behave as the table there says.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reference.spikes import SpikeConfig, encode, membrane_trace, spike_times

SETTINGS = settings(max_examples=200, deadline=None)


def _check(count: int, cfg: SpikeConfig) -> None:
    train = encode(count, cfg)
    trace = membrane_trace(count, cfg)
    assert len(train) == len(trace) == cfg.steps
    assert sum(train) == count  # if.count
    times = [t for t, s in enumerate(train, start=1) if s]
    assert times == spike_times(count, cfg)  # if.spike_times
    assert times == [-(-k * cfg.steps // count) for k in range(1, count + 1)]
    v = 0
    for t in range(cfg.steps):
        before = v + count
        assert 0 <= before < 2 * cfg.steps  # if.membrane, before the reset
        assert before < 2**cfg.membrane_width
        v = before - cfg.steps if before >= cfg.steps else before
        assert v == trace[t] and 0 <= v < cfg.steps


def test_exhaustive_small() -> None:
    for bits in range(1, 6):
        for steps in range(2**bits - 1, 2**bits + 20):
            if steps < 1:
                continue
            cfg = SpikeConfig(bits, steps)
            for c in range(2**bits):
                _check(c, cfg)


@SETTINGS
@given(st.integers(1, 8).flatmap(
    lambda b: st.tuples(st.just(b), st.integers(max(1, 2**b - 1), 1024), st.integers(0, 2**b - 1))
))
def test_wide(case: tuple[int, int, int]) -> None:
    bits, steps, count = case
    _check(count, SpikeConfig(bits, steps))


def run_variant(c: int, steps: int, threshold: float, strict: bool, hard_reset: bool,
                v0: float = 0.0) -> list[int]:
    """A generic IF neuron: the variants of spec/04's framework table."""
    v, out = v0, []
    for _ in range(steps):
        v += c
        fire = v > threshold if strict else v >= threshold
        if fire:
            v = 0.0 if hard_reset else v - threshold
        out.append(1 if fire else 0)
    return out


def test_framework_variants() -> None:
    cfg = SpikeConfig(4, 16)
    for c in range(16):
        ours = encode(c, cfg)
        # SpikingJelly IFNode(v_threshold=T, v_reset=None): identical
        assert run_variant(c, 16, 16.0, strict=False, hard_reset=False) == ours
        # ... and with threshold 1.0 and input c/T (exact for T a power of two)
        assert run_variant_scaled(c) == ours
        # snnTorch subtract reset with a strict compare loses the last spike for c >= 1
        strict = run_variant(c, 16, 16.0, strict=True, hard_reset=False)
        assert sum(strict) == max(c - 1, 0)
        # ... unless the membrane starts half a unit up
        assert run_variant(c, 16, 16.0, strict=True, hard_reset=False, v0=0.5) == ours
    # SpikingJelly's default hard reset: c = 5 gives 4 spikes
    assert sum(run_variant(5, 16, 16.0, strict=False, hard_reset=True)) == 4


def run_variant_scaled(c: int) -> list[int]:
    """SpikingJelly with v_threshold=1.0 and input c/16."""
    v, out = 0.0, []
    for _ in range(16):
        v += c / 16
        fire = v >= 1.0
        if fire:
            v -= 1.0
        out.append(1 if fire else 0)
    return out


def test_authors_threshold_same_count_other_times() -> None:
    """The authors' threshold 0.95 * (16 - 1e-4): same counts, spike times differ,
    first at c = 6, k = 5 (step 13 instead of 14), as spec/04 says."""
    theta = 0.95 * (16 - 0.0001)
    cfg = SpikeConfig(4, 16)
    first = None
    for c in range(16):
        theirs = run_variant(c, 16, theta, strict=False, hard_reset=False)
        assert sum(theirs) == c
        t_theirs = [t for t, s in enumerate(theirs, start=1) if s]
        t_ours = spike_times(c, cfg)
        for k, (a, b) in enumerate(zip(t_ours, t_theirs, strict=True), start=1):
            assert b <= a
            if a != b and first is None:
                first = (c, k, a, b)
    assert first == (6, 5, 14, 13)
