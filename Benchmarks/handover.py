#!/usr/bin/env python3
"""`make bench`, waiting assign: how long a hand-over takes. One Redis, three release
`tokenpool` replicas, one token. Each round a waiter asks one replica for the token
(`?wait=10`) and, once it is queued, the holder unblocks through another replica; the waiter's
200 is timed from the unblock's answer (what the issue asks: unblock answered -> the waiter's
200) and from the moment the unblock was sent. The waiter then holds the token and the next
round starts. Writes docs/benchmarks-handover.md.

    handover.py TOKENPOOL_BINARY [ROUNDS]
"""
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from run_bench import ROOT, percentile
from tokenpool_testing import free_port, start_redis


def post(connection, path):
    connection.request("POST", path, body=b"", headers={"Content-Length": "0"})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def main():
    binary = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    redis_port, ports = free_port(), [free_port() for _ in range(3)]
    processes = []
    with tempfile.TemporaryDirectory() as data:
        try:
            processes.append(start_redis(redis_port, data, appendfsync="everysec", wait=False))
            for port in ports:
                processes.append(subprocess.Popen([binary, "serve", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                                                   "--log-level", "error"]))
            for port in ports:
                for _ in range(200):
                    try:
                        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                        connection.request("GET", "/readyz")
                        if connection.getresponse().status == 200:
                            break
                    except OSError:
                        time.sleep(0.05)
            control = [http.client.HTTPConnection("127.0.0.1", port, timeout=15) for port in ports]
            post(control[0], "/pools/handover/tokens")
            _, held = post(control[0], "/pools/handover/tokens/assign")
            from_answer, from_sent = [], []
            for i in range(rounds):
                waiter_port, holder = ports[i % 3], control[(i + 1) % 3]
                answer = {}

                def wait():
                    connection = http.client.HTTPConnection("127.0.0.1", waiter_port, timeout=15)
                    status, body = post(connection, "/pools/handover/tokens/assign?wait=10")
                    answer.update(status=status, body=body, at=time.perf_counter())
                    connection.close()

                thread = threading.Thread(target=wait)
                thread.start()
                while True:
                    control[0].request("GET", "/pools/handover/stats")
                    if json.loads(control[0].getresponse().read())["waiting"] == 1:
                        break
                sent = time.perf_counter()
                status, _ = post(holder, f"/pools/handover/tokens/{held['token']}/unblock?lease={held['lease']}")
                answered = time.perf_counter()
                thread.join()
                if status != 200 or answer["status"] != 200:
                    sys.exit(f"round {i}: unblock {status}, waiter {answer['status']}")
                from_answer.append((answer["at"] - answered) * 1000)
                from_sent.append((answer["at"] - sent) * 1000)
                held = answer["body"]
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
    figures = {
        "rounds": rounds,
        "unblock_answered_p50_ms": round(statistics.median(from_answer), 2),
        "unblock_answered_p99_ms": round(percentile(from_answer, 0.99), 2),
        "unblock_sent_p50_ms": round(statistics.median(from_sent), 2),
        "unblock_sent_p99_ms": round(percentile(from_sent, 0.99), 2),
        "waiter_first_share": round(sum(1 for x in from_answer if x < 0) / rounds, 3),
    }
    print(json.dumps(figures), flush=True)
    lines = [
        "# Waiting assign: hand-over latency",
        "",
        "`make bench` (`Benchmarks/handover.py`): one Redis, three release replicas, one token on this 2-core",
        f"machine, {rounds} rounds. Each round a waiter asks one replica (`?wait=10`), and once it is queued the",
        "holder unblocks through another replica; the waiter's 200 is timed on the client.",
        "",
        "| measured from | p50 | p99 |",
        "|---|---|---|",
        f"| the unblock's answer received -> the waiter's 200 received | {figures['unblock_answered_p50_ms']} ms | {figures['unblock_answered_p99_ms']} ms |",
        f"| the unblock sent -> the waiter's 200 received | {figures['unblock_sent_p50_ms']} ms | {figures['unblock_sent_p99_ms']} ms |",
        "",
        f"In {figures['waiter_first_share']:.1%} of the rounds the waiter's answer arrived before the unblock's (both",
        "leave Redis in the same script's step: the hand-over is PUBLISHed while the unblock's reply is written),",
        "which the first row counts as negative. The path of a hand-over: the unblock script hands the token to",
        "the queue's head and PUBLISHes on the waiter replica's channel; that replica wakes the request and runs",
        "`leave.lua` (one round trip) to turn the short pickup lease into a whole one; then the 200.",
        "",
    ]
    (ROOT / "docs/benchmarks-handover.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
