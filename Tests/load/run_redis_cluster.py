#!/usr/bin/env python3
"""Redis Cluster under load: 3 masters with 2 replicas each (cluster-node-timeout 1000 ms),
three TokenPool replicas on `redis-cluster://`, one tokenpool-load per pool, the pools on
different masters. While they run: (a) the slot of the busiest pool migrates to another master
(SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE), (b) another pool's master is SIGKILLed
and a replica promoted (for a long run, both again and again).

    run_redis_cluster.py BUILD_DIR SECONDS [--waiting]
    run_redis_cluster.py BUILD_DIR contract  # the API contract suite against a tokenpool on the cluster
    run_redis_cluster.py BUILD_DIR registry  # 300 pools: the pool list on every master, paged whole
    run_redis_cluster.py BUILD_DIR handover  # 50 waiters while their pool's slot migrates: sharded pub/sub
    run_redis_cluster.py BUILD_DIR midway    # a slot caught mid-migration: no call on its pools runs half-way
    run_redis_cluster.py BUILD_DIR up        # start the cluster, print its URL, wait for Ctrl-C

With --waiting every pool's load waits up to 1 s for a token (6 tokens for 8 workers), so the
migration and the failover meet waiting clients: hand-overs are PUBLISHed from the pool's master
and reach each replica's subscription on whichever master it listens to.

Checked: the history checker finds nothing in any pool's history; answers are 200/201/204/404/
409/503 only (and 429 holder-limit, the cap refusing a holder whose earlier assign answered 503
but took effect); in the pool a step touched, no 503 comes later than 3 s after the step.
"""
import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from run_load import HERE
from tokenpool_testing import Checks, RedisCluster, cli, free_port, pools_on_masters, wait_ready, wait_until

ANSWERS = {200, 201, 204, 404, 409, 503}


@contextlib.contextmanager
def one_replica(build, url, *flags):
    """A tokenpool on the cluster at `url`, ready; yields its base URL and a JSON call on it."""
    port = free_port()
    server = subprocess.Popen([str(build / "tokenpool"), "serve", "--port", str(port), "--redis-url", url, "--log-level", "error", *flags])
    base = f"http://127.0.0.1:{port}"

    def call(method, path, body=None):
        request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=40) as response:
            return json.loads(response.read() or b"null")

    try:
        wait_ready(port, timeout=20)
        yield base, call
    finally:
        server.terminate()
        server.wait(timeout=10)


def registry(build, cluster, url):
    """300 pools made on a 3-master cluster: the pool list's 16 shards (tokenpool:pools:{0..15}) hold
    every pool once and lie on every master; GET /pools pages of 50 list each pool, no page far
    past its limit; a deleted pool leaves the list."""
    checks = Checks("registry")
    with one_replica(build, url) as (_, call):
        names = [f"team-{i}" for i in range(300)]
        for name in names:
            call("PUT", f"/pools/{name}", {})
        held = {port: 0 for port in cluster.masters()}
        for shard in range(16):
            key = f"tokenpool:pools:{{{shard}}}"
            owner = cluster.owner(int(cli(cluster.ports[0], "CLUSTER", "KEYSLOT", key)))
            held[owner] += int(cli(owner, "SCARD", key) or 0)
        print(f"registry: pools listed on each master {held}", flush=True)
        checks.check(sum(held.values()) == 300, f"the shards hold the 300 pools once each ({sum(held.values())})")
        checks.check(all(count > 0 for count in held.values()), f"the pool list lies on every master ({len(held)} masters)")
        legacy = cluster.owner(int(cli(cluster.ports[0], "CLUSTER", "KEYSLOT", "tokenpool:pools")))
        checks.check(cli(legacy, "EXISTS", "tokenpool:pools") == "0", "no single key lists every pool (tokenpool:pools, the one list before)")
        seen, pages, largest, cursor = [], 0, 0, None
        while pages < 100:
            page = call("GET", "/pools?limit=50" + (f"&cursor={cursor}" if cursor else ""))
            seen += [p["pool"] for p in page["pools"]]
            largest, pages, cursor = max(largest, len(page["pools"])), pages + 1, page["next"]
            if cursor is None:
                break
        checks.check(set(seen) == set(names), f"pages of 50 list every pool ({len(set(seen))} of 300 in {pages} pages)")
        checks.check(largest <= 100, f"no page far past its limit (largest {largest})")
        call("DELETE", "/pools/team-7")
        listed = sum(int(cli(owner, "SISMEMBER", f"tokenpool:pools:{{{shard}}}", "team-7") or 0)
                     for shard in range(16) for owner in [cluster.owner(int(cli(cluster.ports[0], "CLUSTER", "KEYSLOT", f"tokenpool:pools:{{{shard}}}")))])
        checks.check(listed == 0, "a deleted pool leaves the list")
    checks.finish()


def shard_channels(port, pool):
    out = cli(port, "PUBSUB", "SHARDCHANNELS", f"tokenpool:{{{pool}}}:handover:*")
    return [line for line in out.splitlines() if line]


def handover(build, cluster, url):
    """50 waiting assigns on one pool; 10 served, then the pool's slot migrates to another
    master, then 40 more served. Hand-overs go by sharded pub/sub: the replica's channel for the
    pool is subscribed at the slot's master only, and follows the slot to its new master. Every
    waiter is served exactly once, and the replica heard most of the 40 after the migration by
    its message on the moved subscription, not by the renewal that catches up on lost ones
    (with no subscription, all 40 would come by renewal; a renewal in flight when the 40 are
    handed over may still report a few first, and on a loaded machine did for 6)."""
    checks = Checks("handover")
    answers = []
    with one_replica(build, url) as (base, call):

        def wait_for_token(i):
            try:
                answers.append((i, 200, call("POST", "/pools/" + name + "/tokens/assign?wait=30", {"holder": f"w{i}"})["token"]))
            except urllib.error.HTTPError as error:
                answers.append((i, error.code, None))

        name, slot = pools_on_masters(cluster)[0]
        owner = cluster.owner(slot)
        call("PUT", f"/pools/{name}", {})
        threads = [threading.Thread(target=wait_for_token, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()
        wait_until("50 waiters queued", lambda: call("GET", f"/pools/{name}")["waiting"] == 50, 20)
        wait_until("the pool's channel subscribed at its master", lambda: len(shard_channels(owner, name)) == 1, 10)
        others = [p for p in cluster.masters() if p != owner]
        checks.check(all(not shard_channels(p, name) for p in others), "the channel is subscribed at the pool's master only")
        call("POST", f"/pools/{name}/tokens/batch", {"count": 10})
        wait_until("10 served", lambda: len(answers) == 10, 20)
        target = others[0]
        source, moved = cluster.migrate(slot, target)
        print(f"handover: slot {slot} of {name} migrated {source} -> {target} ({moved} keys) with 40 waiting", flush=True)
        wait_until("the channel follows the slot", lambda: len(shard_channels(target, name)) == 1 and not shard_channels(source, name), 20)
        checks.check(call("GET", f"/pools/{name}")["waiting"] == 40, "the 40 still wait after the migration")
        before = heard_by(base)
        call("POST", f"/pools/{name}/tokens/batch", {"count": 40})
        for thread in threads:
            thread.join(timeout=40)
        served = [a for a in answers if a[1] == 200]
        checks.check(len(answers) == 50 and len(served) == 50, f"every waiter answered 200 ({sorted({a[1] for a in answers})})")
        checks.check(len({a[0] for a in served}) == 50 and len({a[2] for a in served}) == 50, "each waiter once, no token to two")
        stats = call("GET", f"/pools/{name}")
        checks.check(stats["waiting"] == 0 and stats["assigned"] == 50, f"nobody left waiting, 50 assigned ({stats['waiting']}, {stats['assigned']})")
        after = heard_by(base)
        heard = {kind: after[kind] - before[kind] for kind in after}
        print(f"handover: of the 40 after the migration, heard by message {heard['message']:.0f}, by renewal {heard['renewal']:.0f}"
              f" (before it: {before['message']:.0f} and {before['renewal']:.0f})", flush=True)
        checks.check(heard["message"] >= 30, "the hand-overs after the migration came by message on the moved subscription")
    checks.finish()


def heard_by(base):
    """The replica's hand-overs so far by how it heard of them: {'message': n, 'renewal': n}."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    return {kind: sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                      if line.startswith("tokenpool_handovers_total") and f'heard="{kind}"' in line) for kind in ("message", "renewal")}


def midway(build, cluster, url):
    """A pool's slot caught mid-migration, with only the keys that the scripts name without
    declaring them moved (`held`, the holders' counts): no script on the pool runs until the
    migration ends. A script that ran would stop at the moved key half-way ("Script attempted to
    access a non local key"), its first writes made: an assign naming a holder pops a token and
    writes its lease before it counts the holder. Each call answers 503 with Retry-After (Redis's
    TRYAGAIN, retried until the call's deadline) and changes nothing; once the slot has moved,
    the pool is as it was and every call works on the new master."""
    checks = Checks("midway")
    with one_replica(build, url, "--redis-timeout", "1") as (base, call):
        name, slot = pools_on_masters(cluster)[0]
        call("PUT", f"/pools/{name}", {})
        call("POST", f"/pools/{name}/tokens/batch", {"count": 4})
        first = call("POST", f"/pools/{name}/tokens/assign", {"holder": "w1"})
        before = call("GET", f"/pools/{name}")
        target = next(p for p in cluster.masters() if p != cluster.owner(slot))
        source = cluster.begin_migration(slot, target)
        held = f"tokenpool:{{{name}}}:held"
        checks.check(cli(source, "EXISTS", held) == "1", "the holders' counts are kept (held), undeclared by the scripts")
        cluster.move_keys(source, target, [held])

        def refused(method, path, body=None):
            request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None)
            try:
                with urllib.request.urlopen(request, timeout=20) as response:
                    return response.status, None
            except urllib.error.HTTPError as error:
                return error.code, error.headers.get("Retry-After")

        for what, method, path, body in [
            ("an assign naming a holder", "POST", f"/pools/{name}/tokens/assign", {"holder": "w2"}),
            ("an assign", "POST", f"/pools/{name}/tokens/assign", None),
            ("an unblock", "POST", f"/pools/{name}/tokens/{first['token']}/unblock", None),
        ]:
            status, retry = refused(method, path, body)
            checks.check(status == 503 and retry is not None, f"mid-migration, {what} answers 503 with Retry-After ({status}, {retry})")
        checks.check(cli(source, "SCARD", f"tokenpool:{{{name}}}:free") == "3", "no token left the free set")
        checks.check(cli(source, "ZCARD", f"tokenpool:{{{name}}}:leases") == "1", "no lease was written")
        while keys := cli(source, "CLUSTER", "GETKEYSINSLOT", slot, 100).split():
            cluster.move_keys(source, target, keys)
        cluster.end_migration(slot, target)
        after = call("GET", f"/pools/{name}")
        same = {k: (before[k], after[k]) for k in ("total", "free", "assigned") if before[k] != after[k]}
        checks.check(not same, f"after the migration the pool is as it was ({same or 'total, free, assigned alike'})")
        checks.check(cli(target, "HGET", held, "w1") == "1" and cli(target, "HEXISTS", held, "w2") == "0",
                     "the holders' counts are as they were: w1 holds 1, w2 none")
        second = call("POST", f"/pools/{name}/tokens/assign", {"holder": "w2"})
        call("POST", f"/pools/{name}/tokens/{first['token']}/unblock?lease={first['lease']}")
        checks.check(cli(target, "HGET", held, "w2") == "1" and cli(target, "HEXISTS", held, "w1") == "0",
                     "then an assign and an unblock work on the new master, the counts kept")
        stats = call("GET", f"/pools/{name}")
        checks.check((stats["free"], stats["assigned"]) == (3, 1), f"3 free, 1 assigned ({stats['free']}, {stats['assigned']})")
        call("POST", f"/pools/{name}/tokens/{second['token']}/unblock?lease={second['lease']}")
    checks.finish()


def main():
    build = pathlib.Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as work:
        cluster = RedisCluster(work)
        servers = []
        try:
            cluster.create()
            url = "redis-cluster://" + ",".join(f"127.0.0.1:{p}" for p in cluster.ports[:3])
            if sys.argv[2] == "up":
                print(url, flush=True)
                signal.sigwait([signal.SIGINT, signal.SIGTERM])
                return
            if sys.argv[2] == "handover":
                handover(build, cluster, url)
                return
            if sys.argv[2] == "midway":
                midway(build, cluster, url)
                return
            if sys.argv[2] == "registry":
                registry(build, cluster, url)
                return
            if sys.argv[2] == "contract":
                contract = HERE.parent / "contract" / "run_contract.py"
                sys.exit(subprocess.run([sys.executable, str(contract), str(build / "tokenpool"), "--redis-url", url]).returncode)
            seconds = float(sys.argv[2])
            # Waiting clients also read the queue and take two at once under a cap per holder (#25).
            waiting = ["--wait", "1", "--tokens", "6", "--watch-queue", "--max-per-holder", "2"] if "--waiting" in sys.argv else []
            pools = pools_on_masters(cluster)
            print("cluster: pools " + ", ".join(f"{name} (slot {slot}, master {cluster.owner(slot)})" for name, slot in pools), flush=True)
            ports = [free_port() for _ in range(3)]
            servers = [subprocess.Popen([str(build / "tokenpool"), "serve", "--port", str(port), "--redis-url", url,
                                         "--lease-ttl", "1", "--reap-interval", "0.2", "--log-level", os.environ.get("CLUSTER_LOG_LEVEL", "critical")], stdout=open(f"/tmp/replica-{port}.log", "w") if os.environ.get("CLUSTER_LOG_LEVEL") else None, stderr=subprocess.STDOUT if os.environ.get("CLUSTER_LOG_LEVEL") else None) for port in ports]
            for port in ports:
                wait_ready(port, timeout=20)
            histories = [os.path.join(work, f"history-{name}.jsonl") for name, _ in pools]
            loads = [subprocess.Popen([str(build / "tokenpool-load"), *sum([["--server", f"http://127.0.0.1:{p}"] for p in ports], []),
                                       "--pool", name, "--duration", str(seconds), "--workers", "8", "--settle", "2.5",
                                       "--history", history, *waiting], stdout=subprocess.DEVNULL)
                     for (name, _), history in zip(pools, histories)]
            started = time.time()
            steps = max(1, int(seconds // 30))
            events = []  # (pool index, start ms, end ms, what)
            for k in range(steps):
                time.sleep(max(0, started + seconds * (k + 0.3) / steps - time.time()))
                if k == 0:
                    for port in sorted(cluster.masters()):
                        print(f"cluster: master {port} holds {cli(port, 'DBSIZE')} keys under load", flush=True)
                # (a) pool 0's slot to the master of neither pool 0 nor pool 1 (whose master (b) kills), key by key.
                name, slot = pools[0]
                target = next(p for p in sorted(cluster.masters()) if p not in (cluster.owner(slot), cluster.owner(pools[1][1])))
                begun = int(time.time() * 1000)
                source, moved = cluster.migrate(slot, target)
                events.append((0, begun, int(time.time() * 1000), f"slot {slot} of {name} migrated {source} -> {target} ({moved} keys)"))
                print(f"cluster: {events[-1][3]}", flush=True)
                time.sleep(max(0, started + seconds * (k + 0.65) / steps - time.time()))
                # (b) another pool's master SIGKILLed; a replica takes over.
                name, slot = pools[1]
                victim = cluster.owner(slot)
                wait_until("replicas of the victim in sync", lambda: any(
                    "master_link_status:up" in cli(p, "INFO", "replication") and f"master_port:{victim}" in cli(p, "INFO", "replication")
                    for p in cluster.live() if p != victim), 20)
                killed = time.time()
                cluster.nodes[victim].send_signal(signal.SIGKILL)
                cluster.nodes[victim].wait()
                wait_until("a replica promoted", lambda: cluster.owner(slot) not in (None, victim)
                           and "cluster_state:ok" in cli(cluster.owner(slot), "CLUSTER", "INFO"), 30)
                events.append((1, int(killed * 1000), int(time.time() * 1000), f"master {victim} of {name} killed; "
                                                                            f"{cluster.owner(slot)} promoted {int((time.time() - killed) * 1000)} ms after"))
                print(f"cluster: {events[-1][3]}", flush=True)
                # Back, empty: it joins as a replica of the new master.
                cluster.start_node(victim)
            for load in loads:
                if load.wait(timeout=seconds + 180) != 0:
                    sys.exit("tokenpool-load failed")
            failures = []
            checked = 0
            for i, history in enumerate(histories):
                print(f"cluster: history of {pools[i][0]}", flush=True)
                checked |= subprocess.run([sys.executable, str(HERE / "check_history.py"), history]).returncode
                ops = [json.loads(line) for line in open(history) if line.strip()]
                # A holder's earlier assign may have taken effect though its answer was a 503 (the reply
                # came after the call's deadline, while a migration or a failover held it up); the cap
                # then rightly refuses its next one until that lease ends. The checker's promise on the
                # cap judges it; any other 429 is odd.
                odd = {op["status"] for op in ops if not (op["status"] == 429 and op.get("problem") == "holder-limit")} - ANSWERS
                if odd:
                    failures.append(f"{pools[i][0]}: answers other than {sorted(ANSWERS)}: {sorted(odd)}")
                # Any step may touch any pool: no 503 asked for later than 3 s after a step ends and
                # answered before the next step begins.
                for pool, begun, ended, what in events:
                    nxt = min([e[1] for e in events if e[1] > begun] + [10**15])
                    late = [op["invoked"] - ended for op in ops if op["status"] == 503 and ended + 3000 < op["invoked"] and op["completed"] < nxt]
                    last = max([op["invoked"] - ended for op in ops if op["status"] == 503 and begun <= op["invoked"] < nxt], default=None)
                    if pool == i or late:
                        print(f"cluster: after '{what}': last 503 {last} ms after", flush=True)
                    if late:
                        which = sorted({(op["op"], op.get("wait") or 0, op.get("problem")) for op in ops if op["status"] == 503 and ended + 3000 < op["invoked"] and op["completed"] < nxt})
                        failures.append(f"{pools[i][0]}: {len(late)} answers 503 more than 3 s after '{what}' ({which}, at {late} ms)")
            for failure in failures:
                print("CLUSTER CHECK FAILED " + failure, flush=True)
            print(f"cluster: {len(events)} steps, {len(failures)} checks failed", flush=True)
            sys.exit(checked or (1 if failures else 0))
        finally:
            for server in servers:
                if server.poll() is None:
                    server.terminate()
                    server.wait(timeout=10)
            cluster.stop()


if __name__ == "__main__":
    main()
