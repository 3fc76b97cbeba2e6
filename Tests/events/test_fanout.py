#!/usr/bin/env python3
"""Events fan-out over HTTP: 300 SSE listeners on one replica, over 3 pools, each get every event
of their pool once and in order, while Redis sees the reads of one listener per pool (XRANGE calls
a second with 300 listeners within 1.5x of those with 3)."""
import asyncio
import json
import sys
import time
import urllib.request
from typing import Dict, List

from tokenpool_testing import Checks, command_calls, redis_server, tokenpool_server

POOLS = ["fan-a", "fan-b", "fan-c"]


def post(base: str, path: str, body: bytes = b"") -> Dict:
    with urllib.request.urlopen(urllib.request.Request(base + path, method="POST", data=body), timeout=10) as response:
        return json.loads(response.read() or b"null")


async def listen(port: int, pool: str, ids: List[str], ready: List[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /pools/{pool}/events HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    ready.append(1)
    try:
        while line := await reader.readline():
            if line.startswith(b"id: "):
                ids.append(line[4:].strip().decode())
    finally:
        writer.close()


async def round_of(base: str, redis_port: int, port: int, count: int, seconds: float = 3.0):
    """`count` listeners; cycles on every pool; each listener's ids, the pools' ids, XRANGE calls a second."""
    received: List[List[str]] = [[] for _ in range(count)]
    ready: List[int] = []
    tasks = [asyncio.create_task(listen(port, POOLS[i % len(POOLS)], received[i], ready)) for i in range(count)]
    while len(ready) < count:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    loop = asyncio.get_running_loop()
    before, started = command_calls(redis_port, "xrange"), time.monotonic()
    written: Dict[str, int] = {pool: 0 for pool in POOLS}
    while time.monotonic() - started < seconds:
        for pool in POOLS:
            token = await loop.run_in_executor(None, post, base, f"/pools/{pool}/tokens/assign")
            await loop.run_in_executor(None, post, base, f"/pools/{pool}/tokens/{token['token']}/unblock")
            written[pool] += 2
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    rate = (command_calls(redis_port, "xrange") - before) / (time.monotonic() - started)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return received, written, rate


def main() -> None:
    checks = Checks("events")
    binary = sys.argv[1] + "/tokenpool"
    with redis_server() as redis, tokenpool_server(binary, f"redis://127.0.0.1:{redis.port}") as server:
        for pool in POOLS:
            post(server.base, f"/pools/{pool}/tokens/batch", b'{"count": 5}')
        few = asyncio.run(round_of(server.base, redis.port, server.port, len(POOLS)))
        many = asyncio.run(round_of(server.base, redis.port, server.port, 300))
        received, written, rate = many
        by_pool: Dict[str, List[List[str]]] = {pool: [] for pool in POOLS}
        for i, ids in enumerate(received):
            by_pool[POOLS[i % len(POOLS)]].append(ids)
        for pool, lists in by_pool.items():
            first = lists[0]
            checks.check(len(first) == written[pool] and len(set(first)) == len(first) and first == sorted(first, key=lambda i: tuple(map(int, i.split("-")))),
                         f"{pool}: a listener got all {written[pool]} events once, in order ({len(first)})")
            checks.check(all(ids == first for ids in lists), f"{pool}: all {len(lists)} listeners got the same events")
        checks.check(rate <= few[2] * 1.5 + 1, f"XRANGE calls a second: {few[2]:.1f} with {len(POOLS)} listeners, {rate:.1f} with 300")
    checks.finish()


if __name__ == "__main__":
    main()
