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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand registered, or only the subcommand ``only``.

    Each subcommand module imports what its command needs (Z3, Hypothesis, numpy,
    matplotlib), so registering one command keeps the others' imports out of its start-up.
    """
    parser = argparse.ArgumentParser(
        prog="sorbet-ref",
        description="Exact integer reference, proofs and conformance suite for Sorbet.",
    )
    parser.add_argument("--version", action="version", version=f"spec {SPEC_VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        if only is None or name.rsplit(".", 1)[1] == only:
            importlib.import_module(name).register(sub)
    return parser


def _command_named(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` starts with, if it names one (module name = command name)."""
    names = {name.rsplit(".", 1)[1] for name in COMMANDS}
    return argv[0] if argv and argv[0] in names else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the chosen subcommand."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_named(args_list))
    args = parser.parse_args(args_list)
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
