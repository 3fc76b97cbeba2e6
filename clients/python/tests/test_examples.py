"""The patterns page's examples (clients/python/examples) run against a real server."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from tokenpool_testing import TokenPoolServer

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script, says", [
    ("rotating_api_keys.py", "60 calls over 4 keys"),
    ("proxy_pool_crawler.py", "quarantined: [{'proxy': '10.0.0.3:3128'}]"),
    ("ci_test_accounts.py", "8 jobs on 3 accounts, never two at once"),
])
def test_example(server: TokenPoolServer, pool_name: str, script: str, says: str) -> None:
    env = {**os.environ, "TOKENPOOL_URL": server.base, "TOKENPOOL_POOL": pool_name}
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert says in done.stdout, done.stdout
