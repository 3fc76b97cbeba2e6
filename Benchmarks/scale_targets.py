#!/usr/bin/env python3
"""Issue 28's targets in docs/benchmarks.md, each with the figure that was measured, the command
that measured it, and whether it is met.

    scale_targets.py            renders the section again from docs/benchmarks-scale.json

The benchmarks that measure a target (listeners.py, many_waiters.py --report, server_cpu.py,
instructions.py) call `record` with their figures for the build they measured last on the command
line (`current` in `make bench`). The figures are kept in docs/benchmarks-scale.json, one entry per
benchmark with the date and the commit it measured, and the section "Scale targets" of
docs/benchmarks.md is rendered from that file each time, so it shows the latest figure of each.
run_bench.py, which writes the rest of docs/benchmarks.md, appends the same section.
"""
import datetime
import json
import pathlib
import subprocess
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs/benchmarks-scale.json"
REPORT = ROOT / "docs/benchmarks.md"
BEGIN, END = "<!-- scale-targets -->", "<!-- /scale-targets -->"

Figures = Dict[str, Any]
# A target's row: what it asks, then from the figures of one benchmark, the figure's text and
# whether it is met (None: measured, but not a pass/fail figure).
Check = Callable[[Figures], Tuple[str, Optional[bool]]]


def commit() -> str:
    """The commit measured (`-dirty` when what the binary and scripts are made of had changes; the
    reports the benchmarks write do not count)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no", "--", "Sources", "Scripts", "Package.swift") else "")


def record(benchmark: str, figures: Figures) -> None:
    """Keeps `figures` as `benchmark`'s latest and renders the section again."""
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[benchmark] = {"measured": datetime.date.today().isoformat(), "commit": commit(), "figures": figures}
    FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    render()


def _rows(data: Dict[str, Figures]) -> List[str]:
    def waiters(f: Figures, waiting: int) -> List[Figures]:
        return [r for r in f["runs"] if r["waiters"] == waiting]

    def handover(f: Figures, waiting: int, goal: float) -> Tuple[str, Optional[bool]]:
        runs = waiters(f, waiting)
        text = ", ".join(f"{r['handover_p99_ms']:.1f} ms ({r['waiters']:,} on {r['pools']} pool{'s' if r['pools'] > 1 else ''})" for r in runs)
        return text, all(r["handover_p99_ms"] <= goal for r in runs) if runs else None

    def per_waiter(f: Figures, key: str, unit: str, goal: float) -> Tuple[str, Optional[bool]]:
        runs = waiters(f, 10_000)
        text = ", ".join(f"{r[key]:,.1f} {unit} ({r['pools']} pool{'s' if r['pools'] > 1 else ''})" for r in runs)
        return text, all(r[key] <= goal for r in runs) if runs else None

    def quiet(f: Figures) -> Tuple[str, Optional[bool]]:
        runs = waiters(f, 10_000)
        rates = [r["idle_redis_commands_per_s"] / r["waiters"] for r in runs]
        text = ", ".join(f"{rate:.2f} ({r['idle_redis_commands_per_s']:,.0f}/s, {r['pools']} pool{'s' if r['pools'] > 1 else ''})"
                         for rate, r in zip(rates, runs))
        return text, all(rate < 1 for rate in rates) if runs else None

    targets: List[Tuple[str, str, str, Check]] = [
        ("1", "Redis commands for events do not grow with the listeners", "listeners",
         lambda f: (f"{f['xrange_few']:.1f} XRANGE/s at {f['listeners_few']}, {f['xrange_many']:.1f} at {f['listeners_many']:,}",
                    f["xrange_many"] <= f["xrange_few"] * 1.1)),
        ("1", "every listener gets each event within 500 ms p99 (10,000 listeners)", "listeners",
         lambda f: (f"p99 {f['arrived_p99_ms']:.0f} ms at the socket, {f['read_p99_ms']:.0f} ms read; "
                    f"{f['deliveries']:,} of {f['expected']:,} delivered",
                    f["arrived_p99_ms"] <= 500 and f["deliveries"] == f["expected"])),
        ("1", "server memory ≤ 16 KiB per listener", "listeners", lambda f: (f"{f['kib_per_listener']:.1f} KiB", f["kib_per_listener"] <= 16)),
        ("2", "server memory ≤ 16 KiB per waiter (10,000)", "waiters", lambda f: per_waiter(f, "server_kib_per_waiter", "KiB", 16)),
        ("2", "Redis memory ≤ 512 B per waiter (10,000)", "waiters", lambda f: per_waiter(f, "redis_bytes_per_waiter", "B", 512)),
        ("2", "no Redis command per waiter per second while they wait (commands a second per waiter, 10,000)", "waiters", quiet),
        ("2", "hand-over p99 ≤ 5 ms with 100 waiters", "waiters", lambda f: handover(f, 100, 5)),
        ("2", "hand-over p99 ≤ 20 ms with 10,000 waiters", "waiters", lambda f: handover(f, 10_000, 20)),
        ("5", "a cycle ≤ 1.3× the server CPU of /healthz", "cpu",
         lambda f: (f"{f['cycle_ratio']:.2f}× ({f['cycle_us']:.1f} against {f['healthz_us']:.1f} µs)", f["cycle_ratio"] <= 1.3)),
        ("5", "a keep-alive ≤ 1.2× the server CPU of /healthz", "cpu",
         lambda f: (f"{f['keep_alive_ratio']:.2f}× ({f['keep_alive_us']:.1f} µs)", f["keep_alive_ratio"] <= 1.2)),
        ("5", "cycle and keep-alive ≤ 130k server instructions", "instructions",
         lambda f: (f"cycle {f['cycle'] / 1000:.1f}k, keep-alive {f['keep-alive'] / 1000:.1f}k (/healthz {f['healthz'] / 1000:.1f}k)",
                    max(f["cycle"], f["keep-alive"]) <= 130_000)),
        ("5", "≤ 100k Redis instructions per cycle call", "instructions",
         lambda f: (f"{f['redis cycle'] / 1000:.1f}k", f["redis cycle"] <= 100_000) if "redis cycle" in f else ("not counted (INSN_REDIS=0)", None)),
    ]
    commands = {
        "listeners": "`make bench-listeners`",
        "waiters": "`make bench-waiters`",
        "cpu": "`make bench-cpu`",
        "instructions": "`make bench` (`Benchmarks/instructions.py`)",
    }
    rows = []
    for point, asks, benchmark, check in targets:
        entry = data.get(benchmark)
        if entry is None:
            rows.append(f"| {point} | {asks} | not measured yet | {commands[benchmark]} | | |")
            continue
        text, met = check(entry["figures"])
        status = "n/a" if met is None else ("**met**" if met else "not met")
        rows.append(f"| {point} | {asks} | {text} | {commands[benchmark]} | {status} | {entry['measured']}, {entry['commit']} |")
    return rows


def section() -> List[str]:
    """The section's lines, markers included."""
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    return [
        BEGIN,
        "## Scale targets (issue 28)",
        "",
        "Each target with the latest figure measured, the command that measured it and its date and commit",
        "(`Benchmarks/scale_targets.py` renders this from [benchmarks-scale.json](benchmarks-scale.json)). What the",
        "figures mean and what was tried: [scaling.md](scaling.md).",
        "",
        "| point | target | measured | command | status | when, commit |",
        "|---|---|---|---|---|---|",
        *_rows(data),
        "",
        "Covered by `make test` instead of a figure: 2,000 waiters on one replica each served exactly once",
        "(`Tests/load/many_waiters.py .build/debug 2000`); on a 3-master Redis Cluster, hand-overs by sharded",
        "pub/sub that follow a slot migration while 50 assigns wait (none lost, none served twice), the pool",
        "registry on every master with 300 pools, and no script stopped half-way by a migration",
        "(`make redis-cluster-test`). Point 4 (one hot pool past one master) is in [scaling.md](scaling.md): one",
        "pool's ceiling by the project's scripts alone (`make bench`, above), pools on one master and on three",
        "(`Benchmarks/cluster_pools.py`, `make bench`), and the striping simulation (`python3 Benchmarks/stripes_sim.py 1000`).",
        END,
    ]


def render() -> None:
    """Writes the section into docs/benchmarks.md: in place of the last one, or at its end."""
    text = REPORT.read_text() if REPORT.exists() else ""
    lines = "\n".join(section())
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        text = before + lines + after
    else:
        text = text.rstrip("\n") + "\n\n" + lines + "\n"
    REPORT.write_text(text)


if __name__ == "__main__":
    render()
    print("\n".join(section()))
