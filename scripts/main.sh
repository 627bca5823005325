#!/usr/bin/env bash
# The main job: set up, build the bundled C port, run it against every committed
# vector (reports under reports/c-port/), then prove every theorem for the Sorbet preset.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== building the C port (examples/c_port)"
sh examples/c_port/build.sh
echo "== sorbet-ref vectors verify"
.venv/bin/sorbet-ref vectors verify
echo "== sorbet-ref check --backend exec:examples/c_port/build/sorbet-c"
.venv/bin/sorbet-ref check --backend exec:examples/c_port/build/sorbet-c --report-dir reports/c-port
echo "== sorbet-ref prove (preset sorbet)"
.venv/bin/sorbet-ref prove --json reports/proofs.json
