"""Configuration and parameters of the whole Sorbet model (spec/06-layers.md, spec/08-model.md).

A :class:`ModelConfig` fixes shapes and every integer format; the parameter
dataclasses hold the integers a model file stores.  Each is validated against
the configuration by ``validate``; errors name the parameter and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reference import arith
from reference.algebra import PY
from reference.binary_linear import BinaryLinearConfig
from reference.bspn import BSPNConfig, BSPNParams
from reference.errors import ConfigError, ShapeError, SorbetError
from reference.formats import IntFormat, check_int, check_length
from reference.ptsoftmax import PTSoftmaxConfig
from reference.quantizer import QuantizerConfig


@dataclass(frozen=True)
class ModelConfig:
    """Shapes and integer formats of a Sorbet model (spec/06-layers.md, "Parameters")."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    max_seq: int
    num_labels: int
    bits: int = 4
    steps: int = 16
    h_width: int = 28
    h_frac: int = 20
    r_width: int = 32
    u_width: int = 28
    u_frac: int = 20
    bspn_group: int = 0
    """Channels per BSPN group; 0 means one group per head (``hidden / heads``)."""
    eps_exp: int = 17
    bspn_wexp_min: int = -16
    bspn_wexp_max: int = 15
    bspn_bias_width: int = 28
    bspn_bias_frac: int = 20
    score_width: int = 40
    score_frac: int = 16
    partition_frac: int = 16
    prob_frac: int = 16
    multiplier_bits: int = 20
    bias_width: int = 40
    cls_width: int = 16
    cls_frac: int = 12

    def __post_init__(self) -> None:
        check_int(self.layers, "ModelConfig.layers", 1, 64)
        check_int(self.hidden, "ModelConfig.hidden", 1, 1 << 14)
        check_int(self.heads, "ModelConfig.heads", 1, self.hidden)
        if self.hidden % self.heads:
            raise ConfigError(
                f"ModelConfig.heads: {self.heads} does not divide hidden={self.hidden}"
            )
        check_int(self.ffn, "ModelConfig.ffn", 1, 1 << 16)
        check_int(self.vocab, "ModelConfig.vocab", 1, 1 << 20)
        check_int(self.max_positions, "ModelConfig.max_positions", 1, 1 << 14)
        check_int(self.type_vocab, "ModelConfig.type_vocab", 1, 16)
        check_int(self.max_seq, "ModelConfig.max_seq", 1, self.max_positions)
        check_int(self.num_labels, "ModelConfig.num_labels", 1, 1 << 10)
        check_int(self.h_width, "ModelConfig.h_width", 4, 32)
        check_int(self.h_frac, "ModelConfig.h_frac", 0, self.h_width - 2)
        check_int(self.r_width, "ModelConfig.r_width", self.h_width, 32)
        check_int(self.u_width, "ModelConfig.u_width", 2, 32)
        check_int(self.u_frac, "ModelConfig.u_frac", 0, self.u_width - 1)
        check_int(self.bspn_group, "ModelConfig.bspn_group", 0, self.hidden)
        check_int(self.score_width, "ModelConfig.score_width", 8, 48)
        check_int(self.multiplier_bits, "ModelConfig.multiplier_bits", 1, 24)
        check_int(self.bias_width, "ModelConfig.bias_width", 2, 40)
        check_int(self.cls_width, "ModelConfig.cls_width", 2, 16)
        check_int(self.cls_frac, "ModelConfig.cls_frac", 0, 15)
        # Building the operator configurations validates the remaining fields.
        _ = (self.ptsoftmax, self.bspn, self.linear("q"), self.linear("ffn2"))
        if self.max_abs_score > (1 << (self.score_width - 1)) - 1:
            raise ConfigError(
                f"ModelConfig.score_width: {self.score_width} bits cannot hold the largest "
                f"score head_dim * 2**(2*(bits-1)) * (2**multiplier_bits - 1) = "
                f"{self.max_abs_score} (spec/06-layers.md, \"Widths\")"
            )

    @property
    def max_abs_score(self) -> int:
        """Largest ``|S * score_mult|``: ``D * (2**(bits-1))**2 * (2**multiplier_bits - 1)``."""
        o = 1 << (self.bits - 1)
        return self.head_dim * o * o * ((1 << self.multiplier_bits) - 1)

    @property
    def head_dim(self) -> int:
        """``D = hidden / heads``."""
        return self.hidden // self.heads

    @property
    def group_size(self) -> int:
        """BSPN group size (``bspn_group``, or ``head_dim`` when 0)."""
        return self.bspn_group or self.head_dim

    @property
    def ptsoftmax(self) -> PTSoftmaxConfig:
        """PTsoftmax over rows of up to ``max_seq`` scores."""
        return PTSoftmaxConfig(
            max_len=self.max_seq, score_width=self.score_width, score_frac=self.score_frac,
            partition_frac=self.partition_frac, out_frac=self.prob_frac,
        )

    @property
    def bspn(self) -> BSPNConfig:
        """BSPN from the residual format to the hidden format."""
        return BSPNConfig(
            channels=self.hidden, group_size=self.group_size, in_width=self.r_width,
            in_frac=self.h_frac, eps_exp=self.eps_exp, weight_exp_min=self.bspn_wexp_min,
            weight_exp_max=self.bspn_wexp_max, bias_width=self.bspn_bias_width,
            bias_frac=self.bspn_bias_frac, out_width=self.h_width, out_frac=self.h_frac,
        )

    def linear(self, name: str) -> BinaryLinearConfig:
        """Shape of linear layer ``name`` in q, k, v, o, ffn1, ffn2, pooler."""
        shapes = {
            "q": (self.hidden, self.hidden, True), "k": (self.hidden, self.hidden, True),
            "v": (self.hidden, self.hidden, True), "o": (self.hidden, self.hidden, True),
            "ffn1": (self.hidden, self.ffn, True), "ffn2": (self.ffn, self.hidden, False),
            "pooler": (self.hidden, self.hidden, True),
        }
        if name not in shapes:
            raise ConfigError(f"unknown linear layer {name!r}; expected one of {sorted(shapes)}")
        fan_in, fan_out, signed = shapes[name]
        return BinaryLinearConfig(fan_in, fan_out, self.bits, self.steps, signed)

    @property
    def h_format(self) -> IntFormat:
        """Hidden format (BSPN output, model input ``h0``)."""
        return IntFormat(self.h_width, True, self.h_frac)

    @property
    def r_format(self) -> IntFormat:
        """Residual format (BSPN input)."""
        return IntFormat(self.r_width, True, self.h_frac)

    @property
    def u_format(self) -> IntFormat:
        """FFN intermediate format (non-negative after the ReLU clamp)."""
        return IntFormat(self.u_width, True, self.u_frac)

    @property
    def bias_format(self) -> IntFormat:
        """Format of every requantization bias ``B``."""
        return IntFormat(self.bias_width, True)

    @property
    def requant(self) -> QuantizerConfig:
        """The declared widths of a signed requantization of the model: inputs of
        :data:`REQUANT_IN_WIDTH` bits, ``multiplier_bits``, ``bias_width`` (spec/06, "Widths";
        the widths theorems quant.no_overflow and quant.context_offset are proven at)."""
        return QuantizerConfig(self.bits, True, REQUANT_IN_WIDTH, self.multiplier_bits,
                               self.bias_width)

    @property
    def ctx_offset_limit(self) -> int:
        """Largest ``|E|`` of the context offset: the headroom ``2**(product_width-1) -
        (2**31 * (2**multiplier_bits - 1) + 2**(bias_width-1))`` of :attr:`requant`
        (:attr:`reference.quantizer.QuantizerConfig.extra_bias_limit`; theorem
        quant.context_offset)."""
        return self.requant.extra_bias_limit


REQUANT_IN_WIDTH = 32
"""Input width of every requantization of the model: ``h``, ``r``, ``u`` (at most 32 bits),
``ctx`` (below ``2**29``), probabilities (at most ``2**30``), accumulators (below ``2**24``)."""

LINEAR_NAMES: tuple[str, ...] = ("q", "k", "v", "o", "ffn1", "ffn2")
"""Binary linear layers of one encoder layer, in order."""


@dataclass(frozen=True)
class LinearParams:
    """One binary linear layer with its input quantizer and output requantization.

    ``signs`` is packed as :func:`reference.binary_linear.pack_signs` (row-major,
    out x in, bit 1 = +1, least significant bit first).
    """

    signs: bytes
    in_mult: int
    in_shift: int
    in_bias: tuple[int, ...]
    out_mult: int
    out_shift: int
    out_bias: tuple[int, ...]

    def validate(self, cfg: ModelConfig, name: str) -> None:
        """Check sizes and ranges against ``cfg.linear(name)``."""
        lc = cfg.linear(name)
        need = (lc.in_features * lc.out_features + 7) // 8
        if len(self.signs) != need:
            raise ShapeError(f"{name}.signs: expected {need} bytes, got {len(self.signs)}")
        mmax = (1 << cfg.multiplier_bits) - 1
        check_int(self.in_mult, f"{name}.in_mult", 1, mmax)
        check_int(self.out_mult, f"{name}.out_mult", 1, mmax)
        check_int(self.in_shift, f"{name}.in_shift", 0, 62)
        check_int(self.out_shift, f"{name}.out_shift", 0, 62)
        check_length(self.in_bias, lc.in_features, f"{name}.in_bias")
        check_length(self.out_bias, lc.out_features, f"{name}.out_bias")
        cfg.bias_format.check_all(self.in_bias, f"{name}.in_bias")
        cfg.bias_format.check_all(self.out_bias, f"{name}.out_bias")


@dataclass(frozen=True)
class LayerParams:
    """One encoder layer (spec/06-layers.md)."""

    q: LinearParams
    k: LinearParams
    v: LinearParams
    o: LinearParams
    ffn1: LinearParams
    ffn2: LinearParams
    score_mult: int
    """``x = S * score_mult``: the fixed-point form of ``alpha_q alpha_k / sqrt(D)``."""
    prob_mult: int
    prob_shift: int
    bspn1: BSPNParams
    bspn2: BSPNParams

    def linears(self) -> dict[str, LinearParams]:
        """The six linear layers by name."""
        return {"q": self.q, "k": self.k, "v": self.v, "o": self.o,
                "ffn1": self.ffn1, "ffn2": self.ffn2}

    def validate(self, cfg: ModelConfig, where: str) -> None:
        """Check every parameter of the layer against ``cfg``."""
        self.validate_attention(cfg, where)
        self.validate_ffn(cfg, where)

    def validate_attention(self, cfg: ModelConfig, where: str) -> None:
        """Check the parameters the attention block uses (q, k, v, o, scores, probs, bspn1)."""
        for name in ("q", "k", "v", "o"):
            _prefixed(self.linears()[name].validate, cfg, name, where)
        mmax = (1 << cfg.multiplier_bits) - 1
        check_int(self.score_mult, f"{where}.score_mult", 1, mmax)
        check_int(self.prob_mult, f"{where}.prob_mult", 1, mmax)
        check_int(self.prob_shift, f"{where}.prob_shift", 0, 62)
        self.validate_context_offset(cfg, where)
        _prefixed_bspn(self.bspn1, cfg, f"{where}.bspn1")

    def validate_context_offset(self, cfg: ModelConfig, where: str) -> None:
        """Bound the context offset of spec/06, step 6, by the headroom of ``o``'s quantizer.

        ``W_max`` is the largest ``W`` of :func:`context_offset_weights` (every ``pm`` the
        rule of step 4 can produce); ``|E| = |W * V| <= W_max * max_seq * 2**(bits-1)`` must be
        at most :attr:`ModelConfig.ctx_offset_limit`, so that ``x*M + B + E`` stays inside
        the product width (theorem quant.context_offset; spec/06, "Widths"); ConfigError
        otherwise.
        """
        bound = self.context_offset_bound(cfg)
        limit = cfg.ctx_offset_limit
        if bound > limit:
            raise ConfigError(
                f"{where}.prob_shift: the context offset can reach W * V = {bound}, above "
                f"the headroom {limit} of o's input quantizer (spec/06-layers.md, \"Widths\")"
            )

    def context_offset_bound(self, cfg: ModelConfig) -> int:
        """``W_max * max_seq * 2**(bits-1)``: the largest ``|E| = |W * V|`` (spec/06, "Widths"),
        ``W_max`` the largest of :func:`context_offset_weights`."""
        w_max = max(context_offset_weights(cfg.prob_frac, self.prob_mult, self.prob_shift,
                                           self.o.in_mult))
        return w_max * cfg.max_seq * (1 << (cfg.bits - 1))

    def validate_ffn(self, cfg: ModelConfig, where: str) -> None:
        """Check the parameters the feed-forward block uses (ffn1, ffn2, bspn2)."""
        for name in ("ffn1", "ffn2"):
            _prefixed(self.linears()[name].validate, cfg, name, where)
        _prefixed_bspn(self.bspn2, cfg, f"{where}.bspn2")


def context_offset_weight(pm: int, prob_mult: int, prob_shift: int, o_in_mult: int) -> int:
    """``W = round_half_even(pm * prob_mult * o.in_mult / 2**prob_shift)`` (spec/06, step 6).

    The authors add ``pm`` back to every dequantized probability; in the units of the
    output projection's ``x * M`` that adds ``W`` per unit of value sum.  With ``pm = 2**k``
    this is ``prob_mult * o.in_mult`` (below ``2**48``) rounded by a shift of
    ``prob_shift - k``, or shifted left by ``k - prob_shift``.
    """
    return arith.shift_round(PY, pm * prob_mult * o_in_mult, prob_shift,
                             arith.Rounding.HALF_EVEN)


def context_offset_weights(prob_frac: int, prob_mult: int, prob_shift: int,
                           o_in_mult: int) -> list[int]:
    """``W`` at every ``pm`` the probability offset can take: 0 and ``2**k``,
    ``0 <= k <= prob_frac`` (spec/06, step 4: a probability is at most ``2**prob_frac``)."""
    pms = [0] + [1 << k for k in range(prob_frac + 1)]
    return [context_offset_weight(pm, prob_mult, prob_shift, o_in_mult) for pm in pms]


def _prefixed(
    fn: Callable[[ModelConfig, str], None], cfg: ModelConfig, name: str, where: str
) -> None:
    try:
        fn(cfg, name)
    except SorbetError as exc:
        raise type(exc)(f"{where}.{exc}") from None


def _prefixed_bspn(p: BSPNParams, cfg: ModelConfig, where: str) -> None:
    try:
        p.validate(cfg.bspn)
    except SorbetError as exc:
        raise type(exc)(f"{where}: {exc}") from None


@dataclass(frozen=True)
class HeadParams:
    """Pooler (binary linear + ReLU clamp) and integer classifier (spec/08-model.md)."""

    pooler: LinearParams
    cls_weight: tuple[int, ...]
    """``num_labels x hidden`` row-major, signed ``cls_width``-bit, ``cls_frac`` fractional bits."""
    cls_bias: tuple[int, ...]
    """``num_labels`` values with ``h_frac + cls_frac`` fractional bits (``bias_width`` bits)."""

    def validate(self, cfg: ModelConfig) -> None:
        """Check the pooler and classifier against ``cfg``."""
        _prefixed(self.pooler.validate, cfg, "pooler", "head")
        check_length(self.cls_weight, cfg.num_labels * cfg.hidden, "head.cls_weight")
        IntFormat(cfg.cls_width, True, cfg.cls_frac).check_all(self.cls_weight, "head.cls_weight")
        check_length(self.cls_bias, cfg.num_labels, "head.cls_bias")
        cfg.bias_format.check_all(self.cls_bias, "head.cls_bias")


@dataclass(frozen=True)
class ModelParams:
    """All integer parameters of the encoder stack and head."""

    layers: tuple[LayerParams, ...]
    head: HeadParams

    def validate(self, cfg: ModelConfig) -> None:
        """Check every parameter against ``cfg``."""
        check_length(self.layers, cfg.layers, "model.layers")
        for i, layer in enumerate(self.layers):
            layer.validate(cfg, f"layer.{i}")
        self.head.validate(cfg)
