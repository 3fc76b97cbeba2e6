"""Rotating API keys with rate limits: each worker takes whichever key is free, and a key the
upstream throttled rests before anyone gets it again.

The pool holds one token per upstream API key, the key itself in the token's metadata. The
pool's rate budget (`rateLimit`) keeps each key under the upstream's quota across every worker;
a 429 from the upstream rests that key (`lease.cooldown`) instead of handing it straight on.

    TOKENPOOL_URL=http://localhost:8080 python rotating_api_keys.py
"""
from __future__ import annotations

import os
import random
import threading
from collections import Counter
from typing import Dict

from tokenpool import TokenPool

URL = os.environ.get("TOKENPOOL_URL", "http://localhost:8080")
POOL = os.environ.get("TOKENPOOL_POOL", "llm-keys")

used: Counter[str] = Counter()
lock = threading.Lock()


def call_upstream(api_key: str) -> int:
    """Stands in for the real API call: now and then the upstream says 429."""
    return 429 if random.random() < 0.1 else 200


def worker(tp: TokenPool, name: str, requests: int) -> None:
    for _ in range(requests):
        with tp.hold(holder=name, wait=10) as lease:
            metadata: Dict[str, str] = lease.token.metadata or {}
            status = call_upstream(metadata["apiKey"])
            with lock:
                used[metadata["name"]] += 1
            if status == 429:
                lease.cooldown = 0.2  # This key rests; the next worker gets another.


def main() -> None:
    with TokenPool(URL, pool=POOL, key=os.environ.get("TOKENPOOL_ADMIN_KEY")) as admin:
        if admin.stats()["total"] == 0:
            admin.generate(metadata=[{"name": f"key-{i}", "apiKey": f"sk-example-{i}"} for i in range(4)])
        # At most 50 assignments of each key a second, whoever asks.
        admin.set_pool(rateLimit={"assigns": 50, "per": 1})
    with TokenPool(URL, pool=POOL, key=os.environ.get("TOKENPOOL_KEY")) as tp:
        threads = [threading.Thread(target=worker, args=(tp, f"worker-{i}", 10)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print(f"60 calls over {len(used)} keys: {dict(sorted(used.items()))}")


if __name__ == "__main__":
    main()
