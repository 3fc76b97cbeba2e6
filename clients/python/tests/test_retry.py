"""Retries: a Redis restart under a call is waited out, and a retried generate makes one batch."""
from __future__ import annotations

import contextlib
import pathlib
import socket
import threading
import time

from conftest import BINARY

from tokenpool import TokenPool
from tokenpool_testing import TokenPoolServer, free_port, start_redis, stop, tokenpool_server


def test_calls_wait_out_a_redis_restart(tmp_path: pathlib.Path) -> None:
    port = free_port()
    redis = start_redis(port, str(tmp_path), appendfsync="always")
    try:
        with tokenpool_server(BINARY, f"redis://127.0.0.1:{port}") as server, TokenPool(server.base, pool="restart", timeout=15) as tp:
            tp.generate(3)
            for call in ("assign", "generate"):
                redis.kill()
                redis.wait()
                def restart() -> None:
                    nonlocal redis
                    time.sleep(1.5)
                    redis = start_redis(port, str(tmp_path), appendfsync="always")
                timer = threading.Thread(target=restart)
                timer.start()
                started = time.monotonic()
                if call == "assign":
                    held = tp.assign(holder="through-a-restart")
                    assert held.state == "assigned"
                else:
                    assert len(tp.generate(5)) == 5
                assert time.monotonic() - started >= 1.0, "the call waited for Redis"
                timer.join()
            stats = tp.stats()
            # One assignment and one batch of 5, however many tries each took.
            assert stats["total"] == 8 and stats["assigned"] == 1
    finally:
        stop(redis)


class DroppingProxy:
    """A TCP proxy in front of the server that can lose an answer: the request reaches the server
    (which acts on it), the connection is then cut before the answer reaches the client."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._drops = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next_answer(self) -> None:
        with self._lock:
            self._drops = 1

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, answers: bool) -> None:
        try:
            while data := source.recv(65536):
                if answers:
                    with self._lock:
                        drop, self._drops = self._drops > 0, max(0, self._drops - 1)
                    if drop:
                        break
                target.sendall(data)
        except OSError:
            pass
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()


def test_a_lost_answer_is_retried_without_taking_or_making_twice(server: TokenPoolServer, pool_name: str) -> None:
    proxy = DroppingProxy(server.port)
    try:
        with TokenPool(proxy.base, pool=pool_name) as tp, TokenPool(server.base, pool=pool_name) as direct:
            proxy.drop_next_answer()
            made = tp.generate(5)
            assert len(made) == 5 and direct.stats()["total"] == 5, "the retry replayed the batch (Idempotency-Key)"
            proxy.drop_next_answer()
            held = tp.assign(holder="once")
            assert held.state == "assigned" and direct.stats()["assigned"] == 1, "the retry got the same assignment"
            assert [t.token for t in direct.tokens(state="assigned")] == [held.token]
            proxy.drop_next_answer()
            freed = tp.unblock(held)
            assert freed.state == "free", "an unblock whose answer was lost answers the token as it is now"
            proxy.drop_next_answer()
            tp.delete(held)
            assert direct.stats()["total"] == 4, "a delete whose answer was lost is done"
    finally:
        proxy.close()
