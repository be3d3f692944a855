#!/usr/bin/env bash
# Request rate of tcpknobs serve on a TAP under many connections, beside nginx (one
# worker) over a veth pair: wrk at -c32 and at -c256, small responses. Not run by CI.
#
#   sudo scripts/bench-rps.sh [--bin PATH] [--runs N] [--duration SECS] [--size BYTES]
#                             [--threads N] [--conns LOW,HIGH] [--txqueuelen N]
#
# --runs: wrk runs per figure, the median is shown (default 3); --duration: seconds per
# wrk run (default 5); --size: the response body in bytes (default 100: serve's
# /bytes/100, nginx a file of the same bytes); --threads: wrk threads (default 2);
# --conns: the two connection counts (default 32,256); --txqueuelen: the TAP's queue
# toward serve, in frames (default: the kernel's, 1000). Runs alternate between the
# servers and the two counts, so minute-to-minute noise falls on all figures alike.
# Frames the kernel dropped at the TAP's queue (a burst serve was too slow for; its
# clients resend after a timeout of 200 ms or more) are counted under the table.
# Needs wrk and nginx (apt-get install wrk nginx); without wrk it says so and exits 0,
# without nginx that row is skipped. Nothing is pinned to a CPU.
#
# Namespaces of its own (tkr-PID-a: TAP tk0 with the kernel at 10.77.0.1, tcpknobs at
# 10.77.0.2, veth end 10.78.0.1, wrk; tkr-PID-b: veth end 10.78.0.2, nginx), all
# deleted on exit. About 4 x runs x (duration + 1) seconds.
set -euo pipefail

LAB_SCRIPT=bench-rps
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../target/release/tcpknobs"
runs=3
duration=5
size=100
threads=2
conns=32,256
txqueuelen=""

while [ $# -gt 0 ]; do
	case "$1" in
	--bin | --runs | --duration | --size | --threads | --conns | --txqueuelen)
		[ $# -ge 2 ] || { echo "bench-rps: $1 needs a value" >&2; exit 2; }
		case "$1" in
		--bin) bin=$2 ;;
		--runs) runs=$2 ;;
		--duration) duration=$2 ;;
		--size) size=$2 ;;
		--threads) threads=$2 ;;
		--conns) conns=$2 ;;
		--txqueuelen) txqueuelen=$2 ;;
		esac
		shift 2
		;;
	-h | --help) sed -n '2,22s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "bench-rps: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 && $runs -le 20 ]] || { echo "bench-rps: --runs is 1-20" >&2; exit 2; }
[[ $duration =~ ^[0-9]+$ && $duration -ge 1 && $duration -le 60 ]] || { echo "bench-rps: --duration is 1-60 (seconds)" >&2; exit 2; }
[[ $size =~ ^[0-9]+$ && $size -le 1048576 ]] || { echo "bench-rps: --size is 0-1048576 (bytes)" >&2; exit 2; }
[[ $threads =~ ^[0-9]+$ && $threads -ge 1 && $threads -le 16 ]] || { echo "bench-rps: --threads is 1-16" >&2; exit 2; }
[[ -z $txqueuelen || ($txqueuelen =~ ^[0-9]+$ && $txqueuelen -ge 1 && $txqueuelen -le 1000000) ]] ||
	{ echo "bench-rps: --txqueuelen is 1-1000000 (frames)" >&2; exit 2; }
[[ $conns =~ ^([0-9]+),([0-9]+)$ ]] || { echo "bench-rps: --conns is LOW,HIGH (e.g. 32,256)" >&2; exit 2; }
c_low=${BASH_REMATCH[1]}
c_high=${BASH_REMATCH[2]}
for c in "$c_low" "$c_high"; do
	if [ "$c" -lt "$threads" ] || [ "$c" -gt 1000 ]; then
		echo "bench-rps: connection counts are --threads-1000 (wrk needs one per thread)" >&2
		exit 2
	fi
done

# shellcheck source=scripts/netns-lib.sh
. "$here/netns-lib.sh"
lab_preflight "$bin"
if ! command -v wrk >/dev/null; then
	echo "bench-rps: wrk is missing (apt-get install wrk): nothing measured" >&2
	exit 0
fi
nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || [ ! -x /usr/sbin/nginx ] || nginx_bin=/usr/sbin/nginx
[ -n "$nginx_bin" ] || echo "bench-rps: nginx is missing (apt-get install nginx): its row is skipped" >&2
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
lab_init /tmp

NA="tkr-$$-a"
NB="tkr-$$-b"
KERNEL=10.77.0.1
LAB=10.77.0.2
VA=10.78.0.1
VB=10.78.0.2
T=$LAB_TMP
cpus=$(nproc)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
progress() { echo "bench-rps: $*" >&2; }

lab_netns "$NA"
lab_netns "$NB"
lab_tap "$NA" tk0 "$KERNEL/24"
[ -z "$txqueuelen" ] || ip -n "$NA" link set tk0 txqueuelen "$txqueuelen"
lab_veth "$NA" va "$VA/24" "$NB" vb "$VB/24"

# ---- servers -------------------------------------------------------------------------

ip netns exec "$NA" timeout 900 "$bin" serve --tap tk0 --ip "$LAB/24" --max-time 890s \
	>"$T/serve.out" 2>"$T/serve.err" &
serve_pid=$!
lab_wait_for "$T/serve.err" "serving http" 5 || lab_die "tcpknobs serve did not start: $(cat "$T/serve.err")"

# nginx serves the same bytes: the pattern, fetched once from serve.
mkdir -p "$T/www/bytes"
ip netns exec "$NA" timeout 30 python3 - "http://$LAB/bytes/$size" "$T/www/bytes/$size" <<'EOF' ||
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=20) as r, open(sys.argv[2], "wb") as f:
    f.write(r.read())
EOF
	lab_die "could not fetch /bytes/$size from tcpknobs serve"
[ "$(stat -c %s "$T/www/bytes/$size")" -eq "$size" ] || lab_die "serve's /bytes/$size is not $size bytes"
chmod -R a+rX "$T/www"

nginx_pid=""
if [ -n "$nginx_bin" ]; then
	mkdir -p "$T/nginx"
	# One worker, no logging, keep-alive as long as serve's (75 s, no request limit).
	cat >"$T/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000000;
    server {
        listen $VB:80 backlog=511;
        root $T/www;
    }
}
EOF
	ip netns exec "$NB" timeout 900 "$nginx_bin" -p "$T/nginx" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf" \
		>"$T/nginx.out" 2>&1 &
	nginx_pid=$!
	for ((i = 0; i < 250; i++)); do
		[ -s "$T/nginx/nginx.pid" ] && break
		lab_alive "$nginx_pid" || break
		sleep 0.02
	done
	[ -s "$T/nginx/nginx.pid" ] ||
		lab_die "nginx did not start: $(cat "$T/nginx.out" "$T/nginx/error.log" 2>/dev/null)"
	ip netns exec "$NA" timeout 10 python3 - "http://$VB/bytes/$size" "$T/www/bytes/$size" <<'EOF' ||
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.exit(0 if r.read() == open(sys.argv[2], "rb").read() else 1)
EOF
		lab_die "nginx over the veth pair did not serve the same bytes"
fi

# ---- wrk -------------------------------------------------------------------------------

# wrk_run NAME URL CONNS: one wrk run from namespace a; appends "req/s p50 p90 p99 errors"
# (latencies in ms) to $T/NAME-CONNS.
wrk_run() {
	local out="$T/wrk.out"
	ip netns exec "$NA" timeout $((duration + 30)) wrk -t"$threads" -c"$3" -d"${duration}s" \
		--timeout 5s --latency "$2" >"$out" 2>&1 || lab_die "wrk failed: $(cat "$out")"
	awk '
		function ms(v) {
			if (v ~ /us$/) return v * 0.001
			if (v ~ /ms$/) return v + 0
			if (v ~ /m$/) return v * 60000
			if (v ~ /s$/) return v * 1000
			return v + 0
		}
		/^ +50%/ { p50 = ms($2) }
		/^ +90%/ { p90 = ms($2) }
		/^ +99%/ { p99 = ms($2) }
		/^Requests\/sec:/ { rps = $2 }
		/Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
		/Non-2xx or 3xx responses:/ { err += $NF }
		END { printf "%s %.3f %.3f %.3f %d\n", rps, p50, p90, p99, err }
	' "$out" >>"$T/$1-$3"
}

paths=(serve)
url_of() { case "$1" in serve) echo "http://$LAB/bytes/$size" ;; nginx) echo "http://$VB/bytes/$size" ;; esac; }
[ -n "$nginx_pid" ] && paths+=(nginx)
progress "$runs runs x ${#paths[@]} servers x -c$c_low/-c$c_high, ${duration}s each, -t$threads, $size-byte bodies"
for ((r = 0; r < runs; r++)); do
	for p in "${paths[@]}"; do
		# Alternate which count goes first, so neither always follows the other.
		if ((r % 2)); then order=("$c_high" "$c_low"); else order=("$c_low" "$c_high"); fi
		for c in "${order[@]}"; do
			wrk_run "$p" "$(url_of "$p")" "$c"
			sleep 1
		done
	done
	progress "run $((r + 1))/$runs done"
done

lab_alive "$serve_pid" || lab_die "tcpknobs serve exited early: $(cat "$T/serve.err")"
lab_stop "$serve_pid"
[ -n "$nginx_pid" ] && lab_stop "$nginx_pid"

# ---- report -----------------------------------------------------------------------------

# col FILE N: the median of column N of FILE.
col() {
	awk -v n="$2" '{print $n}' "$1" | sort -g |
		awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
span() { awk '{print $1}' "$1" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.0f-%.0f", lo, hi}'; }
errors() { awk '{s += $5} END {print s + 0}' "$1"; }
echo
echo "tcpknobs serve on a TAP vs nginx (1 worker) on a veth pair: Linux $(uname -r), $cpus CPUs" \
	"($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(date -u '+%Y-%m-%d %H:%M UTC')," \
	"load average before $load_before"
echo "wrk -t$threads -d${duration}s --latency, GET /bytes/$size ($size-byte body), median of $runs runs" \
	"(req/s range in brackets); latency percentiles in ms, medians of the runs'"
echo
printf '%-30s %22s %22s %9s %21s %21s %7s\n' "path" "c$c_low req/s" "c$c_high req/s" "ratio" \
	"c$c_low p50/p90/p99" "c$c_high p50/p90/p99" "errors"
for p in "${paths[@]}"; do
	lo="$T/$p-$c_low" hi="$T/$p-$c_high"
	case "$p" in
	serve) name="tcpknobs serve, TAP" ;;
	nginx) name="nginx 1 worker, veth" ;;
	esac
	rlo=$(col "$lo" 1) rhi=$(col "$hi" 1)
	printf '%-30s %22s %22s %9s %21s %21s %7s\n' "$name" \
		"$(printf '%.0f [%s]' "$rlo" "$(span "$lo")")" "$(printf '%.0f [%s]' "$rhi" "$(span "$hi")")" \
		"$(awk -v a="$rhi" -v b="$rlo" 'BEGIN {if (b + 0 == 0) print "-"; else printf "%.2f", a / b}')" \
		"$(printf '%.2f/%.2f/%.2f' "$(col "$lo" 2)" "$(col "$lo" 3)" "$(col "$lo" 4)")" \
		"$(printf '%.2f/%.2f/%.2f' "$(col "$hi" 2)" "$(col "$hi" 3)" "$(col "$hi" 4)")" \
		"$(($(errors "$lo") + $(errors "$hi")))"
done
serve_ratio=$(awk -v a="$(col "$T/serve-$c_high" 1)" -v b="$(col "$T/serve-$c_low" 1)" 'BEGIN {printf "%.2f", (b + 0 == 0) ? 0 : a / b}')
if awk -v r="$serve_ratio" 'BEGIN {exit !(r >= 0.8)}'; then verdict=met; else verdict="not met"; fi
echo "  goal (serve keeps >= 80 % of its c$c_low rate at c$c_high): $verdict, $serve_ratio"
echo "  ratio: c$c_high req/s over c$c_low req/s (medians); errors: wrk's socket errors and non-2xx"
echo "  responses over all runs of the row. wrk runs in the TAP's namespace: against serve its"
echo "  kernel side is the TAP, against nginx the veth pair (kernel-kernel, both ends one host)."
drops=$(grep -h "the kernel dropped" "$T/serve.out" || true)
echo "  serve's TAP queue (txqueuelen $(ip -n "$NA" -o link show tk0 | sed -n 's/.* qlen \([0-9]*\).*/\1/p')):" \
	"${drops:-the kernel dropped no frames on their way to serve}"
