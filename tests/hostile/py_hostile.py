"""Hostile Python backends for tests/test_hostile.py (python:MODULE:ATTR and api.check)."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from conformance.runner.backends import ReferenceBackend

JSON = Any


def _target(op: str, inputs: dict[str, JSON]) -> bool:
    """The vectors the backends below misbehave on: if_encode with count 2."""
    return op == "if_encode" and inputs.get("count") == 2


class OsExit(ReferenceBackend):
    """Calls os._exit(0) (a clean-looking exit of the whole process) on the target."""

    name = "os-exit"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        if _target(op, inputs):
            os._exit(0)
        return super().run(op, config, inputs)


class SysExit(ReferenceBackend):
    """Raises SystemExit(0) on every if_encode vector."""

    name = "sys-exit"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        if op == "if_encode":
            sys.exit(0)
        return super().run(op, config, inputs)


class Hang(ReferenceBackend):
    """Never returns on the target."""

    name = "hang"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        if _target(op, inputs):
            while True:
                time.sleep(60)
        return super().run(op, config, inputs)


class SelfKill(ReferenceBackend):
    """Kills its own process with SIGKILL on the target (a crash of the interpreter)."""

    name = "self-kill"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        if _target(op, inputs):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().run(op, config, inputs)


class Chatty(ReferenceBackend):
    """Prints to stdout on every call (must not garble the answers)."""

    name = "chatty"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        print(f"computing {op}...")
        os.write(1, b"raw write to fd 1\n")
        return super().run(op, config, inputs)


class HugeOutputs(ReferenceBackend):
    """Returns a 5000-digit integer, NaN and a 100000-deep list on the target."""

    name = "huge-outputs"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        out = super().run(op, config, inputs)
        if _target(op, inputs):
            deep: list[Any] = [1]
            for _ in range(100000):
                deep = [deep]
            return {"spikes": [10 ** 5000, float("nan")], "membrane": deep}
        return out


class HugeError(ReferenceBackend):
    """Raises an exception with a 5 MB message on every if_encode vector."""

    name = "huge-error"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        if op == "if_encode":
            raise RuntimeError("x" * (5 * 1024 * 1024))
        return super().run(op, config, inputs)


class NothingImplemented:
    """Implements nothing: every call is unsupported."""

    name = "nothing"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        raise NotImplementedError(op)
