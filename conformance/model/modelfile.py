"""The model file: one ``.npz`` archive that cannot execute code (spec/14-model-file.md).

A model file is a zip archive of ``.npy`` members (what :func:`numpy.savez`
writes and ``numpy.load(path, allow_pickle=False)`` reads):

- ``meta.json``: a ``uint8`` vector holding UTF-8 JSON
  ``{"format": "sorbet-ref-model", "format_version": 1, "spec_version", "config",
  "has_embeddings", "info"}``;
- every integer parameter of the model as a little-endian ``int64`` array, the
  binary weight signs as packed ``uint8`` bytes (:func:`member_table` lists each
  member with its dtype and shape);
- optionally the host-side embedding stage (``embedding.*``, float arrays).

:func:`load_model` checks everything before building a parameter object: the
archive, the member names (missing and unknown members are errors), the JSON,
the format name and version, the spec version, and each array's dtype, shape and
range.  Every error is a :class:`ModelFileError` naming the file and the member.
:func:`save_model` writes the same bytes for the same model (fixed member order,
timestamps and attributes; stored, not compressed).
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from conformance import strictjson
from reference.bspn import BSPNParams
from reference.errors import SorbetError
from reference.formats import IntFormat
from reference.host_embedding import ARRAY_NAMES as EMBEDDING_NAMES
from reference.host_embedding import EmbeddingParams, packed_sign_bytes
from reference.model_config import (
    LINEAR_NAMES,
    HeadParams,
    LayerParams,
    LinearParams,
    ModelConfig,
    ModelParams,
)
from reference.version import SPEC_VERSION

FORMAT_NAME = "sorbet-ref-model"
"""Value of ``meta.json``'s ``format`` field."""

FORMAT_VERSION = 1
"""Version of this file layout; a reader rejects any other."""

META_MEMBER = "meta.json"
"""Name (without ``.npy``) of the JSON metadata member."""

MAX_META_BYTES = 1 << 20
"""Largest ``meta.json`` accepted (checked from its header before reading)."""

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Timestamp of every member written by :func:`save_model` (the zip format's earliest)."""

Array = npt.NDArray[Any]
"""Any numpy array."""


class ModelFileError(SorbetError, ValueError):
    """A model file is unreadable, unsafe, malformed or inconsistent; the message names it."""


@dataclass(frozen=True, eq=False)
class ModelFile:
    """Everything a model file holds."""

    config: ModelConfig
    params: ModelParams
    embeddings: EmbeddingParams | None = None
    """Host-side embedding stage, or None for a file that starts at ``h0``."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Free-form JSON ``info`` (generator, seed, converter report, ...)."""


# --------------------------------------------------------------------------- layout

I64 = np.dtype("<i8")
U8 = np.dtype("u1")
F32 = np.dtype("<f4")
F64 = np.dtype("<f8")


@dataclass(frozen=True)
class Member:
    """One array of the file: dtype, shape and the range of its values."""

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    lo: int | None = None
    hi: int | None = None
    """Inclusive integer range (None: not an integer range check)."""
    what: str = ""
    """What the range is, for messages."""


def _linear_members(prefix: str, name: str, cfg: ModelConfig) -> dict[str, Member]:
    lc = cfg.linear(name)
    mmax = (1 << cfg.multiplier_bits) - 1
    bf = cfg.bias_format
    return {
        f"{prefix}.signs": Member(U8, (packed_sign_bytes(lc.out_features, lc.in_features),)),
        f"{prefix}.in_mult": Member(I64, (), 1, mmax, "multiplier"),
        f"{prefix}.in_shift": Member(I64, (), 0, 62, "shift"),
        f"{prefix}.in_bias": Member(I64, (lc.in_features,), bf.min, bf.max, bf.describe()),
        f"{prefix}.out_mult": Member(I64, (), 1, mmax, "multiplier"),
        f"{prefix}.out_shift": Member(I64, (), 0, 62, "shift"),
        f"{prefix}.out_bias": Member(I64, (lc.out_features,), bf.min, bf.max, bf.describe()),
    }


def member_table(cfg: ModelConfig, has_embeddings: bool) -> dict[str, Member]:
    """Every array member (name without ``.npy``) in file order, with dtype, shape and range."""
    mmax = (1 << cfg.multiplier_bits) - 1
    bc = cfg.bspn
    table: dict[str, Member] = {}
    for i in range(cfg.layers):
        for name in LINEAR_NAMES:
            table.update(_linear_members(f"layer.{i}.{name}", name, cfg))
        table[f"layer.{i}.score_mult"] = Member(I64, (), 1, mmax, "multiplier")
        table[f"layer.{i}.prob_mult"] = Member(I64, (), 1, mmax, "multiplier")
        table[f"layer.{i}.prob_shift"] = Member(I64, (), 0, 62, "shift")
        for b in ("bspn1", "bspn2"):
            h = (cfg.hidden,)
            table[f"layer.{i}.{b}.weight_sign"] = Member(I64, h, -1, 1, "sign")
            table[f"layer.{i}.{b}.weight_exp"] = Member(
                I64, h, bc.weight_exp_min, bc.weight_exp_max, "weight exponent"
            )
            bfmt = bc.bias_format
            table[f"layer.{i}.{b}.bias"] = Member(I64, h, bfmt.min, bfmt.max, bfmt.describe())
    table.update(_linear_members("pooler", "pooler", cfg))
    cls = IntFormat(cfg.cls_width, True, cfg.cls_frac)
    table["classifier.weight"] = Member(
        I64, (cfg.num_labels, cfg.hidden), cls.min, cls.max, cls.describe()
    )
    bf = cfg.bias_format
    table["classifier.bias"] = Member(I64, (cfg.num_labels,), bf.min, bf.max, bf.describe())
    if has_embeddings:
        shapes: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
            "word_signs": (U8, (packed_sign_bytes(cfg.vocab, cfg.hidden),)),
            "word_scale": (F32, (cfg.vocab,)),
            "position": (F32, (cfg.max_positions, cfg.hidden)),
            "token_type": (F32, (cfg.type_vocab, cfg.hidden)),
            "ln_gamma": (F32, (cfg.hidden,)),
            "ln_beta": (F32, (cfg.hidden,)),
            "ln_eps": (F64, ()),
        }
        for name in EMBEDDING_NAMES:
            dt, shape = shapes[name]
            table[f"embedding.{name}"] = Member(dt, shape)
    return table


# --------------------------------------------------------------------------- to arrays


def _linear_arrays(prefix: str, lin: LinearParams) -> dict[str, Array]:
    return {
        f"{prefix}.signs": np.frombuffer(lin.signs, dtype=U8).copy(),
        f"{prefix}.in_mult": np.array(lin.in_mult, dtype=I64),
        f"{prefix}.in_shift": np.array(lin.in_shift, dtype=I64),
        f"{prefix}.in_bias": np.array(lin.in_bias, dtype=I64),
        f"{prefix}.out_mult": np.array(lin.out_mult, dtype=I64),
        f"{prefix}.out_shift": np.array(lin.out_shift, dtype=I64),
        f"{prefix}.out_bias": np.array(lin.out_bias, dtype=I64),
    }


def model_arrays(mf: ModelFile) -> dict[str, Array]:
    """Every array member of ``mf`` by name (without the metadata)."""
    cfg = mf.config
    out: dict[str, Array] = {}
    for i, layer in enumerate(mf.params.layers):
        for name, lin in layer.linears().items():
            out.update(_linear_arrays(f"layer.{i}.{name}", lin))
        out[f"layer.{i}.score_mult"] = np.array(layer.score_mult, dtype=I64)
        out[f"layer.{i}.prob_mult"] = np.array(layer.prob_mult, dtype=I64)
        out[f"layer.{i}.prob_shift"] = np.array(layer.prob_shift, dtype=I64)
        for b, p in (("bspn1", layer.bspn1), ("bspn2", layer.bspn2)):
            out[f"layer.{i}.{b}.weight_sign"] = np.array(p.weight_sign, dtype=I64)
            out[f"layer.{i}.{b}.weight_exp"] = np.array(p.weight_exp, dtype=I64)
            out[f"layer.{i}.{b}.bias"] = np.array(p.bias, dtype=I64)
    head = mf.params.head
    out.update(_linear_arrays("pooler", head.pooler))
    out["classifier.weight"] = np.array(head.cls_weight, dtype=I64).reshape(
        cfg.num_labels, cfg.hidden
    )
    out["classifier.bias"] = np.array(head.cls_bias, dtype=I64)
    if mf.embeddings is not None:
        for name, arr in mf.embeddings.arrays().items():
            out[f"embedding.{name}"] = np.asarray(arr)
    return out


def config_dict(cfg: ModelConfig) -> dict[str, int]:
    """Every ModelConfig field by name (all explicit, so defaults never change a file)."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def meta_dict(mf: ModelFile) -> dict[str, Any]:
    """The JSON object stored in ``meta.json``."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "spec_version": SPEC_VERSION,
        "config": config_dict(mf.config),
        "has_embeddings": mf.embeddings is not None,
        "info": mf.meta,
    }


# --------------------------------------------------------------------------- save


def _npy_bytes(arr: Array) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(arr, order="C"), version=(1, 0), allow_pickle=False)
    return buf.getvalue()


def _zip_info(name: str) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    zi.compress_type = zipfile.ZIP_STORED
    zi.create_system = 3
    zi.external_attr = 0o644 << 16
    return zi


def save_model(path: str | Path, mf: ModelFile) -> None:
    """Write ``mf`` to ``path`` (validated first; byte-identical for the same model)."""
    p = Path(path)
    try:
        mf.params.validate(mf.config)
        if mf.embeddings is not None:
            mf.embeddings.validate(mf.config)
    except SorbetError as exc:
        raise ModelFileError(f"{p}: refusing to write an invalid model: {exc}") from None
    meta = json.dumps(meta_dict(mf), sort_keys=True, separators=(",", ":"), allow_nan=False)
    arrays = model_arrays(mf)
    table = member_table(mf.config, mf.embeddings is not None)
    members = [(META_MEMBER, np.frombuffer(meta.encode("utf-8"), dtype=U8))]
    for name, spec in table.items():
        arr = arrays[name]
        if arr.dtype != spec.dtype or arr.shape != spec.shape:
            raise ModelFileError(
                f"{p}: {name}: internal layout error: {arr.dtype}{list(arr.shape)} instead of "
                f"{spec.dtype}{list(spec.shape)}"
            )
        members.append((name, arr))
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in members:
            zf.writestr(_zip_info(name + ".npy"), _npy_bytes(arr))


# --------------------------------------------------------------------------- load


def _err(path: Path, member: str | None, msg: str) -> ModelFileError:
    where = f"{path}: {member}" if member else str(path)
    return ModelFileError(f"{where}: {msg}")


def _read_member(zf: zipfile.ZipFile, path: Path, name: str, spec: Member | None) -> Array:
    """Read ``name``.npy after checking its header's dtype and shape against ``spec``."""
    try:
        with zf.open(name + ".npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise _err(path, name, f"unsupported .npy version {version}")
        if dtype.hasobject:
            raise _err(path, name, "object arrays (pickled Python objects) are not allowed")
        if spec is not None:
            if dtype != spec.dtype:
                raise _err(path, name, f"expected dtype {spec.dtype.str}, got {dtype.str}")
            if tuple(shape) != spec.shape:
                raise _err(path, name, f"expected shape {list(spec.shape)}, got {list(shape)}")
        elif dtype != U8 or len(shape) != 1 or shape[0] > MAX_META_BYTES:
            raise _err(
                path, name,
                f"expected a uint8 vector of at most {MAX_META_BYTES} bytes, got "
                f"{dtype.str}{list(shape)}",
            )
        with zf.open(name + ".npy") as f:
            arr = np.lib.format.read_array(f, allow_pickle=False)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, KeyError) as exc:
        raise _err(path, name, f"unreadable array: {exc}") from None
    result: Array = np.asarray(arr)
    return result


def _check_range(path: Path, name: str, arr: Array, spec: Member) -> None:
    if spec.lo is None or spec.hi is None or arr.size == 0:
        return
    if arr.ndim == 0:
        if not spec.lo <= int(arr) <= spec.hi:
            raise _err(path, name, f"{int(arr)} is outside [{spec.lo}, {spec.hi}] ({spec.what})")
        return
    bad = np.argwhere((arr < spec.lo) | (arr > spec.hi))
    if bad.size:
        idx = tuple(int(v) for v in bad[0])
        where = "".join(f"[{v}]" for v in idx)
        raise _err(
            path, name, f"{where}: {int(arr[idx])} is outside [{spec.lo}, {spec.hi}] ({spec.what})"
        )


def _check_signs(path: Path, name: str, arr: Array, nbits: int) -> None:
    pad = arr.size * 8 - nbits
    if pad and int(arr[-1]) >> (8 - pad):
        raise _err(path, name, f"the {pad} padding bit(s) after the last sign must be 0")


def _parse_meta(path: Path, arr: Array) -> dict[str, Any]:
    if arr.dtype != U8 or arr.ndim != 1:
        raise _err(path, META_MEMBER, f"expected a uint8 vector, got {arr.dtype}{list(arr.shape)}")
    try:
        meta = strictjson.loads(arr.tobytes())
    except ValueError as exc:
        raise _err(path, META_MEMBER, f"invalid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise _err(path, META_MEMBER, f"expected a JSON object, got {type(meta).__name__}")
    need = {"format", "format_version", "spec_version", "config", "has_embeddings", "info"}
    missing = sorted(need - set(meta))
    if missing:
        raise _err(path, META_MEMBER, f"missing field(s) {missing}")
    unknown = sorted(set(meta) - need)
    if unknown:
        raise _err(path, META_MEMBER, f"unknown field(s) {unknown}")
    if meta["format"] != FORMAT_NAME:
        raise _err(path, META_MEMBER, f"format: expected {FORMAT_NAME!r}, got {meta['format']!r}")
    fv = meta["format_version"]
    if isinstance(fv, bool) or fv != FORMAT_VERSION:
        raise _err(
            path, META_MEMBER,
            f"format_version: this reader reads version {FORMAT_VERSION}, the file has {fv!r}",
        )
    check_spec_version(path, meta["spec_version"])
    if not isinstance(meta["has_embeddings"], bool):
        raise _err(path, META_MEMBER, "has_embeddings: expected true or false")
    if not isinstance(meta["info"], dict):
        raise _err(path, META_MEMBER, "info: expected a JSON object")
    return meta


def _version_tuple(v: object) -> tuple[int, int, int] | None:
    if not isinstance(v, str):
        return None
    parts = v.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def check_spec_version(path: Path, version: object) -> None:
    """Accept a file whose spec version has this reader's major and minor numbers."""
    mine = _version_tuple(SPEC_VERSION)
    theirs = _version_tuple(version)
    if theirs is None:
        raise _err(
            path, META_MEMBER, f"spec_version: expected 'MAJOR.MINOR.PATCH', got {version!r}"
        )
    if mine is None or theirs[:2] != mine[:2]:
        raise _err(
            path, META_MEMBER,
            f"spec_version: the file was written for spec {version}, this reader implements "
            f"spec {SPEC_VERSION} (major and minor must match)",
        )


def config_from_dict(path: Path, data: object) -> ModelConfig:
    """A ModelConfig from ``meta.json``'s ``config``: every field present, integers only."""
    if not isinstance(data, dict):
        raise _err(path, META_MEMBER, "config: expected a JSON object")
    names = [f.name for f in dataclasses.fields(ModelConfig)]
    missing = [n for n in names if n not in data]
    if missing:
        raise _err(path, META_MEMBER, f"config: missing field(s) {missing}")
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise _err(path, META_MEMBER, f"config: unknown field(s) {unknown}")
    for n in names:
        v = data[n]
        if isinstance(v, bool) or not isinstance(v, int):
            raise _err(path, META_MEMBER, f"config.{n}: expected an integer, got {v!r}")
    try:
        return ModelConfig(**{n: data[n] for n in names})
    except SorbetError as exc:
        raise _err(path, META_MEMBER, f"config: {exc}") from None


def _ints(arr: Array) -> tuple[int, ...]:
    return tuple(int(v) for v in arr.reshape(-1).tolist())


def _linear(arrs: Mapping[str, Array], prefix: str) -> LinearParams:
    return LinearParams(
        signs=arrs[f"{prefix}.signs"].tobytes(),
        in_mult=int(arrs[f"{prefix}.in_mult"]), in_shift=int(arrs[f"{prefix}.in_shift"]),
        in_bias=_ints(arrs[f"{prefix}.in_bias"]),
        out_mult=int(arrs[f"{prefix}.out_mult"]), out_shift=int(arrs[f"{prefix}.out_shift"]),
        out_bias=_ints(arrs[f"{prefix}.out_bias"]),
    )


def params_from_arrays(arrs: Mapping[str, Array], cfg: ModelConfig) -> ModelParams:
    """ModelParams from the array members (already checked for dtype and shape)."""
    layers = []
    for i in range(cfg.layers):
        lin = {n: _linear(arrs, f"layer.{i}.{n}") for n in LINEAR_NAMES}
        bspn = [
            BSPNParams(
                _ints(arrs[f"layer.{i}.{b}.weight_sign"]), _ints(arrs[f"layer.{i}.{b}.weight_exp"]),
                _ints(arrs[f"layer.{i}.{b}.bias"]),
            )
            for b in ("bspn1", "bspn2")
        ]
        layers.append(LayerParams(
            q=lin["q"], k=lin["k"], v=lin["v"], o=lin["o"], ffn1=lin["ffn1"], ffn2=lin["ffn2"],
            score_mult=int(arrs[f"layer.{i}.score_mult"]),
            prob_mult=int(arrs[f"layer.{i}.prob_mult"]),
            prob_shift=int(arrs[f"layer.{i}.prob_shift"]),
            bspn1=bspn[0], bspn2=bspn[1],
        ))
    head = HeadParams(
        pooler=_linear(arrs, "pooler"),
        cls_weight=_ints(arrs["classifier.weight"]),
        cls_bias=_ints(arrs["classifier.bias"]),
    )
    return ModelParams(layers=tuple(layers), head=head)


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise _err(path, None, "no such file")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise _err(path, None, f"not a model file (not a zip/.npz archive: {exc})") from None
    except OSError as exc:
        raise _err(path, None, f"cannot read: {exc}") from None


def _member_names(zf: zipfile.ZipFile, path: Path) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for info in zf.infolist():
        n = info.filename
        if info.is_dir() or not n.endswith(".npy") or "/" in n:
            raise _err(path, n, "unexpected archive entry (members are NAME.npy at the top level)")
        if n in seen:
            raise _err(path, n, "duplicate archive entry")
        seen.add(n)
        names.append(n[: -len(".npy")])
    return names


def load_model(path: str | Path) -> ModelFile:
    """Read and validate a model file; ModelFileError names the file and member on any defect."""
    p = Path(path)
    zf = _open_zip(p)
    with zf:
        names = _member_names(zf, p)
        if META_MEMBER not in names:
            raise _err(p, META_MEMBER, "missing member (not a sorbet-ref model file)")
        meta = _parse_meta(p, _read_member(zf, p, META_MEMBER, None))
        cfg = config_from_dict(p, meta["config"])
        has_emb = bool(meta["has_embeddings"])
        table = member_table(cfg, has_emb)
        present = set(names) - {META_MEMBER}
        missing = [n for n in table if n not in present]
        if missing:
            more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            raise _err(p, missing[0], f"missing member; missing: {missing[:5]}{more}")
        unknown = sorted(present - set(table))
        if unknown:
            raise _err(p, unknown[0], f"unknown member(s) {unknown[:5]}")
        arrs: dict[str, Array] = {}
        for name, spec in table.items():
            arr = _read_member(zf, p, name, spec)
            _check_range(p, name, arr, spec)
            if spec.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                raise _err(p, name, "contains NaN or infinity")
            arrs[name] = arr
    for name in table:
        if name.endswith(".signs"):
            prefix = name[: -len(".signs")]
            lname = prefix.rsplit(".", 1)[-1]
            lc = cfg.linear(lname)
            _check_signs(p, name, arrs[name], lc.in_features * lc.out_features)
    if has_emb:
        _check_signs(p, "embedding.word_signs", arrs["embedding.word_signs"],
                     cfg.vocab * cfg.hidden)
    try:
        params = params_from_arrays(arrs, cfg)
        params.validate(cfg)
    except SorbetError as exc:
        raise _err(p, None, f"invalid parameters: {exc}") from None
    emb = None
    if has_emb:
        try:
            emb = EmbeddingParams.from_arrays(
                {n: arrs[f"embedding.{n}"] for n in EMBEDDING_NAMES}, cfg
            )
        except SorbetError as exc:
            raise _err(p, "embedding", str(exc)) from None
    return ModelFile(config=cfg, params=params, embeddings=emb, meta=dict(meta["info"]))
