#!/usr/bin/env python3
"""`make bench-listeners` (and `make bench`): many SSE listeners on one replica.

    listeners.py TOKENPOOL_BINARY [LISTENERS] [POOLS]

One Redis, one release `tokenpool`. LISTENERS (default 10,000) event streams over POOLS pools
(default 10), each reading its pool's `GET /pools/{pool}/events`, held by LISTENERS_WORKERS
processes (default 2) of asyncio connections. A driver in this process runs an assign/unblock
cycle on every pool twice a second. Measured, with 10 listeners and then with LISTENERS: Redis's
XRANGE calls a second (INFO commandstats: the events' reads), how long an event takes from
Redis's clock (`at`) to each listener (p50/p99 over every listener and event), whether every
listener got every event, and the server's memory (VmRSS) per listener. Writes
docs/benchmarks-listeners.md.

The listeners read whole chunks and find each event's `"at":` with a regular expression, not a
line and a JSON parse at a time: with one asyncio process doing that for 10,000 streams, the
client fell behind its own sockets and the driver beside it (sharing its loop) ran 24 to 28
cycles of the 40 a pool; the delay measured was the client's queue.
"""
import asyncio
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from multiprocessing.connection import Connection
from typing import Dict, List

from run_bench import ROOT, cpu_ticks
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


class Listeners:
    """One process's event streams: each event's delay from its `at` to its arrival, while recording."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.delays: List[float] = []
        self.recording = False
        self.connected = 0

    async def listen(self, pool: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 16)
        writer.write(f"GET /pools/{pool}/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        self.connected += 1
        pending = b""
        try:
            while True:
                chunk = await reader.read(1 << 16)
                if not chunk:
                    return
                data = pending + chunk
                # Whole events only (an event ends with a blank line); the rest waits for the next chunk.
                cut = data.rfind(b"\n\n") + 2
                if cut >= 2 and self.recording:
                    now = time.time() * 1000
                    self.delays.extend(now - int(at) for at in AT.findall(data, 0, cut))
                pending = data[max(cut, 0):] if cut >= 2 else data
        finally:
            writer.close()

    async def serve(self, pools: List[str], first: int, count: int, pipe: Connection) -> None:
        """Opens `count` streams (the i-th on pool `first + i`, round the pools); says "open" once
        all are connected; then "record" starts recording, "stop" sends back the delays, "close" ends."""
        loop = asyncio.get_running_loop()
        tasks = []
        for i in range(count):
            tasks.append(asyncio.create_task(self.listen(pools[(first + i) % len(pools)])))
            if i % 200 == 199:
                await asyncio.sleep(0.05)
        while self.connected < count:
            await asyncio.sleep(0.1)
        pipe.send("open")
        while (command := await loop.run_in_executor(None, pipe.recv)) != "close":
            if command == "record":
                self.delays, self.recording = [], True
            elif command == "stop":
                self.recording = False
                pipe.send(self.delays)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def listen_in_process(port: int, pools: List[str], first: int, count: int, pipe: Connection) -> None:
    asyncio.run(Listeners(port).serve(pools, first, count, pipe))


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
        delays: List[float] = []
        for pipe in pipes:
            pipe.send("stop")
            delays += pipe.recv()
        rss = rss_kib(pid)
        for pipe in pipes:
            pipe.send("close")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    delays.sort()
    row = {
        "label": label, "listeners": count, "xrange_per_s": reads,
        "p50_ms": statistics.median(delays) if delays else None,
        "p99_ms": delays[int(len(delays) * 0.99) - 1] if delays else None,
        # Two events a cycle (assigned, unblocked), each to every listener of its pool.
        "deliveries": len(delays), "expected": 2 * cycles * count, "cycles": cycles,
        "rss_mib": rss / 1024, "kib_per_listener": (rss - baseline_rss) / count,
        # CPU over the window, in cores: the server's, and the listener processes' together.
        "server_cores": cpu[0] / elapsed, "client_cores": sum(cpu[1:]) / elapsed,
        "server_us_per_delivery": cpu[0] * 1e6 / len(delays) if delays else None,
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
        f"listeners and then with {rows[1]['listeners']:,}, held by {WORKERS} processes of asyncio connections (one each,",
        "spread over the pools), which read whole chunks and find each event's `at`; the driver runs in a process of its own.",
        "XRANGE/s is Redis's count of the events' reads; the delay runs from the event's `at` (Redis's clock) to its",
        "arrival at a listener, over every listener and event; deliveries are the events that arrived, of those",
        "sent (two events a cycle to every listener of the pool); memory is the server's VmRSS, per listener over the",
        "replica before the listeners came. CPU is each process's user + system time over the window (/proc), in cores",
        "of this 2-core machine: the server's, its µs a delivery (the driver's 80 requests a second included), and the",
        "listener processes' together.",
        "",
        "| listeners | XRANGE calls/s | delay p50 | delay p99 | deliveries (of sent) | cycles a pool | server RSS | KiB per listener | server CPU | µs a delivery | listeners' CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['listeners']:,} | {row['xrange_per_s']:.1f} | {row['p50_ms']:.0f} ms | {row['p99_ms']:.0f} ms | "
                     f"{row['deliveries']:,} ({row['expected']:,}) | {row['cycles']} | {row['rss_mib']:.0f} MiB | {row['kib_per_listener']:.1f} | "
                     f"{row['server_cores']:.2f} | {row['server_us_per_delivery']:.1f} | {row['client_cores']:.2f} |")
    lines.append("")
    (ROOT / "docs/benchmarks-listeners.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
