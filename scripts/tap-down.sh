#!/usr/bin/env bash
# Remove what scripts/tap-up.sh made: the TAP, then the namespace.
#
#   sudo scripts/tap-down.sh [--netns NAME] [--tap IF] [--force]
#
# Refuses while processes still run inside the namespace (a tcpknobs serve, a python
# server): stop them first, or pass --force to kill them.
set -euo pipefail

ns=tcpknobs
tap=tk0
force=0

die() {
	echo "tap-down: $*" >&2
	exit 1
}

usage() {
	sed -n '2,7s/^# \{0,1\}//p' "$0"
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--netns) [ $# -ge 2 ] || die "--netns needs a name"; ns=$2; shift 2 ;;
	--tap) [ $# -ge 2 ] || die "--tap needs an interface name"; tap=$2; shift 2 ;;
	--force) force=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "tap-down: unknown argument '$1'" >&2; usage 2 ;;
	esac
done

[[ $ns =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "'$ns' is not a usable namespace name"
[[ $tap =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "'$tap' is not a usable interface name"
[ "$(id -u)" -eq 0 ] || die "needs root: run it as sudo $0 --netns $ns --tap $tap"
command -v ip >/dev/null || die "the ip command is missing: install iproute2 (apt-get install iproute2)"

if ! ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
	echo "no namespace $ns: nothing to do"
	exit 0
fi

pids=$(ip netns pids "$ns" | tr '\n' ' ')
if [ -n "${pids// /}" ]; then
	if [ "$force" -eq 1 ]; then
		echo "killing processes in $ns: $pids"
		# shellcheck disable=SC2086
		kill $pids 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[ -z "$(ip netns pids "$ns")" ] && break
			sleep 0.2
		done
		# shellcheck disable=SC2046
		kill -9 $(ip netns pids "$ns") 2>/dev/null || true
	else
		die "processes still run in $ns (pids $pids): stop them, or pass --force"
	fi
fi

if ip -n "$ns" link show dev "$tap" >/dev/null 2>&1; then
	ip -n "$ns" link del dev "$tap"
	echo "removed TAP $tap"
fi
ip netns del "$ns"
echo "removed namespace $ns"
