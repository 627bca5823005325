#!/usr/bin/env bash
# Run the plain Verilog bench of sorbet_ptsoftmax on the plain export of a PTsoftmax
# suite, with iverilog and vvp only (no Python): answers in the offline form.
#
#   bash examples/rtl/plain/run.sh EXPORT_DIR OUT_DIR [SUITE]
#
# EXPORT_DIR is the output of `sorbet-ref vectors export --out EXPORT_DIR`; SUITE
# defaults to ptsoftmax-sorbet. Each vector's configuration (its `config` lines) is set
# with iverilog -P; one that the unit refuses at elaboration (a module named
# sorbet_config_error_*) is answered reject config. Then
# `sorbet-ref check --backend offline:OUT_DIR --include SUITE` judges the answers.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rtl="$here/../rtl"
export_dir="${1:?usage: run.sh EXPORT_DIR OUT_DIR [SUITE]}"
out_dir="${2:?usage: run.sh EXPORT_DIR OUT_DIR [SUITE]}"
suite="${3:-ptsoftmax-sorbet}"
command -v iverilog >/dev/null || { echo "plain bench: iverilog not found (Debian package iverilog)" >&2; exit 1; }
[ -f "$export_dir/index.txt" ] || { echo "plain bench: $export_dir/index.txt not found (run sorbet-ref vectors export)" >&2; exit 1; }
build="${PLAIN_BUILD:-$out_dir/.build}"
mkdir -p "$out_dir" "$build"
count=0
while read -r entry; do
    [ "${entry%%/*}" = "$suite" ] || continue
    vdir="$export_dir/$entry"
    id="${entry#*/}"
    params=()
    n=0; has_mask=0; n_mask=0; scores=""; mask=""
    while read -r kind name rest; do
        case "$kind" in
            config) params+=("-Ptb_ptsoftmax_plain.${name^^}=$rest") ;;
            input)
                read -r rank rest2 <<<"$rest"
                if [ "$rank" = 1 ]; then read -r dim file <<<"$rest2"; else dim=1; file="$rest2"; fi
                case "$name" in
                    scores) n="$dim"; scores="$vdir/$file" ;;
                    mask) has_mask=1; n_mask="$dim"; mask="$vdir/$file" ;;
                esac ;;
        esac
    done < "$vdir/vector.txt"
    key="$(printf '%s\n' "${params[@]}" | sha256sum | cut -c1-12)"
    vvp_file="$build/$key.vvp"
    mkdir -p "$out_dir/$id"
    rm -f "$out_dir/$id"/*
    if [ ! -f "$vvp_file" ] && [ ! -f "$build/$key.refused" ]; then
        if ! iverilog -g2005 -I "$rtl" -s tb_ptsoftmax_plain "${params[@]}" -o "$vvp_file" \
                "$here/tb_ptsoftmax_plain.v" "$rtl/sorbet_ptsoftmax.v" > "$build/$key.log" 2>&1; then
            if grep -o 'sorbet_config_error_[a-z0-9_]*' "$build/$key.log" | sort -u > "$build/$key.refused" \
                    && [ -s "$build/$key.refused" ]; then
                :
            else
                cat "$build/$key.log" >&2
                echo "plain bench: elaboration failed for $entry" >&2
                exit 1
            fi
        fi
    fi
    if [ -f "$build/$key.refused" ]; then
        echo config > "$out_dir/$id/reject.txt"
    else
        vvp -n "$vvp_file" "+n=$n" "+has_mask=$has_mask" "+n_mask=$n_mask" \
            ${scores:+"+scores=$scores"} ${mask:+"+mask=$mask"} "+outdir=$out_dir/$id" \
            > "$build/$id.log" 2>&1 || { cat "$build/$id.log" >&2; exit 1; }
        if ls "$out_dir/$id"/* >/dev/null 2>&1; then :; else
            cat "$build/$id.log" >&2
            echo "plain bench: no answer for $entry" >&2
            exit 1
        fi
    fi
    count=$((count + 1))
done < "$export_dir/index.txt"
echo "plain bench: $count vectors of $suite answered in $out_dir"
