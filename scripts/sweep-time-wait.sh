#!/bin/sh
# When does TIME_WAIT bite? 2,000 requests one connection each, as fast as the 1 ms
# RTT allows, from 100 or 1,000 ephemeral ports, for 2MSL (--time-wait) from 1 s to
# 120 s, log-spaced: once the ports are all in TIME_WAIT, each new connection waits for
# one to come out (blame.port_wait_ms), and the mean total grows with 2MSL / ports.
# Writes time-wait.csv and .svg (the mean total) and time-wait-port-wait.svg into the
# folder given.
#   scripts/sweep-time-wait.sh out/
# TCPKNOBS may name a built binary (default: cargo run --release).
set -eu
dir=${1:?usage: $0 OUT_DIR}
mkdir -p "$dir"
tk=${TCPKNOBS:-cargo run --release --quiet --}
set -- sweep --vary time-wait=1s..120s*8 --vary ports=50000-50099,50000-50999 \
    --rtt 1ms --requests 2000 --strategy serial --on-exhaustion wait --quiet
$tk "$@" --out "$dir/time-wait.csv" --plot "$dir/time-wait.svg"
$tk "$@" --plot "$dir/time-wait-port-wait.svg" --metric blame.port_wait_ms >/dev/null
