"""The committed vectors: byte-identical regeneration, lint, schema, coverage, plain export."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.cli import main
from conformance.commands import vectors as vectors_command
from conformance.operators import OPS
from conformance.vectors import generate
from conformance.vectors.cases import Case
from conformance.vectors.identity import PIN_FILE, identify, load_pins, pin_text
from conformance.vectors.manifest import load_vectors, verify
from conformance.vectors.plain_export import from_word, read_hex, to_word
from conformance.vectors.strategies import SplitMix64, collect, ptsoftmax_inputs
from conformance.vectors.vectorfile import (
    VectorFileError,
    dumps_file,
    load_file,
    parse_json,
    validate_file,
    vector_id,
)
from reference.presets import TINY
from reference.version import SPEC_VERSION

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"
SCHEMA = ROOT / "conformance" / "schema" / "vectors.schema.json"
BASE_OPS = ("ptsoftmax", "bspn", "quantize", "if_encode", "binary_linear")


@pytest.fixture(scope="session")
def regeneration() -> subprocess.CompletedProcess[str]:
    """`sorbet-ref vectors generate --check` once, in a fresh process with another hash seed."""
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    return subprocess.run([sys.executable, "-m", "conformance.cli", "vectors", "generate",
                           "--check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(scope="session")
def committed() -> list[dict[str, Any]]:
    loaded = load_vectors(VECTORS)
    assert not loaded.problems, loaded.problems
    return [d for _, d in loaded.files]


@pytest.mark.slow
def test_regeneration_is_byte_identical(regeneration: subprocess.CompletedProcess[str]) -> None:
    assert regeneration.returncode == 0, regeneration.stdout + regeneration.stderr
    assert "byte for byte" in regeneration.stdout


def test_verify_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "verify"]) == 0
    assert "OK" in capsys.readouterr().out


def test_schema_file_agrees_with_the_lint(committed: list[dict[str, Any]]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for data in committed:
        errors = list(validator.iter_errors(data))
        assert not errors, (data["suite"], errors[0].message)
    # a few violations both must reject
    data = json.loads(json.dumps(committed[0]))
    v = data["vectors"][0]
    for mutate in (lambda v: v.pop("comment"), lambda v: v["inputs"].update(bad=[1.5]),
                   lambda v: v.update(extra=1), lambda v: v.update(id="not an id")):
        bad = json.loads(json.dumps(data))
        mutate(bad["vectors"][0])
        assert list(validator.iter_errors(bad)), v["id"]
        assert validate_file(bad, "f.json")


def test_every_operator_has_suites(committed: list[dict[str, Any]]) -> None:
    have = {(d["op"], d["preset"]) for d in committed}
    for op in BASE_OPS:
        for preset in ("sorbet", "tiny", "tiny-b2"):
            assert (op, preset) in have, (op, preset)
    for op in OPS:
        assert any(o == op for o, _ in have), f"operator {op} has no vector suite"
    for d in committed:
        if d["op"] in BASE_OPS:
            assert d["counts"]["reject"] >= 4, d["suite"]
            # a general suite at the narrow end may have fewer valid inputs in all
            assert d["counts"]["valid"] >= (1 if d["preset"] == "general" else 4), d["suite"]


def test_named_bug_classes_are_covered(committed: list[dict[str, Any]]) -> None:
    flags = {f for d in committed for v in d["vectors"] for f in v["flags"]}
    for f in ("rounding_tie", "partition_tie", "saturation", "underflow", "shift_at_width",
              "sign_extension", "threshold_equality", "accumulator_extreme", "masked_row",
              "all_masked", "truncated_term", "eps_dominant", "divisor_boundary",
              "log_round_boundary", "zero_weight", "max_length", "format_extreme",
              "reject_range", "reject_shape", "reject_config", "reject_mask"):
        assert f in flags, f


def test_sorbet_sizes_and_total_size(committed: list[dict[str, Any]]) -> None:
    lengths = {len(v["inputs"]["scores"]) for d in committed if d["suite"] == "ptsoftmax-sorbet"
               for v in d["vectors"] if isinstance(v["inputs"].get("scores"), list)}
    assert {128, 512} <= lengths
    fan_in = {d["config"]["in_features"] for d in committed
              if d["op"] == "binary_linear" and d["preset"] == "sorbet"}
    assert fan_in == {768, 3072}
    size = sum(p.stat().st_size for p in VECTORS.rglob("*.json"))
    assert size < 6_000_000


def test_files_are_canonical(committed: list[dict[str, Any]]) -> None:
    for data in committed:
        path = VECTORS / data["op"] / f"{data['suite']}.json"
        assert path.read_text() == dumps_file(data)


def test_ids_are_content_hashes() -> None:
    a = vector_id("if_encode", "tiny", {"bits": 4, "steps": 16}, {"count": 3})
    b = vector_id("if_encode", "tiny", {"steps": 16, "bits": 4}, {"count": 3})
    assert a == b and a.startswith("if_encode-tiny-") and len(a.rsplit("-", 1)[1]) == 12
    assert a != vector_id("if_encode", "tiny", {"bits": 4, "steps": 16}, {"count": 4})


def test_strict_json_rejects_duplicates_and_nan() -> None:
    for raw in (b'{"a": 1, "a": 2}', b'{"a": NaN}', b'{"a": [1, 2'):
        with pytest.raises(VectorFileError, match=r"f\.json"):
            parse_json(raw, "f.json")


def test_collect_is_deterministic() -> None:
    strat = ptsoftmax_inputs(TINY.ptsoftmax, TINY.ptsoftmax.max_len)
    first = collect(strat, 20, 7)
    assert first and first == collect(strat, 20, 7)


def test_splitmix64_reference_value() -> None:
    rng = SplitMix64(0)
    # The published first output of SplitMix64 seeded with 0 (Vigna's splitmix64.c):
    # z = 0x9E3779B97F4A7C15, then the two xor-shift-multiply rounds and a final xor-shift.
    assert rng.next64() == 0xE220A8397B1DCDAF
    assert all(0 <= rng.below(10) < 10 for _ in range(100))


def test_builder_class_mismatch_is_an_error() -> None:
    suite = generate.SUITES["if_encode-tiny"]
    with pytest.raises(generate.GeneratorError, match="built to be rejected as 'shape'"):
        generate.build_vector(suite, Case({"count": 99}, "bad", reject="shape"))
    with pytest.raises(generate.GeneratorError, match="reference rejects it"):
        generate.build_vector(suite, Case({"count": 99}, "not marked"))


def test_coverage_table_lists_rules_and_flags() -> None:
    text = (VECTORS / "COVERAGE.md").read_text()
    assert "| `ptsoftmax.partition` |" in text and "| `partition_tie` |" in text


def test_plain_export_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plain"
    assert main(["vectors", "export", "--out", str(out), "--include", "*-tiny-b2"]) == 0
    index = (out / "index.txt").read_text().split()
    assert index
    data = json.loads((VECTORS / "binary_linear" / "binary_linear-signed-tiny-b2.json")
                      .read_text())
    v = next(v for v in data["vectors"] if "reject" not in v["expected"])
    d = out / data["suite"] / v["id"]
    meta = (d / "vector.txt").read_text().splitlines()
    assert f"id {v['id']}" in meta and "expect ok" in meta
    assert any(line.startswith("input signs 2 ") for line in meta)
    assert read_hex(d / "signs.in.hex") == v["inputs"]["signs"]
    assert read_hex(d / "acc.out.hex") == v["expected"]["outputs"]["acc"]
    assert from_word(to_word(-5, "x"), "x") == -5
    assert to_word(-1, "x") == "ffffffffffffffff"


def test_plain_export_with_no_match_fails(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "export", "--out", str(tmp_path / "p"), "--include", "nomatch*"]) == 1
    assert "no vector" in capsys.readouterr().err


def test_verify_reports_unlisted_files(tmp_path: Path) -> None:
    import shutil
    shutil.copytree(VECTORS, tmp_path / "v")
    (tmp_path / "v" / "if_encode" / "stray.json").write_text("{}")
    problems = verify(tmp_path / "v").problems
    assert any("stray.json" in p and "not listed" in p for p in problems)


def test_load_file_reads_a_committed_suite_and_names_a_broken_one(tmp_path: Path) -> None:
    path = next(iter(sorted((VECTORS / "ptsoftmax").glob("*.json"))))
    data = load_file(path)
    assert data["op"] == "ptsoftmax"
    assert len(data["vectors"]) == data["counts"]["total"] > 0
    broken = tmp_path / "broken.json"
    broken.write_text(path.read_text().replace('"total":', '"totl":', 1))
    with pytest.raises(VectorFileError, match=r"broken\.json"):
        load_file(broken)


def test_published_pin_is_the_committed_suite() -> None:
    """The package's pin of the published suite (conformance/vectors/published.json) is the
    committed manifest and its files; `vectors generate --check` fails when it drifts."""
    raw = (VECTORS / "manifest.json").read_bytes()
    assert PIN_FILE.read_text(encoding="ascii") == pin_text(raw)
    pin = load_pins()[SPEC_VERSION]
    assert pin.manifest_sha256 == hashlib.sha256(raw).hexdigest()
    for path, digest in pin.files.items():
        assert hashlib.sha256((VECTORS / path).read_bytes()).hexdigest() == digest
    manifest = json.loads(raw)
    assert identify(raw, manifest["files"]).kind == "published"
    edited = [{**manifest["files"][0], "sha256": "0" * 64}, *manifest["files"][1:]]
    ident = identify(raw + b" ", edited)
    assert ident.kind == "unpublished" and ident.foreign == (manifest["files"][0]["path"],)
    assert "UNPUBLISHED" in ident.label()
    assert identify(raw + b" ", manifest["files"][:2]).kind == "published-subset"
    assert identify(raw, manifest["files"], spec_version="9.9.9").kind == "unpublished"


def test_generate_check_compares_the_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "published.json"
    stale.write_text('{"0.1.0": {"files": {}, "manifest_sha256": "00"}}\n')
    monkeypatch.setattr(vectors_command, "PIN_FILE", stale)
    assert vectors_command._pin_diffs(VECTORS) != []
    monkeypatch.setattr(vectors_command, "PIN_FILE", PIN_FILE)
    assert vectors_command._pin_diffs(VECTORS) == []


def test_rule_and_flag_tables_do_not_depend_on_what_was_imported() -> None:
    """The coverage table is built from the rule and flag tables: a bare process (as
    ``check`` runs) must see the same tables as one that loaded every suite module."""
    import subprocess
    import sys

    from conformance.vectors import flags
    from conformance.vectors.generate import load_suite_modules

    load_suite_modules()
    code = ("import json; from conformance.vectors import flags; "
            "print(json.dumps([sorted(flags.RULES), sorted(flags.FLAG_NOTES)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out) == [sorted(flags.RULES), sorted(flags.FLAG_NOTES)]
