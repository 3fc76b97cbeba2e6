#!/usr/bin/env python3
"""`make bench-listeners` (and `make bench`): many SSE listeners on one replica.

    listeners.py TOKENPOOL_BINARY [LISTENERS] [POOLS]

One Redis, one release `tokenpool`. LISTENERS (default 10,000) event streams over POOLS pools
(default 10), each reading its pool's `GET /pools/{pool}/events`, held by LISTENERS_WORKERS
processes (default 2). A driver in this process runs an assign/unblock
cycle on every pool twice a second. Measured, with 10 listeners and then with LISTENERS: Redis's
XRANGE calls a second (INFO commandstats: the events' reads), how long an event takes from
Redis's clock (`at`) to each listener (p50/p99 over every listener and event; when the kernel
received it and when the listener read it), whether every listener got every event, and the
server's memory (VmRSS) per listener. Writes docs/benchmarks-listeners.md.

The listeners are two processes (LISTENERS_WORKERS) each reading its share of the streams with
epoll and recvmsg, and each event's delay is taken twice: at the kernel's receive timestamp of its
bytes (SO_TIMESTAMPNS) and when the process read them. Held by asyncio streams instead, the
listener processes spent twice the CPU, and the delay they measured (p99 496-1,032 ms) was
mostly their own queue.
"""
import json
import multiprocessing
import os
import re
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from multiprocessing.connection import Connection
from typing import Dict, List, Optional

import scale_targets
from run_bench import ROOT, cpu_ticks, percentile
from tokenpool_testing import command_calls, free_port, rss_kib, start_redis, wait_ready

MEASURE_SECONDS = float(os.environ.get("LISTENERS_SECONDS", "10"))
WORKERS = int(os.environ.get("LISTENERS_WORKERS", "2"))
TICKS = os.sysconf("SC_CLK_TCK")
# An event's `at`, Redis's clock in ms, in its `data:` line.
AT = re.compile(rb'"at":(\d+)')


def post(base: str, path: str, body: bytes = b"") -> Dict:
    request = urllib.request.Request(base + path, method="POST", data=body)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


# Linux's SO_TIMESTAMPNS (and its control message, SCM_TIMESTAMPNS): the kernel's time of receipt
# of the bytes a recvmsg returns, which Python's socket module does not name.
SO_TIMESTAMPNS = 35
TIMESPEC = struct.Struct("@qq")


class Listeners:
    """One process's event streams, read with epoll and recvmsg: each event's delay from its `at`
    to its arrival, two ways while recording: when the kernel received its bytes (the socket's
    receive timestamp: what the server and the network took) and when this process read them
    (that plus this process's own queue behind its other streams)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.arrived: List[float] = []
        self.read: List[float] = []
        self.recording = False

    def open(self, pool: str) -> socket.socket:
        stream = socket.create_connection(("127.0.0.1", self.port))
        stream.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        stream.sendall(f"GET /pools/{pool}/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode())
        stream.setblocking(False)
        return stream

    def receive(self, stream: socket.socket, pending: bytes) -> Optional[bytes]:
        """Reads what `stream` has; records its events' delays; returns the unfinished rest (None: closed)."""
        try:
            chunk, ancillary, _, _ = stream.recvmsg(1 << 16, socket.CMSG_SPACE(TIMESPEC.size))
        except BlockingIOError:
            return pending
        if not chunk:
            return None
        data = pending + chunk
        # Whole events only (an event ends with a blank line); the rest waits for the next chunk.
        cut = data.rfind(b"\n\n") + 2
        if cut >= 2 and self.recording:
            now = time.time() * 1000
            received = now
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanoseconds = TIMESPEC.unpack(value[:TIMESPEC.size])
                    received = seconds * 1000 + nanoseconds / 1e6
            for at in AT.findall(data, 0, cut):
                self.arrived.append(received - int(at))
                self.read.append(now - int(at))
        return data[cut:] if cut >= 2 else data

    def serve(self, pools: List[str], first: int, count: int, pipe: Connection) -> None:
        """Opens `count` streams (the i-th on pool `first + i`, round the pools); says "open" once
        all are connected; then "record" starts recording, "stop" sends back the delays, "close" ends."""
        streams: Dict[int, socket.socket] = {}
        pending: Dict[int, bytes] = {}
        with select.epoll() as poller:
            for i in range(count):
                stream = self.open(pools[(first + i) % len(pools)])
                streams[stream.fileno()], pending[stream.fileno()] = stream, b""
                poller.register(stream.fileno(), select.EPOLLIN)
            poller.register(pipe.fileno(), select.EPOLLIN)
            pipe.send("open")
            while True:
                for fd, _ in poller.poll(1.0):
                    if fd != pipe.fileno():
                        rest = self.receive(streams[fd], pending[fd])
                        if rest is None:
                            poller.unregister(fd)
                            streams.pop(fd).close()
                        else:
                            pending[fd] = rest
                        continue
                    command = pipe.recv()
                    if command == "record":
                        self.arrived, self.read, self.recording = [], [], True
                    elif command == "stop":
                        self.recording = False
                        pipe.send((self.arrived, self.read))
                    elif command == "close":
                        for stream in streams.values():
                            stream.close()
                        return


def listen_in_process(port: int, pools: List[str], first: int, count: int, pipe: Connection) -> None:
    Listeners(port).serve(pools, first, count, pipe)


def drive(base: str, pools: List[str], seconds: float) -> int:
    """An assign and an unblock on every pool twice a second (four events a pool a second);
    returns the cycles run on each pool."""
    cycles = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        for pool in pools:
            token = post(base, f"/pools/{pool}/tokens/assign")
            post(base, f"/pools/{pool}/tokens/{token['token']}/unblock")
        cycles += 1
        time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))
    return cycles


def measure(label: str, port: int, base: str, pools: List[str], redis_port: int, pid: int, count: int, baseline_rss: int) -> Dict:
    workers = min(WORKERS, count)
    shares = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
    pipes, processes, first = [], [], 0
    for share in shares:
        mine, theirs = multiprocessing.Pipe()
        process = multiprocessing.Process(target=listen_in_process, args=(port, pools, first, share, theirs), daemon=True)
        process.start()
        pipes.append(mine)
        processes.append(process)
        first += share
    try:
        for pipe in pipes:
            if pipe.recv() != "open":
                raise SystemExit("a listener process did not open its streams")
        time.sleep(2)  # Every stream caught up and joined its pool's feed.
        for pipe in pipes:
            pipe.send("record")
        reads_before, started = command_calls(redis_port, "xrange"), time.monotonic()
        cpu_before = [cpu_ticks(pid)] + [cpu_ticks(process.pid) for process in processes]
        cycles = drive(base, pools, MEASURE_SECONDS)
        time.sleep(1)
        elapsed = time.monotonic() - started
        reads = (command_calls(redis_port, "xrange") - reads_before) / elapsed
        cpu = [(cpu_ticks(p) - before) / TICKS for p, before in zip([pid] + [process.pid for process in processes], cpu_before)]
        arrived: List[float] = []
        read: List[float] = []
        for pipe in pipes:
            pipe.send("stop")
            theirs = pipe.recv()
            arrived += theirs[0]
            read += theirs[1]
        rss = rss_kib(pid)
        for pipe in pipes:
            pipe.send("close")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    row = {
        "label": label, "listeners": count, "xrange_per_s": reads,
        # Arrival: the kernel's receive timestamp; read: when the listener process got to it.
        "p50_ms": percentile(arrived, 0.50), "p99_ms": percentile(arrived, 0.99),
        "read_p50_ms": percentile(read, 0.50), "read_p99_ms": percentile(read, 0.99),
        # Two events a cycle (assigned, unblocked), each to every listener of its pool.
        "deliveries": len(arrived), "expected": 2 * cycles * count, "cycles": cycles,
        "rss_mib": rss / 1024, "kib_per_listener": (rss - baseline_rss) / count,
        # CPU over the window, in cores: the server's, and the listener processes' together.
        "server_cores": cpu[0] / elapsed, "client_cores": sum(cpu[1:]) / elapsed,
        "server_us_per_delivery": cpu[0] * 1e6 / len(arrived) if arrived else None,
    }
    print(json.dumps(row), flush=True)
    time.sleep(1)
    return row


def run(binary: str, count: int, pool_count: int) -> List[Dict]:
    pools = [f"listen-{i}" for i in range(pool_count)]
    with tempfile.TemporaryDirectory() as data:
        redis_port, port = free_port(), free_port()
        redis = start_redis(redis_port, data, wait=True)
        server = subprocess.Popen([binary, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                                   "--log-level", "error"])
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base)
            for pool in pools:
                post(base, f"/pools/{pool}/tokens/batch", json.dumps({"count": 10}).encode())
            baseline = rss_kib(server.pid)
            rows = [measure("few", port, base, pools, redis_port, server.pid, pool_count, baseline)]
            baseline = rss_kib(server.pid)
            rows.append(measure("many", port, base, pools, redis_port, server.pid, count, baseline))
            return rows
        finally:
            server.terminate()
            server.wait(timeout=10)
            redis.terminate()
            redis.wait(timeout=10)


def main() -> None:
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    pool_count = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    rows = run(binary, count, pool_count)
    lines = [
        "# Many event-stream listeners on one replica",
        "",
        f"`make bench-listeners` (`Benchmarks/listeners.py`): one Redis, one release replica, {pool_count} pools, an assign/unblock",
        f"cycle on every pool twice a second (4 events a pool a second), measured over {MEASURE_SECONDS:g} s with {rows[0]['listeners']}",
        f"listeners and then with {rows[1]['listeners']:,}, held by {WORKERS} listener processes (epoll and `recvmsg` over their",
        "share of the streams, spread over the pools), which find each event's `at` in whole chunks; the driver runs in a",
        "process of its own. XRANGE/s is Redis's count of the events' reads. An event's delay runs from its `at` (Redis's",
        "clock) to its arrival at a listener: *arrived* is the kernel's receive timestamp of its bytes on the listener's",
        "socket (`SO_TIMESTAMPNS`: what the replica and the network took), *read* is when the listener process got to it",
        "(that plus the process's own queue behind its other streams); p50/p99 over every listener and event. Deliveries",
        "are the events that arrived, of those sent (two events a cycle to every listener of the pool); memory is the",
        "server's VmRSS, per listener over the replica before the listeners came. CPU is each process's user + system time",
        "over the window (/proc), in cores of this 2-core machine: the server's, its µs a delivery (the driver's 80",
        "requests a second included), and the listener processes' together.",
        "",
        "| listeners | XRANGE calls/s | arrived p50 | arrived p99 | read p50 | read p99 | deliveries (of sent) | cycles a pool "
        "| server RSS | KiB per listener | server CPU | µs a delivery | listeners' CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['listeners']:,} | {row['xrange_per_s']:.1f} | {row['p50_ms']:.0f} ms | {row['p99_ms']:.0f} ms | "
                     f"{row['read_p50_ms']:.0f} ms | {row['read_p99_ms']:.0f} ms | "
                     f"{row['deliveries']:,} ({row['expected']:,}) | {row['cycles']} | {row['rss_mib']:.0f} MiB | {row['kib_per_listener']:.1f} | "
                     f"{row['server_cores']:.2f} | {row['server_us_per_delivery']:.1f} | {row['client_cores']:.2f} |")
    lines.append("")
    (ROOT / "docs/benchmarks-listeners.md").write_text("\n".join(lines))
    few, many = rows
    scale_targets.record("listeners", {
        "listeners_few": few["listeners"], "listeners_many": many["listeners"],
        "xrange_few": few["xrange_per_s"], "xrange_many": many["xrange_per_s"],
        "arrived_p99_ms": many["p99_ms"], "read_p99_ms": many["read_p99_ms"],
        "deliveries": many["deliveries"], "expected": many["expected"], "kib_per_listener": many["kib_per_listener"],
    })


if __name__ == "__main__":
    main()
