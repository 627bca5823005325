"""The calibrated synthetic checkpoint generator (spec/13-converter.md, 13.10)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from conformance.model.checkpoint import Checkpoint, load_checkpoint
from conformance.model.floatmodel import forward_float, load_float_model
from conformance.model.synthetic_checkpoint import (
    Calibration,
    _calibration_input,
    _raw_tensors,
    initial_step,
    main,
    synthetic_tensors,
)
from reference.errors import ConfigError
from reference.model_presets import TINY

L0 = "bert.encoder.layer.0"


def _steps(t: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(v) for k, v in t.items()
            if k.endswith("input_clip_val") or k.split(".")[-1].startswith("clip_")}


def test_initial_steps_are_powers_of_two_without_perturbation() -> None:
    t = synthetic_tensors(TINY, 4, calibration=Calibration(perturb=0.0))
    steps = _steps(t)
    assert len(steps) == TINY.layers * 10 + 1
    for v in steps.values():
        assert 2.0 ** round(math.log2(v)) == v
    perturbed = _steps(synthetic_tensors(TINY, 4, calibration=Calibration(perturb=0.4)))
    assert sum(2.0 ** round(math.log2(v)) != v for v in perturbed.values()) > len(steps) // 2


def test_initial_step_rule() -> None:
    x = np.array([[1.0, -3.0], [0.5, 0.5]])  # mean |x| = 1.25
    assert initial_step(x, True, 4, False) == pytest.approx(2 * 1.25 / math.sqrt(7))
    assert initial_step(x, False, 4, False) == pytest.approx(2 * 1.25 / math.sqrt(15))
    assert initial_step(x, True, 4, True) == 1.0  # 0.945 is nearest to 1
    assert initial_step(np.zeros((1, 2)), True, 4, True) == 1.0 / 16


def test_running_phi_is_the_mean_of_the_batch_statistics() -> None:
    cal = Calibration(batches=3, perturb=0.0)
    t = synthetic_tensors(TINY, 9, calibration=cal)
    # Replay the calibration inputs (no perturbation: the generator's random stream is the
    # raw tensors, then one input per batch).  Layer 0's BSPN_1 input depends only on the
    # steps, fixed on the first batch, so its batch statistics are recomputed exactly.
    rng = np.random.default_rng(9)
    _raw_tensors(TINY, rng, 0.02)
    model = load_float_model(Checkpoint("mem", t), TINY)
    module = f"{L0}.attention.output.LayerNorm"
    seen: list[np.ndarray] = []

    def hook(mod: str, scaled: np.ndarray) -> np.ndarray:
        phi: np.ndarray = (scaled * scaled).mean(axis=0)
        if mod == module:
            seen.append(phi)
        return phi

    for _ in range(cal.batches):
        ids, types, mask = _calibration_input(rng, TINY, TINY.max_seq)
        forward_float(model, ids, types, mask, bspn_hook=hook)
    stored = t[f"{module}.running_phi"].reshape(-1)
    assert len(seen) == 3 and not np.allclose(seen[0], seen[1])
    assert np.array_equal(stored, np.float32(sum(seen) / 3))


def test_deterministic_and_calibration_validated() -> None:
    a = synthetic_tensors(TINY, 2)
    b = synthetic_tensors(TINY, 2)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match=r"Calibration\.perturb"):
        Calibration(perturb=-1.0)
    with pytest.raises(ConfigError, match=r"Calibration\.batches"):
        Calibration(batches=0)


def test_module_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c.npz"
    assert main(["tiny", "3", str(out), "--layers", "1", "--perturb", "0", "--batches", "2"]) == 0
    ck = load_checkpoint(out)
    assert "bert.encoder.layer.1.output.dense.weight" not in ck.tensors
    assert '"perturb": 0.0' in ck.metadata["sorbet.synthetic_calibration"]
    assert main(["tiny", "3", str(out), "--perturb", "9"]) == 2
    assert "Calibration.perturb" in capsys.readouterr().err
