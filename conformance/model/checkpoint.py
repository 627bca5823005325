"""Float checkpoints: safe safetensors and ``.npz`` reading and writing (spec/13-converter.md).

Nothing here can execute code from a file.  Accepted inputs:

- **safetensors**: 8-byte little-endian header length ``n``, ``n`` bytes of JSON
  (an object mapping tensor names to ``{"dtype", "shape", "data_offsets"}``, plus
  an optional ``"__metadata__"`` object of strings), then the raw little-endian
  tensor bytes.  Every offset is checked against the file before any data is read.
- **npz**: ``numpy.load(path, allow_pickle=False)``; object arrays are refused.

Pickle-based files (PyTorch ``.bin``/``.pt``/``.pth``/``.ckpt``, ``.pkl``, a zip
holding ``data.pkl``, or anything starting with a pickle opcode) are rejected with
an error that says how to convert them.  Every error names the file and, where
there is one, the tensor.
"""

from __future__ import annotations

import io
import itertools
import json
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from conformance import strictjson
from reference.errors import SorbetError

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""Largest safetensors JSON header accepted (the safetensors library uses the same bound)."""

METADATA_KEY = "__metadata__"
"""Reserved name of the string-to-string metadata object of a safetensors header."""

NPZ_METADATA_MEMBER = "__metadata__"
"""Name of the optional ``uint8`` member of an ``.npz`` checkpoint holding JSON metadata."""

DTYPES: dict[str, np.dtype[np.generic]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # read as raw 16-bit words, widened to float32 below
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
"""safetensors dtype names this reader accepts, with their storage layout."""

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
"""File name endings of pickle-based checkpoints, refused without reading them."""


class CheckpointError(SorbetError, ValueError):
    """A checkpoint file is unreadable, malformed, unsafe or lacks a required tensor."""


@dataclass(frozen=True)
class CheckpointLimits:
    """What reading one checkpoint may cost, checked against the sizes a file declares
    before any tensor is read (a small file with a huge deflated member cannot blow up).

    The defaults hold the authors' Sorbet-base checkpoints several times over (the largest
    tensor, the word embeddings, is 30522 x 768 float32: 94 MB; all of them 440 MB)."""

    max_tensor_bytes: int = 1024 * 1024 * 1024
    """Bytes of one tensor (an npz member uncompressed, or a safetensors data span)."""
    max_total_bytes: int = 4 * 1024 * 1024 * 1024
    """Bytes of all tensors together (uncompressed), and of a safetensors file."""
    max_tensors: int = 100_000
    """Tensors (npz members) in one file."""

    def __post_init__(self) -> None:
        for name in ("max_tensor_bytes", "max_total_bytes", "max_tensors"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"CheckpointLimits.{name}: expected a positive integer, "
                                 f"got {value!r}")


DEFAULT_LIMITS = CheckpointLimits()


@dataclass(frozen=True)
class Checkpoint:
    """Named float tensors of a checkpoint with the file they came from."""

    path: str
    tensors: Mapping[str, npt.NDArray[np.generic]]
    metadata: Mapping[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Tensor names, sorted."""
        return sorted(self.tensors)

    def has(self, name: str) -> bool:
        """Whether tensor ``name`` is present."""
        return name in self.tensors

    def get(self, name: str, shape: tuple[int, ...] | None = None) -> npt.NDArray[np.float64]:
        """Tensor ``name`` as float64, checked for presence, shape and finiteness.

        ``shape`` ``()`` also accepts a one-element tensor of shape ``(1,)`` or
        ``(1, 1, ...)`` (PyTorch stores some scalars that way); any other shape
        must match exactly.  Integer and boolean tensors are refused: a float
        checkpoint holds its parameters as floats.
        """
        if name not in self.tensors:
            raise CheckpointError(f"{self.path}: missing tensor {name!r}")
        arr = self.tensors[name]
        if arr.dtype.kind != "f":
            raise CheckpointError(
                f"{self.path}: tensor {name!r}: expected a float dtype, got {arr.dtype}"
            )
        out = np.asarray(arr, dtype=np.float64)
        if shape is not None:
            if shape == () and out.size == 1 and all(d == 1 for d in out.shape):
                out = out.reshape(())
            elif out.shape != shape:
                raise CheckpointError(
                    f"{self.path}: tensor {name!r}: expected shape {list(shape)}, "
                    f"got {list(out.shape)}"
                )
        if not np.all(np.isfinite(out)):
            bad = int(np.count_nonzero(~np.isfinite(out)))
            raise CheckpointError(
                f"{self.path}: tensor {name!r}: {bad} non-finite value(s) (NaN or inf)"
            )
        return out

    def vector(self, name: str, n: int) -> npt.NDArray[np.float64]:
        """A tensor of ``n`` values as shape ``(n,)``; singleton axes are accepted.

        The authors' BSPN stores ``running_phi`` as ``(1, n, 1, 1)``.
        """
        if name not in self.tensors:
            raise CheckpointError(f"{self.path}: missing tensor {name!r}")
        shape = self.tensors[name].shape
        if sorted(d for d in shape if d != 1) != ([n] if n != 1 else []) or (
            n == 1 and int(np.prod(shape)) != 1
        ):
            raise CheckpointError(
                f"{self.path}: tensor {name!r}: expected shape [{n}] (singleton axes allowed), "
                f"got {list(shape)}"
            )
        return self.get(name).reshape(n)

    def scalar(self, name: str) -> float:
        """A one-element float tensor as a Python float."""
        return float(self.get(name, ()))


def _err(path: Path, msg: str) -> CheckpointError:
    return CheckpointError(f"{path}: {msg}")


def _refuse_pickle(path: Path, why: str) -> CheckpointError:
    return _err(
        path,
        f"{why}; pickle-based checkpoints can execute code and are never loaded. Convert it "
        "first, e.g. in the training environment: safetensors.torch.save_file("
        "torch.load(PATH, weights_only=True), 'model.safetensors')",
    )


def load_checkpoint(path: str | Path, limits: CheckpointLimits = DEFAULT_LIMITS) -> Checkpoint:
    """Read a safetensors or ``.npz`` checkpoint within ``limits``; refuse pickle; raise
    CheckpointError."""
    p = Path(path)
    if p.suffix.lower() in PICKLE_SUFFIXES:
        raise _refuse_pickle(p, f"file type {p.suffix!r} is a pickle-based format")
    try:
        with p.open("rb") as fh:
            head = fh.read(9)
    except OSError as exc:
        raise _err(p, f"cannot read: {exc.strerror or exc}") from None
    # A pickle starts with PROTO (0x80); so does a safetensors file whose header length is
    # 128 modulo 256, but its header (byte 8 on) is a JSON object.
    if head[:1] == b"\x80" and head[8:9] != b"{":
        raise _refuse_pickle(p, "content starts with a pickle opcode")
    if head[:2] == b"PK":
        return _load_zip(p, limits)
    if p.suffix.lower() == ".npz":
        raise _err(p, "not a zip archive, so not an .npz file")
    return load_safetensors(p, limits)


def _check_zip_sizes(p: Path, infos: list[zipfile.ZipInfo], limits: CheckpointLimits) -> None:
    """The uncompressed sizes the archive declares, against ``limits`` (a member cannot
    yield more than it declares: the zip reader stops there)."""
    if len(infos) > limits.max_tensors:
        raise _err(p, f"{len(infos)} members; at most {limits.max_tensors} are read")
    total = 0
    for info in infos:
        if info.file_size > limits.max_tensor_bytes:
            raise _err(p, f"member {info.filename!r}: declares {info.file_size} bytes "
                       f"uncompressed ({info.compress_size} compressed); at most "
                       f"{limits.max_tensor_bytes} are read per tensor")
        total += info.file_size
    if total > limits.max_total_bytes:
        raise _err(p, f"members declare {total} bytes uncompressed together; at most "
                   f"{limits.max_total_bytes} are read")


def _check_npy_header(p: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """The shape an ``.npy`` member declares must fit in the bytes the member declares, so
    no array larger than the member is ever allocated."""
    where = f"member {info.filename!r}"
    try:
        with zf.open(info) as fh:
            major, _ = np.lib.format.read_magic(fh)
            if major == 1:
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, EOFError) as exc:
        raise _err(p, f"{where}: not a readable .npy array: {exc}") from None
    count = 1
    for d in shape:
        count *= int(d)
    if count * dtype.itemsize > info.file_size:
        raise _err(p, f"{where}: its header declares shape {list(shape)} of {dtype} "
                   f"({count * dtype.itemsize} bytes), but the member holds {info.file_size} "
                   "bytes")


def _load_zip(p: Path, limits: CheckpointLimits = DEFAULT_LIMITS) -> Checkpoint:
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
            members = [i.filename for i in infos]
    except (zipfile.BadZipFile, OSError) as exc:
        raise _err(p, f"corrupt zip archive: {exc}") from None
    if any(m.endswith(".pkl") or m.endswith("/data.pkl") for m in members):
        raise _refuse_pickle(p, "zip archive holds a pickle (PyTorch zip format)")
    bad = [m for m in members if not m.endswith(".npy")]
    if bad:
        raise _err(p, f"zip member {bad[0]!r} is not an .npy array; not an .npz checkpoint")
    _check_zip_sizes(p, infos, limits)
    return load_npz(p, limits)


def load_npz(path: str | Path, limits: CheckpointLimits = DEFAULT_LIMITS) -> Checkpoint:
    """Read an ``.npz`` checkpoint with ``allow_pickle=False``, the members' declared sizes
    checked against ``limits`` first.

    An optional member ``__metadata__`` (``uint8`` bytes of a JSON object of
    strings) becomes :attr:`Checkpoint.metadata`.
    """
    p = Path(path)
    tensors: dict[str, npt.NDArray[np.generic]] = {}
    metadata: dict[str, str] = {}
    try:
        with zipfile.ZipFile(p) as zf:
            _check_zip_sizes(p, zf.infolist(), limits)
            for info in zf.infolist():
                _check_npy_header(p, zf, info)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _err(p, f"not a readable .npz file: {exc}") from None
    try:
        with np.load(p, allow_pickle=False) as npz:
            for name in npz.files:
                try:
                    arr = npz[name]
                except ValueError as exc:
                    raise _err(
                        p, f"tensor {name!r}: cannot load without pickle ({exc})"
                    ) from None
                if name == NPZ_METADATA_MEMBER:
                    metadata = _parse_npz_metadata(p, arr)
                    continue
                if arr.dtype.kind not in "fiub":
                    raise _err(p, f"tensor {name!r}: unsupported dtype {arr.dtype}")
                tensors[name] = arr
    except CheckpointError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise _err(p, f"not a readable .npz file: {exc}") from None
    return Checkpoint(str(p), tensors, metadata)


def _parse_npz_metadata(p: Path, arr: npt.NDArray[np.generic]) -> dict[str, str]:
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise _err(p, f"member {NPZ_METADATA_MEMBER!r}: expected 1-D uint8 JSON bytes")
    return _check_metadata(p, _json_loads(p, arr.tobytes(), NPZ_METADATA_MEMBER))


def _json_loads(p: Path, raw: bytes, what: str) -> object:
    try:
        return strictjson.loads(raw)
    except ValueError as exc:
        raise _err(p, f"{what}: invalid JSON ({exc})") from None


def _check_metadata(p: Path, meta: object) -> dict[str, str]:
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise _err(p, f"{METADATA_KEY}: expected an object mapping strings to strings")
    return dict(meta)


def load_safetensors(path: str | Path, limits: CheckpointLimits = DEFAULT_LIMITS) -> Checkpoint:
    """Read a safetensors file, validating the header before touching any tensor data;
    the file and every tensor's span are checked against ``limits``."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > limits.max_total_bytes + MAX_HEADER_BYTES + 8:
            raise _err(p, f"{size} bytes; at most {limits.max_total_bytes} bytes of tensors "
                       "are read")
        blob = p.read_bytes()
    except OSError as exc:
        raise _err(p, f"cannot read: {exc.strerror or exc}") from None
    if len(blob) < 8:
        raise _err(p, f"truncated safetensors file: {len(blob)} bytes, need at least 8")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER_BYTES:
        raise _err(p, f"safetensors header length {n} exceeds the limit {MAX_HEADER_BYTES}")
    if 8 + n > len(blob):
        raise _err(
            p, f"truncated safetensors header: declares {n} bytes, file has {len(blob) - 8}"
        )
    raw = blob[8 : 8 + n]
    if not raw.lstrip().startswith(b"{"):
        raise _err(p, "safetensors header is not a JSON object")
    header = _json_loads(p, raw, "safetensors header")
    if not isinstance(header, dict):
        raise _err(p, "safetensors header is not a JSON object")
    data = memoryview(blob)[8 + n :]
    metadata: dict[str, str] = {}
    spans: list[tuple[int, int, str]] = []
    tensors: dict[str, npt.NDArray[np.generic]] = {}
    if len(header) > limits.max_tensors:
        raise _err(p, f"{len(header)} header entries; at most {limits.max_tensors} are read")
    for name, entry in header.items():
        if name == METADATA_KEY:
            metadata = _check_metadata(p, entry)
            continue
        arr, begin, end = _read_entry(p, name, entry, data, limits)
        spans.append((begin, end, name))
        tensors[name] = arr
    spans.sort()
    for (_, e0, n0), (b1, _, n1) in itertools.pairwise(spans):
        if b1 < e0:
            raise _err(p, f"tensors {n0!r} and {n1!r} overlap in the data section")
    return Checkpoint(str(p), tensors, metadata)


def _read_entry(
    p: Path, name: str, entry: object, data: memoryview,
    limits: CheckpointLimits = DEFAULT_LIMITS,
) -> tuple[npt.NDArray[np.generic], int, int]:
    where = f"tensor {name!r}"
    if not isinstance(entry, dict):
        raise _err(p, f"{where}: header entry is not an object")
    dtype_name = entry.get("dtype")
    if dtype_name not in DTYPES:
        raise _err(
            p, f"{where}: unsupported dtype {dtype_name!r}; expected one of {sorted(DTYPES)}"
        )
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise _err(p, f"{where}: shape must be a list of non-negative integers, got {shape!r}")
    offs = entry.get("data_offsets")
    if (
        not isinstance(offs, list)
        or len(offs) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
    ):
        raise _err(p, f"{where}: data_offsets must be two integers, got {offs!r}")
    begin, end = offs
    if not 0 <= begin <= end:
        raise _err(p, f"{where}: data_offsets [{begin}, {end}] are not ordered")
    if end > len(data):
        raise _err(
            p, f"{where}: data_offsets [{begin}, {end}] lie outside the data section "
            f"of {len(data)} bytes"
        )
    if end - begin > limits.max_tensor_bytes:
        raise _err(p, f"{where}: {end - begin} bytes; at most {limits.max_tensor_bytes} are "
                   "read per tensor")
    dt = DTYPES[str(dtype_name)]
    count = 1
    for d in shape:  # exact Python integers: a huge shape cannot wrap around
        count *= d
    if end - begin != count * dt.itemsize:
        raise _err(
            p, f"{where}: data_offsets span {end - begin} bytes, but shape {shape} of "
            f"{dtype_name} needs {count * dt.itemsize}"
        )
    arr: npt.NDArray[np.generic] = np.frombuffer(data[begin:end], dtype=dt).reshape(shape)
    if dtype_name == "BF16":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    else:
        arr = arr.astype(dt.newbyteorder("="), copy=True)
    return arr, begin, end


_WRITE_DTYPES: dict[str, str] = {
    "float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
    "int32": "I32", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}


def save_safetensors(
    path: str | Path,
    tensors: Mapping[str, npt.NDArray[np.generic]],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``tensors`` (sorted by name, contiguous, little-endian) as a safetensors file."""
    header: dict[str, object] = {}
    if metadata:
        header[METADATA_KEY] = dict(metadata)
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if arr.dtype.name not in _WRITE_DTYPES:
            raise CheckpointError(f"{path}: tensor {name!r}: cannot write dtype {arr.dtype}")
        raw = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": _WRITE_DTYPES[arr.dtype.name],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    text += b" " * (-len(text) % 8)  # align the data section to 8 bytes
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def save_npz(
    path: str | Path,
    tensors: Mapping[str, npt.NDArray[np.generic]],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``tensors`` as a byte-deterministic ``.npz`` (metadata: JSON ``uint8`` member)."""
    members: dict[str, npt.NDArray[np.generic]] = {k: np.asarray(v) for k, v in tensors.items()}
    if metadata:
        raw = json.dumps(dict(metadata), sort_keys=True).encode("utf-8")
        members[NPZ_METADATA_MEMBER] = np.frombuffer(raw, dtype=np.uint8)
    with zipfile.ZipFile(Path(path), "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(members):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, members[name], allow_pickle=False)
            # a fixed timestamp keeps the file byte-identical across runs
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                        buf.getvalue())


# --- The authors' parameter names (spec/13-converter.md, "Naming table") -------------------

LINEAR_MODULES: dict[str, str] = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "o": "attention.output.dense",
    "ffn1": "intermediate.dense",
    "ffn2": "output.dense",
}
"""Module path (under ``bert.encoder.layer.N.``) of each binary linear layer of a layer."""

SECOND_STEP: dict[str, str] = {
    "q": "attention.self.clip_query",
    "k": "attention.self.clip_key",
    "v": "attention.self.clip_value",
    "prob": "attention.self.clip_attn",
}
"""Step sizes of the second quantization of Q, K, V and of the attention probabilities."""

BSPN_MODULES: dict[str, str] = {
    "bspn1": "attention.output.LayerNorm",
    "bspn2": "output.LayerNorm2",
}
"""The two BSPN (``MaskPowerNorm``) modules of a layer."""

UNUSED_LAYER_TENSORS: dict[str, str] = {
    "attention.self.move_q.bias": "computed by the authors' attention and then discarded",
    "attention.self.move_k.bias": "computed by the authors' attention and then discarded",
    "attention.self.move_v.bias": "computed by the authors' attention and then discarded",
    "output.LayerNorm.weight": "float LayerNorm only used for negative layer indices (never)",
    "output.LayerNorm.bias": "float LayerNorm only used for negative layer indices (never)",
    "attention.output.LayerNorm.ema_gz": "BSPN training statistic (backward pass only)",
    "attention.output.LayerNorm.iters": "BSPN training iteration counter",
    "output.LayerNorm2.ema_gz": "BSPN training statistic (backward pass only)",
    "output.LayerNorm2.iters": "BSPN training iteration counter",
}
"""Tensors of each layer the authors' inference never reads, with the reason."""


@dataclass(frozen=True)
class Names:
    """Tensor names of one checkpoint, with its prefix (``bert.`` or none)."""

    prefix: str = "bert."

    def emb(self, what: str) -> str:
        """``word_embeddings.weight``, ``position_embeddings.weight``, ``LayerNorm.bias``, ..."""
        return f"{self.prefix}embeddings.{what}"

    def layer(self, i: int, what: str) -> str:
        """Tensor ``what`` of encoder layer ``i``."""
        return f"{self.prefix}encoder.layer.{i}.{what}"

    def linear(self, i: int, name: str, what: str) -> str:
        """``weight``, ``bias``, ``input_clip_val`` or ``move.bias`` of linear ``name``."""
        return self.layer(i, f"{LINEAR_MODULES[name]}.{what}")

    def pooler(self, what: str) -> str:
        """Tensor ``what`` of the pooler's binary linear layer."""
        return f"{self.prefix}pooler.dense.{what}"

    @staticmethod
    def classifier(what: str) -> str:
        """``classifier.weight`` or ``classifier.bias`` (outside the ``bert.`` prefix)."""
        return f"classifier.{what}"


def detect_names(ckpt: Checkpoint) -> Names:
    """``bert.``-prefixed names (BertForSequenceClassification) or unprefixed (BertModel)."""
    for prefix in ("bert.", ""):
        if ckpt.has(f"{prefix}embeddings.word_embeddings.weight"):
            return Names(prefix)
    raise CheckpointError(
        f"{ckpt.path}: missing tensor 'bert.embeddings.word_embeddings.weight' "
        "(not a BERT-style Sorbet checkpoint?)"
    )


def count_layers(ckpt: Checkpoint, names: Names) -> int:
    """Number of encoder layers: indices ``0..L-1`` must all be present."""
    head = f"{names.prefix}encoder.layer."
    found: set[int] = set()
    for n in ckpt.tensors:
        if n.startswith(head):
            idx = n[len(head):].split(".", 1)[0]
            if idx.isdigit():
                found.add(int(idx))
    if not found:
        raise CheckpointError(f"{ckpt.path}: no tensors named '{head}N.*'")
    if found != set(range(max(found) + 1)):
        missing = sorted(set(range(max(found) + 1)) - found)
        raise CheckpointError(f"{ckpt.path}: encoder layer(s) {missing} missing")
    return max(found) + 1
