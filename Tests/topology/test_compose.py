#!/usr/bin/env python3
"""docker-compose.yml and `make cluster` describe the same cluster.

Docker cannot run here, so this reads the compose file and checks it against haproxy.cfg, the
Dockerfile and the processes topology/topology.py (make cluster) starts from it.
"""
import pathlib
import re

import topology
import yaml
from tokenpool_testing import Checks

ROOT = pathlib.Path(__file__).resolve().parents[2]

checks = Checks("compose")
check = checks.check

def main():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    replicas = sorted(n for n in services if n.startswith("tokenpool"))
    check(set(services) == {"redis", "haproxy", *replicas} and len(replicas) == 3, "services: redis, three tokenpool replicas, haproxy")
    redis = services["redis"]
    check("--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes",
          "Redis runs append-only")
    check(any(v.endswith(":/data") for v in redis.get("volumes", [])) and "redis-data" in compose.get("volumes", {}), "Redis keeps its data on a volume")
    dockerfile = (ROOT / "Dockerfile").read_text()
    check(dockerfile.count("FROM ") == 2 and "swift:" in dockerfile and "libhiredis" in dockerfile and 'ENTRYPOINT ["tokenpool"]' in dockerfile,
          "Dockerfile: multi-stage, built on a Swift image, runs tokenpool with libhiredis")
    config = (ROOT / "topology/haproxy.cfg").read_text()
    haproxy = services["haproxy"]
    for name in replicas:
        spec = services[name]
        command = spec["command"]
        check(spec.get("build") == "." and command[0] == "serve" and command[command.index("--host") + 1] == "0.0.0.0",
              f"{name}: built from the Dockerfile, serves on every interface")
        check(spec["environment"]["REDIS_URL"] == "redis://redis:6379", f"{name}: talks to the redis service")
        number = name.removeprefix("tokenpool")
        port = command[command.index("--port") + 1]
        check(haproxy["environment"][f"TOKENPOOL_{number}"] == f"{name}:{port}", f"haproxy reaches {name} on the port it serves ({port})")
        check(re.search(rf'server {name} "\$\{{TOKENPOOL_{number}\}}" check', config) is not None, f"haproxy.cfg has {name} with a health check")
    check("option httpchk GET /readyz" in config, "haproxy checks /readyz")
    max_wait = int(re.search(r"maxWait: Duration = \.seconds\((\d+)\)", (ROOT / "Sources/RedisTokenPool/Settings/Defaults.swift").read_text())[1])
    for side in ("client", "server"):
        seconds = int(re.search(rf"timeout {side} (\d+)s", config)[1])
        check(seconds > max_wait, f"haproxy's timeout {side} ({seconds} s) outlasts the longest waiting assign ({max_wait} s)")
    bind = haproxy["environment"]["HAPROXY_BIND"]
    check(f"{bind.lstrip(':')}:{bind.lstrip(':')}" in haproxy["ports"] and '"${HAPROXY_BIND}"' in config, "haproxy publishes the port it binds (8080)")
    mount = next((v for v in haproxy["volumes"] if v.endswith(":/usr/local/etc/haproxy/haproxy.cfg:ro")), "")
    check(mount.startswith("./topology/haproxy.cfg:"), "compose mounts topology/haproxy.cfg into haproxy")

    ports = {"redis": 1, "haproxy": 2, "stats": 3, "tokenpool1": 11, "tokenpool2": 12, "tokenpool3": 13}
    local = topology.plan(ROOT / ".build/debug", pathlib.Path("/tmp/x"), ports)
    check(pathlib.Path(local["haproxy"]["config"]) == ROOT / "topology/haproxy.cfg", "make cluster runs haproxy on the very same haproxy.cfg")
    check(local["redis"][: len(redis["command"])] == redis["command"], "make cluster runs Redis with the compose command")
    for name in replicas:
        run = local["replicas"][name]["command"][1:]
        expected = list(services[name]["command"])
        expected[expected.index("--host") + 1] = "127.0.0.1"
        expected[expected.index("--port") + 1] = str(ports[name])
        check(run[: len(expected)] == expected, f"make cluster runs {name} with the compose command on its own port")
        check(local["haproxy"]["env"]["TOKENPOOL_" + name.removeprefix("tokenpool")] == f"127.0.0.1:{ports[name]}", f"make cluster points haproxy at {name}")
    check_sentinel()
    check_cluster()
    checks.finish()

def local_ports(name):
    return {service: 20000 + i for i, service in enumerate(topology.port_names(name))}

def check_replicas_and_haproxy(services, local, ports, url_check):
    replicas = sorted(n for n in services if n.startswith("tokenpool"))
    for name in replicas:
        expected = list(services[name]["command"])
        expected[expected.index("--host") + 1] = "127.0.0.1"
        expected[expected.index("--port") + 1] = str(ports[name])
        check(local["replicas"][name]["command"][1:1 + len(expected)] == expected, f"make cluster runs {name} with the compose command")
        check(url_check(services[name]["environment"]["REDIS_URL"], local["replicas"][name]["env"]["REDIS_URL"]),
              f"{name}: the same Redis URL, each service at its local address")
    check(services["haproxy"]["volumes"] == compose_base()["services"]["haproxy"]["volumes"]
          and pathlib.Path(local["haproxy"]["config"]) == ROOT / "topology/haproxy.cfg", "haproxy: the same haproxy.cfg as the single topology")

def compose_base():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())

def check_sentinel():
    services = topology.compose_services("sentinel")
    ports = local_ports("sentinel")
    local = topology.plan(ROOT / ".build/debug", pathlib.Path("/tmp/x"), ports, "sentinel")
    nodes = [n for n in services if n.startswith("redis-")]
    sentinels = [n for n in services if n.startswith("sentinel")]
    check(nodes == ["redis-master", "redis-replica1", "redis-replica2"] and len(sentinels) == 3,
          "sentinel: a master, two replicas, three sentinels")
    for name in nodes[1:]:
        command = services[name]["command"]
        check(command[command.index("--replicaof") + 1:][:2] == ["redis-master", "6379"], f"sentinel: {name} replicates the master")
        run = local["nodes"][name]["command"]
        check(run[run.index("--replicaof") + 1:][:2] == ["127.0.0.1", str(ports["redis-master"])], f"sentinel: make cluster's {name} replicates the local master")
    conf = (ROOT / "topology/sentinel.conf").read_text()
    check("sentinel monitor tokens redis-master 6379 2" in conf and "down-after-milliseconds tokens 1000" in conf,
          "sentinel.conf: monitors the master as 'tokens', quorum 2, down after 1 s")
    for name in sentinels:
        check(any(v.startswith("./topology/sentinel.conf:") for v in services[name]["volumes"]), f"sentinel: {name} starts from topology/sentinel.conf")
        check(f"sentinel monitor tokens 127.0.0.1 {ports['redis-master']} 2" in local["nodes"][name]["text"],
              f"sentinel: make cluster's {name} monitors the local master with the same file")
    url = services["tokenpool1"]["environment"]["REDIS_URL"]
    check(url == "redis-sentinel://" + ",".join(f"{n}:26379" for n in sentinels) + "/tokens", "sentinel: the replicas ask all three sentinels for 'tokens'")
    wait = services["tokenpool1"]["command"]
    check(0 < int(wait[wait.index("--redis-wait-replicas") + 1]) <= len(nodes) - 1, "sentinel: the replicas wait for a replica, and there are enough")
    check_replicas_and_haproxy(services, local, ports, lambda a, b: b == "redis-sentinel://" + ",".join(
        f"127.0.0.1:{ports[n]}" for n in sentinels) + "/tokens")

def check_cluster():
    services = topology.compose_services("cluster")
    ports = local_ports("cluster")
    local = topology.plan(ROOT / ".build/debug", pathlib.Path("/tmp/x"), ports, "cluster")
    nodes = [n for n in services if n.startswith("redis-node")]
    check(len(nodes) == 9 and all(services[n]["command"] == services[nodes[0]]["command"] for n in nodes), "cluster: nine nodes, one command")
    command = services[nodes[0]]["command"]
    check(command[command.index("--cluster-enabled") + 1] == "yes" and command[command.index("--cluster-node-timeout") + 1] == "1000",
          "cluster: cluster mode, node timeout 1 s")
    check(command[command.index("--cluster-require-full-coverage") + 1] == "no",
          "cluster: a master down stops only its own slots (cluster-require-full-coverage no)")
    for name in nodes:
        check(local["nodes"][name]["command"][: len(command)] == command, f"cluster: make cluster runs {name} with the compose command")
    init = services["cluster-init"]["command"]
    check(init[:3] == ["redis-cli", "--cluster", "create"] and init[3:12] == [f"{n}:6379" for n in nodes]
          and init[init.index("--cluster-replicas") + 1] == "2", "cluster: cluster-init makes three masters with two replicas each of all nine")
    check(local["init"][3:12] == [f"127.0.0.1:{ports[n]}" for n in nodes], "cluster: make cluster creates it from the same command")
    url = services["tokenpool1"]["environment"]["REDIS_URL"]
    check(url.startswith("redis-cluster://") and all(h.split(":")[0] in nodes for h in url.removeprefix("redis-cluster://").split(",")),
          "cluster: the replicas are seeded with cluster nodes")
    seeds = url.removeprefix("redis-cluster://").split(",")
    check_replicas_and_haproxy(services, local, ports, lambda a, b: b == "redis-cluster://" + ",".join(
        f"127.0.0.1:{ports[h.split(':')[0]]}" for h in seeds))

if __name__ == "__main__":
    main()
