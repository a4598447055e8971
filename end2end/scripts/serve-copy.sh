#!/bin/sh
# Starts the release binary *copied alone into an empty folder*, so every
# end-to-end run also proves that the binary carries the whole site.
set -eu
port="$1"
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/target/release/yagura"
[ -x "$bin" ] || { echo "missing $bin: run cargo xtask build" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/yagura-e2e-$port-XXXXXX")
cp "$bin" "$dir/yagura"
cd "$dir"
exec ./yagura serve --addr "127.0.0.1:$port" --data-dir ./data
