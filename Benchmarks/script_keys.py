#!/usr/bin/env python3
"""Redis's instructions a script call, by the keys the call declares.

    script_keys.py BINARY [--calls N] [--repeats R] [--report FILE]

A script call passes its pool's `free` key on one Redis or Sentinel, `free` and `absent` on
Redis Cluster (docs/redis.md); before, Cluster calls passed all twelve of the pool's keys. Each
form sends the same assign/unblock cycle: BINARY fills a 1,000-token pool on a redis-server
running under valgrind's callgrind (and loads its scripts' library), then this script calls the
library's functions itself, `FCALL ..._assign` and `FCALL ..._unblock` with the lease it got,
N cycles a form, the forms interleaved R times. Redis's instructions over those calls (callgrind
zeroed before and dumped after) divided by the calls are the form's cost a call, its network read
and write included. Medians; the report goes to docs/benchmarks-script-keys.md.
"""
import argparse
import pathlib
import re
import socket
import statistics
import subprocess
import tempfile
import time

from run_bench import ROOT, fill
from tokenpool_testing import free_port, start_redis, tokenpool_server

POOL_KEYS = "free leases alive lease seq queue waiters handed meta holder settings events".split()
FORMS = {
    "one Redis: `free`": ["free"],
    "Redis Cluster: `free`, `absent`": ["free", "absent"],
    "Redis Cluster before: the twelve": POOL_KEYS,
}


class Connection:
    """A RESP2 connection that sends one command and reads its reply."""

    def __init__(self, port):
        self.socket = socket.create_connection(("127.0.0.1", port))
        self.reader = self.socket.makefile("rb")

    def __call__(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.socket.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.reader.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self.reader.read(size + 2)[:-2].decode()
        size = int(rest)
        return None if size < 0 else [self.read() for _ in range(size)]

    def close(self):
        self.socket.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--calls", type=int, default=1000, help="cycles a form a repeat (two calls each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--report", default=str(ROOT / "docs/benchmarks-script-keys.md"))
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        data = pathlib.Path(work)
        redis_port = free_port()
        redis = start_redis(redis_port, data, prefix=["valgrind", "--tool=callgrind", f"--callgrind-out-file={data}/cg.out", "--dump-instr=no"],
                            timeout=60, stderr=subprocess.DEVNULL)
        try:
            with tokenpool_server(options.binary, f"redis://127.0.0.1:{redis_port}", timeout=120,
                                  args=["--keep-alive-ttl", "36000", "--reap-interval", "3600", "--redis-timeout", "60"]) as server:
                fill(server.base, "cycle", 1000, sample=0)
            redis_cli = Connection(redis_port)
            library = redis_cli("FUNCTION", "LIST", "LIBRARYNAME", "tokenpool_*")[0][1]
            base = "tokenpool:{cycle}:"

            def cycles(keys, count):
                for _ in range(count):
                    record = redis_cli("FCALL", f"{library}_assign", len(keys), *keys, "60000", "16", "32")
                    if record[0] != "ok":
                        raise SystemExit(f"assign answered {record}")
                    reply = redis_cli("FCALL", f"{library}_unblock", len(keys), *keys, record[1], record[4], "", "success")
                    if reply[0] != "ok":
                        raise SystemExit(f"unblock answered {reply}")

            def counted(keys):
                cycles(keys, 50)
                before = set(data.glob("cg.out.*"))
                subprocess.run(["callgrind_control", "-z", str(redis.pid)], check=True, capture_output=True)
                cycles(keys, options.calls)
                subprocess.run(["callgrind_control", "-d", str(redis.pid)], check=True, capture_output=True)
                for _ in range(100):
                    dumps = set(data.glob("cg.out.*")) - before
                    if dumps:
                        time.sleep(0.2)
                        text = max(dumps).read_text()
                        match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
                        if match:
                            return int(match.group(1)) / (2 * options.calls)
                    time.sleep(0.1)
                raise SystemExit("callgrind wrote no dump of redis-server")

            results = {form: [] for form in FORMS}
            for repeat in range(options.repeats):
                for form, names in FORMS.items():
                    results[form].append(counted([base + name for name in names]))
                    print(f"#{repeat + 1} {form}: {results[form][-1]:,.0f} instructions a call", flush=True)
            redis_cli.close()
        finally:
            redis.terminate()
            redis.wait(timeout=60)
    medians = {form: statistics.median(values) for form, values in results.items()}
    first = next(iter(medians.values()))
    rows = [f"| {form} | {len(FORMS[form])} | {median:,.0f} | {median / first:.2f} | "
            + ", ".join(f"{v:,.0f}" for v in results[form]) + " |" for form, median in medians.items()]
    report = "\n".join([
        "# Redis's instructions a script call, by the keys it declares",
        "",
        f"`python3 Benchmarks/script_keys.py .build/release/tokenpool` (`make bench-script-keys`): the assign/unblock",
        f"cycle called by `FCALL` straight at a redis-server under callgrind, {options.calls:,} cycles a form a repeat,",
        f"the forms interleaved, {options.repeats} repeats; instructions a call (assign and unblock alike), its read and",
        "write included. The scripts are the same in every form; only the keys passed differ.",
        "",
        "| keys a call declares | keys | instructions a call (median) | ÷ one Redis | repeats |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "On Redis Cluster the `absent` key (never written) keeps every script on a pool from running while",
        "its slot migrates, which the twelve did only because some of them are nearly always missing (docs/redis.md).",
        "",
    ])
    pathlib.Path(options.report).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
