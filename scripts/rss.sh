#!/usr/bin/env bash
# Max RSS and wall time of big simulated runs: a million requests on one persistent
# connection, printed as the table and as JSON (the summary; no rows by default), and
# optionally with every row kept (--rows all). Measured, not asserted; not run by CI.
#
#   scripts/rss.sh [--bin PATH] [--requests N] [--rows-all]
#
# --bin: the tcpknobs binary (default: release/tcpknobs under $CARGO_TARGET_DIR or
# target/, built if missing);
# --requests: requests per run (default 1000000); --rows-all: also measure the runs
# that keep every row. Needs GNU time (/usr/bin/time). About 5 s a run (release).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=""
requests=1000000
rows_all=0

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bin=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	--rows-all) rows_all=1; shift ;;
	-h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "rss: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
[[ $requests =~ ^[0-9]+$ && $requests -ge 1 ]] || { echo "rss: --requests is a positive number" >&2; exit 2; }
if [ -z "$bin" ]; then
	target=${CARGO_TARGET_DIR:-$here/../target}
	bin="$target/release/tcpknobs"
	[ -x "$bin" ] || (cd "$here/.." && cargo build --release --quiet)
fi
[ -x "$bin" ] || { echo "rss: no binary at $bin" >&2; exit 1; }

[ -x /usr/bin/time ] || { echo "rss: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 1; }

# "KB seconds" of one run of the binary with the given arguments, its output discarded.
measure() {
	/usr/bin/time -f "%M %e" "$bin" "$@" 2>&1 >/dev/null | tail -n 1
}

base=(run --requests "$requests" --strategy persistent --size 100 --rtt 1ms)
printf '%10s %8s  %s\n' "max RSS" "wall" "run"
runs=("" "--json")
[ "$rows_all" = 1 ] && runs+=("--rows all" "--rows all --json")
for extra in "${runs[@]}"; do
	# shellcheck disable=SC2086 # $extra is flags, split on purpose
	read -r kb secs < <(measure "${base[@]}" $extra)
	awk -v kb="$kb" -v s="$secs" -v run="tcpknobs ${base[*]} $extra" \
		'BEGIN { printf "%7.1f MB %7.2fs  %s\n", kb / 1024, s, run }'
done
