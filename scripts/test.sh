#!/usr/bin/env bash
# The whole test suite: set up, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"
.venv/bin/ruff check reference conformance tests examples benchmarks
echo "== mypy --strict"
.venv/bin/mypy --strict reference conformance
echo "== pytest"
.venv/bin/python -m pytest "$@"
