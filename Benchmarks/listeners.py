#!/usr/bin/env python3
"""`make bench-listeners` (and `make bench`): many SSE listeners on one replica.

    listeners.py TOKENPOOL_BINARY [LISTENERS] [POOLS]

One Redis, one release `tokenpool`. LISTENERS (default 10,000) event streams over POOLS pools
(default 10), opened with asyncio, each reading its pool's `GET /pools/{pool}/events`. A driver
runs an assign/unblock cycle on every pool twice a second. Measured, with 10 listeners and then
with LISTENERS: Redis's XRANGE calls a second (INFO commandstats: the events' reads), how long an
event takes from Redis's clock (`at`) to each listener (p50/p99 over every listener and event),
and the server's memory (VmRSS) per listener. Writes docs/benchmarks-listeners.md.
"""
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List

from run_bench import ROOT
from tokenpool_testing import command_calls, free_port, rss_kib, start_redis, wait_ready

MEASURE_SECONDS = float(os.environ.get("LISTENERS_SECONDS", "10"))


def post(base: str, path: str, body: bytes = b"") -> Dict:
    request = urllib.request.Request(base + path, method="POST", data=body)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


class Listeners:
    """Event streams held open; each event's delay from its `at` to its arrival, while `recording`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.delays: List[float] = []
        self.recording = False
        self.connected = 0
        self.tasks: List[asyncio.Task] = []

    async def listen(self, pool: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 16)
        writer.write(f"GET /pools/{pool}/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        self.connected += 1
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"data: {") and self.recording:
                    at = json.loads(line[6:])["at"]
                    self.delays.append(time.time() * 1000 - at)
        finally:
            writer.close()

    async def open(self, pools: List[str], count: int) -> None:
        for i in range(count):
            self.tasks.append(asyncio.create_task(self.listen(pools[i % len(pools)])))
            if i % 200 == 199:
                await asyncio.sleep(0.05)
        while self.connected < len(self.tasks):
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks, self.connected = [], 0


async def drive(base: str, pools: List[str], seconds: float) -> None:
    """An assign and an unblock on every pool twice a second (four events a pool a second)."""
    loop = asyncio.get_running_loop()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        for pool in pools:
            token = await loop.run_in_executor(None, post, base, f"/pools/{pool}/tokens/assign")
            await loop.run_in_executor(None, post, base, f"/pools/{pool}/tokens/{token['token']}/unblock")
        await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - started)))


async def measure(label: str, listeners: Listeners, base: str, pools: List[str], redis_port: int, pid: int, count: int,
                  baseline_rss: int) -> Dict:
    await listeners.open(pools, count)
    await asyncio.sleep(2)  # Every stream caught up and joined its pool's feed.
    listeners.delays, listeners.recording = [], True
    reads_before, started = command_calls(redis_port, "xrange"), time.monotonic()
    await drive(base, pools, MEASURE_SECONDS)
    await asyncio.sleep(1)
    reads = (command_calls(redis_port, "xrange") - reads_before) / (time.monotonic() - started)
    listeners.recording = False
    rss = rss_kib(pid)
    delays = sorted(listeners.delays)
    row = {
        "label": label, "listeners": count, "xrange_per_s": reads,
        "p50_ms": statistics.median(delays) if delays else None,
        "p99_ms": delays[int(len(delays) * 0.99) - 1] if delays else None,
        "deliveries": len(delays), "rss_mib": rss / 1024,
        "kib_per_listener": (rss - baseline_rss) / count,
    }
    print(json.dumps(row), flush=True)
    await listeners.close()
    await asyncio.sleep(1)
    return row


async def run(binary: str, count: int, pool_count: int) -> List[Dict]:
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
            listeners = Listeners(port)
            rows = [await measure("few", listeners, base, pools, redis_port, server.pid, pool_count, baseline)]
            baseline = rss_kib(server.pid)
            rows.append(await measure("many", listeners, base, pools, redis_port, server.pid, count, baseline))
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
    rows = asyncio.run(run(binary, count, pool_count))
    lines = [
        "# Many event-stream listeners on one replica",
        "",
        f"`make bench-listeners` (`Benchmarks/listeners.py`): one Redis, one release replica, {pool_count} pools, an assign/unblock",
        f"cycle on every pool twice a second (4 events a pool a second), measured over {MEASURE_SECONDS:g} s with {rows[0]['listeners']}",
        f"listeners and then with {rows[1]['listeners']:,} (asyncio, one connection each, spread over the pools).",
        "XRANGE/s is Redis's count of the events' reads; the delay runs from the event's `at` (Redis's clock) to its",
        "arrival at a listener, over every listener and event; memory is the server's VmRSS, per listener over the",
        "replica before the listeners came.",
        "",
        "| listeners | XRANGE calls/s | delay p50 | delay p99 | deliveries | server RSS | KiB per listener |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['listeners']:,} | {row['xrange_per_s']:.1f} | {row['p50_ms']:.0f} ms | {row['p99_ms']:.0f} ms | "
                     f"{row['deliveries']:,} | {row['rss_mib']:.0f} MiB | {row['kib_per_listener']:.1f} |")
    lines.append("")
    (ROOT / "docs/benchmarks-listeners.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
