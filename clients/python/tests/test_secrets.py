"""The client never prints or logs a key: not in logs (any logger, DEBUG), output, errors or reprs."""
from __future__ import annotations

import logging

import pytest
from conftest import ADMIN_KEY

from tokenpool import LeaseLost, TokenPool, Unauthorized
from tokenpool_testing import TokenPoolServer


def test_no_key_in_logs_output_errors_or_reprs(keyed_server: TokenPoolServer, pool_name: str, caplog: pytest.LogCaptureFixture,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    wrong = "wrong-" + ADMIN_KEY[::-1]
    caplog.set_level(logging.DEBUG)
    seen = []
    with TokenPool(keyed_server.base, pool=pool_name, key=wrong) as bad:
        with pytest.raises(Unauthorized) as refused:
            bad.stats()
        seen += [str(refused.value), repr(refused.value), repr(bad)]
    with TokenPool(keyed_server.base, pool=pool_name, key=ADMIN_KEY) as tp:
        tp.generate(1)
        tp.set_pool(leaseTTL=1.5)
        with pytest.raises(LeaseLost) as lost:
            with tp.hold() as lease:
                tp.delete(lease.token)
                assert lease.wait_lost(3)
        seen += [str(lost.value), repr(lost.value), repr(lease), repr(tp), repr(lease.token)]
    out, err = capsys.readouterr()
    text = "\n".join(seen + [out, err, caplog.text])
    assert "Lease lost" in caplog.text, "the loss was logged"
    assert "httpx" in caplog.text or "HTTP Request" in caplog.text, "DEBUG logging of the HTTP layer was captured"
    for key in (ADMIN_KEY, wrong):
        assert key not in text
