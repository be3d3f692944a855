# Sourced by the scripts that run peers in namespaces (interop.sh, bench-tap.sh,
# bench-rps.sh, kernel-fidelity.sh, ...): network namespaces, a TAP and veth pairs of
# the script's own, all removed on every exit path.
#
# Every name carries the script's PID (tki-PID-a, ...), so two runs never share one and
# nothing outside them is touched. Traffic stays inside these namespaces.

LAB_NAMESPACES=()
LAB_TMP=""

lab_die() {
	echo "${LAB_SCRIPT:-lab}: $*" >&2
	exit 1
}

# Root, ip, /dev/net/tun, python3, and the tcpknobs binary ($1).
lab_preflight() {
	[ "$(id -u)" -eq 0 ] || lab_die "needs root (namespaces, a TAP): run it as sudo $0"
	command -v ip >/dev/null || lab_die "the ip command is missing: install iproute2"
	command -v python3 >/dev/null || lab_die "python3 is missing"
	[ -c /dev/net/tun ] || lab_die "/dev/net/tun is missing: load the tun module (modprobe tun)"
	[ -x "$1" ] || lab_die "no tcpknobs binary at $1: build it first (cargo build --release) or pass --bin PATH"
}

lab_cleanup() {
	local ns pid
	for ns in "${LAB_NAMESPACES[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -TERM "$pid" 2>/dev/null || true
		done
	done
	for ns in "${LAB_NAMESPACES[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
			sleep 0.1
		done
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	LAB_NAMESPACES=()
	[ -n "$LAB_TMP" ] && rm -rf -- "$LAB_TMP"
	LAB_TMP=""
}

# Install the cleanup for every way out, and make a private temporary directory (under
# $1, default /tmp).
lab_init() {
	trap lab_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	LAB_TMP=$(mktemp -d "${1:-/tmp}/${LAB_SCRIPT:-lab}.XXXXXX")
	chmod 755 "$LAB_TMP"
}

# lab_netns NAME: a fresh namespace with lo up.
lab_netns() {
	ip netns add "$1" || lab_die "could not create namespace $1"
	LAB_NAMESPACES+=("$1")
	ip -n "$1" link set lo up
}

# lab_tap NS IF CIDR: a TAP in NS with the kernel's side at CIDR (IPv4 only: no IPv6
# chatter in captures).
lab_tap() {
	ip -n "$1" tuntap add dev "$2" mode tap || lab_die "could not create TAP $2 in $1"
	ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1" 2>/dev/null || true
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$1" link set "$2" up
}

# lab_veth NS1 IF1 CIDR1 NS2 IF2 CIDR2: a veth pair between two namespaces.
lab_veth() {
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" ||
		lab_die "could not create veth pair $2/$5"
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$4" addr add "$6" dev "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

# lab_wait_for FILE TEXT SECONDS: wait until FILE contains TEXT; false on timeout.
lab_wait_for() {
	local i
	for ((i = 0; i < $3 * 50; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}

# lab_alive PID: the process runs (a zombie, exited but not yet waited for, does not).
lab_alive() {
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $state != Z* ]]
}

# lab_stop PID [SECONDS]: SIGTERM a background job we started, wait for it (bounded).
# Start such jobs as a simple command (`ip netns exec NS timeout ... &`), not through a
# shell function: then $! is the program itself, not a subshell that would die alone.
lab_stop() {
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for ((i = 0; i < ${2:-5} * 50; i++)); do
		lab_alive "$1" || break
		sleep 0.02
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
