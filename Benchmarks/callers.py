#!/usr/bin/env python3
"""Who calls a function, per request: the profile's call sites, which a flat profile cannot give.

    callers.py BINARY SCENARIO FUNCTION[,FUNCTION...] [REQUESTS] [DEPTH]

Serves BINARY natively (one event-loop thread, Redis commands allowed a minute), fills and
warms its pools as Benchmarks/instructions.py does, then attaches gdb with a breakpoint on each
FUNCTION (a C name such as `malloc`, or a Swift mangled name) that writes a backtrace per hit
and carries on. One keep-alive connection then sends REQUESTS requests of SCENARIO (healthz,
keep-alive or cycle; a cycle is an assign and its unblock). Prints each function's hits per
request and its commonest call sites, DEPTH frames each (default 3), the runtime's own frames
skipped. Slow (gdb stops the process at every hit): keep REQUESTS small.
"""
import collections
import http.client
import json
import pathlib
import subprocess
import sys
import tempfile
import time

from instructions import drive, fill_pools
from tokenpool_testing import free_port, start_redis, wait_ready

HOOK = '''
import gdb, os, time
out = open(os.environ["CALLERS_OUT"], "w")
class Hit(gdb.Breakpoint):
    def stop(self):
        frame, names = gdb.newest_frame(), []
        while frame is not None and len(names) < 12:
            names.append(frame.name() or hex(frame.pc()))
            frame = frame.older()
        out.write("%f\\t%s\\t%s\\n" % (time.time(), self.location.strip("'"), "\\t".join(names)))
        out.flush()
        return False
for name in os.environ["CALLERS_FUNCTIONS"].split(","):
    Hit("'" + name + "'" if name.startswith("$") else name)
gdb.execute("continue")
'''

# Frames of the Swift runtime, allocator and metadata machinery: a call site is the first frame past them.
RUNTIME = ("swift_", "__swift_", "_swift", "swift::", "malloc", "__GI_", "__libc", "_int_", "0x")


def request(connection, method, path):
    connection.request(method, path)
    response = connection.getresponse()
    body = response.read()
    return response.status, body


def main():
    binary, scenario, functions = sys.argv[1], sys.argv[2], sys.argv[3]
    requests = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    depth = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    with tempfile.TemporaryDirectory() as data:
        hits_file, hook_file = pathlib.Path(data) / "hits", pathlib.Path(data) / "hook.py"
        hook_file.write_text(HOOK)
        redis_port, port = free_port(), free_port()
        redis = start_redis(redis_port, data, wait=False)
        server = subprocess.Popen([binary, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                                   "--keep-alive-ttl", "36000", "--reap-interval", "3600", "--log-level", "error",
                                   "--threads", "1", "--redis-timeout", "60"])
        gdb = None
        try:
            wait_ready(port, timeout=60)
            pools, tokens = fill_pools(port, "callers")
            drive(port, scenario, 400, pools[scenario], tokens)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            pool = pools[scenario]

            def one():
                if scenario == "cycle":
                    status, body = request(connection, "POST", f"/pools/{pool}/tokens/assign")
                    held = json.loads(body)
                    status, _ = request(connection, "POST", f"/pools/{pool}/tokens/{held['token']}/unblock?lease={held['lease']}")
                elif scenario == "keep-alive":
                    status, _ = request(connection, "POST", f"/pools/{pool}/tokens/{tokens[0]}/keep-alive")
                else:
                    status, _ = request(connection, "GET", "/healthz")
                assert status == 200, status

            one()
            env = {"CALLERS_OUT": str(hits_file), "CALLERS_FUNCTIONS": functions, "PATH": "/usr/bin:/bin"}
            gdb = subprocess.Popen(["gdb", "-p", str(server.pid), "-batch", "-ex", "set pagination off", "-x", str(hook_file)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            # gdb has attached once a hit is written (the server's timers hit malloc soon) or after a while.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (hits_file.exists() and hits_file.stat().st_size > 0):
                one()
                time.sleep(0.2)
            one()
            started = time.time()
            for _ in range(requests):
                one()
            ended = time.time()
        finally:
            server.kill()
            server.wait()
            if gdb:
                gdb.wait(timeout=60)
            redis.kill()
            redis.wait()
        counted = requests * (2 if scenario == "cycle" else 1)
        sites = collections.defaultdict(collections.Counter)
        for line in hits_file.read_text(errors="replace").splitlines():
            fields = line.split("\t")
            if len(fields) < 3 or not started <= float(fields[0]) <= ended:
                continue
            frames = [f for f in fields[2:] if not f.startswith(RUNTIME)]
            sites[fields[1]][" <- ".join(frame[:110] for frame in frames[:depth])] += 1
    demangle = lambda text: subprocess.run(["swift", "demangle", "--compact", "--simplified"], input=text, capture_output=True,
                                           text=True).stdout if text else text
    for function, counter in sites.items():
        print(f"{function}: {sum(counter.values()) / counted:.1f} a request")
        for site, count in counter.most_common(15):
            print(f"  {count / counted:6.2f}  {demangle(site).strip()}")


if __name__ == "__main__":
    main()
