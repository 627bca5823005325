#!/usr/bin/env sh
# Build the C port into examples/c_port/build/sorbet-c and print its path.
# Uses make when it is installed, else calls the C compiler directly.
# CC picks the compiler (default: cc).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
cc="${CC:-cc}"
if command -v make >/dev/null 2>&1; then
    make -s -C "$here" CC="$cc" >&2
else
    mkdir -p "$here/build"
    "$cc" -std=c99 -Wall -Wextra -Werror -pedantic -O2 -o "$here/build/sorbet-c" \
        "$here"/src/*.c >&2
fi
echo "$here/build/sorbet-c"
