"""``sorbet-ref run`` (conformance/commands/run.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from conformance.cli import main
from conformance.model.modelfile import save_model
from conformance.model.randmodel import random_h0, random_model
from reference.model import trace_keys
from reference.model_presets import TINY, TINY_ODD


def _logits(text: str) -> list[int]:
    m = re.search(r"logits \(integers, \d+ fractional bits\): \[([-\d, ]*)\]", text)
    assert m, text
    return [int(v) for v in m.group(1).split(",")]


def test_random_model_on_random_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--random", "tiny", "--seed", "4", "--random-tokens", "5"]) == 0
    out = capsys.readouterr().out
    assert "random tiny model, seed 4" in out
    assert "predicted label:" in out
    fast = _logits(out)
    assert main(["run", "--random", "tiny", "--seed", "4", "--random-tokens", "5",
                 "--tier", "canonical"]) == 0
    assert _logits(capsys.readouterr().out) == fast


def test_model_file_tokens_mask_and_dump(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.npz"
    save_model(path, random_model(TINY_ODD, 2))
    dump = tmp_path / "trace"
    args = ["run", "--model", str(path), "--tokens", "1,2,3,0", "--pad-id", "0",
            "--dump", str(dump)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 real tokens" in out
    index = json.loads((dump / "index.json").read_text())
    keys = [t["key"] for t in index["tensors"]]
    assert keys == ["h0", "mask", *trace_keys(TINY_ODD)]
    for t in index["tensors"]:
        arr = np.load(dump / t["file"], allow_pickle=False)
        assert list(arr.shape) == t["shape"]
    assert np.load(dump / "mask.npy").tolist() == [True, True, True, False]
    # the dumped h0 reproduces the run
    assert main(["run", "--model", str(path), "--h0", str(dump / "h0.npy"),
                 "--mask", "1,1,1,0", "--tier", "canonical"]) == 0
    assert _logits(capsys.readouterr().out) == _logits(out)
    logits = np.load(dump / "logits.npy").tolist()
    assert logits == _logits(out)


def test_h0_without_embeddings_and_ops(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "noemb.npz"
    save_model(path, random_model(TINY, 1, embeddings=False))
    h0 = tmp_path / "h0.npy"
    np.save(h0, random_h0(TINY, 4, 3))
    assert main(["run", "--model", str(path), "--h0", str(h0), "--ops"]) == 0
    out = capsys.readouterr().out
    assert "operation counts" in out and "27.16x" in out
    assert main(["run", "--model", str(path), "--tokens", "1,2"]) == 2
    assert "no embedding stage" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--random", "tiny", "--tokens", "1,2", "--mask", "1"], "--mask: expected 2 values"),
    (["--random", "tiny", "--tokens", "1,x"], "--tokens: expected comma-separated"),
    (["--random", "tiny", "--tokens", "1,999"], r"token_ids\[1\]"),
    (["--random", "tiny", "--random-tokens", "99"], "outside \\[1, max_seq=6\\]"),
    (["--random", "huge", "--random-tokens", "2"], "unknown model preset"),
    (["--model", "/nonexistent.npz", "--random-tokens", "2"], "no such file"),
])
def test_bad_arguments_exit_2(args: list[str], message: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", *args]) == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.slow
def test_sorbet_base_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    """A random Sorbet-base model on 128 random tokens through the command line."""
    assert main(["run", "--random", "sorbet-base", "--random-tokens", "128"]) == 0
    out = capsys.readouterr().out
    assert "12 layers, hidden 768, 12 heads, ffn 3072" in out
    assert "seq 128" in out
    assert len(_logits(out)) == 2
