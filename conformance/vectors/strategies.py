"""Hypothesis strategies of valid operator inputs, and deterministic collection.

Each strategy draws the JSON inputs of one operator (conformance/operators/registry.py) for a
given configuration.  Short tensors are drawn element by element, so Hypothesis
explores small values, repeats and ties; tensors longer than :data:`DIRECT_MAX`
are drawn as a *recipe* (a value regime and a 64-bit seed) and expanded with
:class:`SplitMix64`, whose output is fixed by its published definition, so the
same recipe gives the same tensor on every machine and Python version.

:func:`collect` runs a strategy derandomized with a fixed seed and no example
database (spec/10-vectors.md, "Generation"): the same Hypothesis version
yields the same examples in every process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from reference.binary_linear import BinaryLinearConfig
from reference.bspn import BSPNConfig
from reference.ptsoftmax import PTSoftmaxConfig
from reference.quantizer import QuantizerConfig
from reference.spikes import SpikeConfig

T = TypeVar("T")
JSON = Any
Inputs = dict[str, JSON]

DIRECT_MAX = 64
"""Longest tensor drawn element by element; longer ones are expanded from a recipe."""

MASK64 = (1 << 64) - 1


class SplitMix64:
    """SplitMix64 (Steele, Lea, Flood 2014): a fixed, portable 64-bit generator.

    ``state += 0x9E3779B97F4A7C15``; ``z = state``;
    ``z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9``; ``z = (z ^ (z >> 27)) * 0x94D049BB133111EB``;
    output ``z ^ (z >> 31)`` (all modulo 2**64).
    """

    def __init__(self, seed_value: int) -> None:
        self.state = seed_value & MASK64

    def next64(self) -> int:
        """The next 64-bit output."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """Uniform in ``[0, n)`` by rejection on the top bits (``n >= 1``)."""
        if n <= 1:
            return 0
        bits = (n - 1).bit_length()
        while True:
            v = 0
            got = 0
            while got < bits:
                v = (v << 64) | self.next64()
                got += 64
            v >>= got - bits
            if v < n:
                return v

    def between(self, lo: int, hi: int) -> int:
        """Uniform in ``[lo, hi]``."""
        return lo + self.below(hi - lo + 1)


REGIMES = ("uniform", "small", "extremes", "constant", "sparse")
"""Value regimes of an expanded tensor."""


def expand(regime: str, seed_value: int, n: int, lo: int, hi: int) -> list[int]:
    """``n`` integers in ``[lo, hi]`` following ``regime``, from ``seed_value``.

    - uniform: every value uniform in the range;
    - small: magnitudes below ``2**b`` for a drawn ``b`` (clamped into the range);
    - extremes: each value one of ``lo``, ``hi``, ``0`` (clamped), ``lo + 1``, ``hi - 1``;
    - constant: one drawn value repeated;
    - sparse: mostly the value nearest 0, one in eight uniform.
    """
    rng = SplitMix64(seed_value)
    zero = min(max(0, lo), hi)
    if regime == "uniform":
        return [rng.between(lo, hi) for _ in range(n)]
    if regime == "small":
        b = rng.between(0, max(1, (max(abs(lo), abs(hi)).bit_length()) // 2))
        return [min(max(rng.between(-(1 << b), 1 << b), lo), hi) for _ in range(n)]
    if regime == "extremes":
        pool = [lo, hi, zero, min(lo + 1, hi), max(hi - 1, lo)]
        return [pool[rng.below(len(pool))] for _ in range(n)]
    if regime == "constant":
        v = rng.between(lo, hi)
        return [v] * n
    if regime == "sparse":
        return [rng.between(lo, hi) if rng.below(8) == 0 else zero for _ in range(n)]
    raise ValueError(f"unknown regime {regime!r}; expected one of {REGIMES}")


def int_list(n: int, lo: int, hi: int) -> st.SearchStrategy[list[int]]:
    """Lists of exactly ``n`` integers in ``[lo, hi]`` (direct or expanded, by length)."""
    if n <= DIRECT_MAX:
        return st.lists(st.integers(lo, hi), min_size=n, max_size=n)
    return st.builds(
        lambda r, s: expand(r, s, n, lo, hi),
        st.sampled_from(REGIMES),
        st.integers(0, MASK64),
    )


def choice_list(n: int, values: tuple[int, ...],
                rare: int | None = None) -> st.SearchStrategy[list[int]]:
    """Lists of ``n`` entries from ``values``; ``rare`` (if given) appears about 1 in 16."""
    if n <= DIRECT_MAX:
        return st.lists(st.sampled_from(values), min_size=n, max_size=n)

    def build(s: int, with_rare: bool) -> list[int]:
        rng = SplitMix64(s)
        out = []
        for _ in range(n):
            if with_rare and rare is not None and rng.below(16) == 0:
                out.append(rare)
            else:
                out.append(values[rng.below(len(values))])
        return out

    return st.builds(build, st.integers(0, MASK64), st.booleans())


# --- PTsoftmax -------------------------------------------------------------------


@st.composite
def ptsoftmax_inputs(draw: Callable[[st.SearchStrategy[Any]], Any], cfg: PTSoftmaxConfig,
                     max_n: int) -> Inputs:
    """A row of scores and a 0/1 mask (spec/02-ptsoftmax.md).

    Regimes: ``near`` keeps every score within ``F + 2`` integer units below the
    row's top, so terms, truncation and ties of the partition all occur; ``wide``
    draws anywhere in the score format.
    """
    n = draw(st.integers(1, min(cfg.max_len, max_n)))
    fmt = cfg.score_format
    unit = 1 << cfg.score_frac
    if draw(st.booleans()):
        span = min((cfg.partition_frac + 2) * unit, fmt.max - fmt.min)
        top = draw(st.integers(fmt.min + span, fmt.max))
        deltas = draw(int_list(n, 0, span))
        scores = [top - d for d in deltas]
    else:
        scores = draw(int_list(n, fmt.min, fmt.max))
    some_masked = draw(st.integers(0, 2)) == 0
    mask = draw(choice_list(n, (0, 1, 1, 1))) if some_masked else [1] * n
    return {"mask": mask, "scores": scores}


# --- BSPN ------------------------------------------------------------------------


@st.composite
def bspn_inputs(draw: Callable[[st.SearchStrategy[Any]], Any], cfg: BSPNConfig) -> Inputs:
    """One token ``x`` and per-channel affine parameters (spec/03-bspn.md).

    ``x`` is drawn group by group, each group in its own magnitude range, so
    divisors from eps-dominated up to the format's top occur in one token.
    """
    fmt = cfg.in_format
    x: list[int] = []
    for _ in range(cfg.groups):
        b = draw(st.integers(0, cfg.in_width - 1))
        lim = (1 << b) - 1
        x.extend(draw(int_list(cfg.group_size, max(-lim - 1, fmt.min), min(lim, fmt.max))))
    signs = draw(choice_list(cfg.channels, (-1, 1), rare=0))
    if draw(st.booleans()):
        wexp = draw(int_list(cfg.channels, cfg.weight_exp_min, cfg.weight_exp_max))
    else:
        lo = min(max(cfg.weight_exp_min, -2), cfg.weight_exp_max)
        hi = max(min(cfg.weight_exp_max, 2), cfg.weight_exp_min)
        wexp = draw(int_list(cfg.channels, lo, hi))
    bfmt = cfg.bias_format
    regime = draw(st.integers(0, 2))
    if regime == 0:
        bias = [0] * cfg.channels
    elif regime == 1:
        lim = 4 << cfg.bias_frac
        bias = draw(int_list(cfg.channels, max(bfmt.min, -lim), min(bfmt.max, lim)))
    else:
        bias = draw(int_list(cfg.channels, bfmt.min, bfmt.max))
    return {"bias": bias, "weight_exp": wexp, "weight_sign": signs, "x": x}


# --- quantizer -------------------------------------------------------------------


@st.composite
def quantize_inputs(draw: Callable[[st.SearchStrategy[Any]], Any],
                    cfg: QuantizerConfig) -> Inputs:
    """Values ``x`` with a multiplier, shift and bias (spec/04-quantizer-spikes.md).

    The bias is often ``+-2**(shift-1)`` or 0, and ``x * M`` often lands near
    a multiple of ``2**(shift-1)``, so ties of the half-even rounding occur.
    """
    n = draw(st.integers(1, 12))
    fmt = cfg.in_format
    mmax = (1 << cfg.multiplier_bits) - 1
    m = draw(st.one_of(
        st.just(1),
        st.integers(0, cfg.multiplier_bits - 1).map(lambda k: 1 << k),
        st.integers(1, mmax),
    ))
    shift = draw(st.one_of(
        st.integers(0, cfg.in_width + cfg.multiplier_bits + 1),
        st.integers(0, 62),
    ))
    bfmt_lo, bfmt_hi = -(1 << (cfg.bias_width - 1)), (1 << (cfg.bias_width - 1)) - 1
    half = 1 << (shift - 1) if shift > 0 else 0
    ties = [b for b in (half, -half) if bfmt_lo <= b <= bfmt_hi] or [0]
    bias = draw(st.one_of(
        st.just(0),
        st.sampled_from(ties),
        st.integers(bfmt_lo, bfmt_hi),
    ))
    if draw(st.booleans()):
        # values near the rounding grid of this shift: x * M = k * 2**(shift-1) + small
        span = max(1, (1 << shift) // m) if shift < 40 else fmt.max
        x = draw(st.lists(st.integers(max(fmt.min, -16 * span), min(fmt.max, 16 * span)),
                          min_size=n, max_size=n))
    else:
        x = draw(st.lists(st.integers(fmt.min, fmt.max), min_size=n, max_size=n))
    return {"bias": bias, "multiplier": m, "shift": shift, "x": x}


# --- IF encoder ------------------------------------------------------------------


def if_encode_inputs(cfg: SpikeConfig) -> st.SearchStrategy[Inputs]:
    """A count in ``[0, 2**bits - 1]`` (spec/04-quantizer-spikes.md, "IF encoder")."""
    return st.builds(lambda c: {"count": c}, st.integers(0, cfg.count_max))


# --- binary linear ---------------------------------------------------------------


@st.composite
def binary_linear_inputs(draw: Callable[[st.SearchStrategy[Any]], Any],
                         cfg: BinaryLinearConfig) -> Inputs:
    """Counts and a sign matrix (out x in, row-major, +1/-1) (spec/05-binary-linear.md)."""
    cmax = (1 << cfg.bits) - 1
    counts = draw(int_list(cfg.in_features, 0, cmax))
    signs = draw(choice_list(cfg.in_features * cfg.out_features, (-1, 1)))
    return {"counts": counts, "signs": signs}


# --- collection ------------------------------------------------------------------


@contextlib.contextmanager
def no_local_constants() -> Iterator[None]:
    """Keep Hypothesis from mixing in integer literals found in the project's own modules.

    Recent Hypothesis versions draw, now and then, constants collected from the
    source of every non-installed module that happens to be imported; the
    vectors would then change whenever any file of the project gains a literal,
    or when another set of modules is imported.  While this is active the pool
    of local constants is empty (the fixed global pool of the Hypothesis
    version stays), so the examples depend only on the strategy and the seed.
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - an older layout without the feature
        yield
        return
    getter = getattr(providers, "_get_local_constants", None)
    pool = getattr(providers, "_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if getter is None or pool is None:
        yield
        return
    empty = type(pool)()

    def clear() -> None:
        inner = getattr(cache, "cache", None)
        if inner is not None:
            inner.clear()

    clear()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = getter
        clear()


def collect(strategy: st.SearchStrategy[T], n: int, seed_value: int) -> list[T]:
    """The examples Hypothesis generates for ``strategy``: derandomized, fixed seed.

    Runs a ``@given`` function programmatically with ``@seed(seed_value)``,
    ``derandomize=True``, no database, only the generate phase and no deadline,
    and without the project's local constants (:func:`no_local_constants`);
    each example it is called with is appended, in order.
    """
    out: list[T] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck),
              print_blob=False)
    @seed(seed_value)
    @given(strategy)
    def run(value: T) -> None:
        out.append(value)

    with no_local_constants():
        run()
    return out
