"""Measured error of PTsoftmax and BSPN beside the proven bounds (spec/09-theorems.md,
"Measured against the bounds").

The integer reference runs on structured and random inputs (seeded numpy RNG,
so every run measures the same numbers); the exact functions it approximates
are evaluated in float64 (relative error about 1e-16, far below every margin;
comparisons allow a relative slack of :data:`FLOAT_SLACK`).  Floats appear
only here, never in the reference's arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from reference import bspn, ptsoftmax
from reference.presets import OperatorPreset

FLOAT_SLACK = 1e-9
"""Relative slack for float64 comparisons against a proven bound."""


@dataclass
class Measure:
    """Worst cases of one quantity against its bound (``None``: no proven bound)."""

    name: str
    theorem: str
    lo: float | None
    hi: float | None
    hi_strict: bool = True
    values: list[float] = field(default_factory=list)

    @property
    def min(self) -> float:
        """Smallest measured value."""
        return min(self.values) if self.values else math.nan

    @property
    def max(self) -> float:
        """Largest measured value."""
        return max(self.values) if self.values else math.nan

    @property
    def ok(self) -> bool:
        """No measured value outside the proven bound."""
        if not self.values:
            return True
        if self.lo is not None and self.min < self.lo * (1 - FLOAT_SLACK) - FLOAT_SLACK:
            return False
        return not (self.hi is not None and self.max > self.hi * (1 + FLOAT_SLACK))


# -- PTsoftmax -------------------------------------------------------------------


def _rows(cfg: ptsoftmax.PTSoftmaxConfig, rng: np.random.Generator, n_random: int,
          length: int) -> Iterator[tuple[str, list[int], list[bool] | None]]:
    """(kind, scores, mask) rows: structured then random."""
    sf = cfg.score_frac
    one = 1 << sf
    lo, hi = cfg.score_format.min, cfg.score_format.max
    n = min(length, cfg.max_len)
    yield "equal", [0] * n, None
    yield "tie 3/4", [0, -one] + [lo] * (n - 2), None
    f = cfg.partition_frac
    ds = [0, 0, *range(1, f + 1), *([f + 1] * 3)]
    if len(ds) <= cfg.max_len:
        yield "drops past the tie", [-d * one for d in ds], None
    yield "one dominant", [hi] + [hi - 40 * one] * (n - 1), None
    yield "ceil step", [-one + 1] + [0] * (n - 1), None
    yield "progression", [max(lo, -i * one) for i in range(n)], None
    for k in range(n_random):
        sigma = (0.5, 2.0, 6.0)[k % 3]
        real = rng.normal(0.0, sigma, size=n)
        xs = [int(min(hi, max(lo, round(v * one)))) for v in real]
        mask: list[bool] | None = None
        if k % 4 == 3:
            m = rng.random(n) < 0.8
            m[0] = True
            mask = [bool(v) for v in m]
        yield "random", xs, mask


@dataclass
class PtsmReport:
    """PTsoftmax measurements."""

    partition: Measure
    total: Measure
    ratio_rounded: Measure
    zero_rounded: Measure
    ratio_unrounded: Measure
    base_e_abs: Measure
    rows: int


def measure_ptsm(pre: OperatorPreset, n_random: int = 60, length: int = 128,
                 seed: int = 20240915) -> PtsmReport:
    """PTsoftmax against exact base-2 softmax (of ceil'd and unrounded scores) and base e."""
    cfg = pre.ptsoftmax
    f, o = cfg.partition_frac, cfg.out_frac
    nmax = cfg.max_len
    slack = float(Fraction(nmax - 1, 1 << (f + 1)))
    lost = nmax - 1 if o >= cfg.len_bits else nmax
    rep = PtsmReport(
        Measure("Z / 2^K", "ptsm.partition_ratio", 0.75, 1.5),
        Measure("sum of outputs", "ptsm.sum_bounds", 0.75 - lost / 2 ** (o + 1), 1.5),
        Measure("p / q (ceil'd scores), p > 0", "ptsm.ratio_rounded", 0.75, 1.5 + slack),
        Measure("q where p = 0 (ceil'd scores)", "ptsm.ratio_rounded", None,
                max(4 / 3 * 2.0 ** -o, 2.0 ** -(f + 1))),
        Measure("p / q' (unrounded scores), p > 0", "ptsm.ratio_unrounded", 3 / 8,
                3 + 2 * slack),
        Measure("|p - softmax_e| (base e)", "none", None, None),
        0,
    )
    rng = np.random.default_rng(seed)
    for _kind, xs, mask in _rows(cfg, rng, n_random, length):
        res = ptsoftmax.ptsoftmax(xs, mask, cfg)
        live = [i for i in range(len(xs)) if mask is None or mask[i]]
        if res.k is None:
            continue
        rep.rows += 1
        rep.partition.values.append(res.partition / 2.0 ** res.k)
        rep.total.values.append(sum(res.out) / 2.0 ** o)
        s = np.array([res.ceil_scores[i] for i in live], dtype=np.float64)
        x = np.array([xs[i] for i in live], dtype=np.float64) / 2.0 ** cfg.score_frac
        q = np.exp2(s - s.max())
        q /= q.sum()
        qu = np.exp2(x - x.max())
        qu /= qu.sum()
        qe = np.exp(x - x.max())
        qe /= qe.sum()
        p = np.array([res.out[i] for i in live], dtype=np.float64) / 2.0 ** o
        nz = p > 0
        rep.ratio_rounded.values.extend((p[nz] / q[nz]).tolist())
        rep.zero_rounded.values.extend(q[~nz].tolist())
        rep.ratio_unrounded.values.extend((p[nz] / qu[nz]).tolist())
        rep.base_e_abs.values.extend(np.abs(p - qe).tolist())
    return rep


# -- BSPN ------------------------------------------------------------------------


def _tokens(cfg: bspn.BSPNConfig, rng: np.random.Generator,
            n_random: int) -> Iterator[tuple[str, list[int]]]:
    one = 1 << cfg.in_frac
    lo, hi = cfg.in_format.min, cfg.in_format.max
    c = cfg.channels
    yield "zeros", [0] * c
    yield "one spike per group", [(hi if i % cfg.group_size == 0 else 0) for i in range(c)]
    yield "constant", [one] * c
    yield "extremes", [lo if i % 2 else hi for i in range(c)]
    for k in range(n_random):
        sigma = (0.05, 1.0, 20.0)[k % 3]
        real = rng.normal(0.0, sigma, size=c)
        if k % 5 == 4:
            real[rng.integers(0, c, size=4)] *= 50
        yield "random", [int(min(hi, max(lo, round(v * one)))) for v in real]


@dataclass
class BspnReport:
    """BSPN measurements."""

    divisor: Measure
    log_round: Measure
    vs_powernorm: Measure
    vs_powernorm_bias: Measure
    vs_layernorm: Measure
    tokens: int


def _params(cfg: bspn.BSPNConfig, rng: np.random.Generator, bias: bool) -> bspn.BSPNParams:
    c = cfg.channels
    lo, hi = max(cfg.weight_exp_min, -2), min(cfg.weight_exp_max, 2)
    signs = tuple(int(v) for v in rng.choice([-1, 1], size=c))
    exps = tuple(int(v) for v in rng.integers(lo, hi + 1, size=c))
    bf = cfg.bias_format
    b = tuple(int(min(bf.max, max(bf.min, round(v * (1 << cfg.bias_frac)))))
              for v in rng.normal(0, 0.5, size=c)) if bias else (0,) * c
    return bspn.BSPNParams(signs, exps, b)


def measure_bspn(pre: OperatorPreset, n_random: int = 24, seed: int = 20240915) -> BspnReport:
    """BSPN against exact L1-PowerNorm with the same power-of-two affine, and LayerNorm."""
    cfg = pre.bspn
    g = cfg.group_size
    eps = 2.0 ** -cfg.eps_exp
    s2 = math.sqrt(2)
    rep = BspnReport(
        Measure("2^k / (mean|x| + eps)", "bspn.divisor_range", 1.0, 2.0),
        Measure("|out| / |exact y| (not flushed or saturated)", "bspn.log_round",
                1 / s2, s2, hi_strict=True),
        Measure("out / L1-PowerNorm, bias 0", "divisor_range + log_round",
                1 / (2 * s2), s2),
        Measure("|out - L1-PowerNorm|, random bias", "none", None, None),
        Measure("|out - LayerNorm| (same affine)", "none", None, None),
        0,
    )
    rng = np.random.default_rng(seed)
    out_lo = 2.0 ** -cfg.out_frac
    out_hi = 2.0 ** (cfg.r_max - cfg.out_frac)
    for _kind, xs in _tokens(cfg, rng, n_random):
        for with_bias in (False, True):
            params = _params(cfg, rng, with_bias)
            res = bspn.bspn(xs, params, cfg)
            rep.tokens += 1
            x = np.array(xs, dtype=np.float64) / 2.0 ** cfg.in_frac
            w = np.array(params.weight_sign, dtype=np.float64) * np.exp2(
                np.array(params.weight_exp, dtype=np.float64))
            b = np.array(params.bias, dtype=np.float64) / 2.0 ** cfg.bias_frac
            out = np.array(res.out, dtype=np.float64) / 2.0 ** cfg.out_frac
            for gi in range(cfg.groups):
                sl = slice(gi * g, (gi + 1) * g)
                xg = x[sl]
                m = float(np.mean(np.abs(xg)))
                k = res.divisor_exp[gi]
                if not with_bias:
                    rep.divisor.values.append(2.0 ** k / (m + eps))
                exact = w[sl] * xg / 2.0 ** k + b[sl]
                pn = w[sl] * xg / (m + eps) + b[sl]
                mu, var = float(np.mean(xg)), float(np.var(xg))
                ln = w[sl] * (xg - mu) / math.sqrt(var + eps) + b[sl]
                og = out[sl]
                inside = (np.abs(exact) >= out_lo * s2) & (np.abs(exact) <= out_hi / s2)
                sel = inside & (exact != 0)
                rep.log_round.values.extend((np.abs(og[sel]) / np.abs(exact[sel])).tolist())
                if with_bias:
                    rep.vs_powernorm_bias.values.extend(np.abs(og - pn).tolist())
                else:
                    selp = sel & (pn != 0)
                    rep.vs_powernorm.values.extend((og[selp] / pn[selp]).tolist())
                rep.vs_layernorm.values.extend(np.abs(og - ln).tolist())
    return rep
