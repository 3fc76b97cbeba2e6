"""`AsyncTokenPool`: the same calls for asyncio, and 200 holds at once on one client."""
from __future__ import annotations

import asyncio
import time
from typing import Dict, List, Set

import pytest

from tokenpool import AsyncTokenPool, LeaseLost, NoFreeToken
from tokenpool_testing import TokenPoolServer


async def test_calls_and_cursors(server: TokenPoolServer, pool_name: str) -> None:
    async with AsyncTokenPool(server.base, pool=pool_name) as tp:
        made = {t.token for t in await tp.generate(150)}
        assert {t.token async for t in tp.tokens(page_size=64)} == made
        held = await tp.assign(holder="async")
        assert held.holder == "async" and (await tp.keep_alive(held)).lease == held.lease
        assert (await tp.stats())["assigned"] == 1
        await tp.unblock(held)
        await tp.delete(held)
        assert (await tp.stats())["total"] == 149


async def test_two_hundred_concurrent_holds_never_share_a_token(server: TokenPoolServer, pool_name: str) -> None:
    tokens = 40
    async with AsyncTokenPool(server.base, pool=pool_name, max_connections=220, timeout=30) as tp:
        await tp.generate(tokens)
        # Room for a slow give-back on a loaded machine: the client's own CPU (httpx's pool does
        # work for every connection on every request) is what is slow here, not the server. Lost
        # leases have tests of their own.
        await tp.set_pool(leaseTTL=10)
        in_use: Set[str] = set()
        shared: List[str] = []
        held_by: Dict[str, int] = {}

        async def worker(number: int) -> None:
            async with tp.hold(holder=f"task-{number}", wait=60) as lease:
                token = lease.token.token
                if token in in_use:
                    shared.append(token)
                in_use.add(token)
                held_by[token] = held_by.get(token, 0) + 1
                await asyncio.sleep(0.05)
                in_use.discard(token)

        started = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(200)))
        assert shared == [], f"tokens held twice at once: {shared}"
        assert sum(held_by.values()) == 200 and len(held_by) <= tokens
        assert (await tp.stats())["assigned"] == 0, "every hold gave its token back"
        assert time.monotonic() - started < 60


async def test_waits_never_take_the_connections_give_backs_need(server: TokenPoolServer, pool_name: str) -> None:
    # Twelve holds of one token on four connections. When waits and give-backs shared one pool,
    # the first four waits took every connection, the holder's give-back was never sent, and
    # every wait ran out: NoFreeToken.
    async with AsyncTokenPool(server.base, pool=pool_name, max_connections=4, timeout=30) as tp:
        await tp.generate(1)
        holders: List[str] = []

        async def worker(number: int) -> None:
            async with tp.hold(holder=f"task-{number}", wait=15):
                holders.append(f"task-{number}")
                await asyncio.sleep(0.01)

        await asyncio.gather(*(worker(n) for n in range(12)))
        assert sorted(holders) == sorted(f"task-{n}" for n in range(12))


async def test_an_async_hold_reports_a_lost_lease(server: TokenPoolServer, pool_name: str) -> None:
    async with AsyncTokenPool(server.base, pool=pool_name) as tp:
        await tp.generate(1)
        await tp.set_pool(leaseTTL=1.5)
        told: List[bool] = []
        with pytest.raises(LeaseLost):
            async with tp.hold(on_lost=lambda: told.append(True)) as lease:
                await tp.delete(lease.token)
                deleted = time.monotonic()
                while not lease.lost and time.monotonic() - deleted < 4:
                    await asyncio.sleep(0.02)
                assert time.monotonic() - deleted <= 1.5 / 3 + 1.0
        assert told == [True]
        with pytest.raises(NoFreeToken):
            await tp.assign()
