#!/bin/sh
# Build the C port skeleton into examples/skeleton_c/build/port (C99, no dependencies).
set -e
here=$(dirname "$0")
mkdir -p "$here/build"
${CC:-cc} -std=c99 -O2 -Wall -Wextra -pedantic -o "$here/build/port" "$here/port.c"
