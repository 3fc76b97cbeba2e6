#!/usr/bin/env python3
"""100,000 leases lapsing at once, two builds side by side (not part of `make bench`: ~40 s a run).

    lapse_ab.py BINARY_A BINARY_B [ROUNDS]

Each run starts a fresh redis-server (append-only, everysec) and one release binary, fills a
1,000-token pool, and runs run_bench.py's lapse test: 100,000 leases with a 3 s lease lapse while
the assign/unblock cycle runs on the small pool. The two binaries alternate, the order flipped
each round (default 4); prints each run and the medians of the cycle's p99 and of how long after
the last deadline every lease was back. Used to choose the reaper's batch (`Defaults.reapBatch`).
"""
import statistics
import sys
import tempfile

from run_bench import Redis, fill, lapse_at_once, start


def once(binary):
    with tempfile.TemporaryDirectory() as data:
        redis, server, redis_port, http_port = start(binary, data)
        base = f"http://127.0.0.1:{http_port}"
        try:
            fill(base, "p1k", 1_000)
            return lapse_at_once(Redis(redis_port), base, server.pid)
        finally:
            server.terminate()
            server.wait()
            redis.terminate()
            redis.wait()


def main():
    binaries = sys.argv[1:3]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    runs = {binary: [] for binary in binaries}
    for round_ in range(rounds):
        for binary in (binaries if round_ % 2 == 0 else binaries[::-1]):
            result = once(binary)
            runs[binary].append(result)
            print(binary, {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}, flush=True)
    for binary, results in runs.items():
        back = [r["back_after_last_deadline_s"] for r in results if r["back_after_last_deadline_s"] is not None]
        print(f"{binary}: cycle p99 median {statistics.median(r['p99'] for r in results)} ms, "
              f"all back {statistics.median(back) if back else 'never'} s after the last deadline (median; "
              f"{len(results) - len(back)} runs never), {statistics.median(r['rps'] for r in results):,.0f} req/s")


if __name__ == "__main__":
    main()
