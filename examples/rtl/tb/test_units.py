"""cocotb test benches of the Sorbet RTL units (examples/rtl/rtl/).

Each test reads a job file (``SORBET_RTL_JOB``: a JSON list of vectors of one operator
and one configuration, the one the unit was elaborated with), drives every vector through
the unit and writes one answer per vector to ``SORBET_RTL_RESULTS`` in the form of the
backend protocol (spec/11-backend-protocol.md): ``{"id", "outputs"}``,
``{"id", "reject", "message"}`` or ``{"id", "error"}``.

The driver puts a request on the unit's ports. It checks only what a bus cannot carry
(``refusal``): a missing field, a scalar where a list belongs or the reverse, a value
that is not an integer or does not fit the 64-bit input word. Every other check (tensor
lengths, value ranges, mask entries) is the unit's: its ``err``/``err_class`` outputs.

All inputs are driven and all outputs sampled at falling clock edges, so every value read
is the one registered at the preceding rising edge. The unit is reset once at the start
and not between vectors: state kept from one vector to the next would show in the answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Coroutine
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, First, RisingEdge

JSON = Any
Answer = dict[str, JSON]
WORD = (1 << 64) - 1
CLASSES = {1: "range", 2: "shape", 3: "mask"}
#: Cycles a vector may take per input element (plus a constant) before the bench gives up.
CYCLES_PER_ELEMENT = 64

# Fields of each operator's request: name -> "list" or "int"; "mask" may be absent.
FIELDS: dict[str, dict[str, str]] = {
    "ptsoftmax": {"scores": "list", "mask": "list"},
    "bspn": {"x": "list", "weight_sign": "list", "weight_exp": "list", "bias": "list"},
    "quantize": {"x": "list", "multiplier": "int", "shift": "int", "bias": "int"},
    "if_encode": {"count": "int"},
    "binary_linear": {"counts": "list", "signs": "list"},
}
OPTIONAL = {("ptsoftmax", "mask")}


class SimulationStuck(Exception):
    """The unit did not finish a vector within its cycle budget."""


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def refusal(op: str, inputs: dict[str, JSON]) -> tuple[str, str] | None:
    """``(class, message)`` when the request cannot be put on the unit's ports, else None."""
    for name, kind in FIELDS[op].items():
        value = inputs.get(name)
        if value is None:
            if (op, name) in OPTIONAL:
                continue
            return "shape", f"driver: the field {name} is missing"
        cls = "mask" if name == "mask" else "range"
        if kind == "list":
            if not isinstance(value, list):
                return ("mask" if name == "mask" else "shape",
                        f"driver: {name} is not a list")
            for i, v in enumerate(value):
                if not _is_int(v):
                    return cls, f"driver: {name}[{i}] is not an integer: {v!r}"
                if not -(1 << 63) <= v < (1 << 63):
                    return cls, f"driver: {name}[{i}] = {v} does not fit the 64-bit input word"
            if len(value) >= 1 << 32:
                return "shape", f"driver: {name} has more than 2^32 - 1 elements"
        else:
            if not _is_int(value):
                return ("shape" if isinstance(value, list) else "range",
                        f"driver: {name} is not an integer")
            if not -(1 << 63) <= value < (1 << 63):
                return "range", f"driver: {name} = {value} does not fit the 64-bit input word"
    return None


def _word(v: int) -> int:
    return v & WORD


def _signed(sig: Any) -> int:
    return int(sig.value.to_signed())


def _unsigned(sig: Any) -> int:
    return int(sig.value)


async def _start(dut: Any) -> None:
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value = 0


def _end(dut: Any, outputs: dict[str, JSON]) -> Answer:
    if int(dut.err.value):
        cls = CLASSES.get(_unsigned(dut.err_class), f"unknown class {_unsigned(dut.err_class)}")
        return {"reject": cls, "message": "the unit raised err"}
    return {"outputs": outputs}


def _budget(elements: int) -> int:
    return CYCLES_PER_ELEMENT * (elements + 16)


async def run_ptsoftmax(dut: Any, config: dict[str, JSON], inputs: dict[str, JSON]) -> Answer:
    """One row: header, n (score, mask) elements in, n outputs, done with Z and K."""
    scores: list[int] = inputs["scores"]
    mask: list[int] | None = inputs.get("mask")
    dut.n.value = len(scores)
    dut.has_mask.value = int(mask is not None)
    dut.n_mask.value = len(mask) if mask is not None else 0
    await _start(dut)
    out: list[int] = []
    i = 0
    for _ in range(_budget(len(scores))):
        if int(dut.out_valid.value):
            out.append(_unsigned(dut.p))
        if int(dut.done.value):
            dut.in_valid.value = 0
            return _end(dut, {"out": out, "partition": _unsigned(dut.partition),
                              "k": _signed(dut.k)})
        if int(dut.in_ready.value) and i < len(scores):
            dut.score_word.value = _word(scores[i])
            dut.mask_word.value = _word(mask[i]) if mask is not None and i < len(mask) else 0
            dut.in_valid.value = 1
            i += 1
        else:
            dut.in_valid.value = 0
        await FallingEdge(dut.clk)
    raise SimulationStuck("ptsoftmax: no done")


async def run_bspn(dut: Any, config: dict[str, JSON], inputs: dict[str, JSON]) -> Answer:
    """One token: header, channels in group by group, outputs and divisor exponents."""
    x, ws, we, b = (inputs[k] for k in ("x", "weight_sign", "weight_exp", "bias"))
    dut.n_x.value = len(x)
    dut.n_sign.value = len(ws)
    dut.n_exp.value = len(we)
    dut.n_bias.value = len(b)
    await _start(dut)
    out: list[int] = []
    div: list[int] = []
    i = 0
    n = min(len(x), len(ws), len(we), len(b))
    for _ in range(_budget(2 * n)):
        if int(dut.out_valid.value):
            out.append(_signed(dut.out_value))
        if int(dut.grp_valid.value):
            div.append(_signed(dut.divisor_exp))
        if int(dut.done.value):
            dut.in_valid.value = 0
            return _end(dut, {"out": out, "divisor_exp": div})
        if int(dut.in_ready.value) and i < n:
            dut.x_word.value = _word(x[i])
            dut.sign_word.value = _word(ws[i])
            dut.exp_word.value = _word(we[i])
            dut.bias_word.value = _word(b[i])
            dut.in_valid.value = 1
            i += 1
        else:
            dut.in_valid.value = 0
        await FallingEdge(dut.clk)
    raise SimulationStuck("bspn: no done")


async def run_quantize(dut: Any, config: dict[str, JSON], inputs: dict[str, JSON]) -> Answer:
    """Elementwise: parameters and n at start, one x a clock, one count a clock later."""
    x: list[int] = inputs["x"]
    dut.mult_word.value = _word(inputs["multiplier"])
    dut.shift_word.value = _word(inputs["shift"])
    dut.bias_word.value = _word(inputs["bias"])
    dut.n.value = len(x)
    await _start(dut)
    counts: list[int] = []
    i = 0
    for _ in range(_budget(len(x))):
        if int(dut.count_valid.value):
            counts.append(_unsigned(dut.count))
        if int(dut.done.value):
            dut.x_valid.value = 0
            return _end(dut, {"counts": counts})
        if int(dut.x_ready.value) and i < len(x):
            dut.x_word.value = _word(x[i])
            dut.x_valid.value = 1
            i += 1
        else:
            dut.x_valid.value = 0
        await FallingEdge(dut.clk)
    raise SimulationStuck("quantize: no done")


async def run_if_encode(dut: Any, config: dict[str, JSON], inputs: dict[str, JSON]) -> Answer:
    """One count: T steps of spike and membrane, one a clock."""
    dut.count_word.value = _word(inputs["count"])
    await _start(dut)
    spikes: list[int] = []
    membrane: list[int] = []
    for _ in range(_budget(1024)):
        if int(dut.step_valid.value):
            spikes.append(_unsigned(dut.spike))
            membrane.append(_unsigned(dut.membrane))
        if int(dut.done.value):
            return _end(dut, {"spikes": spikes, "membrane": membrane})
        await FallingEdge(dut.clk)
    raise SimulationStuck("if_encode: no done")


async def run_binary_linear(dut: Any, config: dict[str, JSON], inputs: dict[str, JSON]) -> Answer:
    """Inputs one at a time (count and sign column), T clocks each; then the outputs."""
    counts: list[int] = inputs["counts"]
    signs: list[int] = inputs["signs"]
    n_in = int(config["in_features"])
    n_out = int(config["out_features"])
    steps = int(config["steps"])
    dut.n_counts.value = len(counts)
    dut.n_signs.value = len(signs)
    await _start(dut)
    partial: list[int] = []
    acc: list[int] = []
    j = 0
    shaped = len(counts) == n_in and len(signs) == n_out * n_in
    for _ in range(_budget(n_in * (steps + 4))):
        if int(dut.part_valid.value):
            partial.append(_signed(dut.part_value))
        if int(dut.acc_valid.value):
            acc.append(_signed(dut.acc_value))
        if int(dut.done.value):
            dut.in_valid.value = 0
            return _end(dut, {"acc": acc, "partial": partial})
        if shaped and j < n_in:
            if int(dut.in_ready.value):
                column = 0
                for i in range(n_out):
                    column |= _word(signs[i * n_in + j]) << (64 * i)
                dut.count_word.value = _word(counts[j])
                dut.signs_word.value = column
                dut.in_valid.value = 1
                j += 1
            else:
                # The unit is encoding the previous input: wait for it without a
                # wake-up every clock.
                dut.in_valid.value = 0
                await First(RisingEdge(dut.in_ready), RisingEdge(dut.done))
        else:
            dut.in_valid.value = 0
        await FallingEdge(dut.clk)
    raise SimulationStuck("binary_linear: no done")


Driver = Callable[[Any, dict[str, JSON], dict[str, JSON]], Coroutine[Any, Any, Answer]]
DRIVERS: dict[str, Driver] = {
    "ptsoftmax": run_ptsoftmax,
    "bspn": run_bspn,
    "quantize": run_quantize,
    "if_encode": run_if_encode,
    "binary_linear": run_binary_linear,
}
STREAM_INPUTS = {
    "ptsoftmax": ("in_valid", "score_word", "mask_word", "n", "has_mask", "n_mask"),
    "bspn": ("in_valid", "x_word", "sign_word", "exp_word", "bias_word", "n_x", "n_sign",
             "n_exp", "n_bias"),
    "quantize": ("x_valid", "x_word", "mult_word", "shift_word", "bias_word", "n"),
    "if_encode": ("count_word",),
    "binary_linear": ("in_valid", "count_word", "signs_word", "n_counts", "n_signs"),
}


async def _reset(dut: Any, op: str) -> None:
    dut.start.value = 0
    for name in STREAM_INPUTS[op]:
        getattr(dut, name).value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)


async def run_job(dut: Any) -> None:
    """Drive every vector of the job file and write the answers."""
    with open(os.environ["SORBET_RTL_JOB"], encoding="utf-8") as f:
        job = json.load(f)
    op = job["op"]
    drive = DRIVERS[op]
    Clock(dut.clk, 10, unit="ns").start()
    await _reset(dut, op)
    answers: list[Answer] = []
    for vector in job["vectors"]:
        vid = vector["id"]
        refused = refusal(op, vector["inputs"])
        if refused is not None:
            answers.append({"id": vid, "reject": refused[0], "message": refused[1]})
            continue
        try:
            answer = await drive(dut, job["config"], vector["inputs"])
        except SimulationStuck as exc:
            answers.append({"id": vid, "error": f"simulation: {exc}"})
            await _reset(dut, op)
            continue
        answers.append({"id": vid, **answer})
    with open(os.environ["SORBET_RTL_RESULTS"], "w", encoding="utf-8") as f:
        json.dump(answers, f)


@cocotb.test()
async def run_vectors(dut: Any) -> None:
    """Every vector of the job, one after the other, on one elaboration of the unit."""
    await run_job(dut)
