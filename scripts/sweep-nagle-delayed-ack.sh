#!/bin/sh
# Nagle x delayed ACK, every combination: a request written in two parts over a
# 100 ms RTT. With Nagle on, the second part waits for the first one's ACK, which the
# server delays: 2 RTT + the delayed ACK + 1 RTT; with Nagle off, 2 RTT whatever the
# delayed ACK. Writes nagle-delayed-ack.csv and .svg into the folder given.
#   scripts/sweep-nagle-delayed-ack.sh out/
# TCPKNOBS may name a built binary (default: cargo run --release).
set -eu
dir=${1:?usage: $0 OUT_DIR}
mkdir -p "$dir"
tk=${TCPKNOBS:-cargo run --release --quiet --}
$tk sweep \
    --vary delayed-ack=off,40ms,100ms,200ms,500ms --vary nagle=on,off \
    --rtt 100ms --requests 1 --request-writes 2 --strategy persistent --quickack 0 \
    --out "$dir/nagle-delayed-ack.csv" --plot "$dir/nagle-delayed-ack.svg"
