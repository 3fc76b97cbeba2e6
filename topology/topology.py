#!/usr/bin/env python3
"""`make cluster`: the docker-compose topology without Docker.

    topology.py up [BUILD_DIR] [TOPOLOGY]     Redis, three replicas, haproxy on :8080 until Ctrl-C
    topology.py test [BUILD_DIR] [TOPOLOGY]   the same on free ports; traffic through haproxy while
                                             replica 2 is stopped and started again; haproxy must
                                             take it out and back in
    topology.py plan [TOPOLOGY]               print what would run, read from the compose file

TOPOLOGY is single (docker-compose.yml, one Redis), sentinel (docker-compose.sentinel.yml) or
cluster (docker-compose.cluster.yml). The commands come from the compose file itself (each Redis
node's, sentinel's and replica's command, the addresses in the environment, haproxy's
environment and mounted config, the cluster-init command), with each service's host and port
replaced by 127.0.0.1 and a port of its own, so the two cannot drift apart.
"""
import csv
import io
import json
import os
import re
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import yaml
from tokenpool_testing import cli, cluster_port, free_port, wait_ready, wait_until

ROOT = pathlib.Path(__file__).resolve().parent.parent


COMPOSE = {"single": "docker-compose.yml", "sentinel": "docker-compose.sentinel.yml", "cluster": "docker-compose.cluster.yml"}


def compose_services(topology):
    return yaml.safe_load((ROOT / COMPOSE[topology]).read_text())["services"]


def port_names(topology):
    """A local port for every service, and haproxy's stats."""
    return [name for name in compose_services(topology) if name != "cluster-init"] + ["stats"]


def plan(build, data, ports, topology="single"):
    """The processes of the compose file, as local processes on the given ports."""
    services = compose_services(topology)

    def localize(text):
        # "service:port" -> "127.0.0.1:local port" ("redis:6379", "sentinel1:26379", "redis-node1:6379").
        return re.sub(r"\b([a-z][a-z0-9-]*):(\d+)\b",
                      lambda m: f"127.0.0.1:{ports[m[1]]}" if m[1] in ports else m[0], str(text))

    nodes, init = {}, None
    for name, spec in services.items():
        if name.startswith("tokenpool") or name == "haproxy":
            continue
        command = list(spec["command"])
        if name == "cluster-init":
            init = [localize(a) for a in command]
        elif command[0] == "sh":
            # A sentinel: it starts from a copy of the mounted configuration, as the compose command does.
            template = ROOT / next(v for v in spec["volumes"] if v.endswith(":ro")).split(":")[0]
            text = re.sub(r"\b([a-z][a-z0-9-]*) (\d+)\b", lambda m: f"127.0.0.1 {ports[m[1]]}" if m[1] in ports else m[0],
                          template.read_text())
            conf = pathlib.Path(data) / f"{name}.conf"
            nodes[name] = {"command": ["redis-server", str(conf), "--sentinel"], "conf": str(conf),
                           "text": text + f"port {ports[name]}\nbind 127.0.0.1\ndir {data}\n"}
        else:
            args, i = [], 0
            while i < len(command):
                if command[i] == "--replicaof":
                    args += ["--replicaof", "127.0.0.1", str(ports[command[i + 1]])]
                    i += 3
                else:
                    args.append(command[i])
                    i += 1
            nodes[name] = {"command": args + ["--port", str(ports[name]), "--bind", "127.0.0.1", "--dir", str(pathlib.Path(data) / name)]}
    replicas = {}
    for name in sorted(n for n in services if n.startswith("tokenpool")):
        command = list(services[name]["command"])
        command[command.index("--port") + 1] = str(ports[name])
        command[command.index("--host") + 1] = "127.0.0.1"
        env = {k: localize(v) for k, v in services[name]["environment"].items()}
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
    out = {"nodes": nodes, "init": init, "replicas": replicas,
           "haproxy": {"command": ["haproxy", "-db", "-f", str(config)], "env": env, "config": str(config)}}
    if topology == "single":
        out["redis"] = nodes["redis"]["command"]
    return out


class Topology:
    """A compose topology's services run as local processes on `ports`: up, down, and one
    service stopped and started again."""

    def __init__(self, build, data, ports, topology="single"):
        self.plan = plan(build, data, ports, topology)
        self.ports = ports
        self.topology = topology
        self.processes = {}

    def start(self, name):
        if name in self.plan["nodes"]:
            spec = self.plan["nodes"][name]
            if "conf" in spec:
                pathlib.Path(spec["conf"]).write_text(spec["text"])
            else:
                pathlib.Path(spec["command"][-1]).mkdir(parents=True, exist_ok=True)
            self.processes[name] = subprocess.Popen(spec["command"], stdout=subprocess.DEVNULL)
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
        # Redis first (data nodes before sentinels, as the compose file orders them), then the
        # one-shot cluster-init, then the replicas and haproxy.
        for name in self.plan["nodes"]:
            self.start(name)
            wait_until(f"{name} answering", lambda: cli(self.ports[name], "PING") == "PONG", 10)
        if self.plan["init"]:
            subprocess.run(self.plan["init"], capture_output=True, check=True, timeout=60)
            wait_until("the Redis cluster", lambda: all("cluster_state:ok" in cli(self.ports[n], "CLUSTER", "INFO")
                                                      for n in self.plan["nodes"]), 30)
        sentinels = [n for n, spec in self.plan["nodes"].items() if "conf" in spec]
        if sentinels:
            wait_until("sentinels knowing the replicas", lambda: all(
                len(cli(self.ports[n], "SENTINEL", "REPLICAS", "tokens").splitlines()) >= 4 for n in sentinels), 30)
        for name in self.plan["replicas"]:
            self.start(name)
        self.start("haproxy")
        for name in self.plan["replicas"]:
            wait_ready(self.ports[name], self.processes[name], timeout=30)
        wait_ready(self.ports["haproxy"], self.processes["haproxy"], timeout=15)

    def down(self):
        for name in ["haproxy", *self.plan["replicas"], *reversed(list(self.plan["nodes"]))]:
            self.stop(name)

    def server_status(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['stats']}/stats;csv", timeout=2) as response:
            rows = csv.DictReader(io.StringIO(response.read().decode().lstrip("# ")))
            return {row["svname"]: row["status"] for row in rows if row["pxname"] == "replicas"}


def request(method, url, body=None, timeout=5):
    data = json.dumps(body).encode() if body else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, data=data), timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:
        return 0, None


def waits_through_haproxy(base):
    """A waiting assign answered after 5.5 s, longer than haproxy's old 5 s server timeout."""
    request("POST", base + "/pools/patient/tokens")
    _, held = request("POST", base + "/pools/patient/tokens/assign")
    answer = {}
    waiter = threading.Thread(target=lambda: answer.update(zip(("status", "info"), request("POST", base + "/pools/patient/tokens/assign?wait=20", timeout=30))))
    started = time.time()
    waiter.start()
    time.sleep(5.5)
    request("POST", f"{base}/pools/patient/tokens/{held['token']}/unblock?lease={held['lease']}")
    waiter.join(timeout=30)
    took = time.time() - started
    return answer.get("status") == 200 and answer["info"]["token"] == held["token"], took


def test(topo):
    base = f"http://127.0.0.1:{topo.ports['haproxy']}"
    waited = waits_through_haproxy(base) if topo.topology == "single" else None
    statuses = {}
    seen_down = seen_back = False
    request("POST", base + "/pools/cluster/tokens/batch", {"count": 50})
    started = time.time()
    stopped = restarted = None
    while time.time() - started < 10:
        elapsed = time.time() - started
        if stopped is None and elapsed > 2:
            topo.stop("tokenpool2")
            stopped = time.time()
            print("cluster: tokenpool2 stopped", flush=True)
        if stopped and restarted is None and elapsed > 5:
            topo.start("tokenpool2")
            restarted = time.time()
            print("cluster: tokenpool2 started again", flush=True)
        status, info = request("POST", base + "/pools/cluster/tokens/assign")
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            code, _ = request("POST", f"{base}/pools/cluster/tokens/{info['token']}/unblock?lease={info['lease']}")
            statuses[code] = statuses.get(code, 0) + 1
        state = topo.server_status().get("tokenpool2", "")
        seen_down |= stopped is not None and restarted is None and state.startswith("DOWN")
        seen_back |= restarted is not None and state.startswith("UP") and seen_down
    total = sum(statuses.values())
    failed = sum(n for code, n in statuses.items() if code not in (200, 404))
    checks = [] if waited is None else [(waited[0], f"a waiting assign through haproxy got the token freed after {waited[1]:.1f} s")]
    checks += [
        (seen_down, "haproxy took the stopped replica out (DOWN)"),
        (seen_back, "haproxy took it back in (UP) once it was started again"),
        (failed == 0, f"every request through haproxy answered ({total} requests: {statuses})"),
        (all(s.startswith("UP") for s in topo.server_status().values()), "all three replicas UP at the end"),
    ]
    for ok, what in checks:
        print(("ok    " if ok else "FAIL  ") + what, flush=True)
    passed = sum(ok for ok, _ in checks)
    print(f"cluster: {passed} passed, {len(checks) - passed} failed", flush=True)
    return passed == len(checks)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "up"
    topology = next((a for a in sys.argv[2:] if a in COMPOSE), "single")
    build = pathlib.Path(next((a for a in sys.argv[2:] if a not in COMPOSE), ROOT / ".build/release"))
    fixed = {"redis": 6379, "haproxy": 8080, "stats": 8404, "tokenpool1": 8081, "tokenpool2": 8082, "tokenpool3": 8083}
    if mode in ("plan", "up"):
        # Well-known ports where they exist; the other services of a topology from 7000 up.
        ports = {name: fixed.get(name, 7000 + i) for i, name in enumerate(port_names(topology))}
    if mode == "plan":
        print(json.dumps(plan(build, ROOT / "data/cluster", ports, topology), indent=2))
        return
    if mode == "up":
        data = ROOT / "data/cluster" / topology
        data.mkdir(parents=True, exist_ok=True)
        topo = Topology(build, data, ports, topology)
        try:
            topo.up()
            print(f"cluster ({topology}): http://127.0.0.1:8080 (haproxy stats: http://127.0.0.1:8404/stats); Ctrl-C stops it", flush=True)
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        finally:
            topo.down()
        return
    with tempfile.TemporaryDirectory() as data:
        ports = {}
        for name in port_names(topology):
            # A cluster node needs its bus port (+10000) free too.
            ports[name] = cluster_port() if topology == "cluster" and name.startswith("redis-node") else free_port()
        topo = Topology(build, data, ports, topology)
        try:
            topo.up()
            ok = test(topo)
        finally:
            topo.down()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
