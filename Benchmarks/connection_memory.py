#!/usr/bin/env python3
"""What one connection costs the replica, by what it does: `make bench` (and by hand).

    connection_memory.py [LABEL=]TOKENPOOL_BINARY... [--connections N] [--rounds R] [--report FILE]

For each binary in turn (the order alternating round by round, so both see the same machine),
one release `tokenpool` on a fresh Redis; N connections (default 3,000) of each kind, opened
after 50 of the same kind as a warm-up, and the server's VmRSS growth divided by N:

- `healthz`: one `GET /healthz` answered, then the connection left open and idle;
- `assign`: one assign answered (a token of a pool of N + 50), then left idle: what a client's
  pooled connection costs between its calls. A connection's task keeps the slabs its deepest
  request's async frames needed (docs/scaling.md), and an API call goes deeper than `/healthz`;
- `waiter`: one waiting assign (`?wait=55` on an empty pool), left waiting;
- `sse`: one events stream (`GET /pools/p/events`), left listening.

Prints a markdown table (KiB a connection, each round's figure); `--report` also writes it.
"""
import argparse
import asyncio
import pathlib
import subprocess
import sys
import tempfile
import urllib.request
from typing import Dict, List, Tuple

from tokenpool_testing import free_port, rss_kib, start_redis, wait_ready

KINDS = {
    "healthz": b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    "assign": b"POST /pools/q/tokens/assign HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    "waiter": b"POST /pools/p/tokens/assign?wait=55 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    "sse": b"GET /pools/p/events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n",
}
Connection = Tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_one(port: int, kind: str, into: List[Connection]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    into.append((reader, writer))
    writer.write(KINDS[kind])
    await writer.drain()
    if kind in ("healthz", "assign"):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)


async def per_connection(binary: str, kind: str, count: int) -> float:
    """KiB of the server's RSS a connection of `kind`, over `count` of them."""
    with tempfile.TemporaryDirectory() as data:
        redis_port, port = free_port(), free_port()
        redis = start_redis(redis_port, data, wait=True)
        server = subprocess.Popen([binary, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                                   "--log-level", "error", "--max-wait", "60"])
        connections: List[Connection] = []
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base)
            urllib.request.urlopen(urllib.request.Request(base + "/pools/p", method="PUT", data=b"{}"), timeout=10).close()
            if kind == "assign":
                for made in range(0, count + 50, 1000):
                    body = b'{"count": %d}' % min(1000, count + 50 - made)
                    urllib.request.urlopen(urllib.request.Request(base + "/pools/q/tokens/batch", method="POST", data=body), timeout=30).close()
            for _ in range(50):
                await open_one(port, kind, connections)
            await asyncio.sleep(1)
            before = rss_kib(server.pid)
            for _ in range(count):
                await open_one(port, kind, connections)
            await asyncio.sleep(3)
            return (rss_kib(server.pid) - before) / count
        finally:
            for _, writer in connections:
                writer.close()
            server.terminate()
            server.wait()
            redis.terminate()
            redis.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("binaries", nargs="+", help="[LABEL=]TOKENPOOL_BINARY")
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--report", type=pathlib.Path)
    args = parser.parse_args()
    named = [(b.split("=", 1)[0], b.split("=", 1)[1]) if "=" in b else (b, b) for b in args.binaries]
    figures: Dict[Tuple[str, str], List[float]] = {}
    for round_number in range(args.rounds):
        order = named if round_number % 2 == 0 else list(reversed(named))
        for label, binary in order:
            for kind in KINDS:
                kib = asyncio.run(per_connection(binary, kind, args.connections))
                figures.setdefault((label, kind), []).append(kib)
                print(f"round {round_number + 1}: {label} {kind} {kib:.1f} KiB a connection", flush=True)
    lines = [f"| binary | {' | '.join(KINDS)} |", "|---|" + "---|" * len(KINDS)]
    for label, _ in named:
        cells = [" / ".join(f"{kib:.1f}" for kib in figures[(label, kind)]) for kind in KINDS]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    table = "\n".join(lines)
    print(table)
    if args.report:
        args.report.write_text(
            "# Memory a connection costs the replica\n\n"
            f"`Benchmarks/connection_memory.py` ({args.connections:,} connections of each kind, release, VmRSS growth a "
            f"connection in KiB, {args.rounds} rounds alternating, each round's figure): `healthz` is a connection left idle after "
            "one `GET /healthz`, `assign` one left idle after an assign answered 200 (a client's pooled connection between calls), `waiter` one left in a waiting assign, `sse` one left on an events stream. Read with "
            "[scaling.md](scaling.md).\n\n" + table + "\n")


if __name__ == "__main__":
    sys.exit(main())
