#!/usr/bin/env bash
# Throughput and latency of tcpknobs on a TAP, beside the kernel talking to itself over a
# veth pair and (optionally) smoltcp's own examples/benchmark.rs. Not run by CI.
#
#   sudo scripts/bench-tap.sh [--bin PATH] [--size MIB] [--runs N] [--exchanges N]
#                             [--smoltcp-bench PATH]
#
# --size: the bulk body in MiB (default 256); --runs: runs per bulk figure (default 3,
# the median is shown); --exchanges: request/response exchanges per latency figure
# (default 5000); --smoltcp-bench: a built smoltcp 0.14 examples/benchmark binary
# (see the README's "Performance" section for how to build one), else that part is
# skipped. Needs rustc (builds scripts/pingpong.rs), curl, python3, taskset.
#
# Namespaces of its own (tkb-PID-a: TAP tk0 with the kernel at 10.77.0.1, tcpknobs at
# 10.77.0.2, TAP tap0 at 192.168.69.100 for smoltcp's benchmark, veth end 10.78.0.1;
# tkb-PID-b: veth end 10.78.0.2), all deleted on exit. Two to three minutes.
set -euo pipefail

LAB_SCRIPT=bench-tap
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../target/release/tcpknobs"
size_mib=256
runs=3
exchanges=5000
smoltcp_bench=""

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bin=$2; shift 2 ;;
	--size) size_mib=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--exchanges) exchanges=$2; shift 2 ;;
	--smoltcp-bench) smoltcp_bench=$2; shift 2 ;;
	-h | --help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "bench-tap: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
[[ $size_mib =~ ^[0-9]+$ && $size_mib -ge 1 && $size_mib -le 4096 ]] || { echo "bench-tap: --size is 1-4096 (MiB)" >&2; exit 2; }
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 && $runs -le 20 ]] || { echo "bench-tap: --runs is 1-20" >&2; exit 2; }
[[ $exchanges =~ ^[0-9]+$ && $exchanges -ge 100 && $exchanges -le 100000 ]] || { echo "bench-tap: --exchanges is 100-100000" >&2; exit 2; }

# shellcheck source=scripts/netns-lib.sh
. "$here/netns-lib.sh"
lab_preflight "$bin"
for tool in curl rustc taskset; do
	command -v "$tool" >/dev/null || lab_die "$tool is missing"
done
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
if [ -n "$smoltcp_bench" ]; then
	[ -x "$smoltcp_bench" ] || lab_die "no smoltcp benchmark binary at $smoltcp_bench"
	smoltcp_bench=$(cd "$(dirname "$smoltcp_bench")" && pwd)/$(basename "$smoltcp_bench")
fi
# The bulk file lives in memory when /dev/shm is a tmpfs, so the disk bounds nothing.
shm=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && shm=/dev/shm
lab_init "$shm"

NA="tkb-$$-a"
NB="tkb-$$-b"
KERNEL=10.77.0.1
LAB=10.77.0.2
VA=10.78.0.1
VB=10.78.0.2
T=$LAB_TMP
size=$((size_mib * 1048576))
cpus=$(nproc)

lab_netns "$NA"
lab_netns "$NB"
lab_tap "$NA" tk0 "$KERNEL/24"
lab_veth "$NA" va "$VA/24" "$NB" vb "$VB/24"

rustc -O --edition 2021 "$here/pingpong.rs" -o "$T/pingpong" 2>"$T/rustc.err" ||
	lab_die "building scripts/pingpong.rs failed: $(cat "$T/rustc.err")"

json() {
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
# median of the numbers on stdin
median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR+1)/2]; else printf "%.3g\n", (v[NR/2]+v[NR/2+1])/2}'; }
range() { sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {if (NR) printf "%s-%s", lo, hi}'; }
progress() { echo "bench-tap: $*" >&2; }

serve_pid=""
pin=()
serve_start() {
	ip netns exec "$NA" "${pin[@]}" timeout 600 "$bin" serve --tap tk0 --ip "$LAB/24" --max-time 590s "$@" \
		>"$T/serve.out" 2>"$T/serve.err" &
	serve_pid=$!
	lab_wait_for "$T/serve.err" "serving http" 5 || lab_die "tcpknobs serve did not start: $(cat "$T/serve.err")"
}

# ---- bulk ---------------------------------------------------------------------------

progress "bulk: $size_mib MiB, $runs runs per figure"
# smol_run MODE: one run of smoltcp's benchmark (reader or writer), appended to its
# figures. Run right after each tcpknobs run of the same direction, so the minute-to-
# minute noise of a shared machine falls on both alike.
[ -n "$smoltcp_bench" ] && lab_tap "$NA" tap0 192.168.69.100/24
smol_run() {
	[ -n "$smoltcp_bench" ] || return 0
	ip netns exec "$NA" timeout 60 "$smoltcp_bench" --tap tap0 "$1" 2>/dev/null |
		awk '/throughput/ {print $2}' >>"$T/smol-$1.gbps" || true
}

mkdir -p "$T/www/bytes"
serve_start
# The file for the kernel's servers is the pattern, fetched once from our server (and
# checked byte by byte by every `get` below).
ip netns exec "$NA" timeout 300 curl -sS --max-time 290 -o "$T/www/bytes/$size" "http://$LAB/bytes/$size" ||
	lab_die "could not fetch the pattern file from tcpknobs serve"
ln "$T/www/bytes/$size" "$T/www/big"
for ((i = 0; i < runs; i++)); do
	ip netns exec "$NA" timeout 300 curl -sS --max-time 290 -o /dev/null -w '%{speed_download}\n' \
		"http://$LAB/bytes/$size" >>"$T/curl-serve.bps"
	smol_run reader
done
lab_stop "$serve_pid"
# Every frame processed and answered on its own (--rx-batch 1; the default hands over
# the frames already waiting together, as NAPI + GRO does), where the CLI has the flag.
per_frame_flag=()
"$bin" get --help 2>/dev/null | grep -q -- --rx-batch && per_frame_flag=(--rx-batch 1)
if [ ${#per_frame_flag[@]} -gt 0 ]; then
	serve_start "${per_frame_flag[@]}"
	for ((i = 0; i < runs; i++)); do
		ip netns exec "$NA" timeout 300 curl -sS --max-time 290 -o /dev/null -w '%{speed_download}\n' \
			"http://$LAB/bytes/$size" >>"$T/curl-serve-per-frame.bps"
	done
	lab_stop "$serve_pid"
fi

# get_run PORT PATH [FLAGS]: one `tcpknobs get` of PATH from the kernel at KERNEL:PORT;
# prints Gbit/s (request sent to last byte read).
get_run() {
	ip netns exec "$NA" timeout 300 "$bin" get --tap tk0 --ip "$LAB/24" --json --max-time 280s \
		"${@:3}" "http://$KERNEL:$1$2" >"$T/get.json" 2>"$T/get.err" || lab_die "get failed: $(cat "$T/get.err")"
	json "$T/get.json" '"%.2f" % (r["transactions"][0]["bytes"] * 8 / (r["transactions"][0]["ttfb_ms"] + r["transactions"][0]["transfer_ms"]) / 1e6) if r["failed"] == 0 else "FAILED"'
}

ip netns exec "$NA" timeout 600 python3 "$here/kernel_http.py" serve --bind "$KERNEL" --port 8080 --dir "$T/www" >"$T/ks.out" 2>&1 &
ks_pid=$!
lab_wait_for "$T/ks.out" ready 5 || lab_die "kernel_http.py serve did not start"
for ((i = 0; i < runs; i++)); do get_run 8080 "/bytes/$size" >>"$T/get-verified.gbps"; done
for ((i = 0; i < runs; i++)); do
	get_run 8080 /big >>"$T/get-plain.gbps"
	smol_run writer
done
if [ ${#per_frame_flag[@]} -gt 0 ]; then
	for ((i = 0; i < runs; i++)); do get_run 8080 /big "${per_frame_flag[@]}" >>"$T/get-per-frame.gbps"; done
fi
lab_stop "$ks_pid"

ip netns exec "$NA" timeout 600 python3 -u -m http.server 8000 --bind "$KERNEL" --directory "$T/www" >"$T/hs.out" 2>&1 &
hs_pid=$!
lab_wait_for "$T/hs.out" "Serving HTTP" 5 || lab_die "python3 -m http.server did not start"
get_run 8000 /big >>"$T/get-http.server.gbps"
lab_stop "$hs_pid"

# Kernel to kernel: the same file, the same sendfile server, curl, over the veth pair.
ip netns exec "$NB" timeout 600 python3 "$here/kernel_http.py" serve --bind "$VB" --port 8080 --dir "$T/www" >"$T/kb.out" 2>&1 &
kb_pid=$!
lab_wait_for "$T/kb.out" ready 5 || lab_die "kernel_http.py serve (veth) did not start"
for ((i = 0; i < runs; i++)); do
	ip netns exec "$NA" timeout 300 curl -sS --max-time 290 -o /dev/null -w '%{speed_download}\n' \
		"http://$VB:8080/big" >>"$T/curl-kernel.bps"
done
lab_stop "$kb_pid"

gbps() { awk '{printf "%.2f\n", $1 * 8 / 1e9}'; }
get_verified=$(median <"$T/get-verified.gbps")
get_plain=$(median <"$T/get-plain.gbps")
get_hs=$(median <"$T/get-http.server.gbps")
curl_serve=$(gbps <"$T/curl-serve.bps" | median)
curl_kernel=$(gbps <"$T/curl-kernel.bps" | median)
get_per_frame="-" curl_serve_per_frame="-"
if [ ${#per_frame_flag[@]} -gt 0 ]; then
	get_per_frame=$(median <"$T/get-per-frame.gbps")
	curl_serve_per_frame=$(gbps <"$T/curl-serve-per-frame.bps" | median)
fi

smol_writer="-" smol_reader="-"
if [ -n "$smoltcp_bench" ]; then
	smol_writer=$(median <"$T/smol-writer.gbps")
	smol_reader=$(median <"$T/smol-reader.gbps")
fi

# ---- latency --------------------------------------------------------------------------

progress "latency: $exchanges exchanges per figure"

# lat_pair CLIENT_CPU SERVER_CPU: median us per exchange, kernel-kernel, kernel client ->
# tcpknobs serve, tcpknobs get -> kernel server; every process pinned.
lat_rows=()
lat_pair() {
	local ccpu=$1 scpu=$2 kk kt tk n=$((exchanges / 5)) urls=() i
	ip netns exec "$NB" taskset -c "$scpu" timeout 600 "$T/pingpong" server "$VB:81" >"$T/pp-b.out" 2>&1 &
	local ppb_pid=$!
	lab_wait_for "$T/pp-b.out" ready 5 || lab_die "pingpong server (veth) did not start"
	kk=$(ip netns exec "$NA" taskset -c "$ccpu" timeout 120 "$T/pingpong" client "$VB:81" "$exchanges")
	lab_stop "$ppb_pid"

	pin=(taskset -c "$scpu")
	serve_start --nagle off
	pin=()
	kt=$(ip netns exec "$NA" taskset -c "$ccpu" timeout 120 "$T/pingpong" client "$LAB:80" "$exchanges")
	lab_stop "$serve_pid"

	ip netns exec "$NA" taskset -c "$scpu" timeout 600 "$T/pingpong" server "$KERNEL:81" >"$T/pp-a.out" 2>&1 &
	local ppa_pid=$!
	lab_wait_for "$T/pp-a.out" ready 5 || lab_die "pingpong server (TAP side) did not start"
	for ((i = 0; i < n; i++)); do urls+=("http://$KERNEL:81/bytes/1"); done
	ip netns exec "$NA" taskset -c "$ccpu" timeout 120 "$bin" get --tap tk0 --ip "$LAB/24" --json \
		--strategy persistent --nagle off --max-time 100s "${urls[@]}" >"$T/get-lat.json" 2>"$T/get-lat.err" ||
		lab_die "get (latency) failed: $(cat "$T/get-lat.err")"
	lab_stop "$ppa_pid"
	# The median exchange after a 10% warm-up, request sent to last byte read.
	tk=$(json "$T/get-lat.json" '"%.1f" % (1000 * __import__("statistics").median(t["ttfb_ms"] + t["transfer_ms"] for t in r["transactions"][len(r["transactions"]) // 10:])) if r["failed"] == 0 else "FAILED"')
	lat_rows+=("$ccpu/$scpu"$'\t'"${kk%% *}"$'\t'"${kt%% *}"$'\t'"$tk")
}
lat_pair 0 0
[ "$cpus" -ge 2 ] && lat_pair 0 1

# ---- report -----------------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == "-" || a == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b}'; }
echo
echo "tcpknobs on a TAP: Linux $(uname -r), $cpus CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel congestion control $(ip netns exec "$NA" sysctl -n net.ipv4.tcp_congestion_control)"
echo
echo "Bulk, $size_mib MiB in one response, median of $runs (Gbit/s; range in brackets)"
printf '%-58s %8s %16s %16s\n' "path" "Gbit/s" "/ smoltcp bench" "/ kernel-kernel"
printf '%-58s %8s %16s %16s\n' "tcpknobs get <- kernel sendfile server, TAP, body verified" "$get_verified" "$(ratio "$get_verified" "$smol_writer")" "$(ratio "$get_verified" "$curl_kernel")"
printf '%-58s %8s %16s %16s\n' "tcpknobs get <- kernel sendfile server, TAP, not verified" "$get_plain" "$(ratio "$get_plain" "$smol_writer")" "$(ratio "$get_plain" "$curl_kernel")"
printf '%-58s %8s %16s %16s\n' "tcpknobs get <- python3 -m http.server, TAP (1 run)" "$get_hs" "" ""
printf '%-58s %8s %16s %16s\n' "curl <- tcpknobs serve, TAP" "$curl_serve" "$(ratio "$curl_serve" "$smol_reader")" "$(ratio "$curl_serve" "$curl_kernel")"
if [ ${#per_frame_flag[@]} -gt 0 ]; then
	printf '%-58s %8s %16s %16s\n' "tcpknobs get --rx-batch 1 <- kernel, not verified" "$get_per_frame" "$(ratio "$get_per_frame" "$smol_writer")" "$(ratio "$get_per_frame" "$curl_kernel")"
	printf '%-58s %8s %16s %16s\n' "curl <- tcpknobs serve --rx-batch 1" "$curl_serve_per_frame" "$(ratio "$curl_serve_per_frame" "$smol_reader")" "$(ratio "$curl_serve_per_frame" "$curl_kernel")"
fi
printf '%-58s %8s\n' "curl <- kernel sendfile server, veth (kernel-kernel)" "$curl_kernel"
printf '%-58s %8s\n' "smoltcp benchmark writer (kernel -> smoltcp), TAP" "$smol_writer"
printf '%-58s %8s\n' "smoltcp benchmark reader (smoltcp -> kernel), TAP" "$smol_reader"
echo "  ranges: get verified [$(range <"$T/get-verified.gbps")], not verified [$(range <"$T/get-plain.gbps")]," \
	"curl<-serve [$(gbps <"$T/curl-serve.bps" | range)], kernel-kernel [$(gbps <"$T/curl-kernel.bps" | range)]" \
	"$([ -n "$smoltcp_bench" ] && echo ", smoltcp writer [$(range <"$T/smol-writer.gbps")], reader [$(range <"$T/smol-reader.gbps")]")"
echo
echo "Latency: one connection, $exchanges x (1 request, 1 small response), median per exchange (us);"
echo "client and server pinned to the CPUs shown (same CPU: no cross-CPU wake-up in the figure)"
printf '%-10s %14s %16s %14s %18s\n' "cpus c/s" "kernel-kernel" "kernel->tcpknobs" "added by us" "tcpknobs->kernel"
for r in "${lat_rows[@]}"; do
	IFS=$'\t' read -r c kk kt tk <<<"$r"
	printf '%-10s %14s %16s %14s %18s\n' "$c" "$kk" "$kt" "$(awk -v a="$kt" -v b="$kk" 'BEGIN {printf "%+.1f", a - b}')" "$tk"
done
echo "  kernel-kernel: scripts/pingpong.rs client and server over the veth pair; kernel->tcpknobs: the"
echo "  same client against tcpknobs serve --nagle off on the TAP; tcpknobs->kernel: tcpknobs get"
echo "  --strategy persistent --nagle off, $((exchanges / 5)) x GET /bytes/1 from the pingpong server (request"
echo "  sent to last byte read, as get reports it)."
