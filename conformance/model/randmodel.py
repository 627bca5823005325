"""Random valid models for any configuration (spec/14-model-file.md, "Random models").

:func:`random_model` draws every parameter from a counter-based generator
(SplitMix64 over a SHA-256 of the seed and the parameter's name), so the same
``(cfg, seed)`` gives the same model on every platform and numpy version.

Activity is calibrated, not guessed: the layers are built in order on a fixed
random input (``h0`` drawn like the output of the embedding LayerNorm), and each
requantization's multiplier and shift are chosen from the integer mean absolute
value of the tensor it will see, so that counts spread over their range
(``mean |q|`` about 30% of ``2**(bits-1)``), ReLU outputs have a mean near one,
scores have a mean magnitude near 1.5 (base-2 exponent units) and probability
0.5 maps to the largest count.  Each target is jittered per parameter.
"""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from conformance.model.draws import fixed_point
from conformance.model.modelfile import ModelFile
from reference.bspn import BSPNParams
from reference.fast.model import merge_heads, split_heads
from reference.fast.ops import I64, bspn, exact_matmul, matmul_dtype, ptsoftmax, requant
from reference.fast.params import check_widths, unpack_sign_matrix
from reference.host_embedding import EmbeddingParams
from reference.model_config import HeadParams, LayerParams, LinearParams, ModelConfig, ModelParams

GAMMA = 0x9E3779B97F4A7C15
"""SplitMix64 increment."""

CALIBRATION_TOKENS = 64
"""Tokens of the calibration input (capped at ``max_seq``)."""

QKV_MOVES = True
"""Draw input moves (``in_bias``) for Q, K and V too (spec/06, "Departures", 1)."""


class Draw:
    """Named, independent streams of 64-bit random words for one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def words(self, name: str, n: int) -> npt.NDArray[np.uint64]:
        """``n`` words of the stream ``name`` (SplitMix64 of ``key + (i+1) * GAMMA``)."""
        digest = hashlib.sha256(f"sorbet-ref/randmodel/{self.seed}/{name}".encode()).digest()
        key = np.uint64(int.from_bytes(digest[:8], "little"))
        with np.errstate(over="ignore"):
            z = key + (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GAMMA))
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        return z

    def uniform(self, name: str, n: int) -> npt.NDArray[np.float64]:
        """``n`` floats in ``[0, 1)`` (53 random bits each; exact)."""
        out: npt.NDArray[np.float64] = (
            (self.words(name, n) >> np.uint64(11)).astype(np.float64) * 2.0**-53
        )
        return out

    def integers(self, name: str, n: int, lo: int, hi: int) -> I64:
        """``n`` integers in ``[lo, hi]``."""
        span = np.uint64(hi - lo + 1)
        return (self.words(name, n) % span).astype(np.int64) + lo

    def gauss(self, name: str, n: int) -> npt.NDArray[np.float64]:
        """``n`` approximately standard normal floats (sum of 12 uniforms minus 6).

        The sum runs in a fixed order (IEEE additions column by column), so the
        result does not depend on how a numpy build vectorizes reductions.
        """
        u = self.uniform(name, 12 * n).reshape(n, 12)
        out: npt.NDArray[np.float64] = u[:, 0] - 6.0
        for i in range(1, 12):
            out += u[:, i]
        return out

    def jitter(self, name: str) -> Fraction:
        """A factor in ``[0.8, 1.25)`` as an exact fraction."""
        u = int(self.words(name, 1)[0] >> np.uint64(40))  # 24 bits
        return Fraction(4, 5) + Fraction(9 * u, 20 << 24)

    def packed_signs(self, name: str, nbits: int) -> bytes:
        """``nbits`` uniform sign bits packed little-endian, padding bits zero."""
        nbytes = (nbits + 7) // 8
        raw = self.words(name, (nbytes + 7) // 8).astype("<u8").view(np.uint8)[:nbytes].copy()
        pad = nbytes * 8 - nbits
        if pad:
            raw[-1] &= np.uint8(0xFF >> pad)
        return raw.tobytes()


def mean_abs(x: I64) -> Fraction:
    """Exact mean absolute value (at least 1/2, so ratios stay finite)."""
    total = int(np.abs(x).sum(dtype=np.int64))
    return max(Fraction(total, max(x.size, 1)), Fraction(1, 2))


def _clip_fmt(values: npt.NDArray[np.float64], lo: int, hi: int) -> tuple[int, ...]:
    q = np.clip(np.rint(values), lo, hi).astype(np.int64)
    return tuple(int(v) for v in q.tolist())


class _Builder:
    """Builds one model's parameters in order, calibrating on a fixed input."""

    def __init__(self, cfg: ModelConfig, seed: int) -> None:
        self.cfg = cfg
        self.draw = Draw(seed)
        self.o = 1 << (cfg.bits - 1)
        self.cmax = (1 << cfg.bits) - 1
        self.mb = cfg.multiplier_bits
        self.bfmt = cfg.bias_format

    def bias(self, name: str, n: int, scale: float) -> tuple[int, ...]:
        """``n`` biases ``~ N(0, scale)`` rounded and clipped to the bias format."""
        vals = self.draw.gauss(name, n) * scale
        return _clip_fmt(vals, self.bfmt.min, self.bfmt.max)

    def linear(
        self, where: str, name: str, x: I64, out_target: Fraction, lo: int, hi: int,
        move: bool = True,
    ) -> tuple[LinearParams, I64]:
        """A linear layer for input ``x``; output ``mean |requant|`` near ``out_target``."""
        cfg = self.cfg
        lc = cfg.linear(name)
        signs = self.draw.packed_signs(f"{where}.signs", lc.in_features * lc.out_features)
        if lc.signed_input:
            qlo, qhi = -self.o, self.o - 1
            in_target = Fraction(3, 10) * self.o
        else:
            qlo, qhi = 0, self.cmax
            in_target = Fraction(3, 20) * self.cmax
        ratio = in_target * self.draw.jitter(f"{where}.in") / mean_abs(x)
        in_mult, in_shift = fixed_point(ratio, self.mb)
        in_bias = (
            self.bias(f"{where}.in_bias", lc.in_features, 0.2 * 2.0**in_shift)
            if move else (0,) * lc.in_features
        )
        cin = requant(x, in_mult, np.array(in_bias, dtype=np.int64), in_shift, qlo, qhi) - qlo
        bound = lc.in_features * lc.max_abs_term
        w = unpack_sign_matrix(signs, lc.out_features, lc.in_features)
        acc = exact_matmul(cin - lc.offset, w.T.astype(matmul_dtype(bound)), bound)
        ratio = out_target * self.draw.jitter(f"{where}.out") / mean_abs(acc)
        out_mult, out_shift = fixed_point(ratio, self.mb)
        out_bias = self.bias(
            f"{where}.out_bias", lc.out_features, 0.2 * float(out_target) * 2.0**out_shift
        )
        out = requant(acc, out_mult, np.array(out_bias, dtype=np.int64), out_shift, lo, hi)
        lin = LinearParams(signs, in_mult, in_shift, in_bias, out_mult, out_shift, out_bias)
        return lin, out

    def bspn_params(self, where: str) -> BSPNParams:
        """Signs mostly +1 (1/64 zero, 1/8 negative), exponents near 0, small biases."""
        cfg = self.cfg
        bc = cfg.bspn
        n = cfg.hidden
        u = self.draw.integers(f"{where}.sign", n, 0, 63)
        sign = np.where(u == 0, 0, np.where(u < 9, -1, 1))
        e = self.draw.integers(f"{where}.exp", n, -1, 1)
        wide = self.draw.integers(f"{where}.wide", n, bc.weight_exp_min, bc.weight_exp_max)
        rare = self.draw.integers(f"{where}.rare", n, 0, 49) == 0
        wexp = np.clip(np.where(rare, wide, e), bc.weight_exp_min, bc.weight_exp_max)
        bf = bc.bias_format
        bias = _clip_fmt(self.draw.gauss(f"{where}.bias", n) * 0.25 * 2.0**bc.bias_frac,
                         bf.min, bf.max)
        return BSPNParams(
            tuple(int(v) for v in sign.tolist()), tuple(int(v) for v in wexp.tolist()), bias
        )

    def layer(self, i: int, h: I64, mask: npt.NDArray[np.bool_]) -> tuple[LayerParams, I64]:
        """Layer ``i`` calibrated on its input ``h``; returns the layer and its output."""
        cfg, o = self.cfg, self.o
        w = f"layer.{i}"
        count_target = Fraction(3, 10) * o
        lins: dict[str, LinearParams] = {}
        c: dict[str, I64] = {}
        for name in ("q", "k", "v"):
            lins[name], q = self.linear(f"{w}.{name}", name, h, count_target, -o, o - 1,
                                        move=QKV_MOVES)
            c[name] = q
        qh, kh, vh = (split_heads(c[n], cfg.heads) for n in ("q", "k", "v"))
        s = exact_matmul(qh, kh.transpose(0, 2, 1), cfg.head_dim * o * o)
        ratio = 3 * (1 << cfg.score_frac) * self.draw.jitter(f"{w}.score")
        score_mult = min(max(round(ratio / mean_abs(s)), 1), (1 << self.mb) - 1)
        probs = ptsoftmax(s * score_mult, mask, cfg.ptsoftmax)
        ratio = Fraction(self.cmax, 1 << max(cfg.prob_frac - 1, 0)) * self.draw.jitter(f"{w}.prob")
        prob_mult, prob_shift = fixed_point(ratio, self.mb)
        cp = requant(probs, prob_mult, 0, prob_shift, 0, self.cmax)
        ctx = merge_heads(exact_matmul(cp, vh, h.shape[0] * self.cmax * o))
        rf, uf = cfg.r_format, cfg.u_format
        h_mean = mean_abs(h)
        lins["o"], a_o = self.linear(f"{w}.o", "o", ctx, h_mean, rf.min, rf.max)
        b1 = self.bspn_params(f"{w}.bspn1")
        h1 = self._norm(a_o + h, b1)
        lins["ffn1"], u = self.linear(f"{w}.ffn1", "ffn1", h1, Fraction(1 << cfg.u_frac),
                                      0, uf.max)
        lins["ffn2"], a2 = self.linear(f"{w}.ffn2", "ffn2", u, mean_abs(h1), rf.min, rf.max)
        b2 = self.bspn_params(f"{w}.bspn2")
        h2 = self._norm(a2 + h1, b2)
        lp = LayerParams(
            q=lins["q"], k=lins["k"], v=lins["v"], o=lins["o"], ffn1=lins["ffn1"],
            ffn2=lins["ffn2"], score_mult=score_mult, prob_mult=prob_mult,
            prob_shift=prob_shift, bspn1=b1, bspn2=b2,
        )
        return lp, h2

    def _norm(self, r: I64, p: BSPNParams) -> I64:
        rf = self.cfg.r_format
        arr = [np.array(v, dtype=np.int64) for v in (p.weight_sign, p.weight_exp, p.bias)]
        return bspn(np.clip(r, rf.min, rf.max), arr[0], arr[1], arr[2], self.cfg.bspn)

    def head(self, h: I64) -> HeadParams:
        """Pooler (output mean near 1.0) and classifier (weights ~ N(0, 2/sqrt(hidden)))."""
        cfg = self.cfg
        pooler, _ = self.linear("pooler", "pooler", h[:1], Fraction(1 << cfg.h_frac), 0,
                                cfg.h_format.max)
        lo, hi = -(1 << (cfg.cls_width - 1)), (1 << (cfg.cls_width - 1)) - 1
        scale = 2.0 * 2.0**cfg.cls_frac / math.sqrt(cfg.hidden)
        weight = _clip_fmt(self.draw.gauss("classifier.weight", cfg.num_labels * cfg.hidden)
                           * scale, lo, hi)
        bias = self.bias("classifier.bias", cfg.num_labels,
                         0.1 * 2.0 ** (cfg.h_frac + cfg.cls_frac))
        return HeadParams(pooler=pooler, cls_weight=weight, cls_bias=bias)

    def embeddings(self) -> EmbeddingParams:
        """Word signs uniform, scales about 0.05, positions and types ~ N(0, 0.02), LN ~ (1, 0)."""
        cfg = self.cfg
        d = self.draw
        h = cfg.hidden
        signs = np.frombuffer(d.packed_signs("embedding.word_signs", cfg.vocab * h), dtype=np.uint8)
        return EmbeddingParams(
            word_signs=signs.copy(),
            word_scale=(0.04 + 0.02 * d.uniform("embedding.word_scale", cfg.vocab)).astype(
                np.float32),
            position=(0.02 * d.gauss("embedding.position", cfg.max_positions * h)).astype(
                np.float32).reshape(cfg.max_positions, h),
            token_type=(0.02 * d.gauss("embedding.token_type", cfg.type_vocab * h)).astype(
                np.float32).reshape(cfg.type_vocab, h),
            ln_gamma=(1.0 + 0.1 * d.gauss("embedding.ln_gamma", h)).astype(np.float32),
            ln_beta=(0.1 * d.gauss("embedding.ln_beta", h)).astype(np.float32),
            ln_eps=1e-12,
        )

    def calibration_input(self) -> I64:
        """``h0`` like the embedding LayerNorm's output: ``N(0, 1)`` in the hidden format."""
        cfg = self.cfg
        seq = min(CALIBRATION_TOKENS, cfg.max_seq)
        vals = self.draw.gauss("calibration.h0", seq * cfg.hidden) * 2.0**cfg.h_frac
        fmt = cfg.h_format
        return np.clip(np.rint(vals), fmt.min, fmt.max).astype(np.int64).reshape(seq, cfg.hidden)


def random_h0(cfg: ModelConfig, seq: int, seed: int) -> I64:
    """A random ``h0`` (``seq x hidden``): ``N(0, 1)`` reals in the hidden format."""
    vals = Draw(seed).gauss("h0", seq * cfg.hidden) * 2.0**cfg.h_frac
    fmt = cfg.h_format
    return np.clip(np.rint(vals), fmt.min, fmt.max).astype(np.int64).reshape(seq, cfg.hidden)


def random_tokens(cfg: ModelConfig, n: int, seed: int) -> I64:
    """``n`` random token ids in ``[0, vocab)``."""
    return Draw(seed).integers("tokens", n, 0, cfg.vocab - 1)


def random_model(cfg: ModelConfig, seed: int = 0, embeddings: bool = True) -> ModelFile:
    """A valid random model for ``cfg`` (deterministic in ``(cfg, seed)``; module docstring)."""
    check_widths(cfg)
    b = _Builder(cfg, seed)
    h = b.calibration_input()
    mask = np.ones(h.shape[0], dtype=np.bool_)
    layers = []
    for i in range(cfg.layers):
        lp, h = b.layer(i, h, mask)
        layers.append(lp)
    params = ModelParams(layers=tuple(layers), head=b.head(h))
    params.validate(cfg)
    emb = b.embeddings() if embeddings else None
    return ModelFile(
        config=cfg, params=params, embeddings=emb,
        meta={"generator": "conformance.model.randmodel.random_model", "seed": seed},
    )
