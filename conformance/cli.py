"""The ``sorbet-ref`` command line.

Each subcommand lives in its own module under ``conformance.commands`` that
exposes ``register(subparsers)``; the module's handler returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from reference.version import SPEC_VERSION

COMMANDS: tuple[str, ...] = (
    "conformance.commands.demo",
    "conformance.commands.prove",
    "conformance.commands.bounds",
    "conformance.commands.run",
    "conformance.commands.vectors",
    "conformance.commands.check",
    "conformance.commands.fuzz",
    "conformance.commands.convert",
    "conformance.commands.compare",
    "conformance.commands.mutants",
)
"""Modules of the subcommands, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="sorbet-ref",
        description="Exact integer reference, proofs and conformance suite for Sorbet.",
    )
    parser.add_argument("--version", action="version", version=f"spec {SPEC_VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the chosen subcommand."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except BrokenPipeError:
        # The reader of our output went away (``sorbet-ref prove --list | head``): stop
        # quietly, as the Python documentation advises for SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
