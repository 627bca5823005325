"""Small Python backends for the runner tests (loaded as python:tests/backends/py_backends.py:X)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from conformance.operators import OPS
from conformance.runner.backends import ReferenceBackend, Rejected

JSON = Any


class OffByOne(ReferenceBackend):
    """The reference, but the first element of ptsoftmax's ``out`` is one too large."""

    name = "off-by-one"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        out = super().run(op, config, inputs)
        if op == "ptsoftmax":
            out["out"] = [out["out"][0] + 1, *out["out"][1:]]
        return out


class NormativeOnly(ReferenceBackend):
    """The reference without any profile output."""

    name = "normative-only"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        out = super().run(op, config, inputs)
        return {k: v for k, v in out.items() if k in OPS[op].outputs}


class WrongProfile(ReferenceBackend):
    """Right normative outputs, a wrong ``membrane`` profile."""

    name = "wrong-profile"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        out = super().run(op, config, inputs)
        if op == "if_encode":
            out["membrane"] = [0] * len(out["membrane"])
        return out


class NeverRejects(ReferenceBackend):
    """Computes zeros where the reference rejects."""

    name = "never-rejects"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        try:
            return super().run(op, config, inputs)
        except Rejected:
            return {k: 0 for k in OPS[op].outputs}


class AlwaysRange(ReferenceBackend):
    """Rejects everything outside the domain as ``range``."""

    name = "always-range"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        try:
            return super().run(op, config, inputs)
        except Rejected as exc:
            raise Rejected("range", f"was {exc.cls}") from None


class Stateful(ReferenceBackend):
    """Right on the first if_encode of count 1, wrong on every later one: state leaks."""

    name = "stateful"

    def __init__(self) -> None:
        self.seen = False

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        out = super().run(op, config, inputs)
        if op == "if_encode" and inputs.get("count") == 1:
            if self.seen:
                out["spikes"] = [1 - out["spikes"][0], *out["spikes"][1:]]
            self.seen = True
        return out


class Sleepy(ReferenceBackend):
    """Sleeps 5 s on count 2 of if_encode."""

    name = "sleepy"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        if op == "if_encode" and inputs.get("count") == 2:
            time.sleep(5)
        return super().run(op, config, inputs)


class Raises(ReferenceBackend):
    """Raises ZeroDivisionError on if_encode."""

    name = "raises"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        if op == "if_encode":
            raise ZeroDivisionError("division by zero in the port")
        return super().run(op, config, inputs)


class Blocks(ReferenceBackend):
    """Touches the file named by $SORBET_TEST_MARKER on its first call, then blocks."""

    name = "blocks"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        Path(os.environ["SORBET_TEST_MARKER"]).write_text("started\n")
        time.sleep(120)
        return super().run(op, config, inputs)
