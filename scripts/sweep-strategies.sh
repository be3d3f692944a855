#!/bin/sh
# A page of 1 HTML document and 10 objects of 10 KiB over RTTs from 10 ms to 1 s
# (log-spaced), for each way of fetching it: serial (a connection per object, one at a
# time), parallel, persistent and pipelined, each 20 seeds at 1% loss (the lines are
# the medians, the bands p5-p95). Writes strategies.csv and .svg into the folder given.
#   scripts/sweep-strategies.sh out/
# TCPKNOBS may name a built binary (default: cargo run --release).
set -eu
dir=${1:?usage: $0 OUT_DIR}
mkdir -p "$dir"
tk=${TCPKNOBS:-cargo run --release --quiet --}
$tk sweep \
    --vary rtt=10ms..1s*9 --vary strategy=serial,parallel,persistent,pipelined \
    --page 1k+10x10k --loss 0.01 --repeat 20 --quiet \
    --out "$dir/strategies.csv" --plot "$dir/strategies.svg"
