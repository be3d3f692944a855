#!/usr/bin/env bash
# How close `--profile linux` in the simulator comes to the Linux kernel's TCP. Not run
# by CI.
#
#   sudo scripts/kernel-fidelity.sh [--runs N] [--bin PATH]
#
# Four experiments, RTT 100 ms each, done twice: (i) in the simulator, `tcpknobs run
# --profile linux` (deterministic: one run), and (ii) `tcpknobs get --profile linux
# --rtt 100ms` through a TAP against a kernel HTTP/1.1 keep-alive server
# (scripts/kernel_http.py serve) whose namespace runs reno with slow start after idle
# on and the initial window 10, `ip tcp_metrics flush` before every run. The RTT is
# added inside our process (get's --rtt, half each way), so the kernel sees a 100 ms
# path; the server is the kernel, and it is the kernel's sender (slow start, restart
# after idle) that the simulator's server is measured against. --runs: kernel runs
# per experiment (default 5; median and range shown), the experiments interleaved.
# --bin: the tcpknobs binary (default target/release/tcpknobs).
#
# Prints the commands, one table (experiment, sim ms, kernel median and min-max, the
# difference in %), and the kernel's TCP_INFO beside the simulator's congestion window
# at the response that matters. Namespace tkf-PID (TAP tk0, kernel 10.77.0.1/24,
# tcpknobs 10.77.0.2), deleted on exit. About 1 minute with --runs 5.
set -euo pipefail

LAB_SCRIPT=kernel-fidelity
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../target/release/tcpknobs"
runs=5

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) [ $# -ge 2 ] || { echo "kernel-fidelity: --bin needs a path" >&2; exit 2; }; bin=$2; shift 2 ;;
	--runs) [ $# -ge 2 ] || { echo "kernel-fidelity: --runs needs a number" >&2; exit 2; }; runs=$2; shift 2 ;;
	-h | --help) sed -n '2,22s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "kernel-fidelity: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 && $runs -le 50 ]] || { echo "kernel-fidelity: --runs is 1-50" >&2; exit 2; }

# shellcheck source=scripts/netns-lib.sh
. "$here/netns-lib.sh"
lab_preflight "$bin"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
lab_init

NS="tkf-$$"
KERNEL=10.77.0.1
LAB=10.77.0.2
T=$LAB_TMP
py=(python3 "$here/kernel_http.py")

lab_netns "$NS"
lab_tap "$NS" tk0 "$KERNEL/24"
in_ns() { ip netns exec "$NS" "$@"; }

# The kernel's side: reno, slow start after idle, IW 10 (no initcwnd on the route:
# the kernel's TCP_INIT_CWND). Each namespace has its own copy of these sysctls.
in_ns sysctl -qw net.ipv4.tcp_congestion_control=reno
in_ns sysctl -qw net.ipv4.tcp_slow_start_after_idle=1
cc=$(in_ns sysctl -n net.ipv4.tcp_congestion_control)
ssai=$(in_ns sysctl -n net.ipv4.tcp_slow_start_after_idle)
sack=$(in_ns sysctl -n net.ipv4.tcp_sack)
[ "$cc" = reno ] || lab_die "tcp_congestion_control is '$cc' in $NS after setting reno"
[ "$ssai" = 1 ] || lab_die "tcp_slow_start_after_idle is '$ssai' in $NS"
route=$(ip -n "$NS" route show dev tk0)
case "$route" in *initcwnd*) lab_die "the route in $NS sets initcwnd: $route" ;; esac

# ---- the experiments -------------------------------------------------------------------
# name | label | the shared flags (run and get) | URLs as /PATH xN | metric
# metric: total (the run's total_ms) or transfer2 (the second transaction's transfer_ms:
# its first response byte to its last).
RTT=100ms
experiments=(
	"1mib|1 MiB, new connection: total|--requests 1 --size 1048576|1048576x1|total"
	"idle200|2 x 256 KiB, 0.2 s idle: total|--requests 2 --size 262144 --strategy persistent --think-time 200ms|262144x2|total"
	"idle800|2 x 256 KiB, 0.8 s idle: 2nd transfer|--requests 2 --size 262144 --strategy persistent --think-time 800ms|262144x2|transfer2"
	"idle2100|2 x 256 KiB, 2.1 s idle: 2nd transfer|--requests 2 --size 262144 --strategy persistent --think-time 2100ms|262144x2|transfer2"
)

# get takes the same flags as run minus --requests/--size (URLs instead).
get_flags() { sed -E 's/--requests [0-9]+ ?//; s/--size [0-9]+ ?//' <<<"$1"; }
urls() {
	local size=${1%x*} n=${1#*x} i out=""
	for ((i = 0; i < n; i++)); do out+="http://$KERNEL/bytes/$size "; done
	echo "${out% }"
}

# metric FILE METRIC: the figure, or "?" with the reason on stderr. Refuses a run that
# did not do the workload: a failure, a second connection, a second request not reused.
metric() {
	python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["transactions"]
bad = []
if r["failed"]:
    bad.append("%d failed" % r["failed"])
client_conns = [c for c in r["connections"] if c["host"] == "client"]
if len(client_conns) != 1:
    bad.append("%d client connections" % len(client_conns))
if len(t) > 1 and not t[1]["reused"]:
    bad.append("the second request was not reused")
if bad:
    print("?")
    sys.exit("; ".join(bad))
print("%.1f" % (r["total_ms"] if sys.argv[2] == "total" else t[1]["transfer_ms"]))
PY
}

# sim_cwnd FILE: the simulated server's congestion window at the measured response:
# its initial window, or whether (and to what) an idle restart cut it before the
# second. (cwnd_history samples ACK growth at every eighth ACK, so the window just
# before a restart is not shown: only the restart's own value is exact.)
sim_cwnd() {
	python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
server = [c for c in r["connections"] if c["host"] == "server"][0]
h = server.get("cwnd_history", [])
mss = 1460
restarts = [e for e in h if e["cause"] == "idle_restart"]
if len(r["transactions"]) < 2:
    start = [e for e in h if e["cause"] in ("start", "mss_change")]
    print("IW %d" % (start[-1]["cwnd"] // mss) if start else "-")
elif restarts:
    print("idle restart -> %d" % (restarts[0]["cwnd"] // mss))
else:
    print("no idle restart")
PY
}

# kernel_info FILE: TCP_INFO lines of the server (kernel_http.py --tcp-info) at
# the measured response (the last one): "rto srtt idle cwnd_before cwnd_after".
kernel_info() {
	python3 - "$1" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
before = [l for l in lines if l["when"] == "before"]
written = [l for l in lines if l["when"] == "written"]
if not before or not written:
    print("? ? ? ? ? ?")
else:
    b, w = before[-1], written[-1]
    print("%.0f %.1f %d %d %d %d" % (b["rto_ms"], b["srtt_ms"], b["since_data_sent_ms"], b["cwnd"], w["cwnd"], w["total_retrans"]))
PY
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2}'; }
range() { sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {if (NR) printf "%s-%s", lo, hi; else print "-"}'; }
progress() { echo "kernel-fidelity: $*" >&2; }

# ---- the simulator ----------------------------------------------------------------------

declare -A sim_ms sim_cw sim_cmd get_cmd
for e in "${experiments[@]}"; do
	IFS='|' read -r name label flags paths what <<<"$e"
	# shellcheck disable=SC2206
	cmd=("$bin" run --profile linux --rtt "$RTT" $flags --json)
	sim_cmd[$name]="tcpknobs run --profile linux --rtt $RTT $flags --json"
	gf=$(get_flags "$flags")
	get_cmd[$name]="tcpknobs get --tap tk0 --ip $LAB/24 --profile linux --rtt $RTT ${gf:+$gf }--json --max-time 30s $(urls "$paths")"
	"${cmd[@]}" >"$T/sim-$name.json" 2>"$T/sim-$name.err" ||
		lab_die "the simulator failed: ${sim_cmd[$name]}: $(cat "$T/sim-$name.err")"
	sim_ms[$name]=$(metric "$T/sim-$name.json" "$what" 2>"$T/sim-$name.why") ||
		lab_die "the simulator did not do the workload: ${sim_cmd[$name]}: $(cat "$T/sim-$name.why")"
	sim_cw[$name]=$(sim_cwnd "$T/sim-$name.json")
done

# ---- the kernel, through the TAP ----------------------------------------------------------

# One run: fresh metrics, a fresh server (patterns built before "ready"), our client.
kernel_run() {
	local name=$1 flags=$2 paths=$3 out=$4
	local server_pid
	ip -n "$NS" tcp_metrics flush all 2>/dev/null || true
	# A simple command, not in_ns: $! must be the program itself for lab_stop.
	ip netns exec "$NS" timeout 60 "${py[@]}" serve --bind "$KERNEL" --port 80 --tcp-info --preload 262144,1048576 \
		>"$out.info" 2>"$out.serve.err" &
	server_pid=$!
	lab_wait_for "$out.info" ready 10 || lab_die "kernel_http.py serve did not start: $(cat "$out.serve.err")"
	# shellcheck disable=SC2046,SC2086
	in_ns timeout 60 "$bin" get --tap tk0 --ip "$LAB/24" --profile linux --rtt "$RTT" $(get_flags "$flags") \
		--json --max-time 30s $(urls "$paths") >"$out.json" 2>"$out.err" || true
	lab_stop "$server_pid"
}

progress "$runs kernel runs of ${#experiments[@]} experiments, interleaved"
declare -A kernel_ms
for e in "${experiments[@]}"; do : >"$T/k-${e%%|*}.info"; done
for ((run = 1; run <= runs; run++)); do
	for e in "${experiments[@]}"; do
		IFS='|' read -r name label flags paths what <<<"$e"
		out="$T/k-$name-$run"
		kernel_run "$name" "$flags" "$paths" "$out"
		if v=$(metric "$out.json" "$what" 2>"$out.why"); then
			kernel_ms[$name]+="$v "
			kernel_info "$out.info" >>"$T/k-$name.info"
		else
			progress "run $run of $name not counted: $(cat "$out.why") $(tail -c 300 "$out.err")"
		fi
	done
	progress "round $run of $runs done"
done

# ---- the report ----------------------------------------------------------------------------

echo
echo "tcpknobs --profile linux against Linux $(uname -r): $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo '?') ($("$bin" --version 2>/dev/null || echo tcpknobs))"
echo "kernel side (namespace $NS): tcp_congestion_control=$cc tcp_slow_start_after_idle=$ssai tcp_sack=$sack,"
echo "  route without initcwnd (IW 10), tcp_metrics flushed before each run, a fresh"
echo "  kernel_http.py serve --tcp-info --preload 262144,1048576 per run"
echo
echo "commands (the simulator; then the kernel's peer, our client inside the namespace):"
for e in "${experiments[@]}"; do
	IFS='|' read -r name _ <<<"$e"
	echo "  ${sim_cmd[$name]}"
	echo "  ${get_cmd[$name]}"
done
echo
echo "diff = (sim - kernel median) / kernel median; kernel n = runs that did the workload"
printf '%-38s %8s %10s %19s %7s\n' "experiment (RTT 100 ms)" "sim ms" "kernel ms" "kernel min-max" "diff"
for e in "${experiments[@]}"; do
	IFS='|' read -r name label _ <<<"$e"
	vals=${kernel_ms[$name]:-}
	n=$(wc -w <<<"$vals")
	med=$(tr ' ' '\n' <<<"$vals" | grep . | median)
	rng=$(tr ' ' '\n' <<<"$vals" | grep . | range)
	diff=$(python3 -c 'import sys
s, k = sys.argv[1], sys.argv[2]
print("-" if k in ("-", "") else "%+.0f %%" % ((float(s) - float(k)) / float(k) * 100))' "${sim_ms[$name]}" "$med")
	printf '%-38s %8s %10s %19s %7s\n' "$label" "${sim_ms[$name]}" "$med" "$rng (n=$n)" "$diff"
done
echo
echo "The sender's state at the measured response (the only one, or the second): the kernel's"
echo "TCP_INFO just before the response was written and just after (a restart after idle shows"
echo "as cwnd falling), each run; the simulated server's congestion window."
printf '%-38s %-32s %s\n' "experiment" "kernel: rto/srtt/idle ms, cwnd" "sim: cwnd (segments)"
for e in "${experiments[@]}"; do
	IFS='|' read -r name label _ <<<"$e"
	first=1
	while read -r rto srtt idle cw_b cw_w retrans; do
		s="$rto/$srtt/$idle, $cw_b -> $cw_w"
		[ "$retrans" != 0 ] && s+=" ($retrans retrans)"
		if [ "$first" = 1 ]; then
			printf '%-38s %-32s %s\n' "$label" "$s" "${sim_cw[$name]}"
			first=0
		else
			printf '%-38s %s\n' "" "$s"
		fi
	done <"$T/k-$name.info"
done
