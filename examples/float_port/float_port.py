"""A port that follows the authors' floating point formulas (a deliberately inexact port).

The Sorbet authors' PyTorch code computes every operator in floating point
(shared notes, "Operators, as the authors' code computes them"). This backend does
the same with numpy, in float32 (PyTorch's default dtype; ``BACKEND``) or float64
(``BACKEND64``), and converts its results to the integer output formats of the spec
only at the end. Running the conformance vectors against it shows which rules of the
integer specification a float implementation gets wrong, and where:

- PTsoftmax: ``s = ceil(x * 2^-score_frac)`` in float; masked scores get ``-10000``
  added (the authors' additive mask) instead of taking no part; ``e = 2^(s - max s)``
  in float, nothing dropped; ``Z = sum e``; ``2^K`` the nearest power of two to
  ``Z`` by float ``log2`` and compare (ties up); ``p = e / 2^K``; output
  ``floor(p * 2^out_frac)``.
- BSPN: ``x' = x * 2^-in_frac``; per group ``k = ceil(log2(mean|x'| + 1e-5))`` with
  the authors' ``eps = 1e-5`` (not the configuration's ``2^-eps_exp``) and float
  ``log2``; ``y = sign * 2^wexp * x' / 2^k + bias * 2^-bias_frac``; nonzero ``y``
  becomes ``sign(y) * 2^r``, ``r = round(log2|y|)`` with ``np.round`` (half to even)
  of the float ``log2``; the exponent code ``r + out_frac`` is flushed below 0 and
  capped at ``out_width - 2`` as the output format requires.
- quantize: the step ``alpha = 2^shift / M`` and the move ``bias / M`` as float
  parameters, ``q = clamp(round((x + move) / alpha))`` with round half to even (as
  ``torch.round``), count ``q - q_min``.
- IF encoder: the authors' neuron, constant input ``c`` per step, threshold
  ``0.95 * (T - 0.0001)`` (``0.95 * (16 - 0.0001)`` for Sorbet's ``T = 16``),
  fire when ``V >= threshold``, subtract the threshold.
- binary linear: every input's spike train from that neuron; a signed input counts
  each step's spike as ``spike - 0.5`` (so ``c - T/2`` over ``T`` steps, the authors'
  ``c - 8`` for ``T = 16``); ``acc = sum_j sign_ij * value_j`` in float, then rounded
  to the nearest integer.

Input validation is the interface contract of the spec, not arithmetic: a request the
reference rejects is rejected here with the same class (``conformance.operators`` does the
checks), so every failure of this port in a conformance run comes from the float
formulas above. Only the normative outputs are returned, plus BSPN's ``divisor_exp``
(the group exponents ``k``), which shows where the float divisor differs.

The port covers these five operators; a request for a model-level operator
(``attention``, ``ffn``, ``encoder_layer``, ``model``) that the reference accepts
raises ``Unsupported``, which the runner reports as ``error``.

Run: ``sorbet-ref check --backend python:examples.float_port.float_port:BACKEND
--include ptsoftmax --include bspn --include quantize --include if_encode
--include binary_linear`` (docs/float-port.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from conformance.model.floatmodel import BSPN_EPS, MASK_VALUE
from conformance.operators import config_from_dict, get_op, run_reference
from conformance.runner.backends import Rejected, Unsupported

JSON = Any
Array = npt.NDArray[np.floating[Any]]

AUTHORS_EPS = BSPN_EPS
"""The authors' BSPN eps (the float model's, conformance/model/floatmodel.py)."""

MASK_ADD = MASK_VALUE
"""The authors' additive attention mask (the float model's)."""


def if_threshold(steps: int) -> float:
    """The authors' IF threshold ``0.95 * (16 - 0.0001)``, with ``T`` in place of 16."""
    return 0.95 * (steps - 0.0001)


class FloatPort:
    """The authors' float formulas as a Python backend (spec/11, "Python object")."""

    def __init__(self, dtype: type[np.floating[Any]] = np.float32,
                 eps: float | None = AUTHORS_EPS) -> None:
        self.dtype = dtype
        self.eps = eps
        """BSPN's eps; None takes the configuration's ``2^-eps_exp`` instead of 1e-5."""
        self.name = f"float-port-{np.dtype(dtype).name}" + ("" if eps is not None else "-cfg-eps")

    def f(self, value: float | int | Array) -> Array:
        """``value`` as an array of this port's float type."""
        return np.asarray(value, dtype=np.float64).astype(self.dtype)

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        """Outputs of ``op``, or raise Rejected for input outside the spec's domain."""
        checked = run_reference(op, config, inputs)
        if "reject" in checked:
            raise Rejected(str(checked["reject"]), str(checked.get("message", "")))
        cfg = config_from_dict(get_op(op), config, op)
        fn = {
            "ptsoftmax": self._ptsoftmax,
            "bspn": self._bspn,
            "quantize": self._quantize,
            "if_encode": self._if_encode,
            "binary_linear": self._binary_linear,
        }.get(op)
        if fn is None:
            raise Unsupported(f"the float port has no operator {op!r}")
        return fn(cfg, inputs)

    # ------------------------------------------------------------------ PTsoftmax

    def _ptsoftmax(self, cfg: Any, inputs: dict[str, JSON]) -> dict[str, JSON]:
        x = self.f(inputs["scores"]) / self.f(2.0**cfg.score_frac)
        mask = inputs.get("mask")
        if mask is not None:
            x = x + self.f([0.0 if m else MASK_ADD for m in mask])
        s = np.ceil(x)
        e = np.exp2(s - np.max(s))
        z = e.sum(dtype=self.dtype)
        lo = self.f(2.0) ** np.floor(np.log2(z))
        big = lo if z - lo < 2 * lo - z else 2 * lo
        p = e / big
        out = np.floor(p * self.f(2.0**cfg.out_frac))
        return {"out": [int(v) for v in out]}

    # ------------------------------------------------------------------ BSPN

    def _bspn(self, cfg: Any, inputs: dict[str, JSON]) -> dict[str, JSON]:
        x = self.f(inputs["x"]) / self.f(2.0**cfg.in_frac)
        w = self.f(inputs["weight_sign"]) * np.exp2(self.f(inputs["weight_exp"]))
        beta = self.f(inputs["bias"]) / self.f(2.0**cfg.bias_frac)
        out: list[int] = []
        ks: list[int] = []
        g = cfg.group_size
        for start in range(0, cfg.channels, g):
            sl = slice(start, start + g)
            m = np.mean(np.abs(x[sl]), dtype=self.dtype)
            eps = self.eps if self.eps is not None else 2.0**-cfg.eps_exp
            k = np.ceil(np.log2(m + self.f(eps)))
            ks.append(int(k))
            y = w[sl] * (x[sl] / np.exp2(k)) + beta[sl]
            for v in y:
                out.append(self._pow2_out(v, cfg))
        return {"out": out, "divisor_exp": ks}

    @staticmethod
    def _pow2_out(y: np.floating[Any], cfg: Any) -> int:
        if y == 0 or not math.isfinite(float(y)):
            return 0
        code = int(np.round(np.log2(np.abs(y)))) + cfg.out_frac
        if code < 0:
            return 0
        code = min(code, cfg.out_width - 2)
        return (1 << code) if y > 0 else -(1 << code)

    # ------------------------------------------------------------------ quantizer

    def _quantize(self, cfg: Any, inputs: dict[str, JSON]) -> dict[str, JSON]:
        mult = int(inputs["multiplier"])
        alpha = self.f(2.0 ** int(inputs["shift"]) / mult)
        move = self.f(int(inputs["bias"]) / mult)
        x = self.f(inputs["x"])
        q_min = -(1 << (cfg.bits - 1)) if cfg.signed else 0
        q_max = (1 << (cfg.bits - 1)) - 1 if cfg.signed else (1 << cfg.bits) - 1
        q = np.clip(np.round((x + move) / alpha), q_min, q_max)
        return {"counts": [int(v) - q_min for v in q]}

    # ------------------------------------------------------------------ IF encoder

    def _spikes(self, count: int, steps: int) -> list[int]:
        theta = self.f(if_threshold(steps))
        c = self.f(count)
        v = self.f(0.0)
        train = []
        for _ in range(steps):
            v = v + c
            fire = bool(v >= theta)
            if fire:
                v = v - theta
            train.append(1 if fire else 0)
        return train

    def _if_encode(self, cfg: Any, inputs: dict[str, JSON]) -> dict[str, JSON]:
        return {"spikes": self._spikes(int(inputs["count"]), cfg.steps)}

    # ------------------------------------------------------------------ binary linear

    def _binary_linear(self, cfg: Any, inputs: dict[str, JSON]) -> dict[str, JSON]:
        trains = np.array([self._spikes(int(c), cfg.steps) for c in inputs["counts"]],
                          dtype=self.dtype)
        per_step = trains - self.f(0.5) if cfg.signed_input else trains
        values = per_step.sum(axis=1, dtype=self.dtype)
        signs = self.f(inputs["signs"]).reshape(cfg.out_features, cfg.in_features)
        acc = signs @ values
        return {"acc": [int(v) for v in np.rint(acc)]}


BACKEND = FloatPort(np.float32)
"""The authors' formulas in float32, PyTorch's default dtype."""

BACKEND64 = FloatPort(np.float64)
"""The same formulas in float64."""

BACKEND_CFG_EPS = FloatPort(np.float32, eps=None)
"""float32 with the configuration's eps ``2^-eps_exp``."""

BACKEND64_CFG_EPS = FloatPort(np.float64, eps=None)
"""float64 with the configuration's eps ``2^-eps_exp``: separates the eps choice from the
float arithmetic in BSPN's failures."""
