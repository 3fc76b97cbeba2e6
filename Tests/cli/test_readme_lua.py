#!/usr/bin/env python3
"""docs/redis.md's redis-cli lines for the Lua scripts run, as written, against a fresh redis-server."""
import pathlib
import re
import subprocess

from tokenpool_testing import Checks, redis_server

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    checks = Checks("readme")
    page = (ROOT / "docs/redis.md").read_text()
    block = page.split("## The scripts", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line for line in block.strip().splitlines() if line.strip()]
    with redis_server() as redis:
        script = "\n".join(re.sub(r"^redis-cli ", f"redis-cli -p {redis.port} ", line) for line in lines)
        out = subprocess.run(["bash", "-c", "set -e\ncd " + str(ROOT) + "\n" + script], capture_output=True, text=True, timeout=30)
        evals = [line for line in lines if line.startswith("redis-cli --eval")]
        ok = out.returncode == 0 and "ERR" not in out.stdout + out.stderr and len(evals) == 3
        # generate made one token, assign took it, stats counts it assigned: total 1, free 0, assigned 1, waiting 0,
        # then the pool's own TTLs (none), cooling 0, disabled 0, no cooldown, maxFailures, quarantine, rate limit or
        # maxPerHolder, and reserved 0.
        counts = [line.strip() for line in out.stdout.splitlines()[-15:]]
        ok = ok and counts[:4] == ["1", "0", "1", "0"] and counts[6:8] == ["0", "0"] and counts[14] == "0"
        checks.check(ok, f"docs/redis.md's {len(evals)} redis-cli --eval lines run" + ("" if ok else f":\n{out.stdout}{out.stderr}"))
    checks.finish()


if __name__ == "__main__":
    main()
