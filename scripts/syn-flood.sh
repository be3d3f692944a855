#!/usr/bin/env bash
# A SYN flood against the kernel's listener and against `tcpknobs serve`, side by side:
# how many handshakes each keeps, and how many SYNs it answers with a SYN cookie or
# drops. Not run by CI.
#
#   sudo scripts/syn-flood.sh [--backlog B] [--syns N] [--bin PATH]
#
# With SYN cookies on and off (the namespace's net.ipv4.tcp_syncookies = 1, 0; serve
# --syn-cookies on, off), N SYNs (default 1000) from an address that never answers
# (scripts/syn_flood.py: the SYN-ACKs go nowhere, every handshake stays half-open) go
# to a listener with backlog B (default 8): the kernel's (python3's socket.listen(B),
# never accepting) over a veth pair, and serve's over a TAP. For each, the table shows
# the handshakes kept (kernel: ss's SYN-RECV sockets; serve: its connections), the
# SYNs answered with a cookie (nstat's TcpExtSyncookiesSent; serve's
# listen.syncookies_sent) and the SYNs dropped (TcpExtTCPReqQFullDrop;
# listen.syn_queue_drops). Linux keeps backlog + 1. --bin: the tcpknobs binary
# (default target/release/tcpknobs). Namespaces tsf-PID-k, tsf-PID-f, tsf-PID-t,
# deleted on exit. A few seconds.
set -euo pipefail

LAB_SCRIPT=syn-flood
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../target/release/tcpknobs"
backlog=8
syns=1000

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) [ $# -ge 2 ] || { echo "syn-flood: --bin needs a path" >&2; exit 2; }; bin=$2; shift 2 ;;
	--backlog) [ $# -ge 2 ] || { echo "syn-flood: --backlog needs a number" >&2; exit 2; }; backlog=$2; shift 2 ;;
	--syns) [ $# -ge 2 ] || { echo "syn-flood: --syns needs a number" >&2; exit 2; }; syns=$2; shift 2 ;;
	-h | --help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "syn-flood: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
[[ $backlog =~ ^[0-9]+$ && $backlog -ge 1 && $backlog -le 4096 ]] || { echo "syn-flood: --backlog is 1-4096" >&2; exit 2; }
[[ $syns =~ ^[0-9]+$ && $syns -ge 1 && $syns -le 40000 ]] || { echo "syn-flood: --syns is 1-40000" >&2; exit 2; }

# shellcheck source=scripts/netns-lib.sh
. "$here/netns-lib.sh"
lab_preflight "$bin"
command -v ss >/dev/null || lab_die "ss is missing: install iproute2"
command -v nstat >/dev/null || lab_die "nstat is missing: install iproute2"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
lab_init

K="tsf-$$-k"  # the kernel's listener
F="tsf-$$-f"  # the flood towards it
T="tsf-$$-t"  # serve's TAP, and the flood towards it
lab_netns "$K"
lab_netns "$F"
lab_veth "$K" tsfk 10.78.0.1/24 "$F" tsff 10.78.0.2/24
lab_netns "$T"
lab_tap "$T" tk0 10.77.0.1/24
flood=(python3 "$here/syn_flood.py")

# kernel COOKIES: the kernel's counts, "kept cookies dropped".
kernel() {
	ip netns exec "$K" sysctl -qw "net.ipv4.tcp_syncookies=$1"
	# nstat prints what changed since its history file was written (-n writes it).
	NSTAT_HISTORY="$LAB_TMP/nstat" ip netns exec "$K" nstat -n >/dev/null
	ip netns exec "$K" timeout 30 python3 -c "
import socket, sys, time
s = socket.socket(); s.bind(('10.78.0.1', 8080)); s.listen($backlog)
print('ready', flush=True); time.sleep(30)" >"$LAB_TMP/k.out" &
	local listener=$!
	lab_wait_for "$LAB_TMP/k.out" ready 10 || lab_die "the kernel listener did not start"
	ip netns exec "$F" "${flood[@]}" --src 10.78.0.50 --dst 10.78.0.1 --port 8080 --count "$syns"
	sleep 1
	local kept sent dropped
	kept=$(ip netns exec "$K" ss -Htn state syn-recv | wc -l)
	read -r sent dropped < <(NSTAT_HISTORY="$LAB_TMP/nstat" ip netns exec "$K" nstat -z \
		TcpExtSyncookiesSent TcpExtTCPReqQFullDrop |
		awk '/TcpExtSyncookiesSent/ {s = $2} /TcpExtTCPReqQFullDrop/ {d = $2} END {print s + 0, d + 0}')
	lab_stop "$listener"
	echo "$kept $sent $dropped"
}

# ours COOKIES: serve's counts, "kept cookies dropped".
ours() {
	local cookies=on
	[ "$1" = 1 ] || cookies=off
	ip netns exec "$T" timeout 60 "$bin" serve --tap tk0 --ip 10.77.0.2/24 --json --backlog "$backlog" \
		--syn-cookies "$cookies" --max-time 30s >"$LAB_TMP/t.json" 2>"$LAB_TMP/t.err" &
	local server=$!
	lab_wait_for "$LAB_TMP/t.err" serving 10 || lab_die "serve did not start: $(cat "$LAB_TMP/t.err")"
	ip netns exec "$T" "${flood[@]}" --src 10.77.0.50 --dst 10.77.0.2 --port 80 --count "$syns"
	sleep 1
	lab_stop "$server"
	python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
l = r['listen']
print(len(r['connections']), l['syncookies_sent'], l['syn_queue_drops'])" "$LAB_TMP/t.json"
}

echo "A flood of $syns SYNs on a listener with backlog $backlog: Linux $(uname -r) against tcpknobs $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '\n%-22s %-8s %16s %14s %14s\n' listener cookies "handshakes kept" "cookies sent" "SYNs dropped"
for c in 1 0; do
	read -r kept sent dropped <<<"$(kernel "$c")"
	printf '%-22s %-8s %16s %14s %14s\n' "kernel (listen($backlog))" "$([ "$c" = 1 ] && echo on || echo off)" "$kept" "$sent" "$dropped"
	read -r kept sent dropped <<<"$(ours "$c")"
	printf '%-22s %-8s %16s %14s %14s\n' "tcpknobs serve" "$([ "$c" = 1 ] && echo on || echo off)" "$kept" "$sent" "$dropped"
done
