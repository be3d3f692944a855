#!/usr/bin/env bash
# A reference for loss recovery: the Linux kernel talking to itself through a lossy
# 100 ms path, beside `tcpknobs run --profile linux` on the same workload. Not run by CI.
#
#   sudo scripts/loss-reference.sh [--seeds N] [--parallel P] [--bin PATH] [--no-rt]
#
# Workload: 20 x 100 kB on one persistent connection (kernel_http.py get --count 20
# against kernel_http.py serve /bytes/100000), RTT 100 ms, 5 % loss in each direction,
# reno, SACK on (the default), Linux's own loss recovery (RTO floor 200 ms, RACK/TLP,
# SACK recovery). Kernel: N independent runs (--seeds, default 200), --parallel at
# a time (default 10; each run mostly waits on the path). Simulator: `tcpknobs run
# --profile linux --loss 0.05 --rtt 100ms --requests 20 --size 100000 --strategy
# persistent --seed S` for S = 1..N. Prints mean, median, p5, p95 (linear between
# ranks), min and max of the total time of both, the ratio sim/kernel, and what each
# did per run (drops, retransmissions, timeouts).
#
# The path: this kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set on the VM
# the script was written on), so the delay and loss are done in userspace by
# scripts/tap_relay.py between two TAPs, one per namespace: 50 ms each way, each
# IPv4 frame dropped with probability 0.05 in both directions, as the simulator's
# --loss does (stack/src/sim.rs gives every link direction the same LinkProfile, loss
# included: SYNs, data and ACKs alike); ARP is neither delayed nor dropped (the
# simulator has none; get's --rtt/--loss spare it too). The relay's loss is seeded
# with the run's number. A TAP opened without IFF_VNET_HDR takes no GSO/TSO
# super-packets: the kernel segments before the TAP, so every frame is one segment
# of at most the 1500-byte MTU and loss is per segment (what netem on a veth would
# need `ethtool -K IF tso off gso off gro off` for); the script checks the MTU and, if
# ethtool is installed (apt-get install ethtool), turns the offloads off anyway. The
# relay's lateness (how long after its due time a frame left) is reported: it bounds
# what the userspace path adds to the 100 ms. The relay (chrt -f 20) and the peers
# (chrt -f 10) run SCHED_FIFO unless --no-rt.
#
# Namespaces tkl-PID-K-c (client, 10.80.K.1) and tkl-PID-K-s (server, 10.80.K.2) for
# K = 0..P-1, deleted on exit. About 12 minutes for 200 seeds with P = 10: a kernel
# run takes about 30 s of wall time (and 1 s of CPU), a simulator run 0.1-0.3 s.
set -euo pipefail

LAB_SCRIPT=loss-reference
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../target/release/tcpknobs"
seeds=200
parallel=10
LOSS=0.05
RTT_MS=100
REQUESTS=20
SIZE=100000
use_rt=1

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) [ $# -ge 2 ] || { echo "loss-reference: --bin needs a path" >&2; exit 2; }; bin=$2; shift 2 ;;
	--seeds) [ $# -ge 2 ] || { echo "loss-reference: --seeds needs a number" >&2; exit 2; }; seeds=$2; shift 2 ;;
	--parallel) [ $# -ge 2 ] || { echo "loss-reference: --parallel needs a number" >&2; exit 2; }; parallel=$2; shift 2 ;;
	--no-rt) use_rt=0; shift ;;
	-h | --help) sed -n '2,36s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "loss-reference: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
[[ $seeds =~ ^[0-9]+$ && $seeds -ge 1 && $seeds -le 10000 ]] || { echo "loss-reference: --seeds is 1-10000" >&2; exit 2; }
[[ $parallel =~ ^[0-9]+$ && $parallel -ge 1 && $parallel -le 32 ]] || { echo "loss-reference: --parallel is 1-32" >&2; exit 2; }
[ "$parallel" -gt "$seeds" ] && parallel=$seeds

# shellcheck source=scripts/netns-lib.sh
. "$here/netns-lib.sh"
lab_preflight "$bin"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
lab_init
T=$LAB_TMP

# The workers run in the background; stop them (bounded) before the namespaces go.
workers=()
stop_workers() {
	local pid
	for pid in "${workers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${workers[@]}"; do wait "$pid" 2>/dev/null || true; done
	workers=()
}
trap 'stop_workers; lab_cleanup' EXIT

progress() { echo "loss-reference: $*" >&2; }

# The relay and both peers run SCHED_FIFO (where chrt exists and --no-rt was not
# given), the relay above the peers (the client spends ~14 ms of CPU checking each
# 100 kB body), so other work does not hold frames or responses up: on a loaded 2-core
# VM, 10 runs at once, at normal priority 3.5 % of the frames left the relay more than
# 5 ms late, with all at one RT priority 0.8 %. None of them spins (each blocks in
# select or recv, with timeouts), and the kernel's RT throttling bounds them anyway.
rt=()
rt_relay=()
if [ "$use_rt" = 1 ] && command -v chrt >/dev/null; then
	rt=(chrt -f 10)
	rt_relay=(chrt -f 20)
fi
sim_cmd="tcpknobs run --profile linux --loss $LOSS --rtt ${RTT_MS}ms --requests $REQUESTS --size $SIZE --strategy persistent --seed S --json"

# ---- the simulator, first (it must not share the CPU with the kernel's runs) ---------------

progress "simulator: $seeds seeds"
for ((s = 1; s <= seeds; s++)); do
	# shellcheck disable=SC2086
	"$bin" run --profile linux --loss "$LOSS" --rtt "${RTT_MS}ms" --requests "$REQUESTS" --size "$SIZE" \
		--strategy persistent --seed "$s" --json >"$T/sim.json" 2>"$T/sim.err" ||
		{ [ $? -eq 3 ] || lab_die "the simulator failed at seed $s: $(cat "$T/sim.err")"; }
	python3 - "$T/sim.json" "$s" >>"$T/sim.tsv" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
server = [c for c in r["connections"] if c["host"] == "server"]
ok = r["failed"] == 0 and r["end"] == "done"
retrans = sum(c["retransmissions"] for c in server)
timeouts = sum(c["timeouts"] for c in server)
fast = sum(c["fast_retransmits"] for c in server)
print("%s\t%s\t%.3f\t%d\t%d\t%d\t%d" % (sys.argv[2], "ok" if ok else "failed", r["total_ms"],
      r["wire"]["dropped_loss"], retrans, timeouts, fast))
PY
done

# ---- the kernel ------------------------------------------------------------------------------

# Slot K: two namespaces, a TAP in each, reno; the relay between them is per run.
mtu_note=""
for ((k = 0; k < parallel; k++)); do
	c="tkl-$$-$k-c"
	sv="tkl-$$-$k-s"
	lab_netns "$c"
	lab_netns "$sv"
	lab_tap "$c" tc "10.80.$k.1/24"
	lab_tap "$sv" ts "10.80.$k.2/24"
	for ns in "$c" "$sv"; do
		ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control=reno
		ip netns exec "$ns" sysctl -qw net.ipv4.tcp_sack=1
		[ "$(ip netns exec "$ns" sysctl -n net.ipv4.tcp_congestion_control)" = reno ] ||
			lab_die "could not set reno in $ns"
	done
	for pair in "$c tc" "$sv ts"; do
		read -r ns dev <<<"$pair"
		ip -n "$ns" link set "$dev" mtu 1500
		if command -v ethtool >/dev/null; then
			ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
		else
			mtu_note="(ethtool not installed: offloads left as the TAP has them, which is none without IFF_VNET_HDR)"
		fi
	done
done
rmem=$(ip netns exec "tkl-$$-0-s" sysctl -n net.ipv4.tcp_wmem)
rto_min=$(ip netns exec "tkl-$$-0-s" sysctl -n net.ipv4.tcp_rto_min_us 2>/dev/null || echo "?")
offloads=$(ip netns exec "tkl-$$-0-s" ethtool -k ts 2>/dev/null | awk '/^(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload):/ {printf "%s%s %s", sep, $1, $2; sep=", "}' || true)

# netstat KEY...: the server namespace's TCP counters (per namespace), one line.
counters() {
	ip netns exec "$1" cat /proc/net/netstat /proc/net/snmp | python3 -c '
import sys
lines = sys.stdin.read().splitlines()
v = {}
for names, values in zip(lines[0::2], lines[1::2]):
    p = names.split(":")[0]
    for n, x in zip(names.split()[1:], values.split()[1:]):
        v[p + n] = x
keys = ["TcpRetransSegs", "TcpExtTCPTimeouts", "TcpExtTCPLossProbes", "TcpExtTCPSackRecovery",
        "TcpExtTCPRenoRecovery", "TcpExtTCPSpuriousRTOs", "TcpExtTCPLossProbeRecovery"]
print(" ".join(v.get(k, "0") for k in keys))'
}

# One kernel run in slot K with seed S: a tab-separated line to stdout.
kernel_run() {
	local k=$1 s=$2 c="tkl-$$-$1-c" sv="tkl-$$-$1-s" out="$T/k-$2" relay_pid server_pid
	ip -n "$c" tcp_metrics flush all 2>/dev/null || true
	ip -n "$sv" tcp_metrics flush all 2>/dev/null || true
	ip netns exec "$sv" ip neigh flush dev ts 2>/dev/null || true
	ip netns exec "$c" ip neigh flush dev tc 2>/dev/null || true
	ip netns exec "$sv" "${rt_relay[@]}" timeout 300 python3 "$here/tap_relay.py" --netns-a "$c" --tap-a tc --netns-b "$sv" --tap-b ts \
		--delay-ms $((RTT_MS / 2)) --loss "$LOSS" --loss-direction both --seed "$s" --max-time 290 \
		>"$out.relay" 2>"$out.relay.err" &
	relay_pid=$!
	ip netns exec "$sv" "${rt[@]}" timeout 300 python3 "$here/kernel_http.py" serve --bind "10.80.$k.2" --port 80 \
		--preload "$SIZE" >"$out.serve" 2>"$out.serve.err" &
	server_pid=$!
	if ! lab_wait_for "$out.relay" ready 10 || ! lab_wait_for "$out.serve" ready 10; then
		lab_stop "$relay_pid"
		lab_stop "$server_pid"
		printf '%s\tfailed\t-\tsetup: %s %s\n' "$s" "$(tail -c 200 "$out.relay.err")" "$(tail -c 200 "$out.serve.err")"
		return
	fi
	local before after
	before=$(counters "$sv")
	ip netns exec "$c" "${rt[@]}" timeout 280 python3 "$here/kernel_http.py" get "10.80.$k.2" 80 "/bytes/$SIZE" \
		--count "$REQUESTS" >"$out.get" 2>"$out.get.err" || true
	# Let the last ACKs and the FIN exchange settle before the counters are read.
	sleep 0.3
	after=$(counters "$sv")
	lab_stop "$server_pid"
	lab_stop "$relay_pid"
	python3 - "$out.get" "$out.relay" "$s" "$before" "$after" "$REQUESTS" <<'PY'
import json, sys
path, relay_path, seed, before, after, requests = sys.argv[1:7]
try:
    r = json.loads(open(path).read())
    ok = not r["errors"] and len(r["times_ms"]) == int(requests) and len(set(r["ports"])) == 1
    total = sum(r["times_ms"])
    why = "; ".join(r["errors"]) or ("%d requests, ports %s" % (len(r["times_ms"]), sorted(set(r["ports"]))) if not ok else "")
except (OSError, ValueError, KeyError) as e:
    ok, total, why = False, float("nan"), "get: %s" % e
relay = [l for l in open(relay_path).read().splitlines() if l.startswith("{")]
if relay:
    st = json.loads(relay[-1])
    drops = st["a2b"]["dropped"] + st["b2a"]["dropped"]
    late_mean = max(st["a2b"]["late_mean_ms"], st["b2a"]["late_mean_ms"])
    late_max = max(st["a2b"]["late_max_ms"], st["b2a"]["late_max_ms"])
    late5 = (st["a2b"]["late_over_5ms"] + st["b2a"]["late_over_5ms"]) / max(1, st["a2b"]["delayed"] + st["b2a"]["delayed"])
else:
    drops, late_mean, late_max, late5 = -1, float("nan"), float("nan"), float("nan")
d = [int(a) - int(b) for a, b in zip(after.split(), before.split())]
print("%s\t%s\t%.3f\t%d\t%s\t%.3f\t%.3f\t%.6f\t%s" % (seed, "ok" if ok else "failed", total, drops,
      "\t".join(str(x) for x in d), late_mean, late_max, late5, why))
PY
}

# A worker: slot K runs seeds K+1, K+1+P, ...
worker() {
	local k=$1 s
	trap 'exit 0' TERM
	for ((s = k + 1; s <= seeds; s += parallel)); do
		kernel_run "$k" "$s" >>"$T/kernel-$k.tsv"
	done
}

progress "kernel: $seeds runs, $parallel at a time"
started=$(date +%s)
for ((k = 0; k < parallel; k++)); do
	worker "$k" &
	workers+=($!)
done
# Progress while the workers run (bounded: every run is bounded by its timeouts).
while :; do
	alive=0
	for pid in "${workers[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
	[ "$alive" = 1 ] || break
	sleep 10
	done_runs=$(cat "$T"/kernel-*.tsv 2>/dev/null | wc -l)
	progress "$done_runs/$seeds kernel runs done, $(($(date +%s) - started)) s"
done
for pid in "${workers[@]}"; do wait "$pid" || true; done
workers=()
elapsed=$(($(date +%s) - started))
cat "$T"/kernel-*.tsv | sort -n >"$T/kernel.tsv"

# ---- the report -------------------------------------------------------------------------------

echo
echo "Loss recovery reference: Linux $(uname -r) (reno, SACK on, tcp_rto_min_us $rto_min, tcp_wmem $rmem)"
echo "beside tcpknobs $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo '?') --profile linux."
echo "Workload: $REQUESTS x $SIZE B on one persistent connection, RTT ${RTT_MS} ms, loss $LOSS in each direction."
echo
echo "commands:"
echo "  kernel ($parallel slots in parallel, $elapsed s for $seeds runs): per run, namespaces C and S with TAPs tc/ts, reno:"
echo "    ip netns exec S python3 scripts/tap_relay.py --netns-a C --tap-a tc --netns-b S --tap-b ts \\"
echo "        --delay-ms $((RTT_MS / 2)) --loss $LOSS --loss-direction both --seed S"
echo "    ip netns exec S python3 scripts/kernel_http.py serve --bind 10.80.K.2 --port 80 --preload $SIZE"
echo "    ip netns exec C python3 scripts/kernel_http.py get 10.80.K.2 80 /bytes/$SIZE --count $REQUESTS   (total = sum of times_ms)"
echo "    (the relay under ${rt_relay[*]:-normal scheduling}, the peers under ${rt[*]:-normal scheduling}; tcp_metrics"
echo "    flushed in both namespaces before each run)"
echo "  sim: $sim_cmd   (S = 1..$seeds; total = total_ms)"
echo "  offloads on the TAPs: ${offloads:-unknown} $mtu_note"
echo
python3 - "$T/sim.tsv" "$T/kernel.tsv" <<'PY'
import math, sys

def rows(path):
    out = []
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        out.append(f)
    return out

def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    x = p * (len(v) - 1)
    lo, hi = math.floor(x), math.ceil(x)
    return v[lo] + (v[hi] - v[lo]) * (x - lo)

def stats(v):
    return {
        "n": len(v),
        "mean": sum(v) / len(v) if v else float("nan"),
        "median": pct(v, 0.5),
        "p5": pct(v, 0.05),
        "p95": pct(v, 0.95),
        "min": min(v) if v else float("nan"),
        "max": max(v) if v else float("nan"),
    }

sim = rows(sys.argv[1])
ker = rows(sys.argv[2])
sim_ok = [r for r in sim if r[1] == "ok"]
ker_ok = [r for r in ker if r[1] == "ok"]
s = stats([float(r[2]) / 1000 for r in sim_ok])
k = stats([float(r[2]) / 1000 for r in ker_ok])
print("total time, s      %8s %8s %8s %8s %8s %8s   n" % ("mean", "median", "p5", "p95", "min", "max"))
for name, st in (("kernel", k), ("sim", s)):
    print("%-18s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f   %d" % (name, st["mean"], st["median"], st["p5"], st["p95"], st["min"], st["max"], st["n"]))
print("%-18s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f" % ("ratio sim/kernel", *(s[x] / k[x] if k[x] else float("nan") for x in ("mean", "median", "p5", "p95", "min", "max"))))
print()

def mean(v):
    return sum(v) / len(v) if v else float("nan")

# kernel columns: seed ok total drops retrans timeouts tlp sackrec renorec spurious tlprec late_mean late_max
# late_over_5ms_fraction why
print("per run, mean      frames dropped  retransmitted  timeouts  fast recoveries  loss probes")
print("kernel (server ns) %14.1f %14.1f %9.1f %16.1f %12.1f   (TcpRetransSegs, TCPTimeouts, TCPSackRecovery+TCPRenoRecovery, TCPLossProbes)" % (
    mean([int(r[3]) for r in ker_ok]), mean([int(r[4]) for r in ker_ok]), mean([int(r[5]) for r in ker_ok]),
    mean([int(r[7]) + int(r[8]) for r in ker_ok]), mean([int(r[6]) for r in ker_ok])))
print("sim (server)       %14.1f %14.1f %9.1f %16.1f %12s   (wire.dropped_loss; the server's retransmissions, timeouts, fast_retransmits)" % (
    mean([int(r[3]) for r in sim_ok]), mean([int(r[4]) for r in sim_ok]), mean([int(r[5]) for r in sim_ok]),
    mean([int(r[6]) for r in sim_ok]), "-"))
late_mean = [float(r[11]) for r in ker_ok if r[11] != "nan"]
late_max = [float(r[12]) for r in ker_ok if r[12] != "nan"]
late5 = [float(r[13]) for r in ker_ok if r[13] != "nan"]
if late_mean:
    print()
    print("relay lateness (how long after its 50 ms a frame left): mean %.2f ms (worst run's mean %.2f ms);" % (
        mean(late_mean), max(late_mean)))
    print("  %.3f %% of frames more than 5 ms late; the latest frame %.1f ms" % (100 * mean(late5), max(late_max)))
bad = [r for r in ker if r[1] != "ok"] + [r for r in sim if r[1] != "ok"]
if bad:
    print()
    print("left out (failed runs):")
    for r in bad[:20]:
        print("  seed %s: %s" % (r[0], r[-1] if len(r) > 9 else "sim: a transaction failed"))
PY
