#!/usr/bin/env python3
"""The server's own CPU time per request, side by side: `make bench` and `make bench-cpu`.

    server_cpu.py LABEL=BINARY [LABEL=BINARY ...]

Each release binary serves natively on one shared redis-server (the reaper at one pass an hour, so
an idle server does nothing). wrk (-t2 -c64, as in docs/benchmarks.md) sends a fixed number of
requests of each scenario, CPU_REQUESTS (default 200,000; Benchmarks/wrk/counted.wrk.lua stops
each thread at its half): GET /healthz, assign on a pool with no token (404), the assign/unblock
cycle and keep-alive on random tokens of a 5,000-token pool. The server process's CPU time (user +
system, all threads, from /proc/PID/stat) from before the first request to when it has gone quiet,
less its idle rate, divided by the requests wrk counted, is its CPU per request: wall-clock
throughput does not enter, so wrk's Lua and Redis sharing the two cores do not hide the
server's cost.

CPU_ROUNDS rounds (default 5); in each, every binary runs every scenario, the binaries' order
flipping each round and the scenarios' order rotating, so all see the same spells of the machine.
Each figure is the median over the rounds; "× /healthz" is the median of the rounds' ratios of a
scenario to the same binary's /healthz in that round. Printed, and written to
docs/benchmarks-cpu.md (CPU_REPORT sets another file).
"""
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

import scale_targets
from run_bench import HERE, ROOT, TICK, cpu_ticks, fill
from tokenpool_testing import free_port, start_redis, wait_ready

REQUESTS = int(os.environ.get("CPU_REQUESTS", "200000"))
ROUNDS = int(os.environ.get("CPU_ROUNDS", "5"))
THREADS, CONNECTIONS = 2, 64
SCENARIOS = ["healthz", "assign 404", "cycle", "keep-alive"]
# The goals, as a multiple of the same run's /healthz.
GOALS = {"cycle": 1.3, "keep-alive": 1.2}


class Server:
    """One binary serving natively on the shared Redis, its pools filled."""

    def __init__(self, label: str, binary: str, redis_port: int, data: str) -> None:
        self.label = label
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([binary, "serve", "--port", str(self.port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                                         "--keep-alive-ttl", "36000", "--reap-interval", "3600", "--log-level", "error"])
        wait_ready(self.base)
        name = re.sub(r"[^A-Za-z0-9_-]", "-", label)
        tokens = pathlib.Path(data) / f"tokens-{name}"
        tokens.write_text("\n".join(fill(self.base, f"ka-{name}", 5_000, sample=5_000)) + "\n")
        fill(self.base, f"cycle-{name}", 5_000, sample=0)
        self.scenarios = {
            "healthz": ("/healthz", {}),
            "assign 404": ("/", {"SCRIPT": str(HERE / "wrk/assign.wrk.lua"), "POOL": f"empty-{name}"}),
            "cycle": ("/", {"SCRIPT": str(HERE / "wrk/cycle.wrk.lua"), "POOL": f"cycle-{name}"}),
            "keep-alive": ("/", {"SCRIPT": str(HERE / "wrk/keepalive.wrk.lua"), "POOL": f"ka-{name}", "TOKENS": str(tokens)}),
        }
        for scenario in SCENARIOS:  # warm: caches filled, connections to Redis open
            self.run(scenario, 10_000)
        started, before = time.monotonic(), cpu_ticks(self.process.pid)
        time.sleep(2)
        self.idle = (cpu_ticks(self.process.pid) - before) / (time.monotonic() - started)

    def run(self, scenario: str, requests: int) -> Tuple[int, float]:
        """wrk sends `requests` requests of `scenario`; returns how many it counted and the
        seconds until the server went quiet."""
        path, env = self.scenarios[scenario]
        command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", "-d300s", "-s", str(HERE / "wrk/counted.wrk.lua"), self.base + path]
        started = time.monotonic()
        wrk = subprocess.Popen(command, env={**os.environ, **env, "LIMIT": str(requests // THREADS)}, stdout=subprocess.PIPE, text=True)
        # wrk waits out its duration even when its threads have stopped: once neither it nor
        # the server has used CPU for 0.3 s, the requests are done, and SIGINT makes it report.
        last, quiet = None, 0
        while quiet < 3:
            time.sleep(0.1)
            now = (cpu_ticks(wrk.pid), cpu_ticks(self.process.pid))
            quiet = quiet + 1 if now == last else 0
            last = now
        elapsed = time.monotonic() - started
        wrk.send_signal(signal.SIGINT)
        out, _ = wrk.communicate(timeout=60)
        if "unexpected status" in out:
            raise SystemExit(f"{self.label} {scenario}: {out}")
        return int(re.search(r"(\d+) requests in", out).group(1)), elapsed

    def measure(self, scenario: str) -> float:
        """µs of the server's CPU a request of `scenario`, its idle rate taken off."""
        before = cpu_ticks(self.process.pid)
        counted, elapsed = self.run(scenario, REQUESTS)
        ticks = cpu_ticks(self.process.pid) - before - self.idle * elapsed
        return ticks / TICK / counted * 1e6

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def healthz_ratio(runs: Dict[str, List[float]], scenario: str) -> float:
    """The median over the rounds of one binary's `scenario` to its `/healthz` in the same round."""
    return statistics.median(a / h for a, h in zip(runs[scenario], runs["healthz"]))


def report(labels: List[str], runs: Dict[str, Dict[str, List[float]]]) -> List[str]:
    """The markdown table: per scenario, each label's median µs and its ratio to /healthz."""
    def ratio(label: str, scenario: str) -> float:
        return healthz_ratio(runs[label], scenario)

    head = "| scenario | " + " | ".join(f"{label} µs | {label} × /healthz" for label in labels)
    rows = [head + (" | last ÷ first |" if len(labels) > 1 else " |"),
            "|---|" + "---|---|" * len(labels) + ("---|" if len(labels) > 1 else "")]
    for scenario in SCENARIOS:
        cells = []
        for label in labels:
            cells += [f"{statistics.median(runs[label][scenario]):.1f}", f"{ratio(label, scenario):.2f}"]
        row = f"| {scenario} | " + " | ".join(cells)
        if len(labels) > 1:
            pairs = zip(runs[labels[-1]][scenario], runs[labels[0]][scenario])
            row += f" | **{statistics.median(a / b for a, b in pairs):.2f}**"
        rows.append(row + " |")
    last = labels[-1]
    rows += ["", "Goals (the issue's, against the same run's `/healthz`): " + "; ".join(
        f"{scenario} ≤ {goal}×: **{ratio(last, scenario):.2f}×** ({'met' if ratio(last, scenario) <= goal else 'not met'})"
        for scenario, goal in GOALS.items()) + f" ({last})."]
    return rows


def main() -> None:
    binaries: List[Tuple[str, str]] = [tuple(arg.split("=", 1)) if "=" in arg else (pathlib.Path(arg).parent.name, arg) for arg in sys.argv[1:]]
    labels = [label for label, _ in binaries]
    runs = {label: {scenario: [] for scenario in SCENARIOS} for label in labels}
    with tempfile.TemporaryDirectory() as data:
        redis_port = free_port()
        redis = start_redis(redis_port, data, wait=True)
        servers: List[Server] = []
        try:
            servers = [Server(label, binary, redis_port, data) for label, binary in binaries]
            for round_ in range(ROUNDS):
                order = servers if round_ % 2 == 0 else servers[::-1]
                scenarios = SCENARIOS[round_ % len(SCENARIOS):] + SCENARIOS[:round_ % len(SCENARIOS)]
                for scenario in scenarios:
                    for server in order:
                        runs[server.label][scenario].append(server.measure(scenario))
                print(f"round {round_ + 1}: " + "; ".join(
                    f"{label} " + ", ".join(f"{s} {runs[label][s][-1]:.1f}" for s in SCENARIOS) for label in labels), flush=True)
        finally:
            for server in servers:
                server.stop()
            redis.terminate()
            redis.wait(timeout=30)
    lines = [
        "# Server CPU per request",
        "",
        f"`Benchmarks/server_cpu.py` (`make bench`, `make bench-cpu`): each release binary natively on one shared",
        f"redis-server; wrk -t{THREADS} -c{CONNECTIONS} sends {REQUESTS:,} requests a scenario (a count, not a duration); the server",
        "process's own CPU time (user + system, all threads) over them, less its idle rate, per request.",
        f"{ROUNDS} rounds, binaries and scenarios interleaved; medians. Pools of 5,000 tokens.",
        "`× /healthz` is the median of each round's ratio to the same binary's `/healthz` in that round.",
        "",
        *report(labels, runs),
        "",
    ]
    print("\n".join(lines))
    out = pathlib.Path(os.environ.get("CPU_REPORT", ROOT / "docs/benchmarks-cpu.md"))
    out.write_text("\n".join(lines))
    if "CPU_REPORT" not in os.environ:
        last = runs[labels[-1]]
        scale_targets.record("cpu", {
            "healthz_us": statistics.median(last["healthz"]), "cycle_us": statistics.median(last["cycle"]),
            "keep_alive_us": statistics.median(last["keep-alive"]),
            "cycle_ratio": healthz_ratio(last, "cycle"), "keep_alive_ratio": healthz_ratio(last, "keep-alive"),
        })


if __name__ == "__main__":
    main()
