"""The CLI parses and every listed subcommand exists."""

from conformance.cli import COMMANDS, build_parser, main


def test_help_lists_every_command() -> None:
    parser = build_parser()
    text = parser.format_help()
    for mod in COMMANDS:
        assert mod.rsplit(".", 1)[1] in text


def test_demo_runs() -> None:
    assert main(["demo"]) == 0
    assert main(["demo", "--preset", "sorbet"]) == 0
