#!/usr/bin/env python3
"""`make bench`, part two: what `--redis-wait-replicas 1` costs. One master with one replica,
two release `tokenpool`s on it (N = 0 and N = 1), the assign/unblock cycle under wrk on each,
alternately, three rounds; medians and their ratio go to docs/benchmarks-wait.md.

    wait_replicas.py TOKENPOOL_BINARY
"""
import pathlib
import statistics
import subprocess
import sys
import tempfile

from run_bench import CONNECTIONS, ROOT, SECONDS, fill, wrk
from tokenpool_testing import free_port, start_redis, wait_ready


def main():
    binary = sys.argv[1]
    master, replica = free_port(), free_port()
    ports = {0: free_port(), 1: free_port()}
    processes = []
    with tempfile.TemporaryDirectory() as data:
        try:
            for port, replica_of in [(master, None), (replica, master)]:
                processes.append(start_redis(port, str(pathlib.Path(data) / str(port)), appendfsync="everysec", replica_of=replica_of,
                                             wait=False))
            servers = {}
            for n, port in ports.items():
                servers[n] = subprocess.Popen([binary, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{master}",
                                               "--redis-wait-replicas", str(n), "--keep-alive-ttl", "36000", "--log-level", "error"])
                processes.append(servers[n])
            for port in ports.values():
                wait_ready(port)
            fill(f"http://127.0.0.1:{ports[0]}", "wait", 1_000, sample=0)
            runs = {0: [], 1: []}
            for _ in range(3):
                for n in (0, 1):
                    result = wrk(f"http://127.0.0.1:{ports[n]}", "cycle.wrk.lua", servers[n].pid, {"POOL": "wait"})
                    runs[n].append(result)
                    print(f"wait-replicas {n}: {result['rps']:.0f} req/s, p50 {result['p50']} ms, p99 {result['p99']} ms", flush=True)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
    median = {n: statistics.median(r["rps"] for r in runs[n]) for n in runs}
    p99 = {n: statistics.median(r["p99"] for r in runs[n]) for n in runs}
    lines = [
        "# What `--redis-wait-replicas 1` costs",
        "",
        f"`make bench` (`Benchmarks/wait_replicas.py`): one master with one replica on this 2-core machine, two release",
        f"`tokenpool`s on it, the assign/unblock cycle (wrk -t2 -c{CONNECTIONS} -d{SECONDS}s) on each, alternately, three",
        "rounds. Every state-changing script is followed by `WAIT 1` on the same connection with N = 1.",
        "",
        "| `--redis-wait-replicas` | cycle req/s (median) | p99 ms (median) | rounds (req/s) |",
        "|---|---|---|---|",
    ]
    for n in (0, 1):
        rounds = ", ".join(f"{r['rps']:.0f}" for r in runs[n])
        lines.append(f"| {n} | {median[n]:.0f} | {p99[n]:.2f} | {rounds} |")
    lines += ["", f"Ratio N = 1 / N = 0: **{median[1] / median[0]:.2f}** (same run, alternating)."]
    (ROOT / "docs" / "benchmarks-wait.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
