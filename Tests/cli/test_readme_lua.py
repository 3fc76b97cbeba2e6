#!/usr/bin/env python3
"""docs/redis.md's redis-cli lines for the Lua scripts run, as written, against a fresh redis-server."""
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    readme = (ROOT / "docs/redis.md").read_text()
    block = readme.split("## The scripts", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line for line in block.strip().splitlines() if line.strip()]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = []
    with tempfile.TemporaryDirectory() as work:
        redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", work],
                                 stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True).stdout.strip() == "PONG":
                    break
                time.sleep(0.05)
            script = "\n".join(re.sub(r"^redis-cli ", f"redis-cli -p {port} ", line) for line in lines)
            out = subprocess.run(["bash", "-c", "set -e\ncd " + str(ROOT) + "\n" + script], capture_output=True, text=True, timeout=30)
            evals = [line for line in lines if line.startswith("redis-cli --eval")]
            ok = out.returncode == 0 and "ERR" not in out.stdout + out.stderr and len(evals) == 3
            # generate made one token, assign took it, stats counts it assigned: total 1, free 0, assigned 1, waiting 0.
            ok = ok and out.stdout.split()[-4:] == ["1", "0", "1", "0"]
            results.append(ok)
            print(("ok    " if ok else "FAIL  ") + f"docs/redis.md's {len(evals)} redis-cli --eval lines run" + ("" if ok else f":\n{out.stdout}{out.stderr}"))
        finally:
            redis.kill()
            redis.wait()
    print(f"readme: {sum(results)} passed, {len(results) - sum(results)} failed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
