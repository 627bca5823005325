"""Subcommands of ``sorbet-ref``, one module each."""
