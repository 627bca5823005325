"""Safe checkpoint reading: safetensors and npz, every malformed case a clear error."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conformance.model.checkpoint import (
    CheckpointError,
    count_layers,
    detect_names,
    load_checkpoint,
    save_npz,
    save_safetensors,
)


def _raw_safetensors(path: Path, header: object, data: bytes = b"", n: int | None = None) -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if n is None else n) + text + data)
    return path


def test_round_trip_every_writable_dtype(tmp_path: Path) -> None:
    tensors = {
        "f64": np.array([1.5, -2.25]), "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f16": np.array([0.5, 3.0], dtype=np.float16), "i64": np.array([7], dtype=np.int64),
        "i32": np.array([-3, 4], dtype=np.int32), "i8": np.array([-128, 127], dtype=np.int8),
        "u8": np.array([0, 255], dtype=np.uint8), "b": np.array([True, False]),
        "scalar": np.asarray(np.float32(0.125)),
    }
    p = tmp_path / "c.safetensors"
    save_safetensors(p, tensors, {"k": "v"})
    ck = load_checkpoint(p)
    assert ck.metadata == {"k": "v"}
    assert ck.names() == sorted(tensors)
    for name, arr in tensors.items():
        assert ck.tensors[name].dtype == arr.dtype
        np.testing.assert_array_equal(ck.tensors[name], arr)
    assert ck.scalar("scalar") == 0.125


def test_bf16_is_widened_to_float32(tmp_path: Path) -> None:
    raw = struct.pack("<2H", 0x3F80, 0xC040)  # 1.0, -3.0
    p = _raw_safetensors(
        tmp_path / "b.safetensors",
        {"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, raw,
    )
    np.testing.assert_array_equal(load_checkpoint(p).get("x", (2,)), [1.0, -3.0])


def test_npz_round_trip_and_bytes_deterministic(tmp_path: Path) -> None:
    t = {"a.weight": np.ones((2, 2), dtype=np.float32), "n": np.array([3], dtype=np.int64)}
    p1, p2 = tmp_path / "a.npz", tmp_path / "b.npz"
    save_npz(p1, t, {"m": "1"})
    save_npz(p2, t, {"m": "1"})
    assert p1.read_bytes() == p2.read_bytes()
    ck = load_checkpoint(p1)
    assert ck.metadata == {"m": "1"}
    np.testing.assert_array_equal(ck.get("a.weight", (2, 2)), np.ones((2, 2)))


@pytest.mark.parametrize(
    ("header", "data", "n", "needle"),
    [
        ({}, b"", 1000, "truncated safetensors header"),
        ({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, None,
         "outside the data section"),
        ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, None,
         "needs 12"),
        ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}, b"\0" * 8, None,
         "not ordered"),
        ({"x": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, None,
         "unsupported dtype"),
        ({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, None,
         "non-negative integers"),
        ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, None,
         "overlap"),
        ({"__metadata__": {"k": 1}}, b"", None, "strings to strings"),
        ([1, 2], b"", None, "not a JSON object"),
    ],
)
def test_malformed_safetensors(
    tmp_path: Path, header: object, data: bytes, n: int | None, needle: str
) -> None:
    p = _raw_safetensors(tmp_path / "bad.safetensors", header, data, n)
    with pytest.raises(CheckpointError, match=needle) as err:
        load_checkpoint(p)
    assert "bad.safetensors" in str(err.value)


def test_short_file_and_bad_json(tmp_path: Path) -> None:
    p = tmp_path / "s.safetensors"
    p.write_bytes(b"\x01\x02")
    with pytest.raises(CheckpointError, match="truncated safetensors file"):
        load_checkpoint(p)
    p.write_bytes(struct.pack("<Q", 5) + b"{nope")
    with pytest.raises(CheckpointError, match="invalid JSON"):
        load_checkpoint(p)
    dup = b'{"a": {}, "a": {}}'
    p.write_bytes(struct.pack("<Q", len(dup)) + dup)
    with pytest.raises(CheckpointError, match="duplicate key"):
        load_checkpoint(p)


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pth", ".ckpt", ".pkl"])
def test_pickle_suffixes_refused_without_reading(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"pytorch_model{suffix}"
    p.write_bytes(b"irrelevant")
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(p)


def test_pickle_content_refused(tmp_path: Path) -> None:
    p = tmp_path / "looks.safetensors"
    p.write_bytes(b"\x80\x04\x95" + b"\0" * 20)
    with pytest.raises(CheckpointError, match="pickle opcode"):
        load_checkpoint(p)
    z = tmp_path / "torchzip.npz"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(CheckpointError, match="holds a pickle"):
        load_checkpoint(z)


def test_npz_object_array_refused(tmp_path: Path) -> None:
    p = tmp_path / "obj.npz"
    header = io.BytesIO()  # an object-array member: its header alone, no pickle behind it
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("x.npy", header.getvalue() + b"\0" * 8)
    with pytest.raises(CheckpointError, match="without pickle"):
        load_checkpoint(p)


def test_get_checks_presence_shape_dtype_finiteness(tmp_path: Path) -> None:
    p = tmp_path / "c.safetensors"
    save_safetensors(p, {
        "w": np.ones((2, 3), dtype=np.float32), "bad": np.array([1.0, np.nan]),
        "inf": np.array([np.inf]), "ints": np.array([1, 2], dtype=np.int32),
        "phi": np.ones((1, 3, 1, 1), dtype=np.float32),
    })
    ck = load_checkpoint(p)
    with pytest.raises(CheckpointError, match="missing tensor 'nope'"):
        ck.get("nope")
    with pytest.raises(CheckpointError, match=r"'w': expected shape \[3, 2\], got \[2, 3\]"):
        ck.get("w", (3, 2))
    with pytest.raises(CheckpointError, match="'bad': 1 non-finite"):
        ck.get("bad")
    with pytest.raises(CheckpointError, match="non-finite"):
        ck.get("inf")
    with pytest.raises(CheckpointError, match="'ints': expected a float dtype"):
        ck.get("ints")
    assert ck.vector("phi", 3).shape == (3,)
    with pytest.raises(CheckpointError, match="singleton axes"):
        ck.vector("w", 3)


def test_names_and_layer_count(tmp_path: Path) -> None:
    p = tmp_path / "c.safetensors"
    one = np.ones(1, dtype=np.float32)
    save_safetensors(p, {
        "embeddings.word_embeddings.weight": one, "encoder.layer.0.x": one,
        "encoder.layer.2.x": one,
    })
    ck = load_checkpoint(p)
    assert detect_names(ck).prefix == ""
    with pytest.raises(CheckpointError, match=r"layer\(s\) \[1\] missing"):
        count_layers(ck, detect_names(ck))


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "missing.safetensors")
