"""A proxy pool for a crawler: each fetch goes out through a proxy no other worker is using, and a
proxy that keeps failing is quarantined by the pool, not retried by every worker in turn.

Each token is a proxy (its address in the metadata). A failed fetch gives the proxy back with
`outcome="failure"`; after `maxFailures` failures in a row the pool disables it for `quarantine`
seconds. The hold's lease means a crawler that dies mid-page frees its proxy a lease TTL later.

    TOKENPOOL_URL=http://localhost:8080 python proxy_pool_crawler.py
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

from tokenpool import TokenPool

URL = os.environ.get("TOKENPOOL_URL", "http://localhost:8080")
POOL = os.environ.get("TOKENPOOL_POOL", "proxies")
BROKEN = "10.0.0.3:3128"


def fetch(url: str, proxy: str) -> bool:
    """Stands in for `httpx.get(url, proxy=f"http://{proxy}")`: one proxy refuses every connection."""
    return proxy != BROKEN


def crawl(tp: TokenPool, url: str) -> str:
    while True:
        with tp.hold(holder="crawler", wait=10) as lease:
            proxy = (lease.token.metadata or {})["proxy"]
            if fetch(url, proxy):
                lease.outcome = "success"
                return proxy
            lease.outcome = "failure"  # Counts toward the proxy's quarantine; try the next one.


def main() -> None:
    with TokenPool(URL, pool=POOL, key=os.environ.get("TOKENPOOL_ADMIN_KEY")) as admin:
        if admin.stats()["total"] == 0:
            admin.generate(metadata=[{"proxy": f"10.0.0.{i}:3128"} for i in range(1, 6)])
        admin.set_pool(maxFailures=2, quarantine=300)
    with TokenPool(URL, pool=POOL, key=os.environ.get("TOKENPOOL_KEY")) as tp:
        urls: List[str] = [f"https://example.org/page/{n}" for n in range(100)]
        with ThreadPoolExecutor(max_workers=4) as crawlers:
            used: Dict[str, int] = {}
            for proxy in crawlers.map(lambda url: crawl(tp, url), urls):
                used[proxy] = used.get(proxy, 0) + 1
        quarantined = [t.metadata for t in tp.tokens(state="disabled")]
    print(f"100 pages through {sorted(used)}; quarantined: {quarantined}")


if __name__ == "__main__":
    main()
