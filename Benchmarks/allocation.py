#!/usr/bin/env python3
"""`make bench`, the queue (#25): hand-overs with many waiters, several at once, and what a waiter costs.

One Redis and one release `tokenpool` (three for the hand-overs), on this machine:
1. a count=1 hand-over with 100 waiters queued: each round the holder unblocks the one token and
   the queue's head gets it; timed from the unblock's answer to the head's 200; a new waiter joins
   at the back, so 100 wait at every hand-over;
2. a count=5 hand-over: a waiter for five queues, the holder gives back five tokens one by one;
   timed from the fifth unblock's answer to the waiter's 200 (the five set aside, handed at once);
3. 10,000 waiting assigns on one pool of one replica (raw sockets, one connection each): the
   replica's memory (RSS) and Redis's (used_memory) before and with them queued, per waiter.
Writes docs/benchmarks-queue.md.

    allocation.py TOKENPOOL_BINARY [ROUNDS] [WAITERS]
"""
import http.client
import json
import queue
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from handover import percentile
from run_bench import ROOT
from tokenpool_testing import free_port, start_redis


def post(connection, path, body=b""):
    connection.request("POST", path, body=body, headers={"Content-Length": str(len(body))})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def get(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    body = json.loads(connection.getresponse().read())
    connection.close()
    return body


def until(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    raise SystemExit("allocation.py: timed out waiting")


def ready(port):
    for _ in range(400):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"replica on {port} never ready")


def waiting(port, pool):
    return get(port, f"/pools/{pool}/stats")["waiting"]


def start_waiter(port, path, answers):
    """A waiting assign in a thread: (its 200's time, body) lands in `answers`."""
    def run():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        status, body = post(connection, path)
        answers.put((time.perf_counter(), status, body))
        connection.close()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def handover_with_queue(ports, rounds, depth):
    """Count=1 hand-overs, `depth` waiters queued at each one."""
    control = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=15)
    pool = "deep"
    post(control, f"/pools/{pool}/tokens")
    _, held = post(control, f"/pools/{pool}/tokens/assign")
    answers = queue.Queue()
    for i in range(depth):
        start_waiter(ports[i % len(ports)], f"/pools/{pool}/tokens/assign?wait=60", answers)
    until(lambda: waiting(ports[0], pool) == depth)
    timings, from_sent = [], []
    for i in range(rounds):
        holder = http.client.HTTPConnection("127.0.0.1", ports[(i + 1) % len(ports)], timeout=15)
        holder.connect()
        sent = time.perf_counter()
        status, _ = post(holder, f"/pools/{pool}/tokens/{held['token']}/unblock?lease={held['lease']}")
        answered = time.perf_counter()
        holder.close()
        at, waiter_status, body = answers.get(timeout=30)
        if status != 200 or waiter_status != 200:
            raise SystemExit(f"round {i}: unblock {status}, waiter {waiter_status}")
        timings.append((at - answered) * 1000)
        from_sent.append((at - sent) * 1000)
        held = body
        # A new waiter at the back: the next hand-over meets `depth` again.
        start_waiter(ports[i % len(ports)], f"/pools/{pool}/tokens/assign?wait=60", answers)
        until(lambda: waiting(ports[0], pool) == depth)
    return timings, from_sent


def handover_of_five(ports, rounds):
    """A waiter for five; five unblocks; timed from the fifth's answer."""
    control = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=15)
    pool = "five"
    post(control, f"/pools/{pool}/tokens/batch", b'{"count": 5}')
    _, held = post(control, f"/pools/{pool}/tokens/assign?count=5")
    held = held["tokens"]
    timings = []
    answers = queue.Queue()
    for i in range(rounds):
        start_waiter(ports[i % len(ports)], f"/pools/{pool}/tokens/assign?count=5&wait=30", answers)
        until(lambda: waiting(ports[0], pool) == 1)
        holder = http.client.HTTPConnection("127.0.0.1", ports[(i + 1) % len(ports)], timeout=15)
        for token in held:
            status, _ = post(holder, f"/pools/{pool}/tokens/{token['token']}/unblock?lease={token['lease']}")
            if status != 200:
                raise SystemExit(f"round {i}: unblock {status}")
        answered = time.perf_counter()
        holder.close()
        at, waiter_status, body = answers.get(timeout=30)
        if waiter_status != 200 or len(body["tokens"]) != 5:
            raise SystemExit(f"round {i}: the waiter for five answered {waiter_status}")
        timings.append((at - answered) * 1000)
        held = body["tokens"]
    return timings


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def redis_used(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "memory"], capture_output=True, text=True).stdout
    return next(int(line.split(":")[1]) for line in out.splitlines() if line.startswith("used_memory:"))


def memory_per_waiter(port, pid, redis_port, count):
    """`count` waiting assigns on one pool of one replica, one socket each."""
    pool = "memory"
    control = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    post(control, f"/pools/{pool}/tokens")
    _, held = post(control, f"/pools/{pool}/tokens/assign")
    # A warm-up round of the same size, so the server's allocator has grown once already.
    for phase in ("warm", "measure"):
        time.sleep(1)
        rss_before, redis_before = rss_kib(pid), redis_used(redis_port)
        sockets = []
        request = f"POST /pools/{pool}/tokens/assign?wait=60 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(request)
            sockets.append(s)
        until(lambda: waiting(port, pool) == count, 120)
        time.sleep(1.5)  # a few renewals
        rss_during, redis_during = rss_kib(pid), redis_used(redis_port)
        for s in sockets:
            s.close()
        until(lambda: waiting(port, pool) == 0, 120)
    return (rss_during - rss_before) * 1024 / count, (redis_during - redis_before) / count


def main():
    binary = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    # A socket each here and in the replica (which inherits this limit): raised for this run only,
    # as far as the hard limit lets (`ulimit -Hn`).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    redis_port, ports = free_port(), [free_port() for _ in range(3)]
    processes = []
    with tempfile.TemporaryDirectory() as data:
        try:
            processes.append(start_redis(redis_port, data, appendfsync="everysec", wait=False))
            for port in ports:
                processes.append(subprocess.Popen([binary, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                                                   "--log-level", "error", "--idle-timeout", "120"]))
            for port in ports:
                ready(port)
            one, one_sent = handover_with_queue(ports, rounds, 100)
            five = handover_of_five(ports, rounds)
            server_bytes, redis_bytes = memory_per_waiter(ports[0], processes[1].pid, redis_port, count)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=20)
    figures = {
        "rounds": rounds,
        "one_of_100_p50_ms": round(statistics.median(one), 2), "one_of_100_p99_ms": round(percentile(one, 0.99), 2),
        "one_of_100_sent_p50_ms": round(statistics.median(one_sent), 2), "one_of_100_sent_p99_ms": round(percentile(one_sent, 0.99), 2),
        "five_p50_ms": round(statistics.median(five), 2), "five_p99_ms": round(percentile(five, 0.99), 2),
        "waiters": count, "server_bytes_per_waiter": round(server_bytes), "redis_bytes_per_waiter": round(redis_bytes),
    }
    print(json.dumps(figures), flush=True)
    lines = [
        "# The queue: hand-overs with many waiters, several at once, and what a waiter costs",
        "",
        f"`make bench` (`Benchmarks/allocation.py`): one Redis and release replicas on this 2-core machine, {rounds} rounds each.",
        "",
        "| hand-over | p50 | p99 |",
        "|---|---|---|",
        f"| one token to the head of 100 waiters (unblock's answer -> the head's 200) | {figures['one_of_100_p50_ms']} ms | {figures['one_of_100_p99_ms']} ms |",
        f"| the same, from the unblock sent | {figures['one_of_100_sent_p50_ms']} ms | {figures['one_of_100_sent_p99_ms']} ms |",
        f"| five at once to a waiter for five (the fifth unblock's answer -> its 200) | {figures['five_p50_ms']} ms | {figures['five_p99_ms']} ms |",
        "",
        f"{count:,} waiting assigns on one pool of one replica (a socket each, held open), after a first round of as many "
        f"that came and went: the replica's RSS grew by {figures['server_bytes_per_waiter']:,} bytes a waiter (what the second "
        "round needs past what the allocator kept from the first; a replica's first 10,000 waiters cost it some 57 KiB each, "
        f"[benchmarks-waiters.md](benchmarks-waiters.md)), Redis's `used_memory` by {figures['redis_bytes_per_waiter']:,} bytes "
        "a waiter (its place in `queue`, its `until` in `waiters`, what it asked for in `wants`, its number in its replica's "
        "index). The replica renews them in calls of 500 every 250 ms, one vouching for all; nothing else runs while they wait.",
        "",
        "Timed on the client, which shares the two cores with the replicas and Redis: a hand-over's own work is one",
        "script (the unblock's, which hands the token over and PUBLISHes), one message, and one more script",
        "(`leave.lua`, the pickup) on the waiter's replica.",
        "",
    ]
    (ROOT / "docs/benchmarks-queue.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
