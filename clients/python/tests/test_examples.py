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


def test_the_readme_python_example_runs(server: TokenPoolServer, pool_name: str) -> None:
    """The README's first Python block, as written, but for the server's address and the pool."""
    readme = (EXAMPLES.parents[2] / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'TokenPool("http://localhost:8080", pool="proxies")' in block
    source = block.replace("http://localhost:8080", server.base).replace('pool="proxies"', f'pool="{pool_name}"')
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "fetching through 10.0.0." in done.stdout
