"""HTTPS with a private CA: trusted when given, refused at once (not retried) when not."""
from __future__ import annotations

import pathlib
import time

import pytest
from conftest import BINARY

from tokenpool import TokenPool, TokenPoolError, Unavailable
from tokenpool_testing import RedisServer, make_certificates, tokenpool_server


def test_https_with_a_given_ca(redis: RedisServer, tmp_path: pathlib.Path, pool_name: str) -> None:
    ca, cert, key = make_certificates(tmp_path, "py")
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    with tokenpool_server(BINARY, f"redis://127.0.0.1:{redis.port}", args=args, wait=False) as server:
        base = f"https://127.0.0.1:{server.port}"
        with TokenPool(base, pool=pool_name, verify=str(ca)) as tp:
            deadline = time.monotonic() + 20
            while True:
                try:
                    tp.generate(1)
                    break
                except Unavailable:
                    assert time.monotonic() < deadline, "the TLS server did not come up"
            held = tp.assign()
            assert held.state == "assigned"
            tp.unblock(held)
        with TokenPool(base, pool=pool_name, timeout=10) as untrusting:
            started = time.monotonic()
            with pytest.raises(TokenPoolError) as refused:
                untrusting.stats()
            assert not isinstance(refused.value, Unavailable) and "TLS" in str(refused.value)
            assert time.monotonic() - started < 2, "a certificate error is not retried"
