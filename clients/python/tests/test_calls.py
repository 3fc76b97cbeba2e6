"""Every call against a real server: what it answers, and the error each refusal raises."""
from __future__ import annotations

import datetime

import pytest
from conftest import ADMIN_KEY, CLIENT_KEY

from tokenpool import BadRequest, Forbidden, LeaseConflict, NoFreeToken, NotFound, Token, TokenPool, Unauthorized
from tokenpool_testing import TokenPoolServer


def test_a_token_goes_round_with_its_lease(tp: TokenPool, pool_name: str) -> None:
    made = tp.generate(2, metadata={"proxy": "10.0.0.7:3128"})
    assert len(made) == 2 and all(t.state == "free" and t.pool == pool_name for t in made)
    held = tp.assign(holder="worker-7")
    assert held.state == "assigned" and held.holder == "worker-7" and held.lease is not None
    assert held.metadata == {"proxy": "10.0.0.7:3128"}
    assert held.lease_expires_in is not None and 50 < held.lease_expires_in <= 60
    assert held.lease_expires_at is not None and held.lease_expires_at.tzinfo is not None
    assert isinstance(held.expires_at, datetime.datetime) and held.raw["token"] == held.token
    kept = tp.keep_alive(held)
    assert kept.lease == held.lease and kept.state == "assigned"
    freed = tp.unblock(held)
    assert freed.state == "free" and freed.holder is None
    assert tp.get(held.token).state == "free"
    with pytest.raises(LeaseConflict) as conflict:
        tp.keep_alive(held.token, lease=held.lease)
    assert conflict.value.status == 409
    tp.delete(held)
    with pytest.raises(NotFound):
        tp.get(held)


def test_assign_on_an_empty_pool_is_no_free_token_and_waits_when_asked(tp: TokenPool) -> None:
    with pytest.raises(NoFreeToken) as none:
        tp.assign()
    assert none.value.status == 404 and isinstance(none.value, NotFound)
    with pytest.raises(NoFreeToken):
        tp.assign(wait=0.3)


def test_assign_many_takes_all_or_none(tp: TokenPool) -> None:
    tp.generate(3)
    with pytest.raises(NoFreeToken):
        tp.assign_many(4)
    taken = tp.assign_many(3, holder="batch")
    assert len({t.token for t in taken}) == 3 and all(t.holder == "batch" for t in taken)


def test_tokens_follows_cursors_and_stats_count(tp: TokenPool) -> None:
    made = {t.token for t in tp.generate(250)}
    assert {t.token for t in tp.tokens(page_size=100)} == made
    held = tp.assign()
    assert [t.token for t in tp.tokens(state="assigned")] == [held.token]
    stats = tp.stats()
    assert stats["total"] == 250 and stats["assigned"] == 1 and stats["free"] == 249


def test_pool_settings_cooldown_health_and_metadata(tp: TokenPool, pool_name: str) -> None:
    tp.generate(1)
    settings = tp.set_pool(leaseTTL=5, keepAliveTTL=30, maxFailures=2)
    assert settings["leaseTTL"] == 5 and settings["keepAliveTTL"] == 30 and settings["maxFailures"] == 2
    assert tp.pool_info()["leaseTTL"] == 5
    assert any(p["pool"] == pool_name for p in tp.pools())
    held = tp.assign()
    assert held.lease_expires_in is not None and held.lease_expires_in <= 5
    rested = tp.unblock(held, cooldown=30)
    assert rested.state == "cooling" and rested.available_at is not None
    with pytest.raises(NoFreeToken):
        tp.assign()
    disabled = tp.disable(held, reason="proxy refuses connections")
    assert disabled.state == "disabled" and disabled.reason == "proxy refuses connections"
    assert tp.enable(held).state == "free"
    assert tp.set_metadata(held, {"proxy": "10.0.0.8:3128"}).metadata == {"proxy": "10.0.0.8:3128"}
    tp.delete_pool()
    with pytest.raises(NotFound):
        tp.pool_info()


def test_bad_input_is_bad_request(tp: TokenPool) -> None:
    with pytest.raises(BadRequest) as bad:
        tp.get("not a token")
    assert bad.value.status == 400 and bad.value.code and "400" in str(bad.value)
    with pytest.raises(BadRequest):
        tp.set_pool(leaseTTL=-1)


def test_keys_and_roles(keyed_server: TokenPoolServer, pool_name: str) -> None:
    with TokenPool(keyed_server.base, pool=pool_name) as anonymous:
        with pytest.raises(Unauthorized):
            anonymous.stats()
    with TokenPool(keyed_server.base, pool=pool_name, key=CLIENT_KEY) as client, \
            TokenPool(keyed_server.base, pool=pool_name, key=ADMIN_KEY) as admin:
        with pytest.raises(Forbidden) as forbidden:
            client.generate(1)
        assert forbidden.value.code == "forbidden"
        admin.generate(1)
        held = client.assign()
        assert isinstance(held, Token)
        client.unblock(held)


def test_tokens_of_another_pool_share_the_connections(tp: TokenPool) -> None:
    other = tp.with_pool(tp.pool + "-b")
    other.generate(1)
    assert other.stats()["total"] == 1 and tp.stats()["total"] == 0
