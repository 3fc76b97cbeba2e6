#!/usr/bin/env python3
"""`make cluster`: the docker-compose topology without Docker.

    cluster.py up [BUILD_DIR]     redis-server, three replicas, haproxy on :8080 until Ctrl-C
    cluster.py test [BUILD_DIR]   the same on free ports; traffic through haproxy while replica 2
                                  is stopped and started again; haproxy must take it out and back in
    cluster.py plan               print what would run, read from docker-compose.yml

The commands come from docker-compose.yml itself (Redis's command, the replicas' command with
their port, haproxy's environment and mounted config), so the two cannot drift apart.
"""
import csv
import io
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plan(build, data, ports):
    """The processes of the compose file, as local processes on the given ports."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    redis_command = list(services["redis"]["command"]) + ["--port", str(ports["redis"]), "--bind", "127.0.0.1", "--dir", str(data)]
    replicas = {}
    for i, name in enumerate(sorted(n for n in services if n.startswith("tokenpool")), start=1):
        command = list(services[name]["command"])
        command[command.index("--port") + 1] = str(ports[name])
        command[command.index("--host") + 1] = "127.0.0.1"
        env = dict(services[name]["environment"])
        env["REDIS_URL"] = env["REDIS_URL"].replace("redis:6379", f"127.0.0.1:{ports['redis']}")
        replicas[name] = {"command": [str(build / "tokenpool"), *command, "--log-level", "warning"], "env": env}
    haproxy = services["haproxy"]
    mount = next(v for v in haproxy["volumes"] if v.endswith("haproxy.cfg:ro"))
    config = ROOT / mount.split(":")[0]
    env = {k: str(v) for k, v in haproxy["environment"].items()}
    env["HAPROXY_BIND"] = f"127.0.0.1:{ports['haproxy']}"
    env["HAPROXY_STATS_BIND"] = f"127.0.0.1:{ports['stats']}"
    for name in replicas:
        key = "TOKENPOOL_" + name.removeprefix("tokenpool")
        env[key] = f"127.0.0.1:{ports[name]}"
    return {"redis": redis_command, "replicas": replicas,
            "haproxy": {"command": ["haproxy", "-db", "-f", str(config)], "env": env, "config": str(config)}}


class Cluster:
    def __init__(self, build, data, ports):
        self.plan = plan(build, data, ports)
        self.ports = ports
        self.processes = {}

    def start(self, name):
        if name == "redis":
            self.processes[name] = subprocess.Popen(self.plan["redis"], stdout=subprocess.DEVNULL)
        elif name == "haproxy":
            spec = self.plan["haproxy"]
            self.processes[name] = subprocess.Popen(spec["command"], env={**os.environ, **spec["env"]},
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            spec = self.plan["replicas"][name]
            self.processes[name] = subprocess.Popen(spec["command"], env={**os.environ, **spec["env"]})

    def stop(self, name, sig=signal.SIGTERM):
        process = self.processes.pop(name, None)
        if process and process.poll() is None:
            process.send_signal(sig)
            process.wait(timeout=15)

    def up(self):
        self.start("redis")
        time.sleep(0.3)
        for name in self.plan["replicas"]:
            self.start(name)
        self.start("haproxy")
        for name in self.plan["replicas"]:
            wait_http(f"http://127.0.0.1:{self.ports[name]}/readyz")
        wait_http(f"http://127.0.0.1:{self.ports['haproxy']}/readyz")

    def down(self):
        for name in ["haproxy", *self.plan["replicas"], "redis"]:
            self.stop(name)

    def server_status(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['stats']}/stats;csv", timeout=2) as response:
            rows = csv.DictReader(io.StringIO(response.read().decode().lstrip("# ")))
            return {row["svname"]: row["status"] for row in rows if row["pxname"] == "replicas"}


def wait_http(url, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.05)
    sys.exit(f"{url} did not answer")


def request(method, url, body=None):
    data = json.dumps(body).encode() if body else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, data=data), timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:
        return 0, None


def test(cluster):
    base = f"http://127.0.0.1:{cluster.ports['haproxy']}"
    statuses = {}
    seen_down = seen_back = False
    request("POST", base + "/pools/cluster/tokens/batch", {"count": 50})
    started = time.time()
    stopped = restarted = None
    while time.time() - started < 10:
        elapsed = time.time() - started
        if stopped is None and elapsed > 2:
            cluster.stop("tokenpool2")
            stopped = time.time()
            print("cluster: tokenpool2 stopped", flush=True)
        if stopped and restarted is None and elapsed > 5:
            cluster.start("tokenpool2")
            restarted = time.time()
            print("cluster: tokenpool2 started again", flush=True)
        status, info = request("POST", base + "/pools/cluster/tokens/assign")
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            code, _ = request("POST", f"{base}/pools/cluster/tokens/{info['token']}/unblock?lease={info['lease']}")
            statuses[code] = statuses.get(code, 0) + 1
        state = cluster.server_status().get("tokenpool2", "")
        seen_down |= stopped is not None and restarted is None and state.startswith("DOWN")
        seen_back |= restarted is not None and state.startswith("UP") and seen_down
    total = sum(statuses.values())
    failed = sum(n for code, n in statuses.items() if code not in (200, 404))
    checks = [
        (seen_down, "haproxy took the stopped replica out (DOWN)"),
        (seen_back, "haproxy took it back in (UP) once it was started again"),
        (failed == 0, f"every request through haproxy answered ({total} requests: {statuses})"),
        (all(s.startswith("UP") for s in cluster.server_status().values()), "all three replicas UP at the end"),
    ]
    for ok, what in checks:
        print(("ok    " if ok else "FAIL  ") + what, flush=True)
    passed = sum(ok for ok, _ in checks)
    print(f"cluster: {passed} passed, {len(checks) - passed} failed", flush=True)
    return passed == len(checks)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "up"
    build = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / ".build/release")
    if mode == "plan":
        print(json.dumps(plan(build, ROOT / "data/cluster", {"redis": 6379, "haproxy": 8080, "stats": 8404,
                                                             "tokenpool1": 8081, "tokenpool2": 8082, "tokenpool3": 8083}), indent=2))
        return
    if mode == "up":
        data = ROOT / "data/cluster"
        data.mkdir(parents=True, exist_ok=True)
        ports = {"redis": 6379, "haproxy": 8080, "stats": 8404, "tokenpool1": 8081, "tokenpool2": 8082, "tokenpool3": 8083}
        cluster = Cluster(build, data, ports)
        try:
            cluster.up()
            print("cluster: http://127.0.0.1:8080 (haproxy stats: http://127.0.0.1:8404/stats); Ctrl-C stops it", flush=True)
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        finally:
            cluster.down()
        return
    with tempfile.TemporaryDirectory() as data:
        ports = {name: free_port() for name in ["redis", "haproxy", "stats", "tokenpool1", "tokenpool2", "tokenpool3"]}
        cluster = Cluster(build, data, ports)
        try:
            cluster.up()
            ok = test(cluster)
        finally:
            cluster.down()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
