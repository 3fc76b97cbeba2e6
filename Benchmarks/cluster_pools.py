#!/usr/bin/env python3
"""`make bench`, part three: one pool lives in one hash slot, so one pool's throughput is one
master's. A Redis Cluster of three masters (Tests/load/run_redis_cluster.py's), the assign script
under redis-benchmark: on one pool alone, then on three pools on three masters at once.
Writes docs/benchmarks-cluster.md.

    cluster_pools.py
"""
import subprocess
import tempfile

from tokenpool_testing import RedisCluster, cli, pools_on_masters
from run_bench import ROOT, lua_source

REQUESTS = 200_000


def benchmark(port, pool, sha, requests=REQUESTS):
    # Every key the scripts take (Scripts/lua/prelude.lua); with fewer, the script fails and
    # redis-benchmark would time its errors.
    keys = [f"tokenpool:{{{pool}}}:{k}" for k in ("free", "leases", "alive", "lease", "seq", "queue", "waiters", "handed", "meta", "holder", "settings", "events")]
    return subprocess.Popen(["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", "50", "-q",
                             "EVALSHA", sha, str(len(keys)), *keys, "60000", "16", "32"], stdout=subprocess.PIPE, text=True)


def rate(process):
    out = process.communicate()[0].replace("\r", "\n").strip().splitlines()[-1]
    return float(out.split("requests per second")[0].split()[-1])


def main():
    with tempfile.TemporaryDirectory() as work:
        cluster = RedisCluster(work)
        try:
            cluster.create()
            pools = pools_on_masters(cluster)
            shas = {}
            for name, slot in pools:
                master = cluster.owner(slot)
                shas[name] = cli(master, "SCRIPT", "LOAD", lua_source("assign.lua"))
                # An empty pool: every assign pops nothing and answers 'empty', the script's full path up to SPOP.
            one = rate(benchmark(cluster.owner(pools[0][1]), pools[0][0], shas[pools[0][0]]))
            runs = [benchmark(cluster.owner(slot), name, shas[name]) for name, slot in pools]
            three = [rate(r) for r in runs]
        finally:
            cluster.stop()
    lines = [
        "# One pool, one master",
        "",
        "`make bench` (`Benchmarks/cluster_pools.py`): a Redis Cluster of three masters with two replicas each on",
        "this 2-core machine, the assign script under redis-benchmark (-c 50) on empty pools.",
        "",
        "| load | assign scripts/s |",
        "|---|---|",
        f"| one pool (one master) | {one:,.0f} |",
        f"| three pools on three masters at once | {sum(three):,.0f} ({' + '.join(f'{t:,.0f}' for t in three)}) |",
        "",
        f"Three pools on three masters: **{sum(three) / one:.2f}x** one pool. A pool never spreads over",
        "masters (its keys share one hash slot), so one pool is capped by one master; many pools spread.",
        "On this machine the three masters share two cores, so the sum is capped by the cores, not by Redis.",
    ]
    (ROOT / "docs" / "benchmarks-cluster.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
