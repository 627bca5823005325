#!/usr/bin/env bash
# Create .venv (if missing) and install sorbet-ref with its test tools.
# Idempotent: reinstalls only when pyproject.toml changed. pip's output goes to
# .venv/install.log and is shown only when the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $("$PY" --version 2>&1)"
    "$PY" -m venv .venv
fi
stamp=".venv/.sorbet-ref-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing sorbet-ref and its dependencies into .venv (log: .venv/install.log)"
    if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip \
           && .venv/bin/python -m pip install --disable-pip-version-check -e ".[test,plots,rtl]"; } \
           > .venv/install.log 2>&1; then
        cat .venv/install.log >&2
        echo "setup: pip install failed (log above)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
