"""Real servers for the client's tests: one redis-server and one tokenpool server for the session
(each test on pools of its own), and helpers for the tests that need their own."""
from __future__ import annotations

import os
import pathlib
import sys
import uuid
from typing import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "Tests" / "support"))

from tokenpool_testing import RedisServer, TokenPoolServer, redis_server, tokenpool_server  # noqa: E402

from tokenpool import TokenPool  # noqa: E402

BINARY = os.environ.get("TOKENPOOL_BINARY", str(ROOT / ".build" / "debug" / "tokenpool"))
ADMIN_KEY = "admin-" + uuid.uuid4().hex
CLIENT_KEY = "client-" + uuid.uuid4().hex


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def server(redis: RedisServer) -> Iterator[TokenPoolServer]:
    """Open: no keys."""
    with tokenpool_server(BINARY, f"redis://127.0.0.1:{redis.port}") as server:
        yield server


@pytest.fixture(scope="session")
def keyed_server(redis: RedisServer) -> Iterator[TokenPoolServer]:
    """With one admin and one client key, on the same Redis."""
    args = ["--admin-key", ADMIN_KEY, "--client-key", CLIENT_KEY]
    with tokenpool_server(BINARY, f"redis://127.0.0.1:{redis.port}", args=args) as server:
        yield server


@pytest.fixture
def pool_name() -> str:
    return "py-" + uuid.uuid4().hex[:12]


@pytest.fixture
def tp(server: TokenPoolServer, pool_name: str) -> Iterator[TokenPool]:
    with TokenPool(server.base, pool=pool_name) as client:
        yield client
