"""Deterministic random model parameters in pure Python, for the model-level vectors.

``draw_params`` feeds the committed model-level suites (spec/10-vectors.md), so its draws
are pinned byte for byte: it uses ``random.Random(seed)`` only and never numpy.  Models of
Sorbet-base size come from :mod:`conformance.model.randmodel` (numpy, calibrated on a
forward pass); both share :func:`fixed_point`.
"""

from __future__ import annotations

import random
from fractions import Fraction

from reference.binary_linear import pack_signs
from reference.bspn import BSPNParams
from reference.model_config import (
    HeadParams,
    LayerParams,
    LinearParams,
    ModelConfig,
    ModelParams,
)


def fixed_point(ratio: Fraction, multiplier_bits: int, max_shift: int = 62) -> tuple[int, int]:
    """``(M, s)`` with ``M = round_half_even(ratio * 2**s)`` for the largest ``s <= max_shift``
    keeping ``M < 2**multiplier_bits`` (spec/06, "Requantization"); ``M >= 1``."""
    if ratio <= 0:
        raise ValueError(f"fixed_point: ratio must be positive, got {ratio}")
    for s in range(max_shift, -1, -1):
        m = round(ratio * (1 << s))
        if m < (1 << multiplier_bits):
            return max(m, 1), s
    return (1 << multiplier_bits) - 1, 0


def _isqrt_up(n: int) -> int:
    r = 1
    while r * r < n:
        r += 1
    return r


def draw_params(cfg: ModelConfig, seed: int) -> ModelParams:
    """Deterministic random parameters with realistic activity (counts spread over their range).

    Pure Python (``random.Random(seed)``); the scales follow the expected magnitude of each
    accumulator so that most requantized values land inside their range.
    """
    rng = random.Random(seed)
    mb = cfg.multiplier_bits
    o = 1 << (cfg.bits - 1)
    cmax = (1 << cfg.bits) - 1
    bmax = (1 << (cfg.bias_width - 1)) - 1

    def jitter(r: Fraction) -> Fraction:
        return r * Fraction(rng.randint(80, 125), 100)

    def bias(shift: int, spread: Fraction) -> int:
        lim = int(spread * (1 << shift))
        return max(-bmax, min(bmax, rng.randint(-lim, lim)))

    def lin(name: str, r_in: Fraction, r_out: Fraction, in_bias: bool, out_spread: Fraction,
            pos_bias: bool = False) -> LinearParams:
        lc = cfg.linear(name)
        signs = [[rng.choice((-1, 1)) for _ in range(lc.in_features)]
                 for _ in range(lc.out_features)]
        mi, si = fixed_point(jitter(r_in), mb)
        mo, so = fixed_point(jitter(r_out), mb)
        ib = tuple(bias(si, Fraction(1, 2)) if in_bias else 0 for _ in range(lc.in_features))
        ob = tuple(abs(b) if pos_bias else b
                   for b in (bias(so, out_spread) for _ in range(lc.out_features)))
        return LinearParams(pack_signs(signs), mi, si, ib, mo, so, ob)

    def bspn_p() -> BSPNParams:
        bc = cfg.bspn
        lo, hi = max(bc.weight_exp_min, -1), min(bc.weight_exp_max, 1)
        blim = min((1 << bc.bias_frac) // 4, (1 << (bc.bias_width - 1)) - 1)
        return BSPNParams(
            tuple(rng.choice((-1, 1, 1, 1)) for _ in range(cfg.hidden)),
            tuple(rng.randint(lo, hi) for _ in range(cfg.hidden)),
            tuple(rng.randint(-blim, blim) for _ in range(cfg.hidden)),
        )

    one_h = Fraction(1, 1 << cfg.h_frac)
    half_o = Fraction(max(o, 2), 2)
    sig_in = Fraction(o, 4) * one_h * 2  # h ~ 1 maps to about o/2
    per = {
        "h": Fraction(1 << cfg.h_frac),
        "u": Fraction(1 << cfg.u_frac),
    }

    def spread(fan_in: int, term: Fraction) -> Fraction:
        return term * _isqrt_up(fan_in)

    layers_: list[LayerParams] = []
    hd, ff, dd = cfg.hidden, cfg.ffn, cfg.head_dim
    for _ in range(cfg.layers):
        qkv = {n: lin(n, sig_in, Fraction(o, 2) / spread(hd, half_o), True, Fraction(1, 4))
               for n in ("q", "k", "v")}
        ctx_mag = Fraction(cmax) * half_o
        lo_ = lin("o", Fraction(o, 2) / ctx_mag, per["h"] / spread(hd, half_o), True,
                  Fraction(1, 2))
        l1 = lin("ffn1", sig_in, per["u"] / spread(hd, half_o), True, Fraction(1, 2))
        l2 = lin("ffn2", Fraction(cmax, 3) / per["u"],
                 per["h"] / spread(ff, Fraction(cmax, 3)), True, Fraction(1, 2))
        score_real = Fraction(2) / spread(dd, half_o * half_o)
        mmax = (1 << mb) - 1
        score_mult = max(1, min(mmax, round(jitter(score_real) * (1 << cfg.score_frac))))
        pm, ps = fixed_point(Fraction(cmax, 1 << cfg.prob_frac), mb)
        layers_.append(LayerParams(
            q=qkv["q"], k=qkv["k"], v=qkv["v"], o=lo_, ffn1=l1, ffn2=l2,
            score_mult=score_mult, prob_mult=pm, prob_shift=ps, bspn1=bspn_p(), bspn2=bspn_p(),
        ))
    pool = lin("pooler", sig_in, per["h"] / spread(hd, half_o), True, Fraction(1, 2), True)
    wmax = (1 << (cfg.cls_width - 1)) - 1
    cls_w = tuple(rng.randint(-wmax, wmax) for _ in range(cfg.num_labels * hd))
    blim = min(bmax, 1 << (cfg.h_frac + cfg.cls_frac))
    cls_b = tuple(rng.randint(-blim, blim) for _ in range(cfg.num_labels))
    params = ModelParams(tuple(layers_), HeadParams(pool, cls_w, cls_b))
    params.validate(cfg)
    return params


def draw_h0(cfg: ModelConfig, seq: int, seed: int) -> list[list[int]]:
    """Deterministic random ``h0`` (``seq x hidden``) with values of about +-1.5 in format h."""
    rng = random.Random(seed)
    lim = min(cfg.h_format.max, 3 << (cfg.h_frac - 1) if cfg.h_frac else 1)
    return [[rng.randint(-lim, lim) for _ in range(cfg.hidden)] for _ in range(seq)]


def draw_mask(seq: int, seed: int) -> list[bool]:
    """A padding mask: the first ``n >= 1`` tokens real, the rest padding (``n`` drawn)."""
    rng = random.Random(seed)
    n = rng.randint(1, seq)
    return [t < n for t in range(seq)]


