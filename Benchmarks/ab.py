#!/usr/bin/env python3
"""`make bench BASELINE=COMMIT`: the current build against an earlier one, side by side.

    ab.py BASELINE_BINARY CANDIDATE_BINARY [ROUNDS]

AB_BASELINE_ARGS and AB_CANDIDATE_ARGS add flags to each `serve` (e.g. `--threads 1` against
`--threads 2` of one binary); AB_BASELINE_POOL and AB_CANDIDATE_POOL give the settings (a JSON
object for `PUT /pools/{pool}`, e.g. `{"cooldown": 0.05}`) of that side's pools; AB_REPORT names
the report (default docs/benchmarks-ab.md) and AB_TITLE its title. AB_BASELINE_KEYS and
AB_CANDIDATE_KEYS put that side behind a keys file (`--keys-file`) of KEYS_IN_FILE entries and
present one of its admin keys on every request: `file` (no rate) or `rate` (each key with a rate
far above what wrk reaches, so every request pays the rate's Redis call and none is refused).

One Redis (append-only, everysec); both release binaries serve on it at once (idle while the
other is measured), each on pools of its own. Every round runs each scenario with wrk on both,
one after the other, the order flipped each round: GET /healthz, keep-alive on random tokens of
a 1,000-token pool, the assign/unblock cycle, assign on an empty pool (404). The ratio is the
median of the rounds' ratios (candidate over baseline, measured back to back), so a slow spell
of the machine weighs on one round, not on one side; medians over the rounds, the ratio and
each round's ratio go to docs/benchmarks-ab.md and are printed as JSON.
"""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import hashlib
import secrets
import tempfile

from run_bench import CONNECTIONS, ROOT, fill, put, wrk
from tokenpool_testing import free_port, start_redis, wait_ready

SCENARIOS = [
    ("healthz", None, "/healthz"),
    ("keep-alive", "keepalive.wrk.lua", "/"),
    ("cycle", "cycle.wrk.lua", "/"),
    ("assign 404", "assign.wrk.lua", "/"),
]

# A file of a team's size: a request's key is compared with every entry's digest.
KEYS_IN_FILE = 50


def keys_file(directory, mode):
    """A keys file for `mode` ('file' or 'rate') and the admin key to present, or no flags."""
    if not mode:
        return [], None
    keys = [f"tp_{secrets.token_hex(16)}" for _ in range(KEYS_IN_FILE)]
    entries = [{"name": f"bench-{i}", "sha256": hashlib.sha256(key.encode()).hexdigest(), "role": "admin" if i % 2 else "client"}
               for i, key in enumerate(keys)]
    if mode == "rate":
        for entry in entries:
            entry["rate"] = {"perSecond": 1_000_000, "burst": 1_000_000}
    path = pathlib.Path(directory) / f"keys-{mode}.json"
    path.write_text(json.dumps({"keys": entries}))
    return ["--keys-file", str(path)], keys[-1]


def main():
    binaries = {"baseline": sys.argv[1], "candidate": sys.argv[2]}
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    seconds = int(os.environ.get("BENCH_SECONDS", "8"))
    runs = {name: {s[0]: [] for s in SCENARIOS} for name in binaries}
    with tempfile.TemporaryDirectory() as data:
        redis_port = free_port()
        processes = [start_redis(redis_port, data, appendfsync="everysec", wait=False)]
        servers, ports, api_keys = {}, {}, {}
        try:
            for name, binary in binaries.items():
                ports[name] = free_port()
                extra = os.environ.get(f"AB_{name.upper()}_ARGS", "").split()
                key_flags, api_keys[name] = keys_file(data, os.environ.get(f"AB_{name.upper()}_KEYS", ""))
                extra += key_flags
                servers[name] = subprocess.Popen([binary, "serve", "--port", str(ports[name]), "--redis-url",
                                                  f"redis://127.0.0.1:{redis_port}", "--keep-alive-ttl", "36000", "--log-level", "error", *extra])
                processes.append(servers[name])
            for port in ports.values():
                wait_ready(port)
            token_files = {}
            for name, port in ports.items():
                base = f"http://127.0.0.1:{port}"
                tokens = fill(base, f"ka-{name}", 1_000, sample=1_000, key=api_keys[name])
                token_files[name] = pathlib.Path(data) / f"tokens-{name}"
                token_files[name].write_text("\n".join(tokens) + "\n")
                fill(base, f"cycle-{name}", 1_000, sample=0, key=api_keys[name])
                settings = json.loads(os.environ.get(f"AB_{name.upper()}_POOL", "null"))
                if settings:
                    for pool in (f"ka-{name}", f"cycle-{name}"):
                        put(base, f"/pools/{pool}", settings, key=api_keys[name])
            for round_ in range(rounds):
                for scenario, script, path in SCENARIOS:
                    for name in (list(binaries) if round_ % 2 == 0 else list(reversed(binaries))):
                        pool = {"keep-alive": f"ka-{name}", "cycle": f"cycle-{name}", "assign 404": f"empty-{name}"}.get(scenario, "")
                        env = {"POOL": pool, "TOKENS": str(token_files[name]), "KEY": api_keys[name] or ""}
                        result = wrk(f"http://127.0.0.1:{ports[name]}", script, servers[name].pid, env, seconds=seconds, path=path)
                        runs[name][scenario].append(result)
                        print(f"round {round_ + 1} {scenario} {name}: {result['rps']:.0f} req/s, p99 {result['p99']} ms, "
                              f"{result['cpu_us']:.0f} us CPU/request", flush=True)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
    table = {}
    for scenario, _, _ in SCENARIOS:
        row = {}
        for name in binaries:
            row[name] = {"rps": statistics.median(r["rps"] for r in runs[name][scenario]),
                         "p99": statistics.median(r["p99"] for r in runs[name][scenario]),
                         "cpu_us": statistics.median(r["cpu_us"] for r in runs[name][scenario])}
        row["rounds"] = [c["rps"] / b["rps"] for b, c in zip(runs["baseline"][scenario], runs["candidate"][scenario])]
        row["ratio"] = statistics.median(row["rounds"])
        table[scenario] = row
    for name in binaries:
        ceiling = table["healthz"][name]["rps"]
        for scenario in table:
            table[scenario][name]["of_healthz"] = table[scenario][name]["rps"] / ceiling
    print(json.dumps(table, indent=2))
    label = os.environ.get("BASELINE_LABEL", pathlib.Path(binaries["baseline"]).name)
    lines = [
        "# " + os.environ.get("AB_TITLE", "The current build against a baseline, side by side"),
        "",
        f"`make bench BASELINE=...` (`Benchmarks/ab.py`): baseline `{label}` and the current build, release, on one Redis,",
        f"{rounds} rounds, each scenario on both back to back, the order flipped each round (wrk, {CONNECTIONS} connections, {seconds} s)"
        + "".join(f"; {name} with `{os.environ[f'AB_{name.upper()}_ARGS']}`" for name in binaries if os.environ.get(f"AB_{name.upper()}_ARGS"))
        + "".join(f"; {name}'s pools with `{os.environ[f'AB_{name.upper()}_POOL']}`" for name in binaries if os.environ.get(f"AB_{name.upper()}_POOL"))
        + "".join(f"; {name} behind a keys file of {KEYS_IN_FILE} keys" + (", each with a rate" if os.environ[f"AB_{name.upper()}_KEYS"] == "rate" else "")
                  for name in binaries if os.environ.get(f"AB_{name.upper()}_KEYS"))
        + ".",
        "Medians of the rounds; the ratio is the median of the rounds' ratios (the candidate's req/s over the baseline's in the same round).",
        "",
        "| scenario | baseline req/s | current req/s | current ÷ baseline | rounds' ratios | baseline ÷ /healthz | current ÷ /healthz | p99 baseline / current | CPU µs/request baseline / current |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, row in table.items():
        b, c = row["baseline"], row["candidate"]
        lines.append(f"| {scenario} | {b['rps']:,.0f} | {c['rps']:,.0f} | **{row['ratio']:.2f}** | {', '.join(f'{r:.2f}' for r in row['rounds'])} | {b['of_healthz']:.2f} | "
                     f"{c['of_healthz']:.2f} | {b['p99']:.2f} / {c['p99']:.2f} ms | {b['cpu_us']:.0f} / {c['cpu_us']:.0f} |")
    lines.append("")
    pathlib.Path(os.environ.get("AB_REPORT", ROOT / "docs/benchmarks-ab.md")).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
