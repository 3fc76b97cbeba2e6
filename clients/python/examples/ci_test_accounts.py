"""Test accounts in CI: parallel jobs each borrow an account for their suite, queue when all are
taken, and a job that dies gives its account back by itself (its lease lapses).

The pool holds one token per test account (the credentials in the metadata). asyncio here, as in
a pytest-asyncio fixture; `hold(wait=...)` queues in the server, first come first served.

    TOKENPOOL_URL=http://localhost:8080 python ci_test_accounts.py
"""
from __future__ import annotations

import asyncio
import os
from typing import List, Set

from tokenpool import AsyncTokenPool

URL = os.environ.get("TOKENPOOL_URL", "http://localhost:8080")
POOL = os.environ.get("TOKENPOOL_POOL", "test-accounts")

in_use: Set[str] = set()
overlaps: List[str] = []


async def run_suite(job: int, tp: AsyncTokenPool) -> str:
    async with tp.hold(holder=f"ci-job-{job}", wait=60) as lease:
        account = (lease.token.metadata or {})["user"]
        if account in in_use:
            overlaps.append(account)
        in_use.add(account)
        await asyncio.sleep(0.2)  # The suite logs in as `account` and runs.
        in_use.discard(account)
        return account


async def main() -> None:
    async with AsyncTokenPool(URL, pool=POOL, key=os.environ.get("TOKENPOOL_ADMIN_KEY")) as admin:
        if (await admin.stats())["total"] == 0:
            await admin.generate(metadata=[{"user": f"qa-{i}@example.org", "password": "from-your-vault"} for i in range(3)])
    async with AsyncTokenPool(URL, pool=POOL, key=os.environ.get("TOKENPOOL_KEY")) as tp:
        accounts = await asyncio.gather(*(run_suite(job, tp) for job in range(8)))
    assert not overlaps, f"two jobs shared an account: {overlaps}"
    print(f"8 jobs on {len(set(accounts))} accounts, never two at once")


if __name__ == "__main__":
    asyncio.run(main())
