#!/usr/bin/env bash
# Create .venv (if missing) and install sorbet-ref with its test and RTL tools
# (the Debian package iverilog too, with apt-get, when missing and run as root).
# Idempotent: reinstalls only when pyproject.toml changed. pip's output goes to
# .venv/install.log and is shown only when the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
# The RTL tests (tests/test_rtl.py, examples/rtl/) simulate with Icarus Verilog.
if ! command -v iverilog >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing iverilog (apt-get) for the RTL tests"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog; } \
               > /tmp/sorbet-ref-apt.log 2>&1; then
            cat /tmp/sorbet-ref-apt.log >&2
            echo "setup: apt-get install iverilog failed (log above)" >&2
            exit 1
        fi
    else
        echo "setup: iverilog not found and not root: the RTL tests will be skipped" \
             "(install the Debian package iverilog)"
    fi
fi
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
