#!/usr/bin/env bash
# Make a network namespace with a TAP device for tcpknobs' TAP mode (serve / get).
#
#   sudo scripts/tap-up.sh [--netns NAME] [--tap IF]
#
# The namespace (default "tcpknobs") keeps the lab's traffic off every real network:
# it holds the TAP (default "tk0"), owned by the user who ran sudo so tcpknobs can open
# it without root, with the kernel's side at 10.77.0.1/24 and the link up. tcpknobs
# must run inside the namespace to see the TAP. Running this again repairs what is
# missing; scripts/tap-down.sh removes it all.
set -euo pipefail

ns=tcpknobs
tap=tk0
kernel_addr=10.77.0.1/24
lab_addr=10.77.0.2/24

die() {
	echo "tap-up: $*" >&2
	exit 1
}

usage() {
	sed -n '2,11s/^# \{0,1\}//p' "$0"
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--netns) [ $# -ge 2 ] || die "--netns needs a name"; ns=$2; shift 2 ;;
	--tap) [ $# -ge 2 ] || die "--tap needs an interface name"; tap=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "tap-up: unknown argument '$1'" >&2; usage 2 ;;
	esac
done

[[ $ns =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "'$ns' is not a usable namespace name (letters, digits, - _ .)"
[[ $tap =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "'$tap' is not a usable interface name (1-15 letters, digits, - _ .)"
[ "$(id -u)" -eq 0 ] || die "needs root: run it as sudo $0 --netns $ns --tap $tap"
command -v ip >/dev/null || die "the ip command is missing: install iproute2 (apt-get install iproute2)"
[ -c /dev/net/tun ] || die "/dev/net/tun is missing: load the tun module (modprobe tun)"

owner=${SUDO_UID:-0}
user=${SUDO_USER:-root}

if ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
	echo "namespace $ns exists"
else
	ip netns add "$ns" || die "could not create namespace $ns"
	echo "created namespace $ns"
fi

in_ns() { ip -n "$ns" "$@"; }

if in_ns link show dev "$tap" >/dev/null 2>&1; then
	details=$(in_ns -d link show dev "$tap")
	if ! grep -q "tun type tap" <<<"$details"; then
		die "$tap exists in $ns but is not a TAP: remove it (sudo ip -n $ns link del $tap) or pick another --tap"
	fi
	# iproute2 shows the owner by name when it has one, else by uid.
	if ! grep -Eq "user ($owner|$user)( |\$)" <<<"$details"; then
		echo "$tap belongs to another user: recreating it for $user"
		in_ns link del dev "$tap"
	else
		echo "TAP $tap exists"
	fi
fi
if ! in_ns link show dev "$tap" >/dev/null 2>&1; then
	in_ns tuntap add dev "$tap" mode tap user "$owner" || die "could not create TAP $tap in $ns"
	echo "created TAP $tap for $user (uid $owner)"
fi

# IPv6 would add router solicitations and MLD reports to every capture; the lab is
# IPv4 only.
ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$tap.disable_ipv6=1" 2>/dev/null || true
in_ns addr replace "$kernel_addr" dev "$tap"
in_ns link set dev lo up
in_ns link set dev "$tap" up

bin=target/release/tcpknobs
as_user=""
[ "$user" != root ] && as_user="sudo -u $user "
run="sudo ip netns exec $ns"

cat <<EOF

TAP $tap is up in namespace $ns; the kernel's side is $kernel_addr.
Give tcpknobs another address in that subnet, e.g. $lab_addr (build first: cargo build --release).

Our server, curl (the kernel's TCP) as the client:
  $run ${as_user}$bin serve --tap $tap --ip $lab_addr --delayed-ack 200ms
  $run curl -sv -o /dev/null -o /dev/null http://${lab_addr%/*}/bytes/100000 http://${lab_addr%/*}/bytes/100000

A real server, our client (HTTP/1.1: python's default HTTP/1.0 closes every connection):
  $run python3 -m http.server 8000 --bind ${kernel_addr%/*} --directory /tmp --protocol HTTP/1.1 &
  $run ${as_user}$bin get --tap $tap --ip $lab_addr --strategy persistent http://${kernel_addr%/*}:8000/ http://${kernel_addr%/*}:8000/

Watch the wire (or pass --pcap FILE to serve/get):
  $run tcpdump -ni $tap tcp

Remove it all:
  sudo scripts/tap-down.sh --netns $ns --tap $tap
EOF
