#!/bin/sh
# Page time as the RTT goes from 10 to 300 ms, for initial windows of 1, 4 and 10
# segments: a 64 KiB response on a new connection needs fewer round trips of slow
# start the larger the window. Writes initial-window.csv and .svg into the folder given.
#   scripts/sweep-initial-window.sh out/
# TCPKNOBS may name a built binary (default: cargo run --release).
set -eu
dir=${1:?usage: $0 OUT_DIR}
mkdir -p "$dir"
tk=${TCPKNOBS:-cargo run --release --quiet --}
$tk sweep \
    --vary rtt=10ms..300ms/10ms --vary initial-window=1,4,10 \
    --requests 1 --size 64k \
    --out "$dir/initial-window.csv" --plot "$dir/initial-window.svg"
