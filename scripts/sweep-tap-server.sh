#!/usr/bin/env bash
# Vary the *server's* knobs over a TAP: `tcpknobs sweep --tap` varies only its own
# client (the server there is real), so this script plays the other side. For every
# point of the grid it restarts `tcpknobs serve --tap` with the point's server options,
# fetches from it with curl on the kernel's side, and writes one CSV row.
#
#   sudo scripts/sweep-tap-server.sh [--bin PATH] [--vary NAME=V1,V2,...]...
#        [--requests N] [--size BYTES] [--client curl|wrk] [--wrk-seconds S]
#        OUT_DIR [-- SERVE_OPTION...]
#
# --vary NAME=V1,V2,...: a `serve` option without its dashes and its values (at most
#   3 --vary, 64 points in all; plain lists only, no ranges), e.g. server-nagle=on,off
#   or delayed-ack=40ms,200ms (serve plays the server: a plain knob is the server's).
#   Default: --vary server-nagle=on,off --vary delayed-ack=40ms,200ms.
# --requests N (1-20, default 2): URLs curl fetches in one invocation, on one
#   connection; --size BYTES (default 1000): each response's body (/bytes/N, checked
#   by length).
# -- SERVE_OPTION...: given to every serve (default: --response-writes 2 --rtt 20ms:
#   the head leaves alone first, which is what Nagle holds a tail behind, over a
#   20 ms round trip added inside tcpknobs).
# --client wrk: wrk for --wrk-seconds (default 3) per point instead of curl, when wrk
#   is installed (else curl, with a note); its CSV columns are then latency_avg_ms,
#   latency_max_ms, requests_per_s.
#
# Writes OUT_DIR/sweep-tap-server.csv: the varied values, then (curl) connect_ms (the
# first request's time_connect), starttransfer_ms and total_ms (the last request's
# time_starttransfer and time_total: with --requests 2 that is the request on the
# reused connection, where the server's Nagle meets curl's delayed ACK), all in ms.
#
# Root: a namespace of its own (tks-PID: TAP tk0 with the kernel at 10.77.0.1, tcpknobs
# at 10.77.0.2), deleted with everything in it on exit. Traffic stays inside it.
set -euo pipefail

LAB_SCRIPT=sweep-tap-server
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../target/release/tcpknobs"
requests=2
size=1000
client=curl
wrk_seconds=3
varies=()
out=""
serve_opts=()
serve_opts_given=0

usage() { sed -n '2,33s/^# \{0,1\}//p' "$0"; }
die_usage() { echo "$LAB_SCRIPT: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bin=${2:?--bin needs a path}; shift 2 ;;
	--vary) varies+=("${2:?--vary needs NAME=V1,V2,...}"); shift 2 ;;
	--requests) requests=${2:?}; shift 2 ;;
	--size) size=${2:?}; shift 2 ;;
	--client) client=${2:?}; shift 2 ;;
	--wrk-seconds) wrk_seconds=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; serve_opts=("$@"); serve_opts_given=1; break ;;
	-*) die_usage "unknown option '$1' (--help lists them)" ;;
	*) [ -z "$out" ] || die_usage "one OUT_DIR only (got '$out' and '$1')"; out=$1; shift ;;
	esac
done
[ -n "$out" ] || die_usage "give the folder to write the CSV into (--help)"
[[ $requests =~ ^[0-9]+$ && $requests -ge 1 && $requests -le 20 ]] || die_usage "--requests is 1-20"
[[ $size =~ ^[0-9]+$ && $size -le 100000000 ]] || die_usage "--size is 0-100000000 bytes"
[[ $wrk_seconds =~ ^[0-9]+$ && $wrk_seconds -ge 1 && $wrk_seconds -le 60 ]] || die_usage "--wrk-seconds is 1-60"
case "$client" in curl | wrk) ;; *) die_usage "--client is curl or wrk" ;; esac
[ ${#varies[@]} -gt 0 ] || varies=("server-nagle=on,off" "delayed-ack=40ms,200ms")
[ ${#varies[@]} -le 3 ] || die_usage "at most 3 --vary"
[ $serve_opts_given = 1 ] || serve_opts=(--response-writes 2 --rtt 20ms)

# Each --vary as a name and its values; the grid is their product, first outermost.
names=()
lists=()
points=1
for spec in "${varies[@]}"; do
	name=${spec%%=*}
	values=${spec#*=}
	[[ $spec == *=* && -n $name && -n $values && $name =~ ^[a-z0-9-]+$ ]] ||
		die_usage "--vary '$spec': expected NAME=V1,V2,... (e.g. server-nagle=on,off)"
	case ",$values," in *,,*) die_usage "--vary '$spec': an empty value" ;; esac
	[[ $values =~ ^[A-Za-z0-9.%,-]+$ ]] || die_usage "--vary '$spec': values are plain words (e.g. 40ms, on)"
	case "$name" in client-* | tap | ip | gateway | port | pcap | trace | timeline | json | max-time)
		die_usage "--vary '$spec': $name is not a server setting this script may vary (vary the client with tcpknobs sweep --tap)" ;;
	esac
	names+=("$name")
	lists+=("$values")
	n=$(tr ',' '\n' <<<"$values" | wc -l)
	points=$((points * n))
done
[ "$points" -le 64 ] || die_usage "the grid has $points points, more than 64"

# shellcheck source=scripts/netns-lib.sh
. "$here/netns-lib.sh"
lab_preflight "$bin"
command -v curl >/dev/null || lab_die "curl is missing"
if [ "$client" = wrk ] && ! command -v wrk >/dev/null; then
	echo "$LAB_SCRIPT: wrk is not installed; using curl" >&2
	client=curl
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
mkdir -p "$out"
csv="$out/sweep-tap-server.csv"

lab_init /tmp
NS="tks-$$"
KERNEL=10.77.0.1
LAB=10.77.0.2
lab_netns "$NS"
lab_tap "$NS" tk0 "$KERNEL/24"
# Linux's 200 ms minimum RTO would race a 200 ms delayed ACK with retransmissions.
ip -n "$NS" route replace 10.77.0.0/24 dev tk0 src "$KERNEL" rto_min 1000ms

# Every value must parse before any point runs: one point's bad value should not
# surface after the others ran. serve on a TAP that does not exist stops at once
# with status 1 once its options parsed, and with status 2 on a usage error.
for i in "${!names[@]}"; do
	for v in $(tr ',' ' ' <<<"${lists[$i]}"); do
		status=0
		err=$(ip netns exec "$NS" timeout 10 "$bin" serve --tap tk-none --max-time 1s \
			"${serve_opts[@]}" "--${names[$i]}=$v" 2>&1 >/dev/null) || status=$?
		if [ "$status" = 2 ]; then
			echo "$LAB_SCRIPT: --vary ${names[$i]}=$v: serve refuses it: $(head -n1 <<<"$err")" >&2
			exit 2
		fi
	done
done

# The grid's points as lines of tab-separated values, the first --vary outermost.
grid=("")
for i in "${!names[@]}"; do
	next=()
	for p in "${grid[@]}"; do
		for v in $(tr ',' ' ' <<<"${lists[$i]}"); do
			next+=("${p:+$p$'\t'}$v")
		done
	done
	grid=("${next[@]}")
done

header=$(IFS=,; echo "${names[*]}")
if [ "$client" = wrk ]; then
	echo "$header,latency_avg_ms,latency_max_ms,requests_per_s" >"$csv"
else
	echo "$header,connect_ms,starttransfer_ms,total_ms" >"$csv"
fi

# wrk prints latencies as 1.23ms, 456.00us or 1.02s: in ms.
wrk_ms() {
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
		else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

# curl's arguments: each URL with its own -o (one -o covers one URL).
urls=()
fetch=()
for ((r = 0; r < requests; r++)); do
	urls+=("http://$LAB/bytes/$size")
	fetch+=(-o /dev/null "http://$LAB/bytes/$size")
done
n=0
for point in "${grid[@]}"; do
	n=$((n + 1))
	IFS=$'\t' read -r -a values <<<"$point"
	flags=()
	for i in "${!names[@]}"; do flags+=("--${names[$i]}=${values[$i]}"); done
	log="$LAB_TMP/serve-$n.log"
	# At most 60 s per point: a hung point ends, the script goes on.
	ip netns exec "$NS" timeout 70 "$bin" serve --tap tk0 --ip "$LAB/24" --max-time 60s \
		"${serve_opts[@]}" "${flags[@]}" >"$log" 2>&1 &
	serve_pid=$!
	lab_wait_for "$log" "serving http://" 10 || lab_die "point $n: serve did not start: $(cat "$log")"
	if [ "$client" = wrk ]; then
		res=$(ip netns exec "$NS" timeout 70 wrk -t1 -c1 -d"${wrk_seconds}s" "${urls[0]}" 2>&1) ||
			lab_die "point $n: wrk failed: $res"
		lat=$(awk '$1 == "Latency" { print $2, $4; exit }' <<<"$res")
		rps=$(awk '$1 == "Requests/sec:" { print $2; exit }' <<<"$res")
		read -r avg max <<<"$lat"
		row="$(wrk_ms "$avg"),$(wrk_ms "$max"),$rps"
	else
		res=$(ip netns exec "$NS" timeout 60 curl -sS --max-time 50 \
			-w '%{time_connect} %{time_starttransfer} %{time_total} %{size_download}\n' \
			"${fetch[@]}" 2>&1) || lab_die "point $n: curl failed: $res"
		first=$(head -n1 <<<"$res")
		last=$(tail -n1 <<<"$res")
		got=$(awk '{ s += $4 } END { print s }' <<<"$res")
		[ "$got" = $((size * requests)) ] || lab_die "point $n: $got body bytes, expected $((size * requests)): $res"
		row=$(awk -v a="$first" -v b="$last" 'BEGIN { split(a, f, " "); split(b, l, " ");
			printf "%.3f,%.3f,%.3f", f[1] * 1000, l[2] * 1000, l[3] * 1000 }')
	fi
	lab_stop "$serve_pid" 10
	echo "$(IFS=,; echo "${values[*]}"),$row" >>"$csv"
	echo "point $n/$points: ${flags[*]}: $row" >&2
done
echo "$LAB_SCRIPT: wrote $csv" >&2
cat "$csv"
