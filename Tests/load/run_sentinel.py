#!/usr/bin/env python3
"""Redis Sentinel failover under load: 1 master, 2 replicas, 3 sentinels (down-after 1000 ms),
three TokenPool replicas on `redis-sentinel://`, tokenpool-load running; the master is SIGKILLed
(once for a short run, every 25 s for a long one, the killed server coming back as a replica).

    run_sentinel.py BUILD_DIR SECONDS WAIT_REPLICAS [--report] [--waiting]

With --waiting the load's assigns wait up to 1.5 s for a token (12 tokens for 24 workers), so
the master dies while clients wait in the queue: the hand-over channel must follow the master.

Checked: the history checker finds nothing, and every TokenPool replica answers a request with
success within 3 s of the sentinels naming the new master. With --report (for WAIT_REPLICAS 0,
where a failover may lose acknowledged changes) the checker's findings are printed, not
asserted.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

from run_load import HERE
from tokenpool_testing import cli, free_port, start_redis, start_sentinel, wait_ready, wait_until

MASTER_NAME = "tokens"


def start_node(work, port, replica_of=None):
    return start_redis(port, os.path.join(work, str(port)), replica_of=replica_of)


def master_of(sentinel_port):
    answer = cli(sentinel_port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME).split()
    return int(answer[1]) if len(answer) == 2 else None



def main():
    build = pathlib.Path(sys.argv[1])
    seconds = float(sys.argv[2])
    wait_replicas = int(sys.argv[3])
    report_only = "--report" in sys.argv
    # Waiting clients also read the queue and take two at once under a cap per holder (#25).
    waiting = ["--wait", "1.5", "--tokens", "12", "--watch-queue", "--max-per-holder", "2"] if "--waiting" in sys.argv else []
    processes = []
    with tempfile.TemporaryDirectory() as work:
        try:
            master_port, replica_ports = free_port(), [free_port(), free_port()]
            sentinel_ports = [free_port() for _ in range(3)]
            master = start_node(work, master_port)
            replicas = [start_node(work, port, replica_of=master_port) for port in replica_ports]
            processes += [master, *replicas]
            processes += [start_sentinel(work, port, MASTER_NAME, master_port) for port in sentinel_ports]
            # Sentinels need a few seconds to learn the replicas and each other before they can fail over.
            wait_until("replicas in sync", lambda: all("master_link_status:up" in cli(p, "INFO", "replication") for p in replica_ports), 20)
            wait_until("sentinels know each other and the replicas", lambda: all(
                len(cli(s, "SENTINEL", "REPLICAS", MASTER_NAME).splitlines()) >= 2 * 2
                and cli(s, "SENTINEL", "SENTINELS", MASTER_NAME).count("\n") >= 1 for s in sentinel_ports), 30)

            url = "redis-sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinel_ports) + f"/{MASTER_NAME}"
            ports = [free_port() for _ in range(3)]
            servers = [subprocess.Popen([str(build / "tokenpool"), "serve", "--port", str(port), "--redis-url", url,
                                         "--redis-wait-replicas", str(wait_replicas), "--lease-ttl", "1", "--reap-interval", "0.2",
                                         "--log-level", "critical"]) for port in ports]
            processes += servers
            for port in ports:
                wait_ready(port)

            history = os.path.join(work, "history.jsonl")
            load = subprocess.Popen([str(build / "tokenpool-load"), *sum([["--server", f"http://127.0.0.1:{p}"] for p in ports], []),
                                     "--duration", str(seconds), "--workers", "24", "--settle", "2.5", "--history", history, *waiting])
            nodes = {master_port: master, replica_ports[0]: replicas[0], replica_ports[1]: replicas[1]}
            kills = max(1, int(seconds // 25))
            started, promotions = time.time(), []
            for k in range(kills):
                time.sleep(max(0, started + seconds * (k + 0.35) / kills - time.time()))
                current = master_of(sentinel_ports[0]) or master_port
                # Kill only a master that has a replica in sync, as a failover needs one.
                wait_until("a replica in sync", lambda: "master_link_status:up" in "".join(
                    cli(p, "INFO", "replication") for p in nodes if p != current), 20)
                killed_at = time.time()
                nodes[current].send_signal(signal.SIGKILL)
                nodes[current].wait()
                print(f"sentinel: master {current} killed (SIGKILL)", flush=True)
                promoted_at = None
                while time.time() < killed_at + 30:
                    named = [master_of(s) for s in sentinel_ports]
                    if any(n and n != current for n in named):
                        promoted_at = time.time()
                        print(f"sentinel: {next(n for n in named if n and n != current)} promoted "
                              f"{int((promoted_at - killed_at) * 1000)} ms after the kill", flush=True)
                        break
                    time.sleep(0.05)
                if promoted_at is None:
                    sys.exit("sentinel: no new master within 30 s")
                promotions.append(promoted_at)
                time.sleep(2)
                # Back, empty; the sentinels make it a replica of the new master.
                nodes[current] = start_node(work, current)
                processes.append(nodes[current])
            if load.wait(timeout=seconds + 180) != 0:
                sys.exit("tokenpool-load failed")

            checked = subprocess.run([sys.executable, str(HERE / "check_history.py"), history])
            ops = [json.loads(line) for line in open(history) if line.strip()]
            failures = []
            for promoted_at in promotions:
                promoted_ms = int(promoted_at * 1000)
                for server in range(3):
                    served = [op["completed"] for op in ops if op["server"] == server and op["invoked"] >= promoted_ms
                              and op["status"] in (200, 201, 204)]
                    first = min(served) - promoted_ms if served else None
                    print(f"sentinel: replica {server + 1} served again {first} ms after the promotion", flush=True)
                    if first is None or first > 3000:
                        failures.append(f"replica {server + 1} did not serve within 3 s of the promotion ({first} ms)")
            unavailable = sum(1 for op in ops if op["status"] == 503)
            print(f"sentinel: wait-replicas {wait_replicas}: {len(ops)} operations, {len(promotions)} failovers, "
                  f"{unavailable} answered 503", flush=True)
            for failure in failures:
                print("SENTINEL CHECK FAILED " + failure, flush=True)
            if report_only:
                print(f"sentinel: report only; history checker exit {checked.returncode}", flush=True)
                sys.exit(0)
            print(f"sentinel: {len(failures)} checks failed", flush=True)
            sys.exit(checked.returncode or (1 if failures else 0))
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()


if __name__ == "__main__":
    main()
