"""The model file (conformance/model/modelfile.py, spec/14-model-file.md) and random models."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.model.modelfile import (
    FORMAT_VERSION,
    ModelFile,
    ModelFileError,
    load_model,
    member_table,
    save_model,
)
from conformance.model.randmodel import Draw, fixed_point, random_model
from reference.fast import forward_fast
from reference.model_presets import SORBET_BASE, TINY, TINY_ODD
from reference.version import SPEC_VERSION

pytestmark = pytest.mark.xdist_group("modelfile")
"""The module fixtures are expensive: keep these tests on one worker."""


@pytest.fixture(scope="module")
def tiny() -> ModelFile:
    return random_model(TINY, 3)


@pytest.fixture()
def good(tmp_path: Path, tiny: ModelFile) -> Path:
    p = tmp_path / "good.npz"
    save_model(p, tiny)
    return p


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return path


def _npy(arr: Any) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def _object_npy() -> bytes:
    """A .npy member declaring an object array: the header alone, no pickle behind it
    (the loader must refuse on the header, before reading any payload)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    return buf.getvalue() + b"\0" * 8


def _array(members: dict[str, bytes], name: str) -> Any:
    return np.lib.format.read_array(io.BytesIO(members[name + ".npy"]))


def _meta(members: dict[str, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(_array(members, "meta.json").tobytes())
    return out


def _with_meta(members: dict[str, bytes], meta: Any) -> dict[str, bytes]:
    raw = json.dumps(meta).encode() if not isinstance(meta, bytes) else meta
    return {**members, "meta.json.npy": _npy(np.frombuffer(raw, dtype=np.uint8))}


def test_round_trip_with_and_without_embeddings(tmp_path: Path, tiny: ModelFile) -> None:
    for mf in (tiny, random_model(TINY_ODD, 5, embeddings=False)):
        p = tmp_path / "m.npz"
        save_model(p, mf)
        back = load_model(p)
        assert back.config == mf.config
        assert back.params == mf.params
        assert back.meta == mf.meta
        if mf.embeddings is None:
            assert back.embeddings is None
        else:
            assert back.embeddings is not None
            for k, v in mf.embeddings.arrays().items():
                np.testing.assert_array_equal(back.embeddings.arrays()[k], v)


def test_numpy_reads_it_without_pickle(good: Path, tiny: ModelFile) -> None:
    with np.load(good, allow_pickle=False) as z:
        names = set(z.files)
        meta = json.loads(z["meta.json"].tobytes())
    assert names == {"meta.json", *member_table(TINY, True)}
    assert meta["format"] == "sorbet-ref-model"
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["spec_version"] == SPEC_VERSION
    assert meta["config"]["hidden"] == TINY.hidden


def test_save_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_model(a, random_model(TINY, 11))
    save_model(b, random_model(TINY, 11))
    assert a.read_bytes() == b.read_bytes()
    save_model(b, random_model(TINY, 12))
    assert a.read_bytes() != b.read_bytes()


def test_random_model_is_deterministic_and_active() -> None:
    m1, m2 = random_model(TINY_ODD, 9), random_model(TINY_ODD, 9)
    assert m1.params == m2.params
    h0 = np.array([[(i * 7 + j * 3) % 17 - 8 for j in range(TINY.hidden)] for i in range(6)],
                  dtype=np.int64) << TINY.h_frac >> 2
    out = forward_fast(h0, np.ones(6, dtype=np.bool_), random_model(TINY, 1).params, TINY,
                       trace=True)
    cq = out.trace["layer.1.c_q"]
    assert len(np.unique(cq)) >= 5  # counts spread, not saturated
    u = out.trace["layer.0.u"]
    assert 0 < np.count_nonzero(u) < u.size  # the ReLU clamp is active


def test_random_sorbet_base_generation() -> None:
    mf = random_model(SORBET_BASE, 0, embeddings=False)
    assert len(mf.params.layers) == 12
    assert len(mf.params.layers[0].ffn1.signs) == 768 * 3072 // 8


def test_draw_and_fixed_point() -> None:
    d = Draw(1)
    assert d.words("x", 4).tolist() == Draw(1).words("x", 4).tolist()
    assert d.words("x", 4).tolist() != d.words("y", 4).tolist()
    signs = d.packed_signs("s", 13)
    assert len(signs) == 2 and signs[1] >> 5 == 0
    from fractions import Fraction

    # 1/4 = 128 / 2**9, and 2**10 / 4 = 256 no longer fits 8 bits; 1000 exceeds every
    # 4-bit multiplier at s = 0, so M clamps to 15.
    assert fixed_point(Fraction(1, 4), 8) == (128, 9)
    m, s = fixed_point(Fraction(1000), 4)
    assert (m, s) == (15, 0)


# --------------------------------------------------------------------------- malformed files


def _drop(name: str) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    return lambda m: {k: v for k, v in m.items() if k != name}


def _replace(name: str, fn: Callable[[Any], Any]) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    return lambda m: {**m, name + ".npy": _npy(fn(_array(m, name)))}


def _set(arr: Any, index: Any, value: Any) -> Any:
    out = arr.copy()
    out[index] = value
    return out


Edit = Callable[[dict[str, bytes]], dict[str, bytes]]


def _meta_edit(fn: Callable[[dict[str, Any]], Any]) -> Edit:
    def edit(m: dict[str, bytes]) -> dict[str, bytes]:
        meta = _meta(m)
        fn(meta)
        return _with_meta(m, meta)
    return edit


MALFORMED: dict[str, tuple[Callable[[dict[str, bytes]], dict[str, bytes]], str]] = {
    "missing member": (_drop("layer.1.ffn2.out_bias.npy"), r"layer\.1\.ffn2\.out_bias: missing"),
    "missing meta": (_drop("meta.json.npy"), r"meta\.json: missing member"),
    "unknown member": (lambda m: {**m, "extra.npy": _npy(np.zeros(2))}, r"extra: unknown"),
    "wrong dtype": (_replace("layer.0.q.out_bias", lambda a: a.astype(np.int32)),
                    r"layer\.0\.q\.out_bias: expected dtype <i8, got <i4"),
    "big-endian": (_replace("layer.0.score_mult", lambda a: a.astype(">i8")),
                   r"layer\.0\.score_mult: expected dtype <i8, got >i8"),
    "wrong shape": (_replace("layer.0.bspn1.bias", lambda a: a[:-1]),
                    r"layer\.0\.bspn1\.bias: expected shape \[8\], got \[7\]"),
    "out of range": (_replace("layer.1.bspn2.weight_exp", lambda a: _set(a, 2, 99)),
                     r"layer\.1\.bspn2\.weight_exp: \[2\]: 99 is outside \[-4, 4\]"),
    "zero multiplier": (_replace("pooler.in_mult", lambda a: np.array(0, dtype=np.int64)),
                        r"pooler\.in_mult: 0 is outside \[1, 255\]"),
    "move out of range": (_replace("layer.0.k.in_bias", lambda a: _set(a, 0, 1 << 20)),
                          r"layer\.0\.k\.in_bias: \[0\]: 1048576 is outside \[-32768, 32767\]"),
    "classifier range": (_replace("classifier.weight", lambda a: _set(a, (1, 2), 1000)),
                         r"classifier\.weight: \[1\]\[2\]: 1000 is outside"),
    "nan embedding": (_replace("embedding.position", lambda a: _set(a, (0, 0), np.nan)),
                      r"embedding\.position: contains NaN"),
    "object array": (lambda m: {**m, "layer.0.q.in_mult.npy": _object_npy()},
        r"layer\.0\.q\.in_mult: object arrays"),
    "bad json": (lambda m: _with_meta(m, b"{not json"), r"meta\.json: invalid JSON"),
    "huge meta": (lambda m: _with_meta(m, b" " * ((1 << 20) + 1)), r"meta\.json: expected a uint8 "
                  r"vector of at most"),
    "json not object": (lambda m: _with_meta(m, [1, 2]), r"meta\.json: expected a JSON object"),
    "wrong format name": (_meta_edit(lambda d: d.update(format="other")), r"format: expected"),
    "wrong format version": (_meta_edit(lambda d: d.update(format_version=99)),
                             r"format_version: this reader reads version 1"),
    "wrong spec version": (_meta_edit(lambda d: d.update(spec_version="9.0.0")),
                           r"spec_version: the file was written for spec 9\.0\.0"),
    "bad spec version": (_meta_edit(lambda d: d.update(spec_version="one")),
                         r"spec_version: expected 'MAJOR\.MINOR\.PATCH'"),
    "config missing field": (_meta_edit(lambda d: d["config"].pop("bits")),
                             r"config: missing field\(s\) \['bits'\]"),
    "config bad value": (_meta_edit(lambda d: d["config"].update(heads=3)),
                         r"meta\.json: config: ModelConfig\.heads"),
    "config bool": (_meta_edit(lambda d: d["config"].update(bits=True)),
                    r"config\.bits: expected an integer"),
    "unknown meta field": (_meta_edit(lambda d: d.update(extra=1)), r"unknown field\(s\)"),
    "directory entry": (lambda m: {**m, "sub/x.npy": _npy(np.zeros(1))},
                        r"unexpected archive entry"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_is_rejected(case: str, good: Path, tmp_path: Path) -> None:
    edit, pattern = MALFORMED[case]
    bad = _write(tmp_path / "bad.npz", edit(_members(good)))
    with pytest.raises(ModelFileError, match=pattern) as info:
        load_model(bad)
    assert str(bad) in str(info.value)


def test_nonzero_sign_padding_is_rejected(tmp_path: Path) -> None:
    mf = random_model(TINY_ODD, 2)  # 6 x 10 signs: 60 bits in 8 bytes, 4 padding bits
    p = tmp_path / "odd.npz"
    save_model(p, mf)
    members = _members(p)
    signs = _array(members, "layer.0.ffn1.signs").copy()
    signs[-1] |= 0x80
    members["layer.0.ffn1.signs.npy"] = _npy(signs)
    with pytest.raises(ModelFileError, match=r"layer\.0\.ffn1\.signs: the 4 padding bit"):
        load_model(_write(tmp_path / "bad.npz", members))


def test_truncated_and_foreign_files(good: Path, tmp_path: Path) -> None:
    data = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a zip"):
        load_model(cut)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a zip"):
        load_model(text)
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "absent.npz")
    # a member whose bytes are cut short inside an intact archive
    members = _members(good)
    members["layer.0.o.out_bias.npy"] = members["layer.0.o.out_bias.npy"][:-5]
    with pytest.raises(ModelFileError, match=r"layer\.0\.o\.out_bias: unreadable array"):
        load_model(_write(tmp_path / "short.npz", members))


def test_corrupted_member_bytes(good: Path, tmp_path: Path) -> None:
    data = bytearray(good.read_bytes())
    start = data.find(b"layer.1.v.signs.npy")
    assert start > 0
    # flip a byte inside the member's data (after its local header and .npy header)
    data[start + 200] ^= 0xFF
    bad = tmp_path / "flip.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        load_model(bad)


def test_refuses_to_write_invalid_model(tmp_path: Path, tiny: ModelFile) -> None:
    from dataclasses import replace

    layer = replace(tiny.params.layers[0], score_mult=0)
    params = replace(tiny.params, layers=(layer, *tiny.params.layers[1:]))
    with pytest.raises(ModelFileError, match="refusing to write an invalid model"):
        save_model(tmp_path / "x.npz", replace(tiny, params=params))
