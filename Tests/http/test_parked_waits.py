#!/usr/bin/env python3
"""Requests answered by their HTTP/1 connection's handler (ParkingHandler), waiting assigns and
event streams parked there, over raw sockets against a real server and Redis: answers in request
order when pipelined either way (two waits in one write too, and ordinary requests with a body, a
chunked body, a head the decoder refuses), the connection carries the next request, a client that leaves leaves the
queue, the idle timeout waits for the answer, `Connection: close`, 413 and 401 as for any request,
the metrics count the answer, the answer has the headers of any other; a parked stream gets its
pool's events, and a server shutting down ends it and exits."""
import json
import signal
import socket
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List, Optional, Tuple

from tokenpool_testing import Checks, redis_server, tokenpool_server

Response = Tuple[int, Dict[str, str], bytes]


def call(base: str, method: str, path: str, body: bytes = b"", headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
    request = urllib.request.Request(base + path, method=method, data=body or None, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Connection:
    """One raw HTTP/1.1 connection: send bytes as they are, read answers one by one."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.reader = self.socket.makefile("rb")

    def send(self, data: bytes) -> None:
        self.socket.sendall(data)

    def response(self) -> Response:
        status_line = self.reader.readline()
        if not status_line:
            raise EOFError("the connection closed")
        status = int(status_line.split()[1])
        headers: Dict[str, str] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.reader.read(int(headers.get("content-length", "0")))
        return status, headers, body

    def closed(self) -> bool:
        """Whether the server closed the connection (within the socket's timeout)."""
        try:
            return self.reader.read(1) == b""
        except (ConnectionError, socket.timeout):
            return False

    def ends(self) -> bool:
        """Whether the server ends the connection (after whatever it still sends) within the timeout."""
        try:
            while self.reader.read1(4096):
                pass
            return True
        except (ConnectionError, socket.timeout):
            return False

    def close(self) -> None:
        self.reader.close()
        self.socket.close()


def assign(pool: str, wait: str, extra: str = "", body: bytes = b"") -> bytes:
    return (f"POST /pools/{pool}/tokens/assign?wait={wait} HTTP/1.1\r\nHost: t\r\n{extra}Content-Length: {len(body)}\r\n\r\n").encode() + body


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


def problem_type(body: bytes) -> str:
    return str(json.loads(body).get("type", "")).rsplit(":", 1)[-1]


def main() -> None:
    checks = Checks("parked")
    binary = sys.argv[1] + "/tokenpool"
    with redis_server() as redis, tokenpool_server(binary, f"redis://127.0.0.1:{redis.port}",
                                                   args=["--idle-timeout", "1", "--max-body-size", "64"]) as server:
        base = server.base

        # Pipelined: a waiting assign, then /healthz in the same write; answered in that order.
        connection = Connection(server.port)
        started = time.monotonic()
        connection.send(assign("pk", "0.5") + HEALTHZ)
        first, second = connection.response(), connection.response()
        waited = time.monotonic() - started
        checks.check(first[0] == 404 and problem_type(first[2]) == "no-free-token" and second[0] == 200 and waited >= 0.45,
                     f"a waiting assign pipelined before /healthz: 404 after {waited:.2f} s, then 200 ({first[0]}, {second[0]})")
        checks.check(first[1].get("content-type") == "application/problem+json" and "date" in first[1] and first[1].get("server") == "tokenpool",
                     f"the parked answer has Content-Type, Date and Server ({sorted(first[1])})")

        # Two waiting assigns in one write: each taken in turn, answered in order.
        started = time.monotonic()
        connection.send(assign("pk", "0.3") + assign("pk", "0.3"))
        first, second = connection.response(), connection.response()
        waited = time.monotonic() - started
        checks.check(first[0] == 404 and second[0] == 404 and waited >= 0.55,
                     f"two waiting assigns pipelined: {first[0]}, {second[0]} after {waited:.2f} s (one after the other)")

        # Pipelined the other way: /healthz first, the waiting assign behind it.
        connection.send(HEALTHZ + assign("pk", "0.3"))
        first, second = connection.response(), connection.response()
        checks.check(first[0] == 200 and second[0] == 404, f"/healthz then a waiting assign on one connection: {first[0]}, {second[0]}")

        # Every request is answered here, not only waits: four of every kind in one write, a body
        # among them, answered in order.
        batch = b'{"count": 2}'
        connection.send(HEALTHZ + b"POST /pools/pb/tokens/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(batch)}\r\n\r\n".encode() + batch
                        + b"GET /pools/pb HTTP/1.1\r\nHost: t\r\n\r\n" + b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n")
        answers = [connection.response() for _ in range(4)]
        stats = json.loads(answers[2][2]) if answers[2][0] == 200 else {}
        checks.check([a[0] for a in answers] == [200, 201, 200, 404] and stats.get("total") == 2
                     and answers[3][1].get("content-type") == "application/problem+json",
                     f"/healthz, a batch, the pool's stats and an unknown route in one write: {[a[0] for a in answers]}, total {stats.get('total')}")

        # A body sent in chunks, in two writes.
        connection.send(b"POST /pools/pb/tokens/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n6\r\n{\"coun\r\n")
        time.sleep(0.1)
        connection.send(b"6\r\nt\": 3}\r\n0\r\n\r\n")
        chunked = connection.response()
        made = len(json.loads(chunked[2]).get("tokens", [])) if chunked[0] == 201 else 0
        checks.check(chunked[0] == 201 and made == 3, f"a chunked body in two writes: {chunked[0]}, {made} tokens")
        connection.close()

        # A request the decoder cannot read: Hummingbird's 400 (encoded by the parking handler,
        # which its write passes through), and the connection closes.
        broken = Connection(server.port)
        broken.send(b"GET /healthz HTTP/1.1\r\nHost t\r\nNo colon here\r\n\r\n")
        try:
            refused = broken.response()[0]
        except EOFError:
            refused = None
        checks.check(refused == 400 and broken.closed(), f"a head the decoder cannot read: {refused}, then the connection closes")
        broken.close()
        connection = Connection(server.port)

        # Served: the waiter gets the token freed, and its connection carries the next request.
        connection.close()
        connection = Connection(server.port)
        status, made = call(base, "POST", "/pools/pk/tokens")
        token = json.loads(made)["token"]
        status, held = call(base, "POST", "/pools/pk/tokens/assign")
        connection.send(assign("pk", "5"))
        time.sleep(0.3)
        call(base, "POST", f"/pools/pk/tokens/{token}/unblock")
        answer = connection.response()
        got = json.loads(answer[2]).get("token") if answer[0] == 200 else None
        connection.send(HEALTHZ)
        after = connection.response()
        checks.check(answer[0] == 200 and got == token and after[0] == 200,
                     f"the parked waiter got the token freed ({answer[0]}, {got == token}) and the connection served /healthz next ({after[0]})")
        connection.close()

        # A client that leaves leaves the queue, and the token freed after is not lost.
        call(base, "POST", "/pools/pk/tokens/assign")  # the token is held again
        leaving = Connection(server.port)
        leaving.send(assign("pk", "10"))
        time.sleep(0.3)
        status, queue = call(base, "GET", "/pools/pk/waiters")
        queued = len(json.loads(queue).get("waiters", []))
        leaving.close()
        deadline, left = time.monotonic() + 5, queued
        while time.monotonic() < deadline and left:
            time.sleep(0.1)
            left = len(json.loads(call(base, "GET", "/pools/pk/waiters")[1]).get("waiters", []))
        call(base, "POST", f"/pools/pk/tokens/{token}/unblock")
        stats = json.loads(call(base, "GET", "/pools/pk/stats")[1])
        checks.check(queued == 1 and left == 0 and stats.get("free") == 1,
                     f"a waiter whose client left is out of the queue ({queued} -> {left}) and the token freed is free ({stats.get('free')})")

        # The idle timeout (1 s) waits for a parked answer (2.5 s), and starts again after it.
        connection = Connection(server.port)
        started = time.monotonic()
        connection.send(assign("pk-empty", "2.5"))
        answer = connection.response()
        waited = time.monotonic() - started
        connection.send(HEALTHZ)
        after = connection.response()
        checks.check(answer[0] == 404 and waited >= 2.4 and after[0] == 200,
                     f"a 2.5 s wait past a 1 s idle timeout: {answer[0]} after {waited:.2f} s, the connection still open ({after[0]})")
        time.sleep(1.6)
        checks.check(connection.closed(), "and the idle timeout closes the connection once it is idle")
        connection.close()
        # A request's head that never ends is cut off by the idle timeout too.
        connection = Connection(server.port)
        started = time.monotonic()
        connection.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        checks.check(connection.ends() and 0.9 <= time.monotonic() - started < 3,
                     f"a head that never ends: closed by the idle timeout after {time.monotonic() - started:.2f} s")
        connection.close()

        # Connection: close is honoured; a body over --max-body-size is 413 at once.
        connection = Connection(server.port)
        connection.send(assign("pk-empty", "0.2", "Connection: close\r\n"))
        answer = connection.response()
        checks.check(answer[0] == 404 and connection.closed(), f"Connection: close: {answer[0]}, then the server closes")
        connection.close()
        connection = Connection(server.port)
        started = time.monotonic()
        connection.send(assign("pk-empty", "3", "Content-Type: application/json\r\n", b'{"holder": "' + b"x" * 100 + b'"}'))
        answer = connection.response()
        checks.check(answer[0] == 413 and time.monotonic() - started < 2, f"a waiting assign with a body over the limit: {answer[0]}, not a wait")
        connection.close()

        # A client that sends more than a body and a read while its wait is parked is cut off.
        connection = Connection(server.port)
        started = time.monotonic()
        big = b"x" * 80_000
        connection.send(assign("pk-empty", "5") + b"POST /pools/pk/tokens HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
        checks.check(connection.ends() and time.monotonic() - started < 3, "pipelining 80 KB behind a parked wait closes the connection")
        connection.close()

        # The metrics count the parked answers under their route and status.
        metrics = call(base, "GET", "/metrics")[1].decode()
        counted = [line for line in metrics.splitlines()
                   if line.startswith("hb_requests{") and "/pools/{pool}/tokens/assign" in line and 'status_code="404"' in line]
        count = sum(float(line.rsplit(" ", 1)[1]) for line in counted)
        checks.check(count >= 5, f"the metrics count the parked 404s ({count:.0f})")

    # An event stream parked on its connection: its pool's events; a shutdown ends it.
    with redis_server() as redis, tokenpool_server(binary, f"redis://127.0.0.1:{redis.port}") as server:
        for _ in range(3):
            call(server.base, "POST", "/pools/ps/tokens")
        listener = Connection(server.port)
        listener.send(b"GET /pools/ps/events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n")
        status_line = listener.reader.readline()
        while listener.reader.readline() not in (b"\r\n", b""):
            pass
        time.sleep(0.5)
        made = [json.loads(call(server.base, "POST", "/pools/ps/tokens/assign")[1])["token"] for _ in range(3)]
        seen: List[str] = []
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            line = listener.reader.readline()
            if line.startswith(b"data: ") and b'"assigned"' in line:
                seen.append(json.loads(line[6:])["token"])
        checks.check(b" 200 " in status_line and seen == made, f"a parked stream got its pool's 3 events in order ({len(seen)})")
        # An idle keep-alive connection (60 s idle timeout) is closed by the shutdown at once.
        idle = Connection(server.port)
        idle.send(HEALTHZ)
        served = idle.response()[0]
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        ended = listener.ends()
        idle_ended = idle.ends()
        code = server.process.wait(timeout=10)
        checks.check(ended and code == 0 and time.monotonic() - started < 5,
                     f"SIGTERM ends the parked stream and the server exits ({code}) in {time.monotonic() - started:.2f} s")
        checks.check(served == 200 and idle_ended, f"and closes an idle keep-alive connection ({served}, closed: {idle_ended})")
        listener.close()
        idle.close()

    # Keys: a waiting assign without one is 401 at once.
    with redis_server() as redis, tokenpool_server(binary, f"redis://127.0.0.1:{redis.port}", args=["--client-key", "k" * 32]) as server:
        connection = Connection(server.port)
        started = time.monotonic()
        connection.send(assign("pk", "3"))
        answer = connection.response()
        checks.check(answer[0] == 401 and time.monotonic() - started < 2, f"a waiting assign without a key: {answer[0]} at once")
        connection.send(assign("pk", "0.3", f"Authorization: Bearer {'k' * 32}\r\n"))
        answer = connection.response()
        checks.check(answer[0] == 404, f"with the key: {answer[0]} after its wait")
        connection.close()

    # Logs: at debug level each request's line carries its own hb.request.id (kept as a number
    # in the request's log handler, written as text only with a line).
    with tempfile.TemporaryFile() as log, redis_server() as redis, \
            tokenpool_server(binary, f"redis://127.0.0.1:{redis.port}", args=["--log-level", "debug", "--log-format", "json"],
                             stderr=log) as server:
        connection = Connection(server.port)
        for _ in range(2):
            connection.send(HEALTHZ)
            connection.response()
        connection.close()
        time.sleep(0.2)
        log.seek(0)
        lines = [json.loads(line) for line in log.read().decode().splitlines() if line.startswith("{")]
        ids = [line.get("hb.request.id") for line in lines if line.get("msg") == "Request" and "/healthz" in line.get("hb.request.path", "")]
        checks.check(len(ids) == 2 and all(ids) and ids[0] != ids[1],
                     f"each request's debug line has its own hb.request.id: {ids}")
    checks.finish()


if __name__ == "__main__":
    main()
