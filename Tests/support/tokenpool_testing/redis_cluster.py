"""A Redis Cluster of nine nodes (three masters with two replicas each) on free ports, and what the
tests do to it: find slot owners, migrate a slot, kill a master."""
import os
import subprocess
import sys

from .ports import cluster_port
from .servers import cli, start_redis, wait_until


class RedisCluster:
    def __init__(self, work):
        self.work = work
        self.ports = [cluster_port() for _ in range(9)]
        self.nodes = {}

    def start_node(self, port):
        self.nodes[port] = start_redis(port, os.path.join(self.work, str(port)), extra=[
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
            "--cluster-require-full-coverage", "no"])

    def create(self):
        for port in self.ports:
            self.start_node(port)
        out = subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                              "--cluster-replicas", "2", "--cluster-yes"], capture_output=True, text=True, timeout=60)
        if out.returncode:
            sys.exit("cluster create failed:\n" + out.stdout + out.stderr)
        wait_until("cluster ok", lambda: all("cluster_state:ok" in cli(p, "CLUSTER", "INFO") for p in self.ports), 30)
        wait_until("replicas in sync", lambda: all(
            "master_link_status:up" in info for info in (cli(p, "INFO", "replication") for p in self.replica_ports())), 30)
        # Every node sees the same slot map: right after create, a node may still answer CLUSTERDOWN.
        wait_until("one slot map on every node", lambda: len({
            " ".join(sorted(l.split()[0] + l.split()[2].replace("myself,", "") + " ".join(l.split()[8:])
                            for l in cli(p, "CLUSTER", "NODES").splitlines()))
            for p in self.ports}) == 1, 30)

    def live(self):
        return [p for p, process in self.nodes.items() if process.poll() is None]

    def node_lines(self):
        for port in self.live():
            text = cli(port, "CLUSTER", "NODES")
            if text:
                return [line.split() for line in text.splitlines()]
        return []

    def masters(self):
        """{port: (node id, [slot ranges])} of the masters that are not failed."""
        out = {}
        for fields in self.node_lines():
            if "master" in fields[2] and "fail" not in fields[2]:
                out[int(fields[1].split(":")[1].split("@")[0])] = (fields[0], fields[8:])
        return out

    def replica_ports(self):
        return [int(f[1].split(":")[1].split("@")[0]) for f in self.node_lines() if "slave" in f[2]]

    def owner(self, slot):
        for port, (_, ranges) in self.masters().items():
            for r in ranges:
                if r.startswith("["):
                    continue
                low, _, high = r.partition("-")
                if int(low) <= slot <= int(high or low):
                    return port
        return None

    def migrate(self, slot, target):
        """Moves `slot` to the master on port `target`, every key: returns the old master and how many keys moved."""
        source = self.begin_migration(slot, target)
        moved = 0
        while True:
            keys = cli(source, "CLUSTER", "GETKEYSINSLOT", slot, 100).split()
            if not keys:
                break
            self.move_keys(source, target, keys)
            moved += len(keys)
        self.end_migration(slot, target)
        return source, moved

    def begin_migration(self, slot, target):
        """`slot` IMPORTING at `target`, MIGRATING at its master (returned); no key moved yet."""
        source = self.owner(slot)
        masters = self.masters()
        cli(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", masters[source][0])
        cli(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", masters[target][0])
        return source

    def move_keys(self, source, target, keys):
        cli(source, "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)

    def end_migration(self, slot, target):
        """`slot` served by `target`, as every master is told (its keys moved before)."""
        target_id = self.masters()[target][0]
        for port in self.masters():
            cli(port, "CLUSTER", "SETSLOT", slot, "NODE", target_id)

    def stop(self):
        for process in self.nodes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def pools_on_masters(cluster):
    """One pool name per master: pool i's slot is served by master i."""
    masters = sorted(cluster.masters())
    chosen = {}
    for i in range(10_000):
        name = f"pool{i}"
        slot = int(cli(masters[0], "CLUSTER", "KEYSLOT", f"tokenpool:{{{name}}}:free"))
        owner = cluster.owner(slot)
        if owner not in chosen:
            chosen[owner] = (name, slot)
        if len(chosen) == len(masters):
            return [chosen[m] for m in masters]
    sys.exit("cluster: no pool names for every master")
