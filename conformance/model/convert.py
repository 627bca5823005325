"""Float Sorbet checkpoint -> integer model file (spec/13-converter.md).

Every rounding is exact rational arithmetic on the checkpoint's float values
(``fractions.Fraction`` of each float is exact), so a conversion is reproducible
bit for bit on any machine:

- binary weights: ``sign(W - mean(W))`` (mean in float64), the authors' ``sign(0) = 0``
  stored as +1 and counted; the layer scale ``mean|W|``;
- every real ratio ``r`` becomes ``M / 2**s``: ``M = round_half_even(r * 2**s)`` with
  the largest ``s <= 62`` keeping ``M < 2**multiplier_bits`` and every bias
  ``B = round_half_even(b * 2**s)`` inside ``bias_width``; then ``M``, ``s`` and ``B``
  are halved together while all are even (``M = 1`` for a power-of-two ratio and
  zero biases).  Exact whenever ``r * 2**s`` is an integer;
- the score multiplier ``round_half_even(alpha_q alpha_k 2**score_frac / sqrt(D))``
  decided by comparing squares;
- BSPN weights ``gamma / sqrt(running_phi + 1e-5)`` to ``sign * 2**k`` with
  ``2**(2k-1) <= w**2 < 2**(2k+1)`` (log-domain nearest, the tie ``w**2 = 2**(2k+1)``
  going up), biases ``round_half_even(beta * 2**bias_frac)``;
- the unsigned-input layer (``ffn2``, input ``relu(x) + move``): the authors' batch-minimum
  offset taken statically at ``m = min(move)`` (not zero when a move entry is negative),
  the shift folded into ``in_bias`` and ``m``'s dequantization term into ``out_bias``
  (spec/06, "Departures", 2; spec/13, 13.5, "Unsigned offset");
- the classifier ``round_half_even(W * 2**cls_frac)``,
  ``round_half_even(b * 2**(h_frac + cls_frac))``.

Anything outside its integer range is clipped and reported; the
:class:`ConversionReport` lists every rounding, clip, zero sign and ignored tensor.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from conformance.model.checkpoint import (
    BSPN_MODULES,
    LINEAR_MODULES,
    SECOND_STEP,
    UNUSED_LAYER_TENSORS,
    Checkpoint,
    CheckpointError,
    Names,
    count_layers,
    detect_names,
)
from conformance.model.floatmodel import ALPHA_FLOOR, authors_offset
from conformance.model.modelfile import ModelFile
from reference.bspn import BSPNParams
from reference.errors import ConfigError
from reference.formats import IntFormat
from reference.host_embedding import EmbeddingParams
from reference.model_config import (
    LINEAR_NAMES,
    HeadParams,
    LayerParams,
    LinearParams,
    ModelConfig,
    ModelParams,
)
from reference.version import SPEC_VERSION

F64 = npt.NDArray[np.float64]


BSPN_EPS = Fraction(1, 100000)
"""eps added to ``running_phi`` (1e-5, as an exact decimal)."""

LN_EPS = 1e-12
"""Embedding LayerNorm eps."""

MAX_SHIFT = 62
"""Largest shift a model file admits."""

CONFIG_META_KEY = "sorbet.model_config"
"""Checkpoint metadata key holding a JSON ModelConfig (written by the synthetic generator)."""

HEADS_META_KEY = "num_attention_heads"
"""Checkpoint metadata key holding the number of attention heads."""

_FIELD_DEFAULTS: dict[str, int] = {
    f.name: int(f.default) for f in dataclasses.fields(ModelConfig)
    if isinstance(f.default, int)
}
"""Default formats of :class:`ModelConfig` (Sorbet-base's)."""

INPUT_MOVES_DROPPED: tuple[str, ...] = ()
"""Linear layers whose input ``move`` the model format cannot hold: none (spec/06, "Departures")."""


# --------------------------------------------------------------------------- exact arithmetic


def frac(x: float) -> Fraction:
    """The exact rational value of a float."""
    return Fraction(float(x))


def round_half_even(q: Fraction) -> int:
    """Nearest integer to ``q``, ties to even (``round`` on a Fraction is exactly this)."""
    return round(q)


def floor_log2(q: Fraction) -> int:
    """``floor(log2 q)`` for a rational ``q > 0``, exactly."""
    if q <= 0:
        raise ValueError("floor_log2: q must be positive")
    e = q.numerator.bit_length() - q.denominator.bit_length()
    return e if q >= Fraction(2) ** e else e - 1


def log_round_sq(w_sq: Fraction) -> int:
    """``k`` with ``2**(2k-1) <= w_sq < 2**(2k+1)``: ``round(log2 w)`` for ``w = sqrt(w_sq)``."""
    return (floor_log2(w_sq) + 1) // 2


def round_div_sqrt(r: Fraction, d: int) -> int:
    """``round_half_even(r / sqrt(d))`` for ``r >= 0``, decided by comparing squares."""
    if r < 0 or d < 1:
        raise ValueError("round_div_sqrt: need r >= 0 and d >= 1")
    r2 = r * r
    n = math.isqrt(math.floor(r2 / d))  # candidate floor(r / sqrt d), corrected below
    while (n + 1) ** 2 * d <= r2:
        n += 1
    while n > 0 and n * n * d > r2:
        n -= 1
    mid = (Fraction(2 * n + 1, 2)) ** 2 * d
    if r2 > mid or (r2 == mid and n % 2 == 1):
        return n + 1
    return n


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class MultiplierRecord:
    """One ratio turned into ``M / 2**s``."""

    name: str
    ratio: float
    mult: int
    shift: int
    rel_error: float
    clipped: bool = False


@dataclass(frozen=True)
class BiasRecord:
    """One bias vector rounded to integers (error in units of the result's last bit)."""

    name: str
    count: int
    clipped: int
    max_abs_error: float


@dataclass(frozen=True)
class BSPNRecord:
    """One BSPN's affine parameters."""

    name: str
    zero_weights: int
    clipped_exponents: int
    max_rel_error: float
    clipped_biases: int


@dataclass(frozen=True)
class OffsetRecord:
    """The static unsigned-quantizer offset of one layer (spec/13, 13.5, "Unsigned offset")."""

    name: str
    min_move: float
    before: float
    """Added to the input before quantizing (folded into ``in_bias``)."""
    after: float
    """Added to the dequantized input (folded into ``out_bias`` through the row sums)."""


@dataclass(frozen=True)
class TensorNote:
    """A checkpoint tensor the integer model does not use, and why."""

    name: str
    reason: str
    max_abs: float = 0.0


@dataclass
class ConversionReport:
    """Everything the conversion rounded, clipped, counted or left out."""

    source: str
    config: dict[str, int] = field(default_factory=dict)
    multipliers: list[MultiplierRecord] = field(default_factory=list)
    biases: list[BiasRecord] = field(default_factory=list)
    zero_signs: dict[str, int] = field(default_factory=dict)
    bspn: list[BSPNRecord] = field(default_factory=list)
    classifier: dict[str, float] = field(default_factory=dict)
    alpha_floored: list[str] = field(default_factory=list)
    unsigned_offsets: list[OffsetRecord] = field(default_factory=list)
    ignored: list[TensorNote] = field(default_factory=list)
    dropped: list[TensorNote] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def max_multiplier_error(self) -> float:
        """Largest relative error of any multiplier."""
        return max((m.rel_error for m in self.multipliers), default=0.0)

    @property
    def total_zero_signs(self) -> int:
        """Weights equal to their tensor's mean (``sign(0)``), stored as +1."""
        return sum(self.zero_signs.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (every float finite)."""
        d = dataclasses.asdict(self)
        d["summary"] = {
            "max_multiplier_rel_error": self.max_multiplier_error,
            "clipped_multipliers": sum(m.clipped for m in self.multipliers),
            "zero_signs": self.total_zero_signs,
            "clipped_biases": sum(b.clipped for b in self.biases),
            "bspn_clipped_exponents": sum(b.clipped_exponents for b in self.bspn),
            "bspn_clipped_biases": sum(b.clipped_biases for b in self.bspn),
            "ignored_tensors": len(self.ignored),
            "dropped_tensors": len(self.dropped),
        }
        return d

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as indented JSON."""
        text = json.dumps(self.to_dict(), indent=1, sort_keys=True, allow_nan=False)
        Path(path).write_text(text + "\n", encoding="utf-8")

    def summary(self) -> str:
        """Readable summary for the terminal."""
        lines = [f"conversion report for {self.source}"]
        worst = sorted(self.multipliers, key=lambda m: -m.rel_error)[:5]
        lines.append(
            f"  multipliers: {len(self.multipliers)}, max relative error "
            f"{self.max_multiplier_error:.3g}, clipped {sum(m.clipped for m in self.multipliers)}"
        )
        for m in worst:
            lines.append(
                f"    {m.name}: ratio {m.ratio:.6g} -> {m.mult}/2^{m.shift} "
                f"(rel. error {m.rel_error:.3g}{', CLIPPED' if m.clipped else ''})"
            )
        lines.append(f"  zero signs (sign(0) stored as +1): {self.total_zero_signs}")
        for n, c in self.zero_signs.items():
            if c:
                lines.append(f"    {n}: {c}")
        clipped = [b for b in self.biases if b.clipped]
        lines.append(
            f"  biases: {len(self.biases)} vectors, max rounding error "
            f"{max((b.max_abs_error for b in self.biases), default=0.0):.3g} LSB, "
            f"clipped {sum(b.clipped for b in clipped)}"
        )
        for b in clipped:
            lines.append(f"    {b.name}: {b.clipped} of {b.count} clipped")
        lines.append(
            f"  BSPN: zero weights {sum(b.zero_weights for b in self.bspn)}, clipped exponents "
            f"{sum(b.clipped_exponents for b in self.bspn)}, clipped biases "
            f"{sum(b.clipped_biases for b in self.bspn)}, max weight rel. error "
            f"{max((b.max_rel_error for b in self.bspn), default=0.0):.3g}"
        )
        cls = self.classifier
        lines.append(
            f"  classifier: clipped weights {int(cls.get('clipped_weights', 0))}, max weight "
            f"rounding error {cls.get('max_weight_error', 0.0):.3g}, clipped biases "
            f"{int(cls.get('clipped_biases', 0))}"
        )
        for o in self.unsigned_offsets:
            lines.append(f"  unsigned offset {o.name}: min(move) {o.min_move:.6g}, input "
                         f"{o.before:+.6g}, value {o.after:+.6g}")
        if self.alpha_floored:
            lines.append(f"  steps raised to the 1e-5 floor: {', '.join(self.alpha_floored)}")
        lines.append(f"  ignored tensors (unused by the authors' inference): {len(self.ignored)}")
        nonzero = [t for t in self.dropped if t.max_abs > 0]
        lines.append(f"  dropped tensors (used by the authors, not representable): "
                     f"{len(self.dropped)}, nonzero {len(nonzero)}")
        for t in nonzero:
            lines.append(f"    {t.name}: max |value| {t.max_abs:.3g} ({t.reason})")
        for w in self.warnings:
            lines.append(f"  WARNING: {w}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- fixed point


@dataclass(frozen=True)
class FixedPoint:
    """``M / 2**s`` and biases ``B`` such that ``(x*M + B) / 2**s`` approximates ``x*r + b``."""

    mult: int
    shift: int
    biases: tuple[int, ...]


def fixed_point(
    ratio: Fraction,
    biases: Sequence[Fraction],
    cfg: ModelConfig,
    name: str,
    report: ConversionReport,
) -> FixedPoint:
    """Choose ``M, s, B`` for ``ratio`` and the bias ratios (module docstring); record it."""
    if ratio <= 0:
        raise ConfigError(f"{name}: scale ratio must be positive, got {float(ratio)}")
    mmax = (1 << cfg.multiplier_bits) - 1
    bfmt = cfg.bias_format
    s = min(MAX_SHIFT, cfg.multiplier_bits - 1 - floor_log2(ratio))
    clipped = False
    while s >= 0 and round_half_even(ratio * 2**s) > mmax:
        s -= 1
    if s < 0:
        s, m, clipped = 0, mmax, True
    else:
        m = round_half_even(ratio * 2**s)
    while s > 0 and any(not bfmt.min <= round_half_even(b * 2**s) <= bfmt.max for b in biases):
        s -= 1
        m = round_half_even(ratio * 2**s)
    if m == 0:
        m, clipped = 1, True
    bs = [round_half_even(b * 2**s) for b in biases]
    n_clip = sum(not bfmt.min <= v <= bfmt.max for v in bs)
    bs = [min(max(v, bfmt.min), bfmt.max) for v in bs]
    while s > 0 and m % 2 == 0 and all(v % 2 == 0 for v in bs):
        m, s, bs = m // 2, s - 1, [v // 2 for v in bs]
    rel = abs(Fraction(m, 2**s) - ratio) / ratio
    report.multipliers.append(
        MultiplierRecord(name, float(ratio), m, s, float(rel), clipped)
    )
    if clipped:
        report.warnings.append(f"{name}: ratio {float(ratio):.6g} does not fit the multiplier")
    if biases:
        err = max(
            (abs(Fraction(v) - b * 2**s) / 2**s for v, b in zip(bs, biases, strict=True)),
            default=Fraction(0),
        )
        # error in units of the output's last bit: B/2^s is in output units already
        report.biases.append(BiasRecord(name, len(bs), n_clip, float(err)))
    return FixedPoint(m, s, tuple(bs))


# --------------------------------------------------------------------------- reading


class _Reader:
    """A checkpoint with a record of the tensors read."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self.ckpt = ckpt
        self.used: set[str] = set()

    def get(self, name: str, shape: tuple[int, ...]) -> F64:
        self.used.add(name)
        return self.ckpt.get(name, shape)

    def vector(self, name: str, n: int) -> F64:
        self.used.add(name)
        return self.ckpt.vector(name, n)

    def step(self, name: str, report: ConversionReport) -> Fraction:
        self.used.add(name)
        v = self.ckpt.scalar(name)
        if v < ALPHA_FLOOR:
            report.alpha_floored.append(name)
            v = ALPHA_FLOOR
        return frac(v)


def binary_signs(w: F64, name: str, report: ConversionReport) -> tuple[npt.NDArray[np.int8], float]:
    """``sign(W - mean(W))`` with 0 -> +1 (counted in the report) and the scale ``mean|W|``."""
    d = w - w.mean()
    report.zero_signs[name] = int(np.count_nonzero(d == 0))
    signs = np.where(d < 0, -1, 1).astype(np.int8)
    return signs, float(np.abs(w).mean())


def pack(signs: npt.NDArray[np.int8]) -> bytes:
    """Row-major, least significant bit first, 1 = +1 (spec/05, "Sign storage")."""
    return np.packbits((signs == 1).reshape(-1), bitorder="little").tobytes()


def _ints(values: F64, scale: int, fmt: IntFormat) -> tuple[list[int], int, float]:
    """``round_half_even(v * 2**scale)`` clipped to ``fmt``: (ints, clipped, max abs error)."""
    out: list[int] = []
    clipped = 0
    err = Fraction(0)
    for v in values.reshape(-1):
        exact = frac(float(v)) * 2**scale
        n = round_half_even(exact)
        if not fmt.min <= n <= fmt.max:
            clipped += 1
            n = min(max(n, fmt.min), fmt.max)
        err = max(err, abs(n - exact))
        out.append(n)
    return out, clipped, float(err)


# --------------------------------------------------------------------------- configuration


def infer_config(
    ckpt: Checkpoint, base: ModelConfig | None = None, heads: int | None = None
) -> ModelConfig:
    """The ModelConfig of a checkpoint (spec/13, "Configuration").

    A ``sorbet.model_config`` metadata entry (JSON of every ModelConfig field) is
    used as is.  Otherwise shapes come from the tensors, the number of heads from
    ``heads`` or the ``num_attention_heads`` metadata entry, and every format from
    ``base`` (default: the ModelConfig defaults, i.e. Sorbet-base's formats).
    """
    names = detect_names(ckpt)
    if CONFIG_META_KEY in ckpt.metadata and base is None and heads is None:
        try:
            fields = json.loads(ckpt.metadata[CONFIG_META_KEY])
            cfg = ModelConfig(**fields)
        except (ValueError, TypeError) as exc:
            raise CheckpointError(
                f"{ckpt.path}: metadata {CONFIG_META_KEY!r} is not a valid ModelConfig: {exc}"
            ) from None
        _check_shapes(ckpt, names, cfg)
        return cfg
    word = ckpt.tensors.get(names.emb("word_embeddings.weight"))
    if word is None or word.ndim != 2:
        raise CheckpointError(f"{ckpt.path}: word embedding table must be 2-D")
    vocab, hidden = (int(d) for d in word.shape)
    n_heads = heads
    if n_heads is None and HEADS_META_KEY in ckpt.metadata:
        try:
            n_heads = int(ckpt.metadata[HEADS_META_KEY])
        except ValueError:
            raise CheckpointError(
                f"{ckpt.path}: metadata {HEADS_META_KEY!r} is not an integer"
            ) from None
    if n_heads is None:
        raise CheckpointError(
            f"{ckpt.path}: the number of attention heads cannot be read from tensor shapes; "
            "give --heads N (BERT config 'num_attention_heads')"
        )

    def dim(name: str, axis: int) -> int:
        arr = ckpt.tensors.get(name)
        if arr is None:
            raise CheckpointError(f"{ckpt.path}: missing tensor {name!r}")
        if arr.ndim != 2:
            raise CheckpointError(f"{ckpt.path}: tensor {name!r}: expected 2 dimensions")
        return int(arr.shape[axis])

    positions = dim(names.emb("position_embeddings.weight"), 0)
    shapes: dict[str, int] = {
        "layers": count_layers(ckpt, names), "hidden": hidden, "heads": n_heads,
        "ffn": dim(names.linear(0, "ffn1", "weight"), 0), "vocab": vocab,
        "max_positions": positions,
        "type_vocab": dim(names.emb("token_type_embeddings.weight"), 0),
        "max_seq": min(base.max_seq, positions) if base is not None else positions,
        "num_labels": dim(Names.classifier("weight"), 0),
    }
    try:
        if base is not None:
            cfg = dataclasses.replace(base, **shapes)
        else:
            # The real head count from the start: a provisional one-head configuration
            # would be validated with head_dim = hidden, and fail for Sorbet-base.
            shapes["score_width"] = default_score_width(
                shapes["hidden"] // n_heads if n_heads >= 1 else 1
            )
            cfg = ModelConfig(**shapes)
    except ConfigError as exc:
        raise CheckpointError(f"{ckpt.path}: configuration from the tensors is invalid: {exc}") \
            from None
    _check_shapes(ckpt, names, cfg)
    return cfg


def default_score_width(head_dim: int) -> int:
    """Score width of a configuration without a preset (spec/13, 13.3).

    The ``ModelConfig`` default, widened (up to its limit of 48 bits) when the head
    dimension needs more: ``|S * score_mult| <= D * 2**(2*(bits-1)) * (2**multiplier_bits - 1)``
    with the default ``bits`` and ``multiplier_bits``, plus a sign bit.
    """
    width = _FIELD_DEFAULTS["score_width"]
    o = 1 << (_FIELD_DEFAULTS["bits"] - 1)
    largest = max(head_dim, 1) * o * o * ((1 << _FIELD_DEFAULTS["multiplier_bits"]) - 1)
    return min(max(width, largest.bit_length() + 1), 48)


def _check_shapes(ckpt: Checkpoint, names: Names, cfg: ModelConfig) -> None:
    if count_layers(ckpt, names) != cfg.layers:
        raise CheckpointError(
            f"{ckpt.path}: {count_layers(ckpt, names)} encoder layers, configuration says "
            f"{cfg.layers}"
        )
    ckpt.get(names.emb("word_embeddings.weight"), (cfg.vocab, cfg.hidden))


# --------------------------------------------------------------------------- conversion


def _linear(
    rd: _Reader, module: str, tag: str, name: str, cfg: ModelConfig, in_unit: Fraction,
    out_unit: Fraction, report: ConversionReport, use_move: bool = True,
) -> tuple[LinearParams, Fraction]:
    """One binary linear layer; returns it and its input step ``alpha_in``."""
    lc = cfg.linear(name)
    w = rd.get(f"{module}.weight", (lc.out_features, lc.in_features))
    bias = rd.get(f"{module}.bias", (lc.out_features,))
    move = rd.get(f"{module}.move.bias", (lc.in_features,))
    alpha = rd.step(f"{module}.input_clip_val", report)
    signs, scale = binary_signs(w, f"{module}.weight", report)
    if not use_move:
        mx = float(np.abs(move).max()) if move.size else 0.0
        report.dropped.append(TensorNote(
            f"{module}.move.bias",
            "Q/K/V input move: the model format fixes B_in = 0 for q, k, v "
            "(spec/06); the authors' code adds it", mx,
        ))
        if mx > 0:
            report.warnings.append(
                f"{module}.move.bias is nonzero (max |value| {mx:.3g}) and was dropped; the "
                "integer model departs from the authors' code here"
            )
    in_ratios = [frac(v) / alpha for v in move] if use_move else []
    out_ratios = [frac(v) / out_unit for v in bias]
    if not lc.signed_input:
        in_ratios, out_ratios = _static_offset(
            w, move, alpha, frac(scale), out_unit, in_ratios, out_ratios, tag, report)
    fin = fixed_point(in_unit / alpha, in_ratios, cfg, f"{tag}.in", report)
    fout = fixed_point(alpha * frac(scale) / out_unit, out_ratios, cfg, f"{tag}.out", report)
    lin = LinearParams(
        signs=pack(signs),
        in_mult=fin.mult, in_shift=fin.shift,
        in_bias=fin.biases if use_move else tuple([0] * lc.in_features),
        out_mult=fout.mult, out_shift=fout.shift, out_bias=fout.biases,
    )
    return lin, alpha


def _static_offset(
    w: F64, move: F64, alpha: Fraction, scale: Fraction, out_unit: Fraction,
    in_ratios: list[Fraction], out_ratios: list[Fraction], tag: str, report: ConversionReport,
) -> tuple[list[Fraction], list[Fraction]]:
    """Fold the authors' unsigned offset, taken at ``m = min(move)``, into both biases.

    ``(before, after) = authors_offset(m)`` (:func:`conformance.model.floatmodel.authors_offset`):
    the input bias becomes ``(move_j + before) / alpha`` and the output bias gains
    ``after * scale * sum_j sign_ij / out_unit`` (the authors' signs, ``sign(0) = 0``),
    the dequantized input being ``count * alpha + after``.  The input is
    ``relu(x) + move >= m``; it equals the authors' batch-of-one rule whenever the
    sample's minimum is ``m`` (spec/06, "Departures", 2).
    """
    m = float(move.min()) if move.size else 0.0
    before, after = authors_offset(m)
    report.unsigned_offsets.append(OffsetRecord(tag, m, before, after))
    rows = np.sign(w - w.mean()).sum(axis=1)
    ins = [r + frac(before) / alpha for r in in_ratios]
    outs = [b + frac(after) * scale * int(rs) / out_unit
            for b, rs in zip(out_ratios, rows, strict=True)]
    return ins, outs


def _bspn(rd: _Reader, module: str, cfg: ModelConfig, report: ConversionReport) -> BSPNParams:
    bc = cfg.bspn
    h = cfg.hidden
    gamma = rd.get(f"{module}.weight", (h,))
    beta = rd.get(f"{module}.bias", (h,))
    phi = rd.vector(f"{module}.running_phi", h)
    if np.any(phi < 0):
        raise CheckpointError(
            f"{rd.ckpt.path}: tensor {module + '.running_phi'!r}: negative entries (a running "
            "quadratic mean is >= 0)"
        )
    signs: list[int] = []
    exps: list[int] = []
    zero = clipped = 0
    worst = 0.0
    for g, p in zip(gamma, phi, strict=True):
        if g == 0:
            zero += 1
            signs.append(0)
            exps.append(min(max(0, bc.weight_exp_min), bc.weight_exp_max))
            continue
        w_sq = frac(float(g)) ** 2 / (frac(float(p)) + BSPN_EPS)
        k = log_round_sq(w_sq)
        if not bc.weight_exp_min <= k <= bc.weight_exp_max:
            clipped += 1
            k = min(max(k, bc.weight_exp_min), bc.weight_exp_max)
        w = math.sqrt(float(w_sq))
        worst = max(worst, abs(2.0**k - w) / w)
        signs.append(1 if g > 0 else -1)
        exps.append(k)
    biases, bclip, _ = _ints(beta, bc.bias_frac, bc.bias_format)
    report.bspn.append(BSPNRecord(module, zero, clipped, worst, bclip))
    return BSPNParams(tuple(signs), tuple(exps), tuple(biases))


def convert_checkpoint(ckpt: Checkpoint, cfg: ModelConfig) -> tuple[ModelFile, ConversionReport]:
    """Convert ``ckpt`` for ``cfg``; returns the model file contents and the report."""
    names = detect_names(ckpt)
    rd = _Reader(ckpt)
    rep = ConversionReport(source=ckpt.path, config=dataclasses.asdict(cfg))
    h_unit = Fraction(1, 2**cfg.h_frac)
    u_unit = Fraction(1, 2**cfg.u_frac)
    layers: list[LayerParams] = []
    for i in range(cfg.layers):
        steps = {k: rd.step(names.layer(i, v), rep) for k, v in SECOND_STEP.items()}
        lins: dict[str, LinearParams] = {}
        alphas: dict[str, Fraction] = {}
        out_units = {"q": steps["q"], "k": steps["k"], "v": steps["v"], "o": h_unit,
                     "ffn1": u_unit, "ffn2": h_unit}
        in_units = {"q": h_unit, "k": h_unit, "v": h_unit, "o": steps["prob"] * steps["v"],
                    "ffn1": h_unit, "ffn2": u_unit}
        for name in LINEAR_NAMES:
            lins[name], alphas[name] = _linear(
                rd, names.layer(i, LINEAR_MODULES[name]), f"layer.{i}.{name}", name, cfg,
                in_units[name], out_units[name], rep, use_move=name not in INPUT_MOVES_DROPPED,
            )
        r = steps["q"] * steps["k"] * 2**cfg.score_frac
        score_mult = round_div_sqrt(r, cfg.head_dim)
        mmax = (1 << cfg.multiplier_bits) - 1
        exact = float(r) / math.sqrt(cfg.head_dim)
        clipped = not 1 <= score_mult <= mmax
        score_mult = min(max(score_mult, 1), mmax)
        rep.multipliers.append(MultiplierRecord(
            f"layer.{i}.score", exact, score_mult, 0, abs(score_mult - exact) / exact, clipped,
        ))
        if clipped:
            rep.warnings.append(f"layer.{i}.score: multiplier {exact:.6g} clipped to {score_mult}")
        fprob = fixed_point(Fraction(1, 2**cfg.prob_frac) / steps["prob"], [], cfg,
                            f"layer.{i}.prob", rep)
        layers.append(LayerParams(
            q=lins["q"], k=lins["k"], v=lins["v"], o=lins["o"], ffn1=lins["ffn1"],
            ffn2=lins["ffn2"], score_mult=score_mult, prob_mult=fprob.mult,
            prob_shift=fprob.shift,
            bspn1=_bspn(rd, names.layer(i, BSPN_MODULES["bspn1"]), cfg, rep),
            bspn2=_bspn(rd, names.layer(i, BSPN_MODULES["bspn2"]), cfg, rep),
        ))
    pooler, _ = _linear(rd, f"{names.prefix}pooler.dense", "pooler", "pooler", cfg, h_unit,
                        h_unit, rep)
    cw = rd.get(Names.classifier("weight"), (cfg.num_labels, cfg.hidden))
    cb = rd.get(Names.classifier("bias"), (cfg.num_labels,))
    wq, wclip, werr = _ints(cw, cfg.cls_frac, IntFormat(cfg.cls_width, True, cfg.cls_frac))
    bq, bclip, berr = _ints(cb, cfg.h_frac + cfg.cls_frac, cfg.bias_format)
    rep.classifier = {"clipped_weights": wclip, "max_weight_error": werr / 2**cfg.cls_frac,
                      "clipped_biases": bclip,
                      "max_bias_error": berr / 2 ** (cfg.h_frac + cfg.cls_frac)}
    if wclip:
        rep.warnings.append(f"classifier.weight: {wclip} weight(s) clipped to s"
                            f"{cfg.cls_width}.{cfg.cls_frac}")
    params = ModelParams(tuple(layers), HeadParams(pooler, tuple(wq), tuple(bq)))
    params.validate(cfg)
    emb = _embeddings(rd, names, cfg, rep)
    _note_ignored(ckpt, rd.used, names, rep)
    meta = {"converter": "sorbet-ref convert", "source": Path(ckpt.path).name,
            "spec_version": SPEC_VERSION}
    return ModelFile(config=cfg, params=params, embeddings=emb, meta=meta), rep


def _embeddings(
    rd: _Reader, names: Names, cfg: ModelConfig, rep: ConversionReport
) -> EmbeddingParams:
    h = cfg.hidden
    word_name = names.emb("word_embeddings.weight")
    word = rd.get(word_name, (cfg.vocab, h))
    signs, _ = binary_signs(word, word_name, rep)
    emb = EmbeddingParams(
        word_signs=np.packbits((signs == 1).reshape(-1), bitorder="little"),
        word_scale=np.abs(word).mean(axis=1).astype(np.float32),
        position=rd.get(names.emb("position_embeddings.weight"),
                        (cfg.max_positions, h)).astype(np.float32),
        token_type=rd.get(names.emb("token_type_embeddings.weight"),
                          (cfg.type_vocab, h)).astype(np.float32),
        ln_gamma=rd.get(names.emb("LayerNorm.weight"), (h,)).astype(np.float32),
        ln_beta=rd.get(names.emb("LayerNorm.bias"), (h,)).astype(np.float32),
        ln_eps=LN_EPS,
    )
    emb.validate(cfg)
    return emb


def _note_ignored(ckpt: Checkpoint, used: set[str], names: Names, rep: ConversionReport) -> None:
    dropped = {t.name for t in rep.dropped}
    head = f"{names.prefix}encoder.layer."
    for n in ckpt.names():
        if n in used and n not in dropped:
            continue
        if n in dropped:
            continue
        reason = "not read by the authors' inference"
        if n.startswith(head):
            rest = n[len(head):].split(".", 1)
            if len(rest) == 2 and rest[1] in UNUSED_LAYER_TENSORS:
                reason = UNUSED_LAYER_TENSORS[rest[1]]
        elif n.endswith("position_ids"):
            reason = "position index buffer (positions are 0..seq-1)"
        arr = ckpt.tensors[n]
        mx = float(np.abs(arr.astype(np.float64)).max()) if arr.size else 0.0
        rep.ignored.append(TensorNote(n, reason, mx if math.isfinite(mx) else 0.0))
