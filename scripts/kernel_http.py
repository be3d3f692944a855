#!/usr/bin/env python3
"""Kernel-TCP peers for scripts/interop.sh, bench-tap.sh, kernel-fidelity.sh and
loss-reference.sh (python3 stdlib only).

    kernel_http.py serve --bind IP [--port P] [--dir DIR] [--nodelay on|off]
                         [--response-writes 1|2] [--tcp-info] [--preload N,...]
        An HTTP/1.1 keep-alive server. GET /bytes/N answers with the lab's pattern
        (scripts/payload.py); any other path is a file under DIR, sent with sendfile(2).
        --response-writes 2 sends the head and the body in two send() calls, as
        `tcpknobs serve --response-writes 2` does; --nodelay on sets TCP_NODELAY (Nagle
        off). Prints "ready" once listening. One thread per connection. --tcp-info:
        for each response, one JSON line of the kernel's TCP_INFO (RTO, srtt, cwnd,
        ssthresh, how long since data was last sent, retransmissions) just before the
        response is written and just after the last write() returned. --preload
        makes the /bytes/N bodies listed before "ready", so the first response does
        not wait for python to build the pattern (tens of ms for 1 MiB).

    kernel_http.py get HOST PORT PATH [--count N]
        http.client, one persistent connection, PATH requested N times. Checks every
        /bytes/N body against the pattern. Prints one JSON object: per-request times
        (ms), the local port of each request (one port = one connection reused), bytes.

    kernel_http.py pingpong HOST PORT [--count N] [--warmup N] [--path P]
        Raw socket, one connection, TCP_NODELAY: N x (send one GET, read the whole
        response). Prints JSON: median, p10, p90, min of the exchange times in us.

Every socket has a timeout; nothing here waits forever.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import payload  # noqa: E402

TIMEOUT_S = 20
_pattern_cache = {}
_cache_lock = threading.Lock()


def pattern(n):
    with _cache_lock:
        if n not in _pattern_cache:
            _pattern_cache[n] = payload.pattern(n)
        return _pattern_cache[n]


def read_head(conn, buf):
    """Read until the end of a request head; return (head, rest) or (None, b"")."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None, b""
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


_print_lock = threading.Lock()


def tcp_info(conn):
    """The fields of struct tcp_info (linux/tcp.h) the lab reads; times in ms."""
    b = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    u = struct.unpack_from("<24I", b, 8)
    return {
        "ca_state": b[1],
        "rto_ms": u[0] / 1000,
        "srtt_ms": u[15] / 1000,
        "rttvar_ms": u[16] / 1000,
        "cwnd": u[18],
        "ssthresh": u[17] if u[17] < 0x7FFFFFFF else None,
        "since_data_sent_ms": u[9],
        "unacked": u[4],
        "total_retrans": u[23],
    }


def log_tcp_info(conn, args, path, when):
    if not args.tcp_info:
        return
    line = json.dumps({"path": path, "when": when, "port": conn.getpeername()[1], **tcp_info(conn)})
    with _print_lock:
        print(line, flush=True)


def handle(conn, args):
    conn.settimeout(TIMEOUT_S)
    if args.nodelay == "on":
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        while True:
            head, buf = read_head(conn, buf)
            if head is None:
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split()
            path = parts[1] if len(parts) >= 2 else "/"
            close = b"connection: close" in head.lower()
            body, file_path, status = None, None, "200 OK"
            candidate = os.path.realpath(os.path.join(args.dir or "/nonexistent", path.lstrip("/")))
            if args.dir and candidate.startswith(os.path.realpath(args.dir) + "/") and os.path.isfile(candidate):
                file_path = candidate
                length = os.path.getsize(candidate)
            elif path.startswith("/bytes/") and path[7:].isdigit():
                body = pattern(int(path[7:]))
                length = len(body)
            else:
                body, status = b"not found\n", "404 Not Found"
                length = len(body)
            resp_head = (
                f"HTTP/1.1 {status}\r\nContent-Length: {length}\r\n"
                f"Content-Type: application/octet-stream\r\n"
                f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"
            ).encode()
            log_tcp_info(conn, args, path, "before")
            if file_path is not None:
                conn.sendall(resp_head)
                with open(file_path, "rb") as f:
                    conn.sendfile(f)
            elif args.response_writes >= 2:
                conn.sendall(resp_head)
                conn.sendall(body)
            else:
                conn.sendall(resp_head + body)
            log_tcp_info(conn, args, path, "written")
            if close:
                return
    except (OSError, socket.timeout):
        return
    finally:
        conn.close()


def serve(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.bind, args.port))
    s.listen(64)
    for n in filter(None, args.preload.split(",")):
        pattern(int(n))
    print("ready", flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=handle, args=(conn, args), daemon=True).start()


def get(args):
    conn = http.client.HTTPConnection(args.host, args.port, timeout=TIMEOUT_S)
    times_ms, ports, sizes, errors = [], [], [], []
    for _ in range(args.count):
        t0 = time.perf_counter_ns()
        conn.request("GET", args.path)
        resp = conn.getresponse()
        body = resp.read()
        times_ms.append((time.perf_counter_ns() - t0) / 1e6)
        ports.append(conn.sock.getsockname()[1] if conn.sock else None)
        sizes.append(len(body))
        if resp.status != 200:
            errors.append(f"status {resp.status}")
        elif args.path.startswith("/bytes/"):
            bad = payload.first_mismatch(body)
            if bad is not None or len(body) != int(args.path[7:]):
                errors.append(f"body differs from the pattern at {bad} (length {len(body)})")
    conn.close()
    print(json.dumps({"times_ms": times_ms, "ports": ports, "bytes": sizes, "errors": errors}))
    return 0 if not errors else 1


def pingpong(args):
    s = socket.create_connection((args.host, args.port), timeout=TIMEOUT_S)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = f"GET {args.path} HTTP/1.1\r\nHost: lab\r\n\r\n".encode()
    # Learn the response length from the first exchange (head + Content-Length body).
    s.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    total = len(head) + 4 + length
    while len(buf) < total:
        buf += s.recv(65536)
    samples = []
    for i in range(args.warmup + args.count):
        t0 = time.perf_counter_ns()
        s.sendall(request)
        got = 0
        while got < total:
            data = s.recv(65536)
            if not data:
                raise SystemExit("connection closed mid-response")
            got += len(data)
        if i >= args.warmup:
            samples.append((time.perf_counter_ns() - t0) / 1000)
    s.close()
    samples.sort()
    n = len(samples)
    print(
        json.dumps(
            {
                "count": n,
                "median_us": statistics.median(samples),
                "p10_us": samples[n // 10],
                "p90_us": samples[(9 * n) // 10],
                "min_us": samples[0],
                "response_bytes": total,
            }
        )
    )
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, default=80)
    s.add_argument("--dir", default="")
    s.add_argument("--nodelay", choices=["on", "off"], default="off")
    s.add_argument("--response-writes", type=int, choices=[1, 2], default=1)
    s.add_argument("--tcp-info", action="store_true")
    s.add_argument("--preload", default="")
    g = sub.add_parser("get")
    g.add_argument("host")
    g.add_argument("port", type=int)
    g.add_argument("path")
    g.add_argument("--count", type=int, default=1)
    q = sub.add_parser("pingpong")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q.add_argument("--count", type=int, default=2000)
    q.add_argument("--warmup", type=int, default=200)
    q.add_argument("--path", default="/bytes/1")
    args = p.parse_args()
    return {"serve": serve, "get": get, "pingpong": pingpong}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
