"""The CLI parses and every listed subcommand exists."""

import subprocess
import sys
from pathlib import Path

from conformance.cli import COMMANDS, build_parser, main


def test_help_lists_every_command() -> None:
    parser = build_parser()
    text = parser.format_help()
    for mod in COMMANDS:
        assert mod.rsplit(".", 1)[1] in text


def test_demo_runs() -> None:
    assert main(["demo"]) == 0
    assert main(["demo", "--preset", "sorbet"]) == 0


def test_check_starts_without_the_proof_and_generator_libraries() -> None:
    """``check`` registers only its own command: Z3, Hypothesis and matplotlib stay unloaded."""
    code = (
        "import sys\n"
        "from conformance.cli import build_parser, main\n"
        "build_parser('check').parse_args(['check', '--backend', 'python:x:y'])\n"
        "heavy = sorted(m for m in ('z3', 'hypothesis', 'matplotlib') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.strip() == ""


def test_one_command_parser_matches_the_full_parser() -> None:
    argv = ["check", "--backend", "python:x:y", "--show", "3"]
    assert vars(build_parser("check").parse_args(argv)) == vars(build_parser().parse_args(argv))
