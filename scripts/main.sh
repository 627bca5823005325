#!/usr/bin/env bash
# The main job: set up, then run the bundled default (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/sorbet-ref demo "$@"
