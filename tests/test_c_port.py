"""The C port (examples/c_port) against the reference, over the JSON-lines protocol.

The port is built with the system C compiler (skipped, with the reason, only when
no compiler exists), then driven exactly as the runner drives a subprocess backend
(spec/11-backend-protocol.md): one request a line on stdin, one answer a line on
stdout.  Every answer is compared with ``conformance.operators.run_reference`` on the
same request: outputs (normative and profile) exactly, rejections by class.

Requests come from derandomized Hypothesis strategies over the presets and over
random configurations inside the spec's parameter ranges (so the port must read
every configuration field), from boundary recipes (BSPN divisor boundaries, log-
domain thresholds, quantizer ties, partition ties), from single-fault mutations of
valid requests (every rejection class), from the worked examples of the spec, and
from widest-configuration cases that need the port's 128-bit arithmetic.

The model-level operators (``attention``, ``ffn``, ``encoder_layer``, ``model``) are
drawn over the model presets ``tiny``, ``tiny-odd`` and ``micro`` with
``conformance.model.draws.draw_params`` (non-zero Q/K/V moves included) and compared with
the reference on every normative and trace output; single-fault requests must be
rejected with the reference's class.  Last, ``sorbet-ref check`` runs the port over
every committed vector and must pass all of them.
"""

from __future__ import annotations

import copy
import fcntl
import json
import math
import os
import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.model.draws import draw_h0, draw_params
from conformance.operators import OPS, config_to_dict, run_reference
from conformance.operators.layers import layer_to_inputs, model_to_inputs
from reference.model_config import LayerParams, LinearParams, ModelConfig, ModelParams
from reference.model_presets import MODEL_PRESETS
from reference.presets import PRESETS

ROOT = Path(__file__).resolve().parent.parent
C_PORT = ROOT / "examples" / "c_port"

pytestmark = pytest.mark.xdist_group("c_port")
"""The module fixtures are expensive: keep these tests on one worker."""
JSON = Any
Request = dict[str, JSON]

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
)


def _compiler() -> str | None:
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


@pytest.fixture(scope="module")
def port_path() -> Path:
    """Build the port with examples/c_port/build.sh and return the binary's path.

    ``SORBET_C_PORT_BIN`` names an already built binary to test instead (a port built
    elsewhere, or a deliberately broken build to see these tests fail).
    """
    given_bin = os.environ.get("SORBET_C_PORT_BIN")
    if given_bin:
        return Path(given_bin)
    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH: the C port cannot be built")
    env = dict(os.environ, CC=cc)
    # Parallel test workers share the build directory: one builds while the others wait.
    (C_PORT / "build").mkdir(exist_ok=True)
    with open(C_PORT / "build" / ".test-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            ["sh", str(C_PORT / "build.sh")], capture_output=True, text=True, env=env,
            check=False,
        )
    assert done.returncode == 0, f"build failed:\n{done.stdout}\n{done.stderr}"
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_file(), path
    return path


class Port:
    """One long-lived port process, asked one request at a time."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.count = 0

    def ask_line(self, line: str) -> dict[str, JSON]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer.endswith("\n"), f"no answer line (exit {self.proc.poll()})"
        decoded: dict[str, JSON] = json.loads(answer)
        return decoded

    def ask(self, op: str, config: JSON, inputs: JSON) -> dict[str, JSON]:
        self.count += 1
        rid = f"{op}-{self.count:06d}"
        line = json.dumps({"id": rid, "op": op, "config": config, "inputs": inputs})
        answer = self.ask_line(line)
        assert answer.get("id") == rid, answer
        return answer

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def port(port_path: Path) -> Iterator[Port]:
    p = Port(port_path)
    yield p
    assert p.close() == 0


def agree(port: Port, op: str, config: JSON, inputs: JSON) -> dict[str, JSON]:
    """Ask the port and the reference the same request; require the same answer."""
    config = json.loads(json.dumps(config))
    inputs = json.loads(json.dumps(inputs))
    ref = run_reference(op, copy.deepcopy(config), copy.deepcopy(inputs))
    got = port.ask(op, config, inputs)
    where = f"\nop={op}\nconfig={json.dumps(config)}\ninputs={json.dumps(inputs)[:2000]}"
    if "reject" in ref:
        assert got.get("reject") == ref["reject"], f"expected reject {ref}, got {got}{where}"
        assert isinstance(got.get("message"), str) and got["message"], got
    else:
        assert "outputs" in got, f"expected outputs, got {got}{where}"
        assert got["outputs"] == ref["outputs"], f"reference {ref['outputs']}{where}"
    return ref


# ------------------------------------------------------------------ configurations

PRESET_KEYS = {
    "ptsoftmax": ("ptsoftmax",),
    "bspn": ("bspn",),
    "quantize": ("quant_signed", "quant_unsigned"),
    "if_encode": ("spikes",),
    "binary_linear": ("linear_signed", "linear_unsigned"),
}


def preset_configs(op: str) -> list[dict[str, JSON]]:
    out = []
    for preset in sorted(PRESETS.values(), key=lambda p: p.name != "tiny"):
        for key in PRESET_KEYS[op]:
            cfg = config_to_dict(getattr(preset, key))
            if op == "binary_linear":  # keep the Sorbet shapes' encoding, not their size
                cfg = dict(cfg, in_features=min(cfg["in_features"], 48),
                           out_features=min(cfg["out_features"], 4))
            out.append(cfg)
    return out


@st.composite
def ptsoftmax_config(draw: st.DrawFn) -> dict[str, JSON]:
    sw = draw(st.integers(2, 48))
    return {
        "max_len": draw(st.sampled_from([1, 2, 3, 5, 8, 17, 40, 65536])),
        "score_width": sw,
        "score_frac": draw(st.integers(0, sw - 1)),
        "partition_frac": draw(st.integers(0, 30)),
        "out_frac": draw(st.integers(0, 30)),
    }


@st.composite
def bspn_config(draw: st.DrawFn) -> dict[str, JSON]:
    g = draw(st.integers(1, 7))
    wmin = draw(st.integers(-32, 32))
    ow = draw(st.integers(2, 32))
    return {
        "channels": g * draw(st.integers(1, 3)),
        "group_size": g,
        "in_width": draw(st.integers(2, 32)),
        "in_frac": draw(st.integers(0, 31)),
        "eps_exp": draw(st.integers(0, 40)),
        "weight_exp_min": wmin,
        "weight_exp_max": draw(st.integers(wmin, 32)),
        "bias_width": draw(st.integers(2, 32)),
        "bias_frac": draw(st.integers(0, 31)),
        "out_width": ow,
        "out_frac": draw(st.integers(0, ow - 2)),
    }


@st.composite
def quantize_config(draw: st.DrawFn) -> dict[str, JSON]:
    cfg: dict[str, JSON] = {
        "bits": draw(st.integers(1, 8)),
        "signed": draw(st.booleans()),
        "in_width": draw(st.integers(2, 32)),
    }
    if draw(st.booleans()):
        cfg["multiplier_bits"] = draw(st.integers(1, 24))
    if draw(st.booleans()):
        cfg["bias_width"] = draw(st.integers(2, 40))
    return cfg


@st.composite
def spike_params(draw: st.DrawFn) -> tuple[int, int]:
    bits = draw(st.integers(1, 8))
    cmax = (1 << bits) - 1
    steps = draw(st.one_of(st.integers(max(1, cmax), min(1024, cmax + 40)),
                           st.sampled_from([1024, max(1, cmax), 16 if cmax <= 16 else cmax])))
    return bits, steps


@st.composite
def if_config(draw: st.DrawFn) -> dict[str, JSON]:
    bits, steps = draw(spike_params())
    return {"bits": bits, "steps": steps}


@st.composite
def linear_config(draw: st.DrawFn) -> dict[str, JSON]:
    bits, steps = draw(spike_params())
    return {
        "in_features": draw(st.integers(1, 12)),
        "out_features": draw(st.integers(1, 5)),
        "bits": bits,
        "steps": min(steps, 300) if steps >= (1 << bits) - 1 else steps,
        "signed_input": draw(st.booleans()),
    }


def any_config(op: str, random_configs: st.SearchStrategy[dict[str, JSON]]
               ) -> st.SearchStrategy[dict[str, JSON]]:
    return st.one_of(st.sampled_from(preset_configs(op)), random_configs)


# ------------------------------------------------------------------ inputs


def _signed(width: int) -> tuple[int, int]:
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


@st.composite
def values(draw: st.DrawFn, n: int, lo: int, hi: int) -> list[int]:
    """n integers in [lo, hi]: uniform, clustered near a base (ties), or extremes.

    Lists longer than 64 are expanded from a drawn seed (deterministically).
    """
    regime = draw(st.sampled_from(["uniform", "cluster", "extremes", "small"]))
    s_lo, s_hi = max(lo, min(hi, -4)), min(hi, max(lo, 4))
    if n > 64:
        rng = random.Random(draw(st.integers(0, 2**32)))
        if regime == "cluster":
            base = rng.randint(lo, hi)
            return [min(hi, max(lo, base + rng.randint(-16, 16))) for _ in range(n)]
        if regime == "extremes":
            return [rng.choice((lo, hi, 0 if lo <= 0 <= hi else lo)) for _ in range(n)]
        if regime == "small":
            return [rng.randint(s_lo, s_hi) for _ in range(n)]
        return [rng.randint(lo, hi) for _ in range(n)]
    if regime == "uniform":
        elem = st.integers(lo, hi)
    elif regime == "cluster":
        base = draw(st.integers(lo, hi))
        spread = draw(st.sampled_from([0, 1, 3, 16, 100]))
        elem = st.integers(max(lo, base - spread), min(hi, base + spread))
    elif regime == "extremes":
        elem = st.sampled_from(sorted({lo, hi, lo + 1, hi - 1, 0 if lo <= 0 <= hi else lo}))
    else:
        elem = st.integers(s_lo, s_hi)
    return [draw(elem) for _ in range(n)]


@st.composite
def ptsoftmax_case(draw: st.DrawFn) -> tuple[dict[str, JSON], dict[str, JSON]]:
    cfg = draw(any_config("ptsoftmax", ptsoftmax_config()))
    n = draw(st.integers(1, min(cfg["max_len"], 24)))
    lo, hi = _signed(cfg["score_width"])
    inputs: dict[str, JSON] = {"scores": draw(values(n, lo, hi))}
    mask = draw(st.sampled_from(["absent", "null", "list", "all0"]))
    if mask == "null":
        inputs["mask"] = None
    elif mask == "list":
        inputs["mask"] = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    elif mask == "all0":
        inputs["mask"] = [0] * n
    return cfg, inputs


@st.composite
def ptsoftmax_tie_case(draw: st.DrawFn) -> tuple[dict[str, JSON], dict[str, JSON]]:
    """Rows whose partition sits at or next to a tie 3 * 2^(k-1) of the nearest power."""
    cfg = draw(any_config("ptsoftmax", ptsoftmax_config()))
    f, sf = cfg["partition_frac"], cfg["score_frac"]
    lo, hi = _signed(cfg["score_width"])
    ds = draw(st.lists(st.integers(0, f + 2), min_size=1, max_size=min(cfg["max_len"], 12)))
    ds[0] = 0
    top = draw(st.integers(lo, hi))
    scores = []
    for d in ds:
        v = (top >> sf) - d  # integer score top - d, as a fixed-point value
        raw = v << sf
        raw -= draw(st.integers(0, (1 << sf) - 1)) if sf else 0  # same ceil
        scores.append(min(hi, max(lo, raw)))
    return cfg, {"scores": scores}


def _boundary_sum(draw: st.DrawFn, cfg: dict[str, JSON]) -> int | None:
    """An absolute sum S putting A = S * 2^eps_exp + G * 2^in_frac at or next to G * 2^j."""
    g, f, e, w = cfg["group_size"], cfg["in_frac"], cfg["eps_exp"], cfg["in_width"]
    j_max = max(w - 1 + e, f) + 1
    j = draw(st.integers(f + 1, j_max))
    num = g * ((1 << j) - (1 << f))
    s = (num >> e) + draw(st.sampled_from([-1, 0, 0, 1, 2]))
    if 0 <= s <= g * ((1 << (w - 1)) - 1):
        return s
    return None


@st.composite
def bspn_case(draw: st.DrawFn) -> tuple[dict[str, JSON], dict[str, JSON]]:
    cfg = draw(any_config("bspn", bspn_config()))
    c, g = cfg["channels"], cfg["group_size"]
    lo, hi = _signed(cfg["in_width"])
    x: list[int] = []
    for _ in range(c // g):
        kind = draw(st.sampled_from(["values", "zero", "boundary"]))
        group = draw(values(g, lo, hi)) if kind == "values" else [0] * g
        if kind == "boundary":
            s = _boundary_sum(draw, cfg)
            if s is not None:  # spread S over the group, random signs
                left = s
                for i in range(g):
                    part = left if i == g - 1 else draw(st.integers(0, min(left, hi)))
                    part = min(part, hi)
                    left -= part
                    group[i] = part if draw(st.booleans()) else -part
        x.extend(group)
    blo, bhi = _signed(cfg["bias_width"])
    bias_kind = draw(st.sampled_from(["values", "zero", "sqrt2"]))
    if bias_kind == "sqrt2":  # |bias| at the log-domain threshold t(q) or just below
        bias = []
        for _ in range(c):
            q = draw(st.integers(0, max(0, cfg["bias_width"] - 3)))
            t = math.isqrt(1 << (2 * q + 1)) + 1 - draw(st.integers(0, 1))
            bias.append(max(blo, min(bhi, t if draw(st.booleans()) else -t)))
    else:
        bias = draw(values(c, blo, bhi)) if bias_kind == "values" else [0] * c
    return cfg, {
        "x": x,
        "weight_sign": draw(st.lists(st.integers(-1, 1), min_size=c, max_size=c)),
        "weight_exp": draw(values(c, cfg["weight_exp_min"], cfg["weight_exp_max"])),
        "bias": bias,
    }


@st.composite
def quantize_case(draw: st.DrawFn) -> tuple[dict[str, JSON], dict[str, JSON]]:
    cfg = draw(any_config("quantize", quantize_config()))
    mbits = cfg.get("multiplier_bits", 16)
    blo, bhi = _signed(cfg.get("bias_width", 32))
    lo, hi = _signed(cfg["in_width"])
    n = draw(st.integers(0, 10))
    shift = draw(st.one_of(st.integers(0, 62), st.integers(0, 12)))
    mult = draw(st.one_of(st.integers(1, (1 << mbits) - 1), st.just(1), st.just((1 << mbits) - 1)))
    x = draw(values(n, lo, hi))
    if draw(st.booleans()) and shift >= 1 and n:
        # ties: x*M + bias = (odd or even) * 2^shift + 2^(shift-1)
        want = (draw(st.integers(-8, 8)) << shift) + (1 << (shift - 1))
        bias = want - x[0] * mult
        if not blo <= bias <= bhi:
            bias = 0
    else:
        bias = draw(st.one_of(st.integers(blo, bhi), st.just(0), st.sampled_from([blo, bhi])))
    return cfg, {"x": x, "multiplier": mult, "shift": shift, "bias": bias}


@st.composite
def if_case(draw: st.DrawFn) -> tuple[dict[str, JSON], dict[str, JSON]]:
    cfg = draw(any_config("if_encode", if_config()))
    return cfg, {"count": draw(st.integers(0, (1 << cfg["bits"]) - 1))}


@st.composite
def linear_case(draw: st.DrawFn) -> tuple[dict[str, JSON], dict[str, JSON]]:
    cfg = draw(any_config("binary_linear", linear_config()))
    nin, nout = cfg["in_features"], cfg["out_features"]
    return cfg, {
        "counts": draw(values(nin, 0, (1 << cfg["bits"]) - 1)),
        "signs": draw(st.lists(st.sampled_from([-1, 1]), min_size=nin * nout,
                               max_size=nin * nout)),
    }


CASES = {
    "ptsoftmax": ptsoftmax_case(),
    "bspn": bspn_case(),
    "quantize": quantize_case(),
    "if_encode": if_case(),
    "binary_linear": linear_case(),
}


# ------------------------------------------------------------------ valid inputs


@pytest.mark.parametrize("op", sorted(CASES))
def test_agrees_with_reference(port: Port, op: str) -> None:
    @SETTINGS
    @given(CASES[op])
    def check(case: tuple[dict[str, JSON], dict[str, JSON]]) -> None:
        agree(port, op, *case)

    check()


def test_ptsoftmax_partition_ties(port: Port) -> None:
    @SETTINGS
    @given(ptsoftmax_tie_case())
    def check(case: tuple[dict[str, JSON], dict[str, JSON]]) -> None:
        agree(port, "ptsoftmax", *case)

    check()


# ------------------------------------------------------------------ rejections

BAD_SCALARS: list[JSON] = [-(10**6), 10**6, 2**70, -(2**70), 1.5, "3", True, None, [1], {}]
BAD_ELEMENTS: list[JSON] = [10**9, -(10**9), 2**64, -(2**80), 0.5, 2.0, True, "1", None, [0]]
BOOL_FIELDS = {"signed", "signed_input"}
OPTIONAL_CONFIG = {"multiplier_bits", "bias_width"}


def config_ranges(op: str, c: dict[str, JSON]) -> dict[str, tuple[int, int]]:
    """The valid range of every integer configuration field (spec 02-05, "Parameters")."""
    spikes = {"bits": (1, 8), "steps": (max(1, (1 << c.get("bits", 1)) - 1), 1024)}
    return {
        "ptsoftmax": {"max_len": (1, 65536), "score_width": (2, 48),
                      "score_frac": (0, c.get("score_width", 2) - 1),
                      "partition_frac": (0, 30), "out_frac": (0, 30)},
        "bspn": {"channels": (1, 65536), "group_size": (1, c.get("channels", 1)),
                 "in_width": (2, 32), "in_frac": (0, 31), "eps_exp": (0, 40),
                 "weight_exp_min": (-32, 32), "weight_exp_max": (c.get("weight_exp_min", 0), 32),
                 "bias_width": (2, 32), "bias_frac": (0, 31), "out_width": (2, 32),
                 "out_frac": (0, c.get("out_width", 2) - 2)},
        "quantize": {"bits": (1, 8), "in_width": (2, 32), "multiplier_bits": (1, 24),
                     "bias_width": (2, 40)},
        "if_encode": spikes,
        "binary_linear": {"in_features": (1, 65536), "out_features": (1, 65536), **spikes},
    }[op]


def input_ranges(op: str, c: dict[str, JSON]) -> dict[str, tuple[int, int]]:
    """The declared range of every input element (spec 02-05, "Inputs")."""
    if op == "ptsoftmax":
        return {"scores": _signed(c["score_width"]), "mask": (0, 1)}
    if op == "bspn":
        return {"x": _signed(c["in_width"]), "weight_sign": (-1, 1),
                "weight_exp": (c["weight_exp_min"], c["weight_exp_max"]),
                "bias": _signed(c["bias_width"])}
    if op == "quantize":
        return {"x": _signed(c["in_width"]),
                "multiplier": (1, (1 << c.get("multiplier_bits", 16)) - 1),
                "shift": (0, 62), "bias": _signed(c.get("bias_width", 32))}
    count = (0, (1 << c["bits"]) - 1)
    if op == "if_encode":
        return {"count": count}
    return {"counts": count, "signs": (-1, 1)}


MUTATIONS = ("config_value", "config_edge", "config_missing", "config_unknown", "config_type",
             "input_missing", "input_type", "element", "element_edge", "length")


@st.composite
def mutated(draw: st.DrawFn, op: str, kind: str) -> tuple[JSON, JSON]:
    """A valid request of ``op`` with one defect of the given kind."""
    cfg, inputs = draw(CASES[op])
    cfg, inputs = copy.deepcopy(cfg), copy.deepcopy(inputs)
    int_fields = sorted(k for k in cfg if k not in BOOL_FIELDS)
    bool_fields = sorted(k for k in cfg if k in BOOL_FIELDS)
    if kind == "config_type" and bool_fields and draw(st.booleans()):
        cfg[draw(st.sampled_from(bool_fields))] = draw(st.sampled_from([1, 0, "true", None]))
    elif kind == "config_edge":  # just outside the valid range
        name = draw(st.sampled_from(int_fields))
        lo, hi = config_ranges(op, cfg)[name]
        cfg[name] = draw(st.sampled_from([lo - 1, hi + 1]))
    elif kind == "element_edge":  # just outside the declared range
        name = draw(st.sampled_from(sorted(k for k in inputs if inputs[k] is not None)))
        lo, hi = input_ranges(op, cfg)[name]
        bad = draw(st.sampled_from([lo - 1, hi + 1] if name != "signs" else [0, 2, -2]))
        if isinstance(inputs[name], list) and inputs[name]:
            inputs[name][draw(st.integers(0, len(inputs[name]) - 1))] = bad
        elif not isinstance(inputs[name], list):
            inputs[name] = bad
    elif kind == "config_value":
        cfg[draw(st.sampled_from(int_fields))] = draw(st.sampled_from(BAD_SCALARS))
    elif kind == "config_missing":
        required = sorted(k for k in cfg if k not in OPTIONAL_CONFIG)
        del cfg[draw(st.sampled_from(required))]
    elif kind == "config_unknown":
        cfg["bogus_field"] = 1
    elif kind == "config_type":  # not an object
        cfg = draw(st.sampled_from([[], "tiny", 3, None]))
    else:
        names = sorted(k for k in inputs
                       if inputs[k] is not None and (k != "mask" or kind != "input_missing"))
        name = draw(st.sampled_from(names))
        value = inputs[name]
        if kind == "input_missing":
            del inputs[name]
        elif kind == "input_type":
            inputs[name] = draw(st.sampled_from(
                ["text", {"a": 1}, 7] if isinstance(value, list) else [[1], "7", 1.0, None]))
        elif isinstance(value, list) and kind == "element" and value:
            i = draw(st.integers(0, len(value) - 1))
            bad = draw(st.sampled_from(BAD_ELEMENTS))
            if name == "mask" and isinstance(bad, float):
                bad = 2  # the reference admits 1.0 in a mask (Python's 1.0 == 1)
            value[i] = bad
        elif isinstance(value, list):
            if value and draw(st.booleans()):
                value.pop()
            else:
                value.append(0)
        else:
            inputs[name] = draw(st.sampled_from(BAD_SCALARS[:4]))
    return cfg, inputs


@pytest.mark.parametrize("kind", MUTATIONS)
@pytest.mark.parametrize("op", sorted(CASES))
def test_rejections_agree(port: Port, op: str, kind: str) -> None:
    @settings(SETTINGS, max_examples=25)
    @given(mutated(op, kind))
    def check(case: tuple[JSON, JSON]) -> None:
        classes.append(agree(port, op, *case).get("reject", "valid"))

    classes: list[str] = []
    check()
    # a mutation can land on a valid value (an empty list, a huge but admitted score)
    assert sum(c != "valid" for c in classes) >= len(classes) // 2, classes


# ------------------------------------------------------------------ named edge cases


def _widest_bspn(g: int) -> dict[str, JSON]:
    return {"channels": g, "group_size": g, "in_width": 32, "in_frac": 0, "eps_exp": 40,
            "weight_exp_min": -32, "weight_exp_max": 32, "bias_width": 32, "bias_frac": 0,
            "out_width": 32, "out_frac": 30}


EDGE_CASES: list[tuple[str, str, JSON, JSON]] = [
    # N_i needs ~112 bits: P = 64, weight 2^32, one channel carrying the whole group sum
    ("bspn-widest-1", "bspn", _widest_bspn(1),
     {"x": [-(2**31)], "weight_sign": [1], "weight_exp": [32], "bias": [2**31 - 1]}),
    ("bspn-widest-4", "bspn", _widest_bspn(4),
     {"x": [-(2**31), 0, 0, 0], "weight_sign": [-1, 1, 0, 1], "weight_exp": [32, -32, 0, 32],
      "bias": [-(2**31), 2**31 - 1, 1, 0]}),
    ("bspn-widest-zero", "bspn", _widest_bspn(2),
     {"x": [0, 0], "weight_sign": [1, 1], "weight_exp": [32, -32], "bias": [0, 3]}),
    ("bspn-widest-min", "bspn", _widest_bspn(3),
     {"x": [1, -1, 2**31 - 1], "weight_sign": [1, -1, 1], "weight_exp": [-32, -32, -32],
      "bias": [0, 0, 0]}),
    ("bspn-frac-dominant", "bspn",
     {"channels": 2, "group_size": 2, "in_width": 2, "in_frac": 31, "eps_exp": 0,
      "weight_exp_min": -32, "weight_exp_max": -32, "bias_width": 2, "bias_frac": 31,
      "out_width": 2, "out_frac": 0},
     {"x": [-2, 1], "weight_sign": [1, -1], "weight_exp": [-32, -32], "bias": [1, -2]}),
    ("quantize-widest", "quantize",
     {"bits": 8, "signed": True, "in_width": 32, "multiplier_bits": 24, "bias_width": 40},
     {"x": [-(2**31), 2**31 - 1, 0, -1], "multiplier": 2**24 - 1, "shift": 62,
      "bias": -(2**39)}),
    ("quantize-shift0", "quantize",
     {"bits": 8, "signed": False, "in_width": 32, "multiplier_bits": 24, "bias_width": 40},
     {"x": [-(2**31), 2**31 - 1, 3, -1], "multiplier": 2**24 - 1, "shift": 0,
      "bias": 2**39 - 1}),
    ("quantize-ties", "quantize", {"bits": 4, "signed": True, "in_width": 12},
     {"x": [-5, -3, -1, 1, 3, 5, 7, -7], "multiplier": 1, "shift": 1, "bias": 0}),
    ("ptsoftmax-widest", "ptsoftmax",
     {"max_len": 65536, "score_width": 48, "score_frac": 47, "partition_frac": 30,
      "out_frac": 30},
     {"scores": [-(2**47), 2**47 - 1, 0, 2**47 - 1, -1, 1]}),
    ("ptsoftmax-long-row", "ptsoftmax",
     {"max_len": 65536, "score_width": 48, "score_frac": 0, "partition_frac": 30,
      "out_frac": 30},
     {"scores": [5] * 3000}),
    ("if-1024", "if_encode", {"bits": 8, "steps": 1024}, {"count": 255}),
    ("if-1-1", "if_encode", {"bits": 1, "steps": 1}, {"count": 1}),
    ("if-T-eq-cmax", "if_encode", {"bits": 2, "steps": 3}, {"count": 3}),
    ("linear-8bit", "binary_linear",
     {"in_features": 40, "out_features": 2, "bits": 8, "steps": 255, "signed_input": True},
     {"counts": [255, 0, 128, 127] * 10, "signs": [1, -1] * 40}),
]


@pytest.mark.parametrize("name,op,config,inputs", EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
def test_edge_cases(port: Port, name: str, op: str, config: JSON, inputs: JSON) -> None:
    ref = agree(port, op, config, inputs)
    assert "outputs" in ref, f"{name}: meant as a valid input, reference rejects: {ref}"


def _spec_examples() -> list[tuple[str, dict[str, JSON]]]:
    found = []
    for path in sorted((ROOT / "spec").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for n, block in enumerate(re.findall(r"```example\n(.*?)```", text, re.S)):
            found.append((f"{path.stem}-{n}", json.loads(block)))
    return found


def test_spec_worked_examples(port: Port) -> None:
    """Every worked example of spec/ whose operator the port implements."""
    ran = 0
    for name, ex in _spec_examples():
        if ex["op"] not in PRESET_KEYS:
            continue
        configs = [ex["config"]] if "config" in ex else [
            config_to_dict(getattr(PRESETS[ex["preset"]], key)) for key in PRESET_KEYS[ex["op"]]
        ]
        for cfg in configs:
            ref = run_reference(ex["op"], cfg, ex["inputs"])
            expected = {"reject": ex["reject"]} if "reject" in ex else {"outputs": ex["outputs"]}
            if ref.get("outputs") != expected.get("outputs") or \
                    ref.get("reject") != expected.get("reject"):
                continue  # an ambiguous preset key: not the configuration the example means
            got = port.ask(ex["op"], cfg, ex["inputs"])
            assert {k: got.get(k) for k in expected} == expected, (name, got)
            ran += 1
    assert ran >= 5, f"only {ran} spec examples ran"


# ------------------------------------------------------------------ model-level operators

MODEL_OPS = ("attention", "ffn", "encoder_layer", "model")
"""The model-level operators of spec/06 and spec/08."""
MODEL_PRESET_NAMES = ("tiny", "tiny-odd", "micro")
LAYER_PART = {"attention": "attention", "ffn": "ffn", "encoder_layer": "all"}
MODEL_SETTINGS = settings(SETTINGS, max_examples=100)


def _perturb(params: ModelParams, cfg: ModelConfig, knob: str, seed: int) -> ModelParams:
    """Variations on drawn parameters that reach saturation, moves and odd constants."""
    if knob == "drawn":
        return params
    rng = random.Random(seed)
    mmax = (1 << cfg.multiplier_bits) - 1
    bmax = (1 << (cfg.bias_width - 1)) - 1

    def lin(lp: LinearParams, name: str) -> LinearParams:
        if knob == "loud" and name in ("o", "ffn2", "ffn1"):
            return replace(lp, out_mult=mmax, out_shift=0,
                           out_bias=tuple(rng.choice((bmax, -bmax - 1, 0)) for _ in lp.out_bias))
        if knob == "moves" and name in ("q", "k", "v"):
            lim = rng.choice((1 << lp.in_shift, bmax))
            return replace(lp, in_bias=tuple(max(-bmax - 1, min(bmax, rng.randint(-lim, lim)))
                                             for _ in lp.in_bias))
        if knob == "wild":
            return replace(lp, in_mult=rng.randint(1, mmax), in_shift=rng.randint(0, 12),
                           out_mult=rng.randint(1, mmax), out_shift=rng.randint(0, 14))
        return lp

    def layer(lp: LayerParams) -> LayerParams:
        out = replace(lp, q=lin(lp.q, "q"), k=lin(lp.k, "k"), v=lin(lp.v, "v"),
                      o=lin(lp.o, "o"), ffn1=lin(lp.ffn1, "ffn1"), ffn2=lin(lp.ffn2, "ffn2"))
        if knob == "wild":
            out = replace(out, score_mult=rng.randint(1, mmax), prob_mult=rng.randint(1, mmax),
                          prob_shift=rng.randint(0, cfg.prob_frac + 2))
        return out

    head = replace(params.head, pooler=lin(params.head.pooler, "pooler"))
    return ModelParams(tuple(layer(lp) for lp in params.layers), head)


@st.composite
def model_case(draw: st.DrawFn, op: str) -> tuple[dict[str, JSON], dict[str, JSON]]:
    """A valid request of a model-level operator over a model preset (tiny, tiny-odd, micro).

    Parameters come from ``conformance.model.draws.draw_params`` (its Q/K/V moves are
    non-zero), optionally varied; the mask is any pattern, including none real.
    """
    cfg = MODEL_PRESETS[draw(st.sampled_from(MODEL_PRESET_NAMES))]
    seed = draw(st.integers(0, 2**20))
    knob = draw(st.sampled_from(["drawn", "drawn", "loud", "moves", "wild"]))
    params = _perturb(draw_params(cfg, seed), cfg, knob, seed + 1)
    params.validate(cfg)
    seq = draw(st.integers(1, cfg.max_seq))
    regime = draw(st.sampled_from(["drawn", "drawn", "uniform", "extremes", "zero"]))
    fmt = cfg.h_format
    rng = random.Random(seed + 2)
    if regime == "drawn":
        h = [v for row in draw_h0(cfg, seq, seed + 3) for v in row]
    elif regime == "uniform":
        h = [rng.randint(fmt.min, fmt.max) for _ in range(seq * cfg.hidden)]
    elif regime == "extremes":
        h = [rng.choice((fmt.min, fmt.max, 0, 1, -1)) for _ in range(seq * cfg.hidden)]
    else:
        h = [0] * (seq * cfg.hidden)
    inputs: dict[str, JSON] = {"h": h}
    if op != "ffn":
        inputs["mask"] = draw(st.lists(st.sampled_from([0, 1, 1]), min_size=seq, max_size=seq))
    if op == "model":
        inputs.update(model_to_inputs(params, cfg))
    else:
        inputs.update(layer_to_inputs(params.layers[0], "", cfg, LAYER_PART[op]))
    return config_to_dict(cfg), inputs


@pytest.mark.parametrize("op", MODEL_OPS)
def test_model_ops_agree_with_reference(port: Port, op: str) -> None:
    """Normative and every profile (trace) output equal the reference's, exactly."""
    @MODEL_SETTINGS
    @given(model_case(op))
    def check(case: tuple[dict[str, JSON], dict[str, JSON]]) -> None:
        ref = agree(port, op, *case)
        assert "outputs" in ref, ref
        declared = {*OPS[op].outputs, *OPS[op].profile_outputs}
        assert set(ref["outputs"]) <= declared

    check()


def test_model_op_returns_every_declared_output(port: Port) -> None:
    """The port returns every normative and profile output the registry declares."""
    for op in MODEL_OPS:
        for name in MODEL_PRESET_NAMES:
            cfg = MODEL_PRESETS[name]
            params = draw_params(cfg, 5)
            h = [v for row in draw_h0(cfg, cfg.max_seq, 6) for v in row]
            inputs: dict[str, JSON] = {"h": h, "mask": [1] * cfg.max_seq}
            if op == "model":
                inputs.update(model_to_inputs(params, cfg))
            else:
                inputs.update(layer_to_inputs(params.layers[0], "", cfg, LAYER_PART[op]))
            got = port.ask(op, config_to_dict(cfg), inputs)["outputs"]
            declared = [*OPS[op].outputs, *OPS[op].profile_outputs]
            if op == "model":
                declared = [k for k in declared
                            if not k.startswith("layer.") or int(k.split(".")[1]) < cfg.layers]
            assert sorted(got) == sorted(declared), (op, name)


BAD_MODEL_VALUES: list[JSON] = [10**9, -(10**9), 2**70, -1, 0, 2, 1.5, "1", True, None, [1], {}]


@st.composite
def model_mutated(draw: st.DrawFn, op: str) -> tuple[JSON, JSON]:
    """A valid model-level request with one defect: configuration, field, element or length."""
    cfg, inputs = draw(model_case(op))
    cfg, inputs = copy.deepcopy(cfg), copy.deepcopy(inputs)
    kind = draw(st.sampled_from(["config", "config_rule", "missing", "type", "element",
                                 "length", "scalar", *(["mask"] if "mask" in inputs else [])]))
    if kind == "mask":
        mask = inputs["mask"]
        action = draw(st.sampled_from(["short", "long", "entry", "type"]))
        if action == "short":
            mask.pop()
        elif action == "long":
            mask.append(1)
        elif action == "entry":
            bad_entries: list[JSON] = [2, -1, True, 1.0]
            mask[draw(st.integers(0, len(mask) - 1))] = draw(st.sampled_from(bad_entries))
        else:
            inputs["mask"] = draw(st.sampled_from(["1", 1, {"a": 1}, None]))
        return cfg, inputs
    if kind == "config":
        name = draw(st.sampled_from(sorted(cfg)))
        action = draw(st.sampled_from(["value", "delete", "unknown"]))
        if action == "value":
            cfg[name] = draw(st.sampled_from([*BAD_MODEL_VALUES, 65, 17000, -40, 33, 49]))
        elif action == "delete":
            del cfg[name]  # an optional field takes its default: may stay valid
        else:
            cfg["bogus"] = 1
        return cfg, inputs
    if kind == "config_rule":  # cross-field rules of spec/06, "Parameters"
        rule = draw(st.sampled_from(["heads", "group", "steps", "score", "r_width", "h_frac"]))
        if rule == "heads":
            cfg["heads"] = cfg["hidden"] + 1 if draw(st.booleans()) else (
                4 if cfg["hidden"] % 4 else 5)
        elif rule == "group":
            cfg["bspn_group"] = cfg["hidden"] - 1 if cfg["hidden"] > 2 else cfg["hidden"] + 1
        elif rule == "steps":
            cfg["steps"] = (1 << cfg["bits"]) - 2
        elif rule == "score":
            cfg["score_width"] = 8
            cfg["multiplier_bits"] = 24
        elif rule == "r_width":
            cfg["r_width"] = cfg["h_width"] - 1
        else:
            cfg["h_frac"] = cfg["h_width"] - 1
        return cfg, inputs
    name = draw(st.sampled_from(sorted(inputs)))
    value = inputs[name]
    if kind == "missing":
        del inputs[name]
    elif kind == "type":
        inputs[name] = draw(st.sampled_from(
            ["text", {"a": 1}, 7, None] if isinstance(value, list) else [[1], "7", 1.5, None]))
    elif kind == "element" and isinstance(value, list) and value:
        value[draw(st.integers(0, len(value) - 1))] = draw(st.sampled_from(BAD_MODEL_VALUES))
    elif kind in ("element", "length") and isinstance(value, list):
        if name == "h" and draw(st.booleans()):
            cfg_obj = ModelConfig(**cfg)
            value.extend([0] * (cfg_obj.hidden * (cfg_obj.max_seq + 1 - len(value) //
                                                  cfg_obj.hidden)))
        elif draw(st.booleans()) and value:
            value.pop()
        else:
            value.append(0)
    else:
        inputs[name] = draw(st.sampled_from(BAD_MODEL_VALUES))
    return cfg, inputs


@pytest.mark.parametrize("op", MODEL_OPS)
def test_model_op_rejections_agree(port: Port, op: str) -> None:
    """Single-fault requests: the port rejects with the reference's class (or agrees)."""
    @settings(SETTINGS, max_examples=80)
    @given(model_mutated(op))
    def check(case: tuple[JSON, JSON]) -> None:
        classes.append(agree(port, op, *case).get("reject", "valid"))

    classes: list[str] = []
    check()
    assert sum(c != "valid" for c in classes) >= len(classes) // 2, classes
    assert {"config", "range", "shape"} <= set(classes), classes
    if op != "ffn":
        assert "mask" in classes, classes


def test_spec_layer_examples(port: Port) -> None:
    """The worked examples of spec/06 (micro preset): every output they list."""
    ran = 0
    for name, ex in _spec_examples():
        if ex["op"] not in MODEL_OPS:
            continue
        ref = run_reference(ex["op"], ex["config"], ex["inputs"])
        got = port.ask(ex["op"], ex["config"], ex["inputs"])
        if "reject" in ex:
            assert ref.get("reject") == got.get("reject") == ex["reject"], (name, got)
        else:
            want = ex["outputs"]
            assert {k: ref["outputs"][k] for k in want} == want, name
            assert {k: got["outputs"].get(k) for k in want} == want, (name, got)
            assert got["outputs"] == ref["outputs"], name
        ran += 1
    assert ran >= 4, f"only {ran} layer examples ran"


def test_model_widths_sorbet_base_shapes(port: Port) -> None:
    """One Sorbet-base attention row: 768 channels, 12 heads, the widest default formats."""
    cfg = replace(MODEL_PRESETS["sorbet-base"], layers=1, ffn=1, max_seq=2)
    params = draw_params(cfg, 11)
    h = [v for row in draw_h0(cfg, 2, 12) for v in row]
    inputs: dict[str, JSON] = {"h": h, "mask": [1, 0]}
    inputs.update(layer_to_inputs(params.layers[0], "", cfg, "attention"))
    agree(port, "attention", config_to_dict(cfg), inputs)


def test_context_offset_limit_agrees(port: Port) -> None:
    """The context offset's bound (spec/06, "Widths"): a layer whose ``W_max max_seq o`` equals
    the headroom of o's quantizer runs, the next larger weight is ``config``, in both."""
    cfg = replace(MODEL_PRESETS["micro"], multiplier_bits=20, bias_width=40, prob_frac=16,
                  partition_frac=16, score_width=40)
    lp = draw_params(cfg, 3).layers[0]
    h = [v for row in draw_h0(cfg, cfg.max_seq, 4) for v in row]
    answers = []
    for o_in_mult in (1048321, 1048322):
        layer = replace(lp, prob_mult=524288, prob_shift=6, o=replace(lp.o, in_mult=o_in_mult))
        inputs: dict[str, JSON] = {"h": h, "mask": [1] * cfg.max_seq}
        inputs.update(layer_to_inputs(layer, "", cfg, "attention"))
        answers.append(agree(port, "attention", config_to_dict(cfg), inputs))
    assert "outputs" in answers[0] and answers[1].get("reject") == "config", answers


# ------------------------------------------------------------------ protocol


def test_protocol_edges(port_path: Path) -> None:
    tiny = config_to_dict(PRESETS["tiny"].spikes)
    good = {"op": "if_encode", "config": tiny, "inputs": {"count": 3}}
    lines = [
        "",  # blank lines are skipped
        json.dumps({"id": "a\u00e9\\\"\n", **good}),
        "{not json",
        "[1, 2]",
        json.dumps({"id": 7, "op": "no_such_op", "config": {}, "inputs": {}}),
        json.dumps({"id": "no-op", "config": tiny, "inputs": {}}),
        json.dumps({"id": "crlf", **good}) + "\r",
        json.dumps({"id": "dup", **good}),
        json.dumps({"id": "dup", **good}),
        '{"id": "ws"  ,  "op" : "if_encode", "config": {"bits": 4, "steps": 16}, '
        '"inputs": {"count": 1e0}}',
    ]
    done = subprocess.run([str(port_path)], input="\n".join(lines) + "\n", capture_output=True,
                          text=True, encoding="utf-8", timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(a) for a in done.stdout.splitlines()]
    assert len(answers) == len(lines) - 1
    assert answers[0]["id"] == "a\u00e9\\\"\n" and "outputs" in answers[0]
    assert answers[1]["id"] is None and "malformed JSON" in answers[1]["error"]
    assert answers[2]["id"] is None and "error" in answers[2]
    assert answers[3] == {"id": 7, "error": "unsupported op 'no_such_op'"}
    assert answers[4]["id"] == "no-op" and "error" in answers[4]
    assert answers[5]["id"] == "crlf" and answers[5]["outputs"] == answers[0]["outputs"]
    assert answers[6] == answers[7]  # no state between calls
    assert answers[8]["id"] == "ws" and answers[8]["reject"] == "range"


def test_large_request(port_path: Path) -> None:
    """A 3072 x 768 layer (the Sorbet feed-forward output's shape), checked with sums."""
    cfg = config_to_dict(PRESETS["sorbet"].linear_unsigned)
    nin, nout = cfg["in_features"], cfg["out_features"]
    counts = [(j * 7) % 16 for j in range(nin)]
    signs = [1 if (i * 31 + j * 17) % 5 < 3 else -1 for i in range(nout) for j in range(nin)]
    line = json.dumps({"id": "big", "op": "binary_linear", "config": cfg,
                       "inputs": {"counts": counts, "signs": signs}})
    done = subprocess.run([str(port_path)], input=line + "\n", capture_output=True, text=True,
                          timeout=120, check=False)
    out = json.loads(done.stdout)["outputs"]
    for i in (0, 1, nout - 1):
        row = signs[i * nin:(i + 1) * nin]
        assert out["acc"][i] == sum(c * s for c, s in zip(counts, row, strict=True))
        assert out["partial"][(i + 1) * 16 - 1] == out["acc"][i]  # unsigned: no offset
    assert len(out["partial"]) == nout * 16


def test_version(port_path: Path) -> None:
    done = subprocess.run([str(port_path), "--version"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and "ptsoftmax" in done.stdout and "bspn" in done.stdout


def test_sqrt2_constant_is_exact() -> None:
    """The 128-bit constant of op_bspn.c is floor(sqrt(2) * 2^127) = isqrt(2^255)."""
    src = (C_PORT / "src" / "op_bspn.c").read_text(encoding="utf-8")
    m_hi = re.search(r"SQRT2_127_HI UINT64_C\((0x[0-9a-f]+)\)", src)
    m_lo = re.search(r"SQRT2_127_LO UINT64_C\((0x[0-9a-f]+)\)", src)
    assert m_hi is not None and m_lo is not None, "SQRT2_127_HI/LO not found in op_bspn.c"
    hi, lo = int(m_hi.group(1), 16), int(m_lo.group(1), 16)
    assert (hi << 64) | lo == math.isqrt(1 << 255)


# ------------------------------------------------------------------ committed vectors

def _run_check(argv: list[str]) -> int:
    """``sorbet-ref check ARGV``: the check subcommand's own parser and handler.

    Built from ``conformance.commands.check`` alone, so the test depends on no other
    subcommand; ``sorbet-ref check`` dispatches to exactly this handler.
    """
    import argparse

    from conformance.commands import check

    parser = argparse.ArgumentParser(prog="sorbet-ref")
    check.register(parser.add_subparsers())
    args = parser.parse_args(["check", *argv])
    code: int = args.handler(args)
    return code


def test_runner_passes_every_committed_vector(port_path: Path, tmp_path: Path) -> None:
    """``sorbet-ref check --backend exec:...`` over ALL committed vectors: 100%, no filter."""
    manifest = json.loads((ROOT / "vectors" / "manifest.json").read_text(encoding="utf-8"))
    expected = sum(f["vectors"] for f in manifest["files"])
    operators = {f["op"] for f in manifest["files"]}
    assert set(MODEL_OPS) <= operators and set(PRESET_KEYS) <= operators
    code = _run_check(["--backend", f"exec:{port_path}", "--report-dir", str(tmp_path),
                       "--no-flags"])
    report = json.loads((tmp_path / "check-report.json").read_text(encoding="utf-8"))
    assert code == 0, report["problems"]
    assert report["verdict"] == "PASS"
    assert report["selection"]["selected_vectors"] == expected > 0
    assert report["counts"] == {"pass": expected}
    assert set(report["per_operator"]) == operators


def test_garbled_lines_never_crash(port_path: Path) -> None:
    """Deterministically corrupted request lines: one answer each, exit status 0."""
    rng = random.Random(1234)
    base = json.dumps({"id": "g", "op": "bspn", "config": config_to_dict(PRESETS["tiny"].bspn),
                       "inputs": {"x": [1, -2, 3, 4, 0, 0, 7, -8], "weight_sign": [1] * 8,
                                  "weight_exp": [0] * 8, "bias": [0] * 8}})
    lines = []
    for _ in range(400):
        chars = list(base)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(chars))
            chars[pos] = rng.choice('{}[]",:-0123456789eE.\\ntruefalsnul ')
        lines.append("".join(chars)[: rng.randint(1, len(chars))])
    lines += ["[" * 200 + "]" * 200, '"\\ud800"', '{"id": "\\u00"}', "-", "1e999999"]
    done = subprocess.run([str(port_path)], input="\n".join(lines) + "\n", capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(a) for a in done.stdout.splitlines()]
    assert len(answers) == sum(1 for ln in lines if ln.strip())
    assert all({"outputs", "reject", "error"} & set(a) for a in answers)
