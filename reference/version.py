"""Version of the normative text this package executes (spec/README.md)."""

SPEC_VERSION = "0.1.0"
"""Bumped whenever a normative rule in ``spec/`` changes meaning."""
