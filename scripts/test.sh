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
# Two workers (the project's machines have 2 cores); tests sharing an expensive module
# fixture are grouped onto one worker.  Later options win: `-n 0` runs in one process.
.venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
