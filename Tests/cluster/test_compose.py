#!/usr/bin/env python3
"""docker-compose.yml and `make cluster` describe the same cluster.

Docker cannot run here, so this reads the compose file and checks it against haproxy.cfg, the
Dockerfile and the processes cluster.py (make cluster) starts from it.
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "cluster"))
import cluster  # noqa: E402

results = []


def check(ok, what):
    results.append(ok)
    print(("ok    " if ok else "FAIL  ") + what, flush=True)


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
    config = (ROOT / "cluster/haproxy.cfg").read_text()
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
    bind = haproxy["environment"]["HAPROXY_BIND"]
    check(f"{bind.lstrip(':')}:{bind.lstrip(':')}" in haproxy["ports"] and '"${HAPROXY_BIND}"' in config, "haproxy publishes the port it binds (8080)")
    mount = next((v for v in haproxy["volumes"] if v.endswith(":/usr/local/etc/haproxy/haproxy.cfg:ro")), "")
    check(mount.startswith("./cluster/haproxy.cfg:"), "compose mounts cluster/haproxy.cfg into haproxy")

    ports = {"redis": 1, "haproxy": 2, "stats": 3, "tokenpool1": 11, "tokenpool2": 12, "tokenpool3": 13}
    local = cluster.plan(ROOT / ".build/debug", pathlib.Path("/tmp/x"), ports)
    check(pathlib.Path(local["haproxy"]["config"]) == ROOT / "cluster/haproxy.cfg", "make cluster runs haproxy on the very same haproxy.cfg")
    check(local["redis"][: len(redis["command"])] == redis["command"], "make cluster runs Redis with the compose command")
    for name in replicas:
        run = local["replicas"][name]["command"][1:]
        expected = list(services[name]["command"])
        expected[expected.index("--host") + 1] = "127.0.0.1"
        expected[expected.index("--port") + 1] = str(ports[name])
        check(run[: len(expected)] == expected, f"make cluster runs {name} with the compose command on its own port")
        check(local["haproxy"]["env"]["TOKENPOOL_" + name.removeprefix("tokenpool")] == f"127.0.0.1:{ports[name]}", f"make cluster points haproxy at {name}")
    print(f"compose: {sum(results)} passed, {len(results) - sum(results)} failed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
