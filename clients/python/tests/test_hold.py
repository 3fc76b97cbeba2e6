"""`hold`: the lease kept alive in the background, given back at the end, and reported lost at once."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
from typing import List, Tuple

import pytest
from conftest import BINARY

from tokenpool import LeaseLost, TokenPool
from tokenpool_testing import RedisServer, TokenPoolServer, tokenpool_server

LEASE_TTL = 1.5
# A loss must be reported within a third of the lease TTL (the next keep-alive) plus 1 s.
REPORT_WITHIN = LEASE_TTL / 3 + 1.0


def test_the_lease_outlives_its_ttl_and_goes_back_at_the_end(tp: TokenPool) -> None:
    tp.generate(1)
    tp.set_pool(leaseTTL=LEASE_TTL)
    with tp.hold(holder="long-job") as lease:
        time.sleep(LEASE_TTL * 2)
        assert not lease.lost
        assert tp.get(lease.token).state == "assigned"
        assert lease.token.lease_expires_in is not None and lease.token.lease_expires_in > LEASE_TTL / 2
    assert tp.get(lease.token).state == "free"


def test_an_exception_in_the_block_still_gives_the_token_back(tp: TokenPool) -> None:
    tp.generate(1)
    with pytest.raises(ValueError):
        with tp.hold() as lease:
            raise ValueError("the job failed")
    assert not lease.lost
    assert tp.get(lease.token).state == "free"


def _hold_until_lost(tp: TokenPool, end_it: str) -> Tuple[float, List[str]]:
    """Holds a token, ends its lease from outside (`end_it`), and times how long the loss took."""
    tp.generate(1)
    tp.set_pool(leaseTTL=LEASE_TTL)
    calls: List[str] = []
    with pytest.raises(LeaseLost) as lost:
        with tp.hold(on_lost=lambda: calls.append("on_lost")) as lease:
            if end_it == "delete":
                tp.delete(lease.token)
            else:  # Another gives the lease back and takes the token under a new one.
                tp.unblock(lease.token)
                assert tp.assign().token == lease.token.token
            ended = time.monotonic()
            assert lease.wait_lost(timeout=REPORT_WITHIN + 2)
            took = time.monotonic() - ended
            assert lease.lost and lease.reason is not None
    assert "lease" in str(lost.value)
    return took, calls


def test_a_deleted_token_is_reported_lost_at_the_next_keep_alive(tp: TokenPool) -> None:
    took, calls = _hold_until_lost(tp, "delete")
    assert took <= REPORT_WITHIN, f"lost after {took:.2f} s"
    assert calls == ["on_lost"]


def test_a_lease_ended_by_another_is_reported_lost_and_not_given_back(tp: TokenPool) -> None:
    took, calls = _hold_until_lost(tp, "reassigned")
    assert took <= REPORT_WITHIN, f"lost after {took:.2f} s"
    assert calls == ["on_lost"]
    # The other holder's lease stands: the lost hold did not unblock it.
    assert next(tp.tokens(state="assigned")).state == "assigned"


def test_no_keep_alive_before_the_deadline_is_a_loss(redis: RedisServer, pool_name: str) -> None:
    """The server stops answering (SIGSTOP): the lease is lost by its deadline, not later."""
    with tokenpool_server(BINARY, f"redis://127.0.0.1:{redis.port}") as server:
        with TokenPool(server.base, pool=pool_name, timeout=2) as tp:
            tp.generate(1)
            tp.set_pool(leaseTTL=LEASE_TTL)
            with pytest.raises(LeaseLost):
                with tp.hold() as lease:
                    assigned = time.monotonic()
                    os.kill(server.process.pid, signal.SIGSTOP)
                    try:
                        assert lease.wait_lost(timeout=LEASE_TTL + 2)
                        took = time.monotonic() - assigned
                    finally:
                        os.kill(server.process.pid, signal.SIGCONT)
                    assert took <= LEASE_TTL + 0.5, f"lost {took:.2f} s after the assign"
                    assert "deadline" in (lease.reason or "")


HOLDER = textwrap.dedent("""
    import sys, time
    from tokenpool import TokenPool
    base, pool, name, log = sys.argv[1:5]
    end = time.monotonic() + 3
    with TokenPool(base, pool=pool) as tp, open(log, "a") as out:
        while time.monotonic() < end:
            with tp.hold(holder=name, wait=10) as lease:
                start = time.monotonic_ns()
                time.sleep(0.03)
                out.write(f"{start} {time.monotonic_ns()} {name}\\n")
                out.flush()
""")


def test_two_processes_holding_from_one_pool_never_overlap(server: TokenPoolServer, tp: TokenPool, tmp_path: pathlib.Path) -> None:
    tp.generate(1)
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    log = tmp_path / "holds.log"
    workers = [subprocess.Popen([sys.executable, str(script), server.base, tp.pool, f"worker-{i}", str(log)]) for i in range(2)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    holds = sorted((int(a), int(b), who) for a, b, who in (line.split() for line in log.read_text().splitlines()))
    assert {who for _, _, who in holds} == {"worker-0", "worker-1"}
    assert len(holds) > 10
    for (_, end, first), (start, _, second) in zip(holds, holds[1:]):
        assert end <= start, f"{first} and {second} held the one token at once"
