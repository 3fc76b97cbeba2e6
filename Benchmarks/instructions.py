#!/usr/bin/env python3
"""Instructions per request: a figure that does not move with this machine's noise.

    instructions.py LABEL=BINARY [LABEL=BINARY ...]

Each release binary serves under `qemu-x86_64` with a plugin (Benchmarks/qemu_insn.c) that counts the
guest instructions of all its threads. A client outside the emulator sends a fixed number of
requests over 8 keep-alive connections: GET /healthz, keep-alive on random tokens of a 1,000-token
pool, the assign/unblock cycle (each assign answered 200 is unblocked with its lease) and assign
on a pool with no token (404); INSN_SCENARIOS picks others (`readyz`: one Redis PING). The
count read before and after, less what the idle server executes in as long (measured just before;
the reaper is set to one pass an hour), divided by the requests, is the server-side instructions
per request. Medians over the repeats are printed and written to docs/benchmarks-instructions.md.
Valgrind would be the usual tool, but Debian's 3.19 cannot read Swift 6.3's DWARF 5 and crashes
on the stripped binary, and this VM exposes no hardware counters to `perf stat`.

The redis-server they share runs under valgrind's callgrind, which it can run: its instructions
over the same requests (dumped before and after, less its idle rate) are Redis's side of each
request, which a binary's Lua scripts decide (INSN_REDIS=0 runs Redis natively and skips it).
"""
import http.client
import json
import os
import pathlib
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import scale_targets
from run_bench import ROOT, fill
from tokenpool_testing import free_port, start_redis, wait_ready

CONNECTIONS = 8
REQUESTS = int(os.environ.get("INSN_REQUESTS", "4000"))
REPEATS = int(os.environ.get("INSN_REPEATS", "3"))
PLUGIN = ROOT / ".build/qemu-insn/libinsn.so"
SCENARIOS = os.environ.get("INSN_SCENARIOS", "healthz,keep-alive,cycle,assign 404").split(",")
COUNT_REDIS = os.environ.get("INSN_REDIS", "1") != "0"


def build_plugin():
    source = ROOT / "Benchmarks/qemu_insn.c"
    if not PLUGIN.exists() or PLUGIN.stat().st_mtime < source.stat().st_mtime:
        PLUGIN.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(PLUGIN), str(source), "-lpthread"], check=True)


def read_count(path):
    """The counter once it has stopped moving (the plugin writes it every 20 ms)."""
    last = None
    while True:
        time.sleep(0.06)
        value = int(pathlib.Path(path).read_text())
        if value == last:
            return value
        last = value


class RedisCounter:
    """redis-server under callgrind: `take()` is the instructions it executed since the last take
    (a callgrind dump, which also zeroes the count). Without valgrind or with INSN_REDIS=0, a plain
    redis-server whose take() is None."""

    def __init__(self, port, data):
        self.data = pathlib.Path(data)
        self.counting = COUNT_REDIS and shutil.which("callgrind_control") is not None
        prefix = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.data / 'redis.cg'}"] if self.counting else []
        self.process = start_redis(port, data, prefix=prefix, timeout=60, stderr=subprocess.DEVNULL)
        self.take()

    def take(self):
        if not self.counting:
            return None
        before = set(self.data.glob("redis.cg.*"))
        subprocess.run(["callgrind_control", "-d", str(self.process.pid)], check=True, capture_output=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for dump in set(self.data.glob("redis.cg.*")) - before:
                totals = re.search(r"^(?:totals|summary): (\d+)", dump.read_text(), re.M)
                if totals:
                    dump.unlink()
                    return int(totals.group(1))
            time.sleep(0.05)
        raise SystemExit("callgrind wrote no dump of redis-server")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def drive(port, scenario, requests, pool, tokens):
    """Sends `requests` requests of the scenario over CONNECTIONS connections; each must succeed."""
    share = [requests // CONNECTIONS + (1 if i < requests % CONNECTIONS else 0) for i in range(CONNECTIONS)]
    failures = []

    def connection(count):
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        held = None
        for _ in range(count):
            if scenario in ("healthz", "readyz"):
                method, path = "GET", f"/{scenario}"
            elif scenario == "keep-alive":
                method, path = "POST", f"/pools/{pool}/tokens/{random.choice(tokens)}/keep-alive"
            elif scenario == "assign 404":
                method, path = "POST", f"/pools/{pool}/tokens/assign"
            elif held:
                method, path = "POST", f"/pools/{pool}/tokens/{held[0]}/unblock?lease={held[1]}"
            else:
                method, path = "POST", f"/pools/{pool}/tokens/assign"
            client.request(method, path)
            response = client.getresponse()
            body = response.read()
            if response.status != (404 if scenario == "assign 404" else 200):
                failures.append((path, response.status, body[:200]))
            if scenario == "cycle":
                held = None if held else (lambda t: (t["token"], t["lease"]))(json.loads(body))
        # An assign left unanswered by its unblock would keep a token: unblock it (not counted
        # in an even share, and the shares are even).
        client.close()

    threads = [threading.Thread(target=connection, args=(count,)) for count in share]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{scenario}: {len(failures)} requests failed, e.g. {failures[0]}")


def serve(binary, redis_port, plugin_options):
    """The binary serving under qemu with the counting plugin (`out=...[,profile=...]`), the reaper
    at one pass an hour, Redis's replies awaited up to a minute (Redis may run under callgrind); returns the process and its port once it answers."""
    port = free_port()
    server = subprocess.Popen(["qemu-x86_64", "-plugin", f"{PLUGIN},{plugin_options}", binary, "serve", "--port", str(port),
                               "--redis-url", f"redis://127.0.0.1:{redis_port}", "--keep-alive-ttl", "36000",
                               "--reap-interval", "3600", "--redis-timeout", "60", "--log-level", "error"])
    try:
        wait_ready(port, timeout=120)
    except BaseException:
        server.terminate()
        raise
    return server, port


def fill_pools(port, prefix):
    """A 1,000-token pool for keep-alive and one for the cycle; the pool each scenario uses, and
    the keep-alive pool's tokens."""
    base = f"http://127.0.0.1:{port}"
    tokens = fill(base, f"ka-{prefix}", 1_000, sample=1_000)
    fill(base, f"cycle-{prefix}", 1_000, sample=0)
    pools = {"healthz": "", "readyz": "", "keep-alive": f"ka-{prefix}", "cycle": f"cycle-{prefix}", "assign 404": f"empty-{prefix}"}
    return pools, tokens


def measure(label, binary, redis_port, redis, data):
    pool = re.sub(r"[^A-Za-z0-9_-]", "-", label)
    counter = pathlib.Path(data) / f"count-{pool}"
    server, port = serve(binary, redis_port, f"out={counter}")
    try:
        pools, tokens = fill_pools(port, pool)
        for scenario in SCENARIOS:  # warm: code translated, caches filled, connections open
            drive(port, scenario, 800, pools[scenario], tokens)
        results = {scenario: [] for scenario in SCENARIOS}
        on_redis = {scenario: [] for scenario in SCENARIOS}
        for repeat in range(REPEATS):
            for scenario in SCENARIOS:
                idle_start = read_count(counter)
                redis.take()
                time.sleep(1.0)
                redis_idle = redis.take()
                idle_rate = (read_count(counter) - idle_start) / 1.0
                before = read_count(counter)
                started = time.monotonic()
                drive(port, scenario, REQUESTS, pools[scenario], tokens)
                after = read_count(counter)
                redis_count = redis.take()
                elapsed = time.monotonic() - started
                per_request = (after - before - idle_rate * elapsed) / REQUESTS
                results[scenario].append(per_request)
                redis_note = ""
                if redis_count is not None:
                    on_redis[scenario].append((redis_count - redis_idle * elapsed) / REQUESTS)
                    redis_note = f", Redis {on_redis[scenario][-1]:,.0f}"
                print(f"{label} {scenario} #{repeat + 1}: {per_request:,.0f} instructions/request{redis_note} "
                      f"(idle {idle_rate:,.0f}/s, {REQUESTS / elapsed:,.0f} req/s under qemu)", flush=True)
        redis_medians = {f"redis {scenario}": statistics.median(values) for scenario, values in on_redis.items() if values}
        return {scenario: statistics.median(values) for scenario, values in results.items()} | redis_medians | {"runs": results, "redis runs": on_redis}
    finally:
        server.terminate()
        server.wait(timeout=30)


def markdown_table(table, labels, scenarios):
    """A Markdown table: each scenario's median per label, and the last label's over the first's;
    no lines when no scenario was measured for every label."""
    rows = []
    for scenario in scenarios:
        if not all(scenario in table[label] for label in labels):
            continue
        cells = [f"{table[label][scenario]:,.0f}" for label in labels]
        ratio = f" | **{table[labels[-1]][scenario] / table[labels[0]][scenario]:.2f}**" if len(labels) > 1 else ""
        rows.append(f"| {scenario.removeprefix('redis ')} | " + " | ".join(cells) + ratio + " |")
    if not rows:
        return []
    return [
        "| scenario | " + " | ".join(labels) + (" | last ÷ first |" if len(labels) > 1 else " |"),
        "|---|" + "---|" * len(labels) + ("---|" if len(labels) > 1 else ""),
        *rows,
    ]


def main():
    build_plugin()
    binaries = [arg.split("=", 1) for arg in sys.argv[1:]]
    table = {}
    with tempfile.TemporaryDirectory() as data:
        redis_port = free_port()
        redis = RedisCounter(redis_port, data)
        try:
            for label, binary in binaries:
                table[label] = measure(label, binary, redis_port, redis, data)
        finally:
            redis.stop()
    print(json.dumps(table, indent=2))
    labels = [label for label, _ in binaries]
    lines = [
        "# Instructions per request",
        "",
        f"`Benchmarks/instructions.py`: each release binary under `qemu-x86_64` with a counting plugin (`Benchmarks/qemu_insn.c`),",
        f"{REQUESTS:,} requests a scenario over {CONNECTIONS} keep-alive connections, {REPEATS} repeats, medians; the idle",
        "server's own count over as long is taken off. Server-side guest instructions, all threads, per request.",
        "",
        *markdown_table(table, labels, SCENARIOS),
        "",
    ]
    # /healthz does not reach Redis.
    redis_table = markdown_table(table, labels, [f"redis {scenario}" for scenario in SCENARIOS if scenario != "healthz"])
    if redis_table:
        lines += [
            "Redis's side of the same requests: the shared redis-server ran under valgrind's callgrind;",
            "its instructions over each scenario's requests (less its idle rate), per request. One request",
            "of the cycle is one script call (half assign, half unblock); a keep-alive is one.",
            "",
            *redis_table,
            "",
        ]
    out = pathlib.Path(os.environ.get("INSN_REPORT", ROOT / "docs/benchmarks-instructions.md"))
    out.write_text("\n".join(lines))
    if "INSN_REPORT" not in os.environ:
        scale_targets.record("instructions", table[labels[-1]])


if __name__ == "__main__":
    main()
