#!/usr/bin/env python3
"""`make bench`: TokenPool under wrk on this machine, written up in docs/benchmarks.md.

    run_bench.py TOKENPOOL_BINARY

Starts a redis-server as deployed (append-only, appendfsync everysec) and one release
`tokenpool`, fills pools of 1,000 and 1,000,000 tokens, then runs each scenario with wrk and the
Lua scripts beside this file: keep-alive on random tokens, the assign/unblock cycle, assign on an
exhausted pool (404), generate, and GET /healthz (the HTTP ceiling of the same run). Also
redis-benchmark on the scripts themselves (the Redis ceiling), Redis memory per token, the
server's CPU per request, and 100,000 leases lapsing at once under load. BENCH_SECONDS sets each
wrk run's length (default 10), BENCH_CONNECTIONS its connections (default 64).

A scenario's two pool sizes are measured side by side: BENCH_FLAT_ROUNDS rounds (default 3) of
one run on each, the order flipped each round; the table shows each size's median run and the
1M/1k ratio is the median of the rounds' ratios. (Run one after the other, minutes apart, the
ratio swung from 0.73 to 1.22 between two runs of one build on this machine.) Generate runs one
round: every run grows the pools it writes to.
"""
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import scale_targets
from tokenpool_testing import free_port, start_redis, wait_ready

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
SIZES = {"1k": 1_000, "1m": 1_000_000}
FLAT_ROUNDS = int(os.environ.get("BENCH_FLAT_ROUNDS", "3"))
SCENARIOS = ["keep-alive", "assign/unblock", "assign 404", "generate", "list 100", "list 100 free"]
TICK = os.sysconf("SC_CLK_TCK")


def start(binary, data):
    """A redis-server (append-only, everysec) keeping its files in `data`, and `binary` serving on
    it (tokens live 10 hours), as the benchmarks here run them. Returns (redis-server, server,
    redis port, HTTP port) once the server answers."""
    redis_port, http_port = free_port(), free_port()
    redis = start_redis(redis_port, data, appendfsync="everysec", wait=False)
    server = subprocess.Popen([binary, "serve", "--port", str(http_port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                               "--keep-alive-ttl", "36000", "--log-level", "error"])
    try:
        wait_ready(http_port)
    except BaseException:
        server.terminate()
        redis.terminate()
        raise
    return redis, server, redis_port, http_port


class Redis:
    def __init__(self, port):
        self.port = port

    def cli(self, *args, stdin=None):
        return subprocess.run(["redis-cli", "-p", str(self.port), *map(str, args)], input=stdin,
                              capture_output=True, text=True, check=True).stdout.strip()

    def used_memory(self):
        self.cli("MEMORY", "PURGE")
        return int(re.search(r"used_memory:(\d+)", self.cli("INFO", "memory")).group(1))

    def keys(self, pool):
        return [f"tokenpool:{{{pool}}}:{k}"
                for k in ("free", "leases", "alive", "lease", "seq", "queue", "waiters", "handed", "meta", "holder", "settings", "events")]


def post(base, path, body=None, key=None):
    request = urllib.request.Request(base + path, method="POST", data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"null")


def put(base, path, body, key=None):
    request = urllib.request.Request(base + path, method="PUT", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"null")


def fill(base, pool, count, sample=10_000, metadata=None, key=None):
    tokens = []
    while count > 0:
        batch = min(10_000, count)
        answer = post(base, f"/pools/{pool}/tokens/batch", {"count": batch, **({"metadata": metadata} if metadata else {})}, key=key)
        if len(tokens) < sample:
            tokens += [t["token"] for t in answer["tokens"][: sample - len(tokens)]]
        count -= batch
    return tokens


def percentile(values, fraction):
    """The value at `fraction` (0.99: p99) of `values`, by rank (None when there are none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else None


def cpu_ticks(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wrk(base, script, pid, env=None, seconds=SECONDS, path="/"):
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(HERE / "wrk" / script)]
    before = cpu_ticks(pid)
    out = subprocess.run(command + [base + path], capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True).stdout
    ticks = cpu_ticks(pid) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency(out, "50%"), "p99": latency(out, "99%"),
        "requests": requests, "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "cpu_us": ticks / TICK * 1e6 / max(requests, 1),
    }


def latency(out, label):
    value, unit = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def lua_source(script):
    """A script as the server runs it: prelude.lua in front (see Scripts/lua/prelude.lua)."""
    return (ROOT / "Scripts/lua/prelude.lua").read_text() + (ROOT / "Scripts/lua" / script).read_text()


def function_name(redis, script):
    """The server's function for `script` (assign.lua: tokenpool_HASH_assign), in the library it
    loaded on its first script (see Sources/RedisTokenPool/Pool/PoolScript.swift)."""
    words = redis.cli("FUNCTION", "LIST", "LIBRARYNAME", "tokenpool_*").split()
    return f"{words[words.index('library_name') + 1]}_{script.removesuffix('.lua')}"


def redis_benchmark(redis, script, keys, args, requests=200_000):
    """`script`'s calls a second as the server makes them (FCALL), from 50 connections."""
    out = subprocess.run(["redis-benchmark", "-p", str(redis.port), "-n", str(requests), "-c", "50", "-q",
                          "FCALL", function_name(redis, script), str(len(keys)), *keys, *map(str, args)],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"([\d.]+) requests per second", out.replace("\r", "\n").strip().splitlines()[-1]).group(1))


def resp(*args):
    parts = [f"*{len(args)}\r\n"]
    for a in map(str, args):
        parts.append(f"${len(a.encode())}\r\n{a}\r\n")
    return "".join(parts)


def lapse_at_once(redis, base, pid, count=100_000):
    """`count` leases lapse within about a second while the assign/unblock cycle runs on another pool."""
    fill(base, "reap", count, sample=0)
    sha = redis.cli("SCRIPT", "LOAD", lua_source("assign.lua"))
    lease_ms = 3000
    command = resp("EVALSHA", sha, len(redis.keys("reap")), *redis.keys("reap"), lease_ms, 16, 32)
    started = time.time()
    subprocess.run(["redis-cli", "-p", str(redis.port), "--pipe"], input=command * count, capture_output=True, text=True, check=True)
    assigned_for = time.time() - started
    assigned = int(redis.cli("ZCARD", redis.keys("reap")[1]))
    last_deadline = started + assigned_for + lease_ms / 1000
    # The cycle runs through the lapse; the free set is watched until every lease is back.
    wrk_seconds = int(assigned_for + lease_ms / 1000 + 5)
    load = subprocess.Popen(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{wrk_seconds}s", "--latency", "-s", str(HERE / "wrk" / "cycle.wrk.lua"), base],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "POOL": "p1k"})
    all_back = None
    while load.poll() is None:
        if all_back is None and int(redis.cli("SCARD", redis.keys("reap")[0])) >= assigned:
            all_back = time.time()
        time.sleep(0.02)
    out = load.stdout.read()
    return {
        "leases": assigned, "assigned_in_s": assigned_for,
        "back_after_last_deadline_s": (all_back - last_deadline) if all_back else None,
        "p99": latency(out, "99%"), "p50": latency(out, "50%"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
    }


def events_cost(redis, base, pid, rounds=5, seconds=4):
    """The assign/unblock cycle with the pool's events stream on and off (settings.events = off),
    side by side: `rounds` pairs, the order flipped each round so the machine's drift cancels; the
    cost is the median of the pairs' ratios. Redis alone (redis-benchmark on assign.lua) likewise."""
    settings = redis.keys("p1k")[10]

    def events(on):
        if on:
            redis.cli("HDEL", settings, "events")
        else:
            redis.cli("HSET", settings, "events", "off")

    runs, ratios = {"on": [], "off": []}, []
    for index in range(rounds):
        pair = {}
        for on in ((True, False) if index % 2 == 0 else (False, True)):
            events(on)
            pair[on] = wrk(base, "cycle.wrk.lua", pid, {"POOL": "p1k"}, seconds=seconds)["rps"]
        runs["on"].append(pair[True])
        runs["off"].append(pair[False])
        ratios.append(pair[True] / pair[False])
    alone = {"on": [], "off": []}
    for index in range(rounds):
        for on in ((True, False) if index % 2 == 0 else (False, True)):
            events(on)
            alone["on" if on else "off"].append(redis_benchmark(redis, "assign.lua", redis.keys("p1m"), [60000, 16, 32], requests=50_000))
    events(True)
    alone_ratio = statistics.median(a / b for a, b in zip(alone["on"], alone["off"]))
    return {"on": statistics.median(runs["on"]), "off": statistics.median(runs["off"]), "runs": runs,
            "cost": 1 - statistics.median(ratios), "redis_alone": alone, "redis_alone_cost": 1 - alone_ratio}


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = SCENARIOS
    sizes = list(SIZES.values())
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in names:
        left.plot(sizes, [results[name][s]["rps"] for s in SIZES], marker="o", label=name)
        right.plot(sizes, [results[name][s]["p99"] for s in SIZES], marker="o", label=name)
    left.axhline(results["healthz"]["rps"], color="grey", linestyle="--", label="/healthz ceiling")
    for axis, title, unit in [(left, "Throughput", "requests/s"), (right, "p99 latency", "ms")]:
        axis.set_xscale("log")
        axis.set_xlabel("tokens in the pool")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    left.legend(fontsize=8)
    figure.suptitle(f"TokenPool on 2 cores, wrk -t2 -c{CONNECTIONS} -d{SECONDS}s, server + Redis + wrk on one machine")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def report(r, path):
    names = SCENARIOS
    h = r["healthz"]["rps"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: one release `tokenpool`, one",
        "`redis-server` (append-only, `appendfsync everysec`) and wrk, all on this 2-core machine",
        f"(wrk -t2 -c{CONNECTIONS} -d{SECONDS}s; pools filled by batch generate). Every number of a table comes from",
        "the same run, so the ratios compare like with like; the machine is shared and noisy, so absolute",
        "numbers move from run to run.",
        "",
        f"Each scenario's two pool sizes are measured side by side: {FLAT_ROUNDS} rounds of a run on each, the order flipped",
        "each round. The table shows each size's median run; '1M vs 1k' is the median of the rounds' ratios (generate:",
        "one round, as every run grows the pools it writes to).",
        "",
        "![throughput and p99 against pool size](benchmarks.png)",
        "",
        "| scenario | pool | req/s | p50 ms | p99 ms | non-2xx | server CPU µs/req | vs /healthz | 1M vs 1k |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        for size in SIZES:
            x = r[name][size]
            flat = r[name].get("flat", r[name]["1m"]["rps"] / r[name]["1k"]["rps"])
            lines.append(f"| {name} | {SIZES[size]:,} | {x['rps']:,.0f} | {x['p50']:.2f} | {x['p99']:.2f} | {x['non2xx']:,} | "
                         f"{x['cpu_us']:.0f} | {x['rps'] / h:.2f} | {flat:.2f} |")
    x = r["healthz"]
    lines.append(f"| GET /healthz | - | {x['rps']:,.0f} | {x['p50']:.2f} | {x['p99']:.2f} | {x['non2xx']:,} | {x['cpu_us']:.0f} | 1.00 | - |")
    lines += [
        "",
        "(The 404 scenario's responses are all non-2xx by design: every pool it asks is exhausted.)",
        "",
        "## Redis alone",
        "",
        f"redis-benchmark, 50 connections, no pipelining, on the same scripts as the server calls them (`FCALL`): assign "
        f"**{r['redis']['assign']:,.0f}** calls/s, keep-alive **{r['redis']['keep_alive']:,.0f}** calls/s.",
        "",
        "## The events stream's cost",
        "",
        f"The assign/unblock cycle (1,000 tokens) with the pool's events stream on and off (`settings.events = off`), "
        f"side by side, {len(r['events']['runs']['on'])} pairs of 4 s runs (the order flipped each pair): median "
        f"**{r['events']['on']:,.0f}** req/s on, **{r['events']['off']:,.0f}** off; the median of the pairs' ratios puts the "
        f"stream's cost at **{100 * r['events']['cost']:.1f} %** of the cycle "
        f"(on: {', '.join(f'{x:,.0f}' for x in r['events']['runs']['on'])}; off: {', '.join(f'{x:,.0f}' for x in r['events']['runs']['off'])}).",
        f"Redis alone (redis-benchmark, assign.lua, 1M-token pool, the same pairs): **{100 * r['events']['redis_alone_cost']:.1f} %** "
        f"(on: {', '.join(f'{x:,.0f}' for x in r['events']['redis_alone']['on'])}; off: {', '.join(f'{x:,.0f}' for x in r['events']['redis_alone']['off'])}).",
        "",
        "## Memory",
        "",
        f"Redis `used_memory` grew by **{r['memory']['bytes_per_token']:.0f} bytes per free token** filling 1,000,000 tokens "
        f"({r['memory']['delta'] / 1e6:.0f} MB).",
        "",
        f"With a {METADATA_BYTES}-byte metadata object on each token: **{r['memory']['with_metadata']:.0f} B** per free token "
        f"(the pool's `meta` hash holds **{r['memory']['meta_per_token']:.0f} B** a token: the object's text, the token as "
        "the field and the hash entry, by `MEMORY USAGE ... SAMPLES 0` over 100,000 such tokens). A token without metadata "
        "has no entry.",
        "",
        "## 100,000 leases lapsing at once",
        "",
        f"{r['lapse']['leases']:,} tokens assigned (straight through the assign script, {r['lapse']['assigned_in_s']:.1f} s) "
        f"with a 3 s lease, then left to lapse while the assign/unblock cycle ran on another pool of the same Redis.",
        f"Every lapsed lease was back in the free set **{r['lapse']['back_after_last_deadline_s']:.2f} s** after the last "
        f"deadline passed; the cycle's p99 during the run was **{r['lapse']['p99']:.2f} ms** "
        f"(p50 {r['lapse']['p50']:.2f} ms, {r['lapse']['rps']:,.0f} req/s).",
        "",
        "## Targets",
        "",
    ]
    flat = min(r[n].get("flat", r[n]["1m"]["rps"] / r[n]["1k"]["rps"]) for n in names)
    close = {n: min(r[n][s]["rps"] for s in SIZES) / h for n in ["assign/unblock", "keep-alive"]}
    back = r["lapse"]["back_after_last_deadline_s"]
    lines += [
        f"1. Flat (every scenario at 1M >= 0.85 of 1k): worst ratio **{flat:.2f}** — {'met' if flat >= 0.85 else 'missed'}.",
        f"2. Close to the machine (cycle and keep-alive >= 0.6 of /healthz): cycle **{close['assign/unblock']:.2f}**, "
        f"keep-alive **{close['keep-alive']:.2f}** — {'met' if min(close.values()) >= 0.6 else 'missed'}.",
        f"3. Lean (<= 250 bytes per free token at 1M): **{r['memory']['bytes_per_token']:.0f}** — "
        f"{'met' if r['memory']['bytes_per_token'] <= 250 else 'missed'}.",
        f"4. Reaping does not hurt (100k back within 2 s, p99 < 20 ms): **{back:.2f} s**, p99 **{r['lapse']['p99']:.2f} ms** — "
        f"{'met' if back is not None and back <= 2 and r['lapse']['p99'] < 20 else 'missed'}.",
        "",
        "Where a target is missed, [profile.md](profile.md) shows where a request's time goes (perf) and what would close it.",
        "",
        "`make bench` also writes [benchmarks-wait.md](benchmarks-wait.md) (what `--redis-wait-replicas 1` costs), "
        "[benchmarks-handover.md](benchmarks-handover.md) (waiting assign: unblock answered -> the waiter's 200, three replicas), [benchmarks-queue.md](benchmarks-queue.md) (the queue: a hand-over with 100 waiters, five at once, memory per waiter at 10,000) "
        "and [benchmarks-cluster.md](benchmarks-cluster.md) (pools on one master and on three); "
        "[benchmarks-instructions.md](benchmarks-instructions.md) (instructions per request, the server's counted under qemu and Redis's under callgrind: "
        "`/healthz`, keep-alive, the cycle, a 404; against `BASELINE` when given), "
        "[benchmarks-cpu.md](benchmarks-cpu.md) (`make bench-cpu`: the server's own CPU a request, wrk sending a fixed number of "
        "`/healthz`, 404 assigns, cycles and keep-alives, each against the same run's `/healthz`), "
        "[benchmarks-ab.md](benchmarks-ab.md) (side by side against `BASELINE`), "
        "[benchmarks-threads.md](benchmarks-threads.md) (one event-loop thread against two) and "
        "[benchmarks-codec.md](benchmarks-codec.md) (the RESP codec's micro-benchmarks); "
        "[benchmarks-script-keys.md](benchmarks-script-keys.md) (`make bench-script-keys`: Redis's instructions a script call by the "
        "keys it declares, one Redis against Redis Cluster); "
        "[benchmarks-churn.md](benchmarks-churn.md) (`make bench-churn`: a new connection's cost beside 10,000 idle ones); "
        "[benchmarks-keys.md](benchmarks-keys.md) and [benchmarks-key-rate.md](benchmarks-key-rate.md) (a keys file of 50 keys, "
        "and per-key rates, against no keys); [benchmarks-listeners.md](benchmarks-listeners.md) (`make bench-listeners`: 10,000 SSE "
        "listeners on one replica), [benchmarks-waiters.md](benchmarks-waiters.md) (`make bench-waiters`: 100 and 10,000 waiting "
        "assigns on one replica) and [benchmarks-connections.md](benchmarks-connections.md) (the replica's memory a connection: "
        "idle after one request, waiting, listening), read with [scaling.md](scaling.md).",
        "",
        # Issue 28's targets, kept from the benchmarks that measure them (they run after this one).
        *scale_targets.section(),
    ]
    path.write_text("\n".join(lines) + "\n")


# A 100-byte metadata object, as compact JSON.
METADATA = {"proxy": "10.0.0.7:3128", "user": "scraper-eu-1", "region": "eu-west", "note": "x" * 24}
METADATA_BYTES = len(json.dumps(METADATA, separators=(",", ":")))
assert METADATA_BYTES == 100, METADATA_BYTES


def main():
    binary = sys.argv[1]
    results = {}
    with tempfile.TemporaryDirectory() as data:
        redis_process, server, redis_port, http_port = start(binary, data)
        base = f"http://127.0.0.1:{http_port}"
        redis = Redis(redis_port)
        try:
            print("filling pools...", flush=True)
            samples = {"1k": fill(base, "p1k", 1_000)}
            before = redis.used_memory()
            samples["1m"] = fill(base, "p1m", 1_000_000)
            delta = redis.used_memory() - before
            results["memory"] = {"delta": delta, "bytes_per_token": delta / 1_000_000}
            print(f"memory: {delta / 1e6:.1f} MB for 1M tokens", flush=True)
            # What metadata adds, exactly: the `meta` hash's own bytes (MEMORY USAGE of every
            # field, SAMPLES 0) over 100,000 tokens that each have the 100-byte object.
            fill(base, "mem-meta", 100_000, sample=0, metadata=METADATA)
            meta_bytes = int(redis.cli("MEMORY", "USAGE", redis.keys("mem-meta")[8], "SAMPLES", "0"))
            results["memory"]["meta_per_token"] = meta_bytes / 100_000
            results["memory"]["with_metadata"] = results["memory"]["bytes_per_token"] + meta_bytes / 100_000
            redis.cli("UNLINK", *redis.keys("mem-meta"))
            print("memory", results["memory"], flush=True)
            with tempfile.TemporaryDirectory() as lists:
                tokens_files = {}
                for size in SIZES:
                    tokens_files[size] = pathlib.Path(lists) / f"{size}.txt"
                    tokens_files[size].write_text("\n".join(samples[size]) + "\n")
                    # An exhausted pool of this size for the 404 scenario: every token assigned
                    # (straight through the script).
                    fill(base, f"empty{size}", SIZES[size], sample=0)
                    sha = redis.cli("SCRIPT", "LOAD", lua_source("assign.lua"))
                    subprocess.run(["redis-cli", "-p", str(redis_port), "--pipe"], capture_output=True, check=True, text=True,
                                   input=resp("EVALSHA", sha, len(redis.keys(f"empty{size}")), *redis.keys(f"empty{size}"),
                                              36_000_000, 16, 32) * SIZES[size])
                for name, script, env_of in [
                    ("keep-alive", "keepalive.wrk.lua", lambda size: {"POOL": f"p{size}", "TOKENS": str(tokens_files[size])}),
                    ("assign/unblock", "cycle.wrk.lua", lambda size: {"POOL": f"p{size}"}),
                    ("assign 404", "assign.wrk.lua", lambda size: {"POOL": f"empty{size}"}),
                    ("generate", "generate.wrk.lua", lambda size: {"POOL": f"p{size}"}),
                    ("list 100", None, lambda size: {"URL_PATH": f"/pools/p{size}/tokens?limit=100"}),
                    ("list 100 free", None, lambda size: {"URL_PATH": f"/pools/p{size}/tokens?state=free&limit=100"}),
                ]:
                    runs = {size: [] for size in SIZES}
                    for round in range(1 if name == "generate" else FLAT_ROUNDS):
                        for size in (list(SIZES) if round % 2 == 0 else list(reversed(SIZES))):
                            env = env_of(size)
                            path = env.pop("URL_PATH", "/")
                            runs[size].append(wrk(base, script, server.pid, env, path=path))
                            print(name, size, f"round {round + 1}", runs[size][-1], flush=True)
                    results[name] = {size: sorted(runs[size], key=lambda run: run["rps"])[len(runs[size]) // 2] for size in SIZES}
                    ratios = [big["rps"] / small["rps"] for small, big in zip(runs["1k"], runs["1m"])]
                    results[name]["flat"] = statistics.median(ratios)
                    results[name]["flat_rounds"] = ratios
                    print(name, results[name], flush=True)
            results["events"] = events_cost(redis, base, server.pid)
            print("events", results["events"], flush=True)
            results["healthz"] = wrk(base, None, server.pid, path="/healthz")
            print("healthz", results["healthz"], flush=True)
            results["redis"] = {
                "assign": redis_benchmark(redis, "assign.lua", redis.keys("p1m"), [60000, 16, 32]),
                "keep_alive": redis_benchmark(redis, "keep_alive.lua", redis.keys("p1k"), [samples["1k"][0], "", 60000, 36_000_000]),
            }
            print("redis", results["redis"], flush=True)
            results["lapse"] = lapse_at_once(redis, base, server.pid)
            print("lapse", results["lapse"], flush=True)
        finally:
            server.terminate()
            server.wait(timeout=10)
            redis_process.terminate()
            redis_process.wait(timeout=10)
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    report(results, docs / "benchmarks.md")
    chart(results, docs / "benchmarks.png")
    print((docs / "benchmarks.md").read_text())


if __name__ == "__main__":
    main()
