"""The public API (conformance/api.py, docs/api.md): every stable name exists and works."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conformance import api
from conformance.model.randmodel import random_model
from conformance.model.synthetic_checkpoint import write_synthetic
from reference.model_presets import get_model_preset

ROOT = Path(__file__).resolve().parents[1]


def test_every_documented_name_exists() -> None:
    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in api.__all__:
        assert hasattr(api, name), name
        assert f"api.{name}" in doc, f"docs/api.md does not document {name}"


def test_run_reference_answers_and_rejects() -> None:
    cfg = {"max_len": 4, "out_frac": 4, "partition_frac": 4, "score_frac": 0,
           "score_width": 8}
    ok = api.run_reference("ptsoftmax", cfg, {"scores": [3, 3], "mask": [1, 1]})
    assert ok["outputs"]["out"] == [8, 8]
    bad = api.run_reference("ptsoftmax", cfg, {"scores": [1] * 5, "mask": [1] * 5})
    assert bad["reject"] == "shape"
    assert set(api.operators()) >= {"ptsoftmax", "bspn", "quantize", "if_encode",
                                    "binary_linear", "attention", "ffn", "encoder_layer",
                                    "model"}


def test_load_vectors_counts_match_the_manifest() -> None:
    suite = api.load_vectors()
    total = sum(1 for _ in suite.vectors())
    assert total == suite.manifest["totals"]["vectors"]
    only = list(suite.vectors(ops=["bspn"], presets=["sorbet"]))
    assert only and all(v["op"] == "bspn" for v in only)


def test_load_vectors_refuses_an_edited_suite(tmp_path: Path) -> None:
    copy = tmp_path / "vectors"
    shutil.copytree(api.default_vectors_dir(), copy)
    target = copy / "if_encode" / "if_encode-tiny.json"
    data = json.loads(target.read_text())
    data["vectors"][0]["comment"] = "edited"
    target.write_text(json.dumps(data))
    with pytest.raises(api.VectorsError) as err:
        api.load_vectors(copy)
    assert "if_encode-tiny.json" in str(err.value)


class HalfPort:
    """Implements if_encode only, and rejects everything else as a backend would."""

    name = "half-port"

    def run(self, op: str, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        if op != "if_encode":
            raise api.Unsupported(op)
        res = api.run_reference(op, config, inputs)
        if "reject" in res:
            raise api.Rejected(res["reject"], res["message"])
        return dict(res["outputs"])


def test_check_programmatically(tmp_path: Path) -> None:
    ok = api.check("reference", include=["if_encode*"], report_dir=tmp_path)
    assert (ok.verdict, ok.exit_code) == ("PASS", 0)
    assert (tmp_path / "check-report.json").is_file()
    half = api.check(HalfPort(), include=["if_encode*", "bspn*"])
    assert half.verdict == "FAIL" and half.exit_code == 1
    assert {o.status for o in half.outcomes if o.op == "bspn"} == {"error"}


def test_model_file_and_checkpoint_round_trip(tmp_path: Path) -> None:
    cfg = get_model_preset("tiny")
    mf = random_model(cfg, seed=3)
    api.save_model(tmp_path / "m.npz", mf)
    back = api.load_model(tmp_path / "m.npz")
    assert back.config == mf.config and back.params == mf.params
    write_synthetic(tmp_path / "c.safetensors", cfg, 1)
    converted, report = api.convert(api.load_checkpoint(tmp_path / "c.safetensors"))
    assert converted.config.hidden == cfg.hidden
    assert report.summary()
    with pytest.raises(api.CheckpointError):
        api.load_checkpoint(tmp_path / "missing.safetensors")
