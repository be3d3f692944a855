#!/usr/bin/env python3
"""A path between two network namespaces in userspace: delay and seeded random loss
(python3 stdlib only; for scripts/loss-reference.sh).

    tap_relay.py --netns-a NS --tap-a IF --netns-b NS --tap-b IF
                 [--delay-ms D] [--loss P] [--loss-direction both|a2b|b2a] [--seed S]
                 [--max-time SECONDS]

Attaches to two existing TAP devices (made with `ip -n NS tuntap add dev IF mode tap`),
one in each namespace, and copies every Ethernet frame from one to the other: IPv4
frames D ms later (one way; FIFO, so order is kept), each dropped with probability P
in the directions chosen, drawn from random.Random(S) (one generator per direction,
one draw per IPv4 frame, so a seed gives the same loss pattern for the same frames);
every other frame (ARP) at once and never dropped. This is what netem's `delay D loss
P` on both sides of a veth pair would do, for kernels without sch_netem
(CONFIG_NET_SCH_NETEM), and it matches `tcpknobs run --rtt 2D --loss P`: the
simulator's links are lossy in both directions and carry no ARP; `get --rtt/--loss`
likewise spare ARP. A TAP without IFF_VNET_HDR gets no GSO super-packets from the
kernel: every frame is one segment of at most the MTU, so loss is per segment.

Prints "ready" once attached; on SIGTERM (or --max-time) prints one JSON line of
counts and exits.
"""

import argparse
import collections
import ctypes
import fcntl
import json
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def setns(name):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns({name}): {os.strerror(e)}")
    finally:
        os.close(fd)


def open_tap(netns, ifname):
    # The tun file belongs to the namespace current when /dev/net/tun is opened, and
    # TUNSETIFF finds the device by name there.
    setns(netns)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--netns-a", required=True)
    p.add_argument("--tap-a", required=True)
    p.add_argument("--netns-b", required=True)
    p.add_argument("--tap-b", required=True)
    p.add_argument("--delay-ms", type=float, default=50.0)
    p.add_argument("--loss", type=float, default=0.0)
    p.add_argument("--loss-direction", choices=["both", "a2b", "b2a"], default="both")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-time", type=float, default=600.0)
    args = p.parse_args()

    fa = open_tap(args.netns_a, args.tap_a)
    fb = open_tap(args.netns_b, args.tap_b)
    delay = args.delay_ms / 1000.0
    lossy = {
        "a2b": args.loss_direction in ("both", "a2b"),
        "b2a": args.loss_direction in ("both", "b2a"),
    }
    # Independent generators per direction, derived from the seed.
    rng = {"a2b": random.Random(args.seed * 2 + 1), "b2a": random.Random(args.seed * 2 + 2)}
    route = {fa: ("a2b", fb), fb: ("b2a", fa)}
    queue = {"a2b": collections.deque(), "b2a": collections.deque()}
    out_fd = {"a2b": fb, "b2a": fa}
    stats = {d: {"frames": 0, "ipv4": 0, "dropped": 0, "late_max_ms": 0.0, "late_sum_ms": 0.0, "delayed": 0, "late_over_5ms": 0} for d in ("a2b", "b2a")}

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", flush=True)
    deadline = time.monotonic() + args.max_time
    while not stop and time.monotonic() < deadline:
        now = time.monotonic()
        due = [q[0][0] for q in queue.values() if q]
        timeout = max(0.0, min(due) - now) if due else 0.5
        try:
            readable, _, _ = select.select([fa, fb], [], [], min(timeout, 0.5))
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in readable:
            d, _ = route[fd]
            for _ in range(64):
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                s = stats[d]
                s["frames"] += 1
                if len(frame) >= 14 and frame[12:14] == b"\x08\x00":
                    s["ipv4"] += 1
                    if lossy[d] and rng[d].random() < args.loss:
                        s["dropped"] += 1
                        continue
                    queue[d].append((now + delay, frame))
                else:
                    try:
                        os.write(out_fd[d], frame)
                    except OSError:
                        pass
        now = time.monotonic()
        for d, q in queue.items():
            while q and q[0][0] <= now:
                at, frame = q.popleft()
                late = (now - at) * 1000
                stats[d]["late_max_ms"] = max(stats[d]["late_max_ms"], late)
                stats[d]["late_sum_ms"] += late
                stats[d]["delayed"] += 1
                if late > 5:
                    stats[d]["late_over_5ms"] += 1
                try:
                    os.write(out_fd[d], frame)
                except OSError:
                    pass  # the device is down or its queue full: a loss on the wire
    for s in stats.values():
        s["late_mean_ms"] = round(s.pop("late_sum_ms") / max(1, s["delayed"]), 3)
        s["late_max_ms"] = round(s["late_max_ms"], 3)
    print(json.dumps(stats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
