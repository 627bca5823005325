"""HOST-SIDE FLOAT STAGE: the embeddings that produce the integer model's input ``h0``.

This module is deliberately *not* part of the normative integer model
(spec/08-model.md, "Ends of the model"; spec/13-converter.md).  The authors'
embedding is floating point: a binary word embedding plus full-precision
position and token-type embeddings, then an ordinary LayerNorm.  It runs on the
host, in float64 numpy, and its result is quantized once to the hidden format:

    e[t]  = word_sign[id_t] * word_scale[id_t] + position[t] + token_type[type_t]
    y[t]  = (e[t] - mean(e[t])) / sqrt(var(e[t]) + ln_eps) * ln_gamma + ln_beta
    h0[t] = clamp(round_half_even(y[t] * 2**h_frac), h_min, h_max)

(``var`` is the biased variance over the hidden channels, as BERT's LayerNorm.)
The float evaluation is not guaranteed bit-portable across platforms; this is why
model-level conformance vectors carry ``h0`` itself, and the normative model
starts there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reference.errors import ConfigError, RangeError, ShapeError
from reference.model_config import ModelConfig

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

ARRAY_NAMES: tuple[str, ...] = (
    "word_signs", "word_scale", "position", "token_type", "ln_gamma", "ln_beta", "ln_eps",
)
"""Names used by :meth:`EmbeddingParams.arrays` and :meth:`EmbeddingParams.from_arrays`."""


def packed_sign_bytes(rows: int, cols: int) -> int:
    """Bytes of a packed ``rows x cols`` sign matrix: ``ceil(rows * cols / 8)``."""
    return (rows * cols + 7) // 8


def pack_word_signs(signs: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Pack a ``vocab x hidden`` matrix of +-1 like ``reference.binary_linear.pack_signs``.

    Row-major, bit 1 for +1 and 0 for -1, least significant bit first in each byte.
    """
    s = np.asarray(signs)
    if s.ndim != 2:
        raise ShapeError(f"pack_word_signs: expected a 2-D matrix, got shape {list(s.shape)}")
    if not np.all((s == 1) | (s == -1)):
        raise RangeError("pack_word_signs: every sign must be -1 or +1")
    return np.packbits((s == 1).reshape(-1), bitorder="little")


@dataclass(frozen=True, eq=False)
class EmbeddingParams:
    """Parameters of the host-side embedding stage (float32 arrays, packed signs)."""

    word_signs: npt.NDArray[np.uint8]
    """``ceil(vocab * hidden / 8)`` bytes: packed signs of the binary word embedding."""
    word_scale: FloatArray
    """``(vocab,)``: per-row scale ``mean|W[v]|`` of the word embedding."""
    position: FloatArray
    """``(max_positions, hidden)``."""
    token_type: FloatArray
    """``(type_vocab, hidden)``."""
    ln_gamma: FloatArray
    """``(hidden,)`` LayerNorm weight."""
    ln_beta: FloatArray
    """``(hidden,)`` LayerNorm bias."""
    ln_eps: float = 1e-12
    """LayerNorm epsilon (BERT: 1e-12)."""

    def validate(self, cfg: ModelConfig) -> None:
        """Check dtypes, shapes and finiteness against ``cfg``; errors name the array."""
        need = packed_sign_bytes(cfg.vocab, cfg.hidden)
        _check_array(self.word_signs, "embeddings.word_signs", np.uint8, (need,))
        _check_array(self.word_scale, "embeddings.word_scale", np.float32, (cfg.vocab,))
        _check_array(
            self.position, "embeddings.position", np.float32, (cfg.max_positions, cfg.hidden)
        )
        _check_array(
            self.token_type, "embeddings.token_type", np.float32, (cfg.type_vocab, cfg.hidden)
        )
        _check_array(self.ln_gamma, "embeddings.ln_gamma", np.float32, (cfg.hidden,))
        _check_array(self.ln_beta, "embeddings.ln_beta", np.float32, (cfg.hidden,))
        eps = self.ln_eps
        if isinstance(eps, bool) or not isinstance(eps, float) or not 0.0 < eps < 1.0:
            raise RangeError(f"embeddings.ln_eps: expected a float in (0, 1), got {eps!r}")
        if np.any(self.word_scale < 0):
            raise RangeError("embeddings.word_scale: scales must be non-negative")

    def signs(self, cfg: ModelConfig) -> npt.NDArray[np.int8]:
        """The ``vocab x hidden`` word signs as int8 +-1."""
        bits = np.unpackbits(self.word_signs, count=cfg.vocab * cfg.hidden, bitorder="little")
        return (bits.astype(np.int8) * 2 - 1).reshape(cfg.vocab, cfg.hidden)

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """Every field as a named numpy array (``ln_eps`` as a 0-d float64) for a model file."""
        return {
            "word_signs": self.word_signs, "word_scale": self.word_scale,
            "position": self.position, "token_type": self.token_type,
            "ln_gamma": self.ln_gamma, "ln_beta": self.ln_beta,
            "ln_eps": np.asarray(self.ln_eps, dtype=np.float64),
        }

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, npt.NDArray[np.generic]], cfg: ModelConfig
    ) -> EmbeddingParams:
        """Inverse of :meth:`arrays`, validated against ``cfg``."""
        missing = [n for n in ARRAY_NAMES if n not in arrays]
        if missing:
            raise ShapeError(f"embeddings: missing array(s) {missing}")
        eps_arr = np.asarray(arrays["ln_eps"])
        if eps_arr.shape != () or eps_arr.dtype.kind != "f":
            raise ShapeError("embeddings.ln_eps: expected a 0-d float array")
        emb = cls(
            word_signs=np.asarray(arrays["word_signs"]),
            word_scale=np.asarray(arrays["word_scale"]),
            position=np.asarray(arrays["position"]),
            token_type=np.asarray(arrays["token_type"]),
            ln_gamma=np.asarray(arrays["ln_gamma"]),
            ln_beta=np.asarray(arrays["ln_beta"]),
            ln_eps=float(eps_arr),
        )
        emb.validate(cfg)
        return emb


def _check_array(
    arr: object, name: str, dtype: type[np.generic], shape: tuple[int, ...]
) -> None:
    if not isinstance(arr, np.ndarray):
        raise ShapeError(f"{name}: expected a numpy array, got {type(arr).__name__}")
    if arr.dtype != np.dtype(dtype):
        raise RangeError(f"{name}: expected dtype {np.dtype(dtype)}, got {arr.dtype}")
    if arr.shape != shape:
        raise ShapeError(f"{name}: expected shape {list(shape)}, got {list(arr.shape)}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise RangeError(f"{name}: contains NaN or inf")


def check_tokens(
    token_ids: Sequence[int] | npt.ArrayLike,
    token_types: Sequence[int] | npt.ArrayLike | None,
    cfg: ModelConfig,
) -> tuple[IntArray, IntArray]:
    """Validate token ids (``[0, vocab)``) and types (``[0, type_vocab)``, default 0)."""
    ids = np.asarray(token_ids)
    if ids.ndim != 1 or ids.size == 0:
        raise ShapeError(f"token_ids: expected a non-empty 1-D list, got shape {list(ids.shape)}")
    if ids.dtype.kind not in "iu":
        raise RangeError(f"token_ids: expected integers, got dtype {ids.dtype}")
    if ids.size > cfg.max_seq:
        raise ShapeError(f"token_ids: length {ids.size} exceeds max_seq={cfg.max_seq}")
    bad = np.nonzero((ids < 0) | (ids >= cfg.vocab))[0]
    if bad.size:
        i = int(bad[0])
        raise RangeError(f"token_ids[{i}]: {int(ids[i])} is outside [0, vocab={cfg.vocab})")
    if token_types is None:
        types = np.zeros(ids.size, dtype=np.int64)
    else:
        types = np.asarray(token_types)
        if types.shape != ids.shape:
            raise ShapeError(
                f"token_types: expected shape {list(ids.shape)}, got {list(types.shape)}"
            )
        if types.dtype.kind not in "iu":
            raise RangeError(f"token_types: expected integers, got dtype {types.dtype}")
        badt = np.nonzero((types < 0) | (types >= cfg.type_vocab))[0]
        if badt.size:
            i = int(badt[0])
            raise RangeError(
                f"token_types[{i}]: {int(types[i])} is outside [0, type_vocab={cfg.type_vocab})"
            )
    return ids.astype(np.int64), types.astype(np.int64)


def layer_norm(x: npt.NDArray[np.float64], gamma: npt.ArrayLike, beta: npt.ArrayLike,
               eps: float) -> npt.NDArray[np.float64]:
    """BERT LayerNorm over the last axis in float64 (biased variance, eps inside the root)."""
    u = x.mean(axis=-1, keepdims=True)
    var = ((x - u) ** 2).mean(axis=-1, keepdims=True)
    g = np.asarray(gamma, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    out: npt.NDArray[np.float64] = (x - u) / np.sqrt(var + eps) * g + b
    return out


def embed_float(
    token_ids: Sequence[int] | npt.ArrayLike,
    token_types: Sequence[int] | npt.ArrayLike | None,
    emb: EmbeddingParams,
    cfg: ModelConfig,
) -> npt.NDArray[np.float64]:
    """The float LayerNorm output ``y`` (seq x hidden), before quantization."""
    ids, types = check_tokens(token_ids, token_types, cfg)
    signs = emb.signs(cfg)[ids].astype(np.float64)
    word = signs * emb.word_scale.astype(np.float64)[ids, None]
    pos = emb.position.astype(np.float64)[: ids.size]
    e = word + pos + emb.token_type.astype(np.float64)[types]
    return layer_norm(e, emb.ln_gamma, emb.ln_beta, emb.ln_eps)


def quantize_hidden(y: npt.NDArray[np.float64], cfg: ModelConfig) -> IntArray:
    """``clamp(round_half_even(y * 2**h_frac), h_min, h_max)`` as int64."""
    if not np.all(np.isfinite(y)):
        raise RangeError("quantize_hidden: input contains NaN or inf")
    fmt = cfg.h_format
    q = np.rint(np.ldexp(y, cfg.h_frac))
    return np.clip(q, fmt.min, fmt.max).astype(np.int64)


def embed(
    token_ids: Sequence[int] | npt.ArrayLike,
    token_types: Sequence[int] | npt.ArrayLike | None,
    emb: EmbeddingParams,
    cfg: ModelConfig,
) -> IntArray:
    """``h0`` (seq x hidden int64, hidden format): the integer model's input (module docstring)."""
    if cfg.max_seq > cfg.max_positions:  # pragma: no cover - ModelConfig forbids it
        raise ConfigError("max_seq exceeds max_positions")
    return quantize_hidden(embed_float(token_ids, token_types, emb, cfg), cfg)
