#!/usr/bin/env bash
# Whether two tcpknobs binaries give the same files for a set of seeded simulated runs:
# the JSON report, stderr, the event trace, the pcapng capture and the exit status,
# compared byte for byte with cmp. A change meant to alter nothing but speed or memory
# (the simulator is deterministic: same inputs and seed, same output) must pass this.
# Simulated link only, no privileges, no network; not run by CI.
#
#   scripts/compare-runs.sh OLD NEW [--keep DIR]
#
# OLD, NEW: the two binaries (e.g. a copy of target/debug/tcpknobs built before the
# change, and the one built after). --keep DIR: write the runs' files under DIR/old and
# DIR/new and leave them there (default: a temporary directory, removed at the end).
# Prints each file that differs with its configuration, then a summary; exits 1 if any
# differs. The configurations cover every strategy, loss with each recovery, Nagle and
# the delayed ACK, slow start, a slow link with a queue, port exhaustion, timeouts,
# truncation, chunked and unframed bodies, graceful close, worker limits, pages, both
# proxies, HTTP/1.0, a small MTU, SYN loss, empty and 10 MB bodies, and blame with
# thousands of connections. About 30 s with a debug build.
set -euo pipefail

usage() {
	sed -n '8,8p' "$0" | sed 's/^# *//' >&2
	exit 2
}

[ $# -ge 2 ] || usage
old=$1
new=$2
shift 2
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--keep)
		[ $# -ge 2 ] || { echo "compare-runs: --keep needs a directory" >&2; exit 2; }
		keep=$2
		shift 2
		;;
	*)
		echo "compare-runs: unknown argument '$1'" >&2
		usage
		;;
	esac
done
for b in "$old" "$new"; do
	[ -x "$b" ] || { echo "compare-runs: '$b' is not an executable" >&2; exit 2; }
done

if [ -n "$keep" ]; then
	dir=$keep
	mkdir -p "$dir"
else
	dir=$(mktemp -d)
	trap 'rm -rf "$dir"' EXIT
fi
rm -rf "$dir/old" "$dir/new"
mkdir -p "$dir/old" "$dir/new"

configs=(
	"--requests 5 --size 10000"
	"--strategy serial --requests 8 --size 3000"
	"--strategy parallel --connections 4 --requests 12 --size 20000"
	"--strategy persistent --requests 10 --size 50000"
	"--strategy pipelined --requests 10 --size 2000"
	"--profile book --requests 6 --size 5000"
	"--profile linux --requests 6 --size 100000"
	"--loss 5% --seed 3 --requests 20 --size 100000 --recovery reno"
	"--loss 5% --seed 4 --requests 20 --size 100000 --recovery newreno"
	"--loss 5% --seed 5 --requests 20 --size 100000 --recovery sack"
	"--loss 20% --rtt 1500ms --seed 7 --requests 3 --size 20000"
	"--loss 2% --seed 9 --strategy parallel --connections 6 --requests 30 --size 30000"
	"--delayed-ack 200ms --quickack 0 --nagle on --requests 4 --size 3000 --request-writes 2"
	"--nagle off --requests 4 --size 3000 --request-writes 3"
	"--nagle minshall --requests 4 --size 3000 --response-writes 3"
	"--initial-window 1 --requests 3 --size 60000"
	"--bandwidth 1mbit --queue 20k --requests 4 --size 100000 --strategy parallel --connections 4"
	"--on-exhaustion wait --ports 40000-40099 --time-wait 2s --strategy serial --requests 300 --size 100 --rtt 1ms"
	"--on-exhaustion fail --ports 40000-40009 --strategy serial --requests 30 --size 100 --rtt 1ms"
	"--client-timeout 5s --server-keep-alive on --strategy persistent --requests 3 --size 100 --server-no-length"
	"--server-truncate 500 --requests 2 --size 5000"
	"--server-no-length --requests 1 --size 30000 --quickack 0"
	"--server-chunked --requests 4 --size 10000"
	"--server-delay 50ms --strategy pipelined --requests 5 --size 1000"
	"--close graceful --server-linger 1s --requests 3 --size 5000"
	"--server-header-timeout 100ms --request-writes 3 --think-time 200ms --requests 2 --size 100"
	"--backlog 2 --server-workers 1 --strategy parallel --connections 8 --requests 8 --size 50000"
	"--server-keep-alive-max 2 --strategy persistent --requests 7 --size 1000"
	"--page 20000+8x5000 --strategy parallel --connections 4"
	"--page 20000+8x5000 --strategy pipelined"
	"--via-proxy smart --requests 6 --size 20000 --strategy persistent"
	"--via-proxy dumb --requests 6 --size 20000 --strategy persistent"
	"--via-proxy smart --strategy parallel --connections 5 --requests 10 --size 5000 --loss 3% --seed 2"
	"--via-proxy dumb --strategy parallel --connections 5 --requests 10 --size 5000"
	"--via-proxy dumb --strategy parallel --connections 6 --requests 6 --size 300 --server-ports 40000-40001 --on-exhaustion wait"
	"--http 1.0 --requests 4 --size 4000"
	"--mtu 576 --requests 4 --size 30000"
	"--rto-rule linux --rto-min 200ms --loss 10% --seed 11 --requests 10 --size 20000"
	"--syn-retries 2 --loss 40% --seed 13 --requests 3 --size 100"
	"--size 0 --requests 3"
	"--size 10000000 --requests 1 --rtt 10ms"
	"--strategy parallel --connections 50 --requests 200 --size 100 --rtt 1ms"
	"--strategy parallel --connections 300 --requests 3000 --size 100 --rtt 1ms --blame"
	"--strategy persistent --connections 400 --requests 4000 --size 2000 --rtt 1ms --blame --loss 1% --seed 21"
	"--strategy pipelined --connections 40 --requests 2000 --size 500 --rtt 1ms --blame"
	"--loss 5% --seed 5 --requests 20 --size 100000 --recovery sack --blame"
	"--via-proxy smart --strategy persistent --connections 30 --requests 600 --size 300 --rtt 1ms --blame"
	"--strategy persistent --connections 1500 --requests 6000 --size 100 --rtt 1ms --blame"
)

i=0
differ=0
for c in "${configs[@]}"; do
	i=$((i + 1))
	for side in old new; do
		bin=$old
		[ "$side" = new ] && bin=$new
		out=$dir/$side/$i
		# Word splitting of $c is intended: it is a list of flags.
		# shellcheck disable=SC2086
		set +e
		"$bin" run $c --json --trace "$out.jsonl" --pcap "$out.pcapng" >"$out.json" 2>"$out.err"
		echo $? >"$out.rc"
		set -e
	done
	for ext in json err jsonl pcapng rc; do
		a=$dir/old/$i.$ext
		b=$dir/new/$i.$ext
		if [ -e "$a" ] || [ -e "$b" ]; then
			if ! cmp -s "$a" "$b"; then
				echo "differs: $i.$ext ($c)"
				differ=$((differ + 1))
			fi
		fi
	done
done
echo "compare-runs: $i configurations, $differ files differ (exit statuses of the new binary: $(cat "$dir"/new/*.rc | sort | uniq -c | awk '{printf "%s x %s ", $1, $2}'))"
[ "$differ" -eq 0 ]
