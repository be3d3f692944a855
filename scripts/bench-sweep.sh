#!/bin/sh
# How fast sweep runs: the 1,000-point sweep of a 1 + 3 object page
# (rtt=1ms..1000ms/1ms, persistent) and 100,000 points of the same page (the same
# RTTs x 100 seeds), with the blame columns and without (--no-blame), on every core
# and on one. Wall time from /usr/bin/time (or the shell's); output to /dev/null.
#   scripts/bench-sweep.sh            # 1,000 points
#   scripts/bench-sweep.sh 100000     # and 100,000
# TCPKNOBS may name a built binary (default: target/release/tcpknobs, built first).
set -eu
cd "$(dirname "$0")/.."
if [ -z "${TCPKNOBS:-}" ]; then
    cargo build --release --quiet
    TCPKNOBS=${CARGO_TARGET_DIR:-target}/release/tcpknobs
fi
page="--page 1k+3x1k --strategy persistent --quiet"
timed() {
    printf '%-60s ' "$*"
    start=$(date +%s.%N)
    "$TCPKNOBS" "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc | sed 's/^\./0./; s/$/ s/'
}
echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for blame in "" --no-blame; do
    for jobs in "" "--jobs 1"; do
        # shellcheck disable=SC2086
        timed sweep --vary rtt=1ms..1000ms/1ms $page $blame $jobs
    done
done
if [ "${1:-}" = 100000 ]; then
    for blame in "" --no-blame; do
        # shellcheck disable=SC2086
        timed sweep --vary rtt=1ms..1000ms/1ms --vary seed=1..100 $page $blame
    done
fi
