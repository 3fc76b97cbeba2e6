#!/usr/bin/env python3
"""`make bench`: the codec micro-benchmarks (Benchmarks/CodecBenchmarks, ordo-one/benchmark),
their p50 wall-clock time and allocations per operation, written to docs/benchmarks-codec.md.

    codec.py

The benchmark target exists only with TOKENPOOL_BENCHMARKS=1 (see Package.swift), so no other
build pays for the benchmark package.
"""
import os
import re
import subprocess
import sys

from run_bench import ROOT


def main():
    out = subprocess.run(["swift", "package", "--disable-sandbox", "benchmark", "--target", "CodecBenchmarks", "--no-progress"],
                         cwd=ROOT, env={**os.environ, "TOKENPOOL_BENCHMARKS": "1"}, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        sys.exit(out.stdout[-2000:] + out.stderr[-2000:])
    rows = []
    for name, table in re.findall(r"^(\S[^\n]+)\n(╒.*?╛)", out.stdout, re.S | re.M):
        cells = {}
        for metric, values in re.findall(r"│ ([^│]+?) \*?\s*│([^\n]+)", table):
            numbers = [v.strip() for v in values.split("│")]
            cells[metric.strip().rstrip(" *")] = numbers
        malloc = cells.get("Malloc (total)", ["?"] * 3)[2]
        wall = cells.get("Time (wall clock) (ns)", ["?"] * 3)[2]
        rows.append((name.strip(), wall, malloc))
        print(f"{name.strip()}: p50 {wall} ns, {malloc} allocations", flush=True)
    lines = [
        "# The Redis codec, per operation",
        "",
        "`make bench` (`Benchmarks/codec.py` running `Benchmarks/CodecBenchmarks` with ordo-one/benchmark and its malloc",
        "interposer): p50 over the samples, release build, this 2-core machine. Allocations are the loop body's, the",
        "benchmark's own ByteBuffer (one, plus its storage) included.",
        "",
        "| operation | p50 wall clock | allocations |",
        "|---|---|---|",
    ] + [f"| {name} | {wall} ns | {malloc} |" for name, wall, malloc in rows] + [""]
    (ROOT / "docs/benchmarks-codec.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
