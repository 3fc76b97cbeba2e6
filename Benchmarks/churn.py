#!/usr/bin/env python3
"""What a new connection costs the replica beside many idle ones.

    churn.py LABEL=BINARY [LABEL=BINARY ...] [--idle N] [--rounds R] [--report FILE]

Each binary serves on its own Redis. wrk sends `GET /healthz` with `Connection: close` (a new
connection a request) for 5 s, first with no other connection open, then with N idle
connections held open (default 10,000, as many listeners or waiters would be), then with none
again. Measured: connections a second, and the server's CPU (user + system from /proc) a
connection. The binaries and the rounds are interleaved; medians. Writes
docs/benchmarks-churn.md.
"""
import argparse
import os
import pathlib
import socket
import statistics
import subprocess
import time

from run_bench import ROOT, cpu_ticks
from tokenpool_testing import redis_server, tokenpool_server

TICKS = os.sysconf("SC_CLK_TCK")
SECONDS = 5
PHASES = ("none idle", "idle held", "none idle again")


def churn(port, pid):
    """(connections a second, µs of server CPU a connection) over SECONDS of wrk."""
    before = cpu_ticks(pid)
    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{SECONDS}s", "-H", "Connection: close", f"http://127.0.0.1:{port}/healthz"],
                         capture_output=True, text=True, check=True).stdout
    cpu = (cpu_ticks(pid) - before) / TICKS
    requests = int(next(line for line in out.splitlines() if "requests in" in line).split()[0])
    return requests / SECONDS, cpu * 1e6 / requests


def measure(binary, idle):
    """Each phase's (connections/s, µs a connection) for one binary."""
    with redis_server() as redis, tokenpool_server(binary, redis.url, timeout=60) as server:
        churn(server.port, server.process.pid)  # warm
        results = {PHASES[0]: churn(server.port, server.process.pid)}
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(idle)]
        time.sleep(2)
        results[PHASES[1]] = churn(server.port, server.process.pid)
        for connection in held:
            connection.close()
        time.sleep(3)
        results[PHASES[2]] = churn(server.port, server.process.pid)
        return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs="+", help="LABEL=BINARY")
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--report", default=str(ROOT / "docs/benchmarks-churn.md"))
    options = parser.parse_args()
    binaries = dict(entry.split("=", 1) for entry in options.binaries)
    runs = {label: [] for label in binaries}
    for round_number in range(options.rounds):
        for label, binary in (binaries.items() if round_number % 2 == 0 else reversed(binaries.items())):
            runs[label].append(measure(binary, options.idle))
            print(f"round {round_number + 1}: {label} " + ", ".join(
                f"{phase}: {rate:,.0f}/s, {cpu:,.0f} µs" for phase, (rate, cpu) in runs[label][-1].items()), flush=True)
    rows = []
    for label, results in runs.items():
        cells = []
        for phase in PHASES:
            rate = statistics.median(r[phase][0] for r in results)
            cpu = statistics.median(r[phase][1] for r in results)
            cells.append(f"{rate:,.0f} /s, {cpu:,.0f} µs")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    report = "\n".join([
        "# A new connection beside many idle ones",
        "",
        f"`python3 Benchmarks/churn.py {' '.join(options.binaries)}` (`make bench-churn`): wrk sends `GET /healthz` with",
        f"`Connection: close` for {SECONDS} s (a new connection a request, 8 at a time) to a release replica with no other",
        f"connection open, then with {options.idle:,} idle connections held open, then with none again. Each cell: connections",
        f"a second, and the server's CPU (user + system, /proc) a connection; medians of {options.rounds} rounds, the binaries",
        "interleaved.",
        "",
        f"| binary | none idle | {options.idle:,} idle | none idle again |",
        "|---|---|---|---|",
        *rows,
        "",
        "Hummingbird's server makes each connection a child of one task group, and this Swift runtime finds an",
        "ending child by walking the group's children from the oldest: with the idle ones first in line, every",
        "connection that closes walks past all of them (docs/scaling.md). TokenPool serves each connection in a task",
        "of its own (`DetachedConnections`).",
        "",
    ])
    pathlib.Path(options.report).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
