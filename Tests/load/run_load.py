#!/usr/bin/env python3
"""History checks under faults: three replicas, one Redis, tokenpool-load, faults injected on a
timeline, then check_history.py on the history and the fault checks below.

    run_load.py BUILD_DIR SECONDS FAULT[,FAULT...] [--wait SECONDS] [--rate-limit R/W] [--max-per-holder Q] [--watch-queue]

With --wait, every assign of the load waits up to SECONDS for a token (waiting assign), so the
faults hit clients while they wait: a waiter gets a token or an error, never a token someone
else holds, and its answer comes within its wait plus the fault checks' bounds.

Faults (each spread evenly over the run, cycled for long runs):
  replica-kill   SIGKILL one replica, start it again 1.5 s later
  redis-restart  SIGKILL Redis (append-only, appendfsync always) and start it again on its file
  redis-pause    Redis stopped for 3 s (SIGKILL, restart after 3 s)
  client-kill    CLIENT KILL TYPE normal: every replica's connections dropped
  debug-sleep    DEBUG SLEEP 1.5: Redis slower than the command timeout
  failover       a coordinated failover (FAILOVER TO the standby replica, which waits for it to
                 catch up), then every replica restarted one by one pointed at the new primary
Fault checks: while Redis is away, every request is answered (503) within 1.5 s and no replica's
memory grows by more than 64 MB; service resumes within 2 s of Redis's return; no request waits
past the client's 3 s timeout for a live replica.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

from tokenpool_testing import free_port, start_redis, wait_ready

HERE = pathlib.Path(__file__).resolve().parent


class Deployment:
    """One Redis (and a standby to fail over to), three tokenpool replicas on it, and the faults
    injected into them while the load runs."""

    def __init__(self, build, work):
        self.build, self.work = build, work
        self.redis_port = free_port()
        self.standby_port = free_port()
        self.ports = [free_port() for _ in range(3)]
        self.redis = None
        self.standby = None
        self.replicas = [None] * 3
        self.events = []  # (time ms, what)
        self.memory = []  # (fault, RSS kB of each replica before, after)

    def start_redis(self, port=None, replica_of=None):
        port = port or self.redis_port
        process = start_redis(port, os.path.join(self.work, str(port)), appendfsync="always", replica_of=replica_of,
                              extra=["--enable-debug-command", "local"])
        if replica_of:
            self.standby = process
        else:
            self.redis = process

    def kill_redis(self):
        self.redis.send_signal(signal.SIGKILL)
        self.redis.wait()

    def replica_rss(self):
        """Resident memory of each replica in kB (from /proc)."""
        sizes = []
        for replica in self.replicas:
            try:
                status = pathlib.Path(f"/proc/{replica.pid}/status").read_text()
                sizes.append(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))))
            except (OSError, StopIteration):
                sizes.append(0)
        return sizes

    def redis_cli(self, port, *args):
        return subprocess.run(["redis-cli", "-p", str(port), *map(str, args)], capture_output=True, text=True).stdout.strip()

    def start_replica(self, i):
        self.replicas[i] = subprocess.Popen([str(self.build / "tokenpool"), "serve", "--port", str(self.ports[i]),
                                             "--redis-url", f"redis://127.0.0.1:{self.redis_port}", "--lease-ttl", "1",
                                             "--reap-interval", "0.2", "--log-level", "critical"])

    def note(self, what):
        self.events.append((int(time.time() * 1000), what))
        print(f"fault: {what}", flush=True)

    def inject(self, fault):
        if fault == "replica-kill":
            self.replicas[2].send_signal(signal.SIGKILL)
            self.replicas[2].wait()
            self.note("replica 3 killed (SIGKILL)")
            time.sleep(1.5)
            self.start_replica(2)
            wait_ready(self.ports[2])
            self.note("replica 3 restarted")
        elif fault in ("redis-restart", "redis-pause"):
            before = self.replica_rss()
            self.kill_redis()
            self.note("redis-down")
            time.sleep(3 if fault == "redis-pause" else 0.3)
            during = self.replica_rss()
            self.start_redis()
            self.note("redis-up")
            self.memory.append((fault, before, during))
        elif fault == "client-kill":
            subprocess.run(["redis-cli", "-p", str(self.redis_port), "CLIENT", "KILL", "TYPE", "normal"], capture_output=True)
            self.note("client connections killed")
        elif fault == "failover":
            if self.standby is None:
                self.start_redis(self.standby_port, replica_of=self.redis_port)
            # Only a replica that is connected and done syncing can take over without loss, and
            # FAILOVER refuses one the primary does not list online yet (its first ACK comes a
            # moment after the replica sees its link up).
            for _ in range(500):
                info = self.redis_cli(self.standby_port, "INFO", "replication")
                primary = self.redis_cli(self.redis_port, "INFO", "replication")
                if ("master_link_status:up" in info and "master_sync_in_progress:0" in info
                        and f"port={self.standby_port},state=online" in primary):
                    break
                time.sleep(0.02)
            self.note("failover")
            answer = self.redis_cli(self.redis_port, "FAILOVER", "TO", "127.0.0.1", self.standby_port, "TIMEOUT", 5000)
            promoted = False
            for _ in range(350):
                if "role:master" in self.redis_cli(self.standby_port, "INFO", "replication"):
                    promoted = True
                    break
                time.sleep(0.02)
            if not promoted:
                # Nothing changed hands: keep pointing at the primary we have.
                self.note(f"failover did not happen ({answer or 'no answer'}); skipped")
                return
            # The old primary is now the standby's replica; the names swap with the roles.
            self.redis_port, self.standby_port = self.standby_port, self.redis_port
            self.redis, self.standby = self.standby, self.redis
            for i in range(3):
                self.replicas[i].terminate()
                self.replicas[i].wait(timeout=10)
                self.start_replica(i)
                wait_ready(self.ports[i])
            self.note("redis-up")
        elif fault == "debug-sleep":
            self.note("redis-slow")
            subprocess.run(["redis-cli", "-p", str(self.redis_port), "DEBUG", "SLEEP", "1.5"], capture_output=True)
            self.note("redis-fast")

    def stop(self):
        for replica in self.replicas:
            if replica and replica.poll() is None:
                replica.terminate()
        for replica in self.replicas:
            if replica:
                replica.wait(timeout=10)
        if self.redis and self.redis.poll() is None:
            self.kill_redis()
        if self.standby and self.standby.poll() is None:
            self.standby.kill()
            self.standby.wait()


def fault_checks(history, events):
    """Answers within 1.5 s while Redis is away; back within 2 s of its return."""
    ops = [json.loads(line) for line in open(history) if line.strip()]
    failures = []
    for op in ops:
        # A waiting assign may spend its wait in the queue before the fault reaches it.
        waited = op.get("wait") or 0
        if op["status"] == 503 and op["completed"] - op["invoked"] > 1500 + waited:
            failures.append(f"a 503 took {op['completed'] - op['invoked']} ms ({op['op']} at {op['invoked']}, "
                            f"{op.get('problem')}, replica {op['server'] + 1})")
        if op["status"] == 0 and op["completed"] - op["invoked"] >= 2900:
            failures.append(f"no answer within 3 s ({op['op']} at {op['invoked']}, replica {op['server'] + 1})")
    for at, what in events:
        if what in ("redis-up", "redis-fast"):
            later = [op["completed"] for op in ops if op["invoked"] >= at and op["status"] in (200, 201, 204)]
            first = min(later) if later else None
            if first is None or first - at > 2000:
                failures.append(f"service not back within 2 s of {what} at {at} (first success {first})")
            else:
                print(f"fault: service back {first - at} ms after {what}", flush=True)
    return failures


def main():
    build = pathlib.Path(sys.argv[1])
    seconds = float(sys.argv[2])
    faults = [f for f in sys.argv[3].split(",") if f] if len(sys.argv) > 3 and not sys.argv[3].startswith("--") else []
    wait = sys.argv[sys.argv.index("--wait") + 1] if "--wait" in sys.argv else "0"
    # --rate-limit R/W: the pool lets at most R assignments of a token begin in any W seconds.
    rate = ["--rate-limit", sys.argv[sys.argv.index("--rate-limit") + 1]] if "--rate-limit" in sys.argv else []
    # --max-per-holder Q: the pool's cap per holder; --watch-queue: the load reads the queue for the checker.
    rate += ["--max-per-holder", sys.argv[sys.argv.index("--max-per-holder") + 1]] if "--max-per-holder" in sys.argv else []
    rate += ["--watch-queue"] if "--watch-queue" in sys.argv else []
    with tempfile.TemporaryDirectory() as work:
        deployment = Deployment(build, work)
        history = os.path.join(work, "history.jsonl")
        try:
            deployment.start_redis()
            for i in range(3):
                deployment.start_replica(i)
            for port in deployment.ports:
                wait_ready(port)
            load = subprocess.Popen([str(build / "tokenpool-load"), *sum([["--server", f"http://127.0.0.1:{p}"] for p in deployment.ports], []),
                                     "--duration", str(seconds), "--workers", "24", "--settle", "2.5", "--history", history,
                                     # Waiting clients want fewer tokens than workers, so they do wait.
                                     "--wait", wait, "--tokens", "40" if wait == "0" else "8", *rate])
            started = time.time()
            slots = max(len(faults), int(seconds // 8)) if faults else 0
            for i in range(slots):
                target = started + seconds * (i + 1) / (slots + 1)
                time.sleep(max(0, target - time.time()))
                # A slow fault (a failover waiting for its standby) can push the next one past the
                # load's end, where there is no traffic to show the service coming back.
                if time.time() > started + seconds - 4:
                    deployment.note(f"{faults[i % len(faults)]} skipped: the load ends in under 4 s")
                    continue
                deployment.inject(faults[i % len(faults)])
            if load.wait(timeout=seconds + 180) != 0:
                sys.exit("tokenpool-load failed")
            checked = subprocess.run([sys.executable, str(HERE / "check_history.py"), history])
            failures = fault_checks(history, deployment.events)
            for fault, before, during in deployment.memory:
                growth = max(b - a for a, b in zip(before, during) if a and b) if any(before) else 0
                print(f"fault: {fault}: replica RSS while Redis was away grew by at most {growth} kB", flush=True)
                if growth > 64 * 1024:
                    failures.append(f"replica memory grew by {growth} kB while Redis was away ({fault})")
            for failure in failures:
                print("FAULT CHECK FAILED " + failure, flush=True)
            skipped = sum(1 for _, what in deployment.events if what.endswith("skipped: the load ends in under 4 s"))
            print(f"faults: {slots - skipped} injected, {len(failures)} fault checks failed", flush=True)
            if checked.returncode or failures:
                kept = pathlib.Path("data") / f"history-{int(time.time())}.jsonl"
                kept.parent.mkdir(exist_ok=True)
                kept.write_text(pathlib.Path(history).read_text())
                print(f"history kept in {kept}", flush=True)
            sys.exit(checked.returncode or (1 if failures else 0))
        finally:
            deployment.stop()


if __name__ == "__main__":
    main()
