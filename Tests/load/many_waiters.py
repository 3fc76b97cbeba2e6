#!/usr/bin/env python3
"""Many waiting assigns on one replica: every one served exactly once, and what they cost.

    many_waiters.py BUILD_DIR [WAITERS[/POOLS]...] [--report]

`make test` runs it with 2,000 waiters on the debug build; `make bench-waiters` (and `make
bench`) with 100 and 10,000 on one pool and 10,000 over 100 pools on the release build, writing
docs/benchmarks-waiters.md (--report). One Redis, one replica, empty pools. WAITERS clients
(asyncio, one connection each, spread evenly over POOLS pools, default 1) ask for a token with
`?wait=55`; once all are queued the script measures, for 5 s, Redis's commands a
second (INFO stats: what waiting costs while nothing happens), the replica's memory (VmRSS) and
Redis's (used_memory) per waiter; then hands over 100 tokens one at a time (a generate each),
timing each from the generate's send to the waiter's answer; then generates the rest. Checks:
every waiter got exactly one token, no token went to two, the pool has nobody waiting after.
"""
import asyncio
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List, Optional, Tuple

from tokenpool_testing import Checks, command_calls, free_port, redis_info, rss_kib, start_redis, wait_ready

ROOT = pathlib.Path(__file__).resolve().parents[2]


def pool_names(pools: int) -> List[str]:
    return ["many"] if pools == 1 else [f"many-{i}" for i in range(pools)]


def call(base: str, method: str, path: str, body: Optional[dict] = None) -> dict:
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


async def wait_for_token(port: int, pool: str, holder: str, answers: "asyncio.Queue[Tuple[float, str, int, dict]]") -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"holder": holder}).encode()
    writer.write(f"POST /pools/{pool}/tokens/assign?wait=55 HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    answer = json.loads(await reader.readexactly(length))
    await answers.put((time.monotonic(), holder, status, answer))
    writer.close()


def waiting(base: str, names: List[str]) -> int:
    return sum(call(base, "GET", f"/pools/{name}")["waiting"] for name in names)


async def run(build: str, count: int, pools: int) -> Dict:
    names = pool_names(pools)
    binary = str(pathlib.Path(build) / "tokenpool")
    with tempfile.TemporaryDirectory() as data:
        redis_port, port = free_port(), free_port()
        redis = start_redis(redis_port, data, wait=True)
        server = subprocess.Popen([binary, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                                   "--log-level", "error", "--max-wait", "60"])
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base)
            for name in names:
                call(base, "PUT", f"/pools/{name}", {})
            rss_before, redis_before = rss_kib(server.pid), redis_info(redis_port, "used_memory")
            answers: "asyncio.Queue[Tuple[float, str, int, dict]]" = asyncio.Queue()
            tasks = []
            for i in range(count):
                tasks.append(asyncio.create_task(wait_for_token(port, names[i % pools], f"w-{i}", answers)))
                if i % 250 == 249:
                    await asyncio.sleep(0.05)
            deadline = time.monotonic() + 60
            while waiting(base, names) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            queued = waiting(base, names)
            # What waiting costs while nothing happens: Redis's commands a second, memory per waiter.
            commands_before, calls_before, started = redis_info(redis_port, "total_commands_processed"), command_calls(redis_port, "fcall"), time.monotonic()
            await asyncio.sleep(5)
            took = time.monotonic() - started
            idle_commands = (redis_info(redis_port, "total_commands_processed") - commands_before) / took
            idle_fcalls = (command_calls(redis_port, "fcall") - calls_before) / took
            server_kib = (rss_kib(server.pid) - rss_before) / count
            redis_bytes = (redis_info(redis_port, "used_memory") - redis_before) / count
            # Hand-overs one at a time: from the generate's send to the waiter's answer.
            loop = asyncio.get_running_loop()
            handovers: List[float] = []
            served: Dict[str, str] = {}
            statuses: List[int] = []
            left = {name: len(range(i, count, pools)) for i, name in enumerate(names)}
            for n in range(min(100, count)):
                name = names[n % pools]
                left[name] -= 1
                sent = time.monotonic()
                await loop.run_in_executor(None, call, base, "POST", f"/pools/{name}/tokens", {})
                at, holder, status, answer = await asyncio.wait_for(answers.get(), 30)
                handovers.append((at - sent) * 1000)
                statuses.append(status)
                served.setdefault(holder, answer.get("token", ""))
            for name, rest in left.items():
                while rest > 0:
                    batch = min(1000, rest)
                    await loop.run_in_executor(None, call, base, "POST", f"/pools/{name}/tokens/batch", {"count": batch})
                    rest -= batch
            twice = 0
            for _ in range(count - len(handovers)):
                _, holder, status, answer = await asyncio.wait_for(answers.get(), 60)
                statuses.append(status)
                if holder in served:
                    twice += 1
                served[holder] = answer.get("token", "")
            await asyncio.gather(*tasks, return_exceptions=True)
            assigned = sum(call(base, "GET", f"/pools/{name}")["assigned"] for name in names)
            handovers.sort()
            return {
                "waiters": count, "pools": pools, "queued": queued, "served": len(served), "distinct_tokens": len(set(served.values())),
                "ok_answers": statuses.count(200), "served_twice": twice, "assigned": assigned, "waiting_after": waiting(base, names),
                "idle_redis_commands_per_s": idle_commands, "idle_fcalls_per_s": idle_fcalls, "server_kib_per_waiter": server_kib, "redis_bytes_per_waiter": redis_bytes,
                "handover_p50_ms": statistics.median(handovers), "handover_p99_ms": handovers[max(0, int(len(handovers) * 0.99) - 1)],
            }
        finally:
            server.terminate()
            server.wait(timeout=10)
            redis.terminate()
            redis.wait(timeout=10)


def check(result: Dict, checks: Checks) -> None:
    n = result["waiters"]
    checks.check(result["queued"] == n, f"all {n} waiting assigns queued ({result['queued']})")
    checks.check(result["ok_answers"] == n and result["served"] == n and result["served_twice"] == 0,
                 f"every waiter answered 200 once ({result['ok_answers']} answers, {result['served_twice']} twice)")
    checks.check(result["distinct_tokens"] == n and result["assigned"] == n, f"no token went to two waiters ({result['distinct_tokens']} distinct)")
    checks.check(result["waiting_after"] == 0, "nobody is left waiting")


def main() -> None:
    build = sys.argv[1]
    runs = [(int(a.split("/")[0]), int(a.split("/")[1]) if "/" in a else 1) for a in sys.argv[2:] if a.split("/")[0].isdigit()] or [(2_000, 1)]
    report = "--report" in sys.argv
    checks = Checks("waiters")
    results = []
    for count, pools in runs:
        result = asyncio.run(run(build, count, pools))
        print(json.dumps(result), flush=True)
        check(result, checks)
        results.append(result)
    if report:
        lines = [
            "# Many waiting assigns on one replica",
            "",
            "`make bench-waiters` (`Tests/load/many_waiters.py .build/release " + " ".join(a for a in sys.argv[2:] if a[0].isdigit()) + " --report`): one Redis, one",
            "release replica, empty pools (`N/P`: N waiters over P pools), each waiter a connection with `?wait=55`. Idle, over 5 s",
            "while all wait: the FCALLs the replica sends (renewals batched per pool, at most 500 waiters a call, every 250 ms) and",
            "every command Redis runs, the scripts' own included (INFO total_commands_processed: a renewal is one ZADD for all the",
            "replica's waiters in a pool and one HMGET and one ZMSCORE for their news); memory per waiter from the",
            "replica's VmRSS and Redis's used_memory before and after they queued. Hand-over: 100 tokens generated one at a",
            "time, each timed from the generate's send to the waiter's answer. Then every waiter is served and checked.",
            "",
            "| waiters | pools | idle FCALLs/s | idle commands/s in Redis | server KiB per waiter | Redis bytes per waiter | hand-over p50 | hand-over p99 | each served once |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results:
            once = r["served"] == r["waiters"] and r["served_twice"] == 0 and r["distinct_tokens"] == r["waiters"]
            lines.append(f"| {r['waiters']:,} | {r['pools']} | {r['idle_fcalls_per_s']:.1f} | {r['idle_redis_commands_per_s']:,.0f} | {r['server_kib_per_waiter']:.1f} | "
                         f"{r['redis_bytes_per_waiter']:.0f} | {r['handover_p50_ms']:.1f} ms | {r['handover_p99_ms']:.1f} ms | {'yes' if once else 'NO'} |")
        lines.append("")
        (ROOT / "docs/benchmarks-waiters.md").write_text("\n".join(lines))
        sys.path.insert(0, str(ROOT / "Benchmarks"))
        import scale_targets
        keys = ("waiters", "pools", "idle_redis_commands_per_s", "server_kib_per_waiter", "redis_bytes_per_waiter", "handover_p99_ms")
        scale_targets.record("waiters", {"runs": [{key: r[key] for key in keys} for r in results]})
    checks.finish()


if __name__ == "__main__":
    main()
