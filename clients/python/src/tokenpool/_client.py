"""`TokenPool`: the blocking client, on `httpx.Client`s (connection pools, thread-safe)."""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Type, TypeVar, Union

import httpx

from . import _calls
from ._calls import Call, TokenLike
from ._errors import TokenPoolError
from ._hold import Lease, logger
from ._models import Token

__all__ = ["TokenPool"]

T = TypeVar("T")
Verify = Union[bool, str, Any]


class TokenPool(_calls.Endpoint):
    """A pool of a TokenPool server.

        with TokenPool("http://localhost:8080", pool="proxies", key=os.environ["TOKENPOOL_KEY"]) as tp:
            with tp.hold(holder="crawler-1") as lease:
                crawl(lease.token.metadata["proxy"])

    `timeout` bounds each call, retries included: a 503 or a failed connection is tried again with
    backoff (as long as `Retry-After` says, when it says) until then. Assign and generate send an
    `Idempotency-Key`, so a retry never takes a second token or makes a second batch. `verify` is
    httpx's: `True`, a CA bundle's path (a private CA's certificate) or an `ssl.SSLContext`.
    """

    def __init__(
        self,
        url: str,
        pool: str = "default",
        key: Optional[str] = None,
        timeout: float = 10.0,
        *,
        verify: Verify = True,
        http: Optional[httpx.Client] = None,
    ) -> None:
        super().__init__(url, pool, key, timeout)
        self._owns_http = http is None
        if http is None:
            verification = _calls.verification(verify)
            self._http = httpx.Client(base_url=self.url, verify=verification, timeout=timeout)
            # Waiting assigns on connections of their own: see `_calls.Endpoint`.
            self._waiting = httpx.Client(base_url=self.url, verify=verification, timeout=timeout, limits=_calls.WAITING_LIMITS)
        else:
            self._http = self._waiting = http

    # ----- lifetime -----

    def close(self) -> None:
        """Closes the connection pools (only those this client made)."""
        if self._owns_http:
            self._http.close()
            self._waiting.close()

    def __enter__(self) -> TokenPool:
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], error: Optional[BaseException], trace: Optional[TracebackType]) -> None:
        self.close()

    def with_pool(self, pool: str) -> TokenPool:
        """The same server, key and connections, another pool."""
        other = TokenPool(self.url, pool, timeout=self.timeout, http=self._http)
        other._waiting = self._waiting
        other._headers = self._headers
        return other

    # ----- sending -----

    def _send(self, call: Call[T], deadline: Optional[float] = None) -> T:
        """`call`, tried again on a 503, a failed connection and the like until `timeout` (or `deadline`) passes."""
        attempts = _calls.Attempts(call, self.url, self._headers, self.timeout, deadline)
        http = self._waiting if call.server_wait else self._http
        while True:
            try:
                return attempts.answer(http.request(**attempts.request()))
            except _calls.Again as again:
                time.sleep(again.delay)
            except _calls.FollowUp as follow_up:
                followed: T = self._send(follow_up.call, attempts.deadline)
                return followed
            except httpx.TransportError as error:
                time.sleep(attempts.failed(error).delay)

    # ----- tokens -----

    def generate(self, count: int = 1, metadata: Union[None, Mapping[str, Any], List[Mapping[str, Any]]] = None) -> List[Token]:
        """`count` new free tokens (admin key); `metadata` one object for each, or a list of one per token."""
        return self._send(self._calls.generate(count, metadata))

    def assign(self, holder: Optional[str] = None, wait: Optional[float] = None, *, priority: Optional[int] = None) -> Token:
        """A random free token under a new lease. `wait` seconds: queue for one that long.
        Raises `NoFreeToken` when none is free (within the wait)."""
        return self._send(self._calls.assign(holder, wait, None, priority))[0]

    def assign_many(self, count: int, holder: Optional[str] = None, wait: Optional[float] = None, *, priority: Optional[int] = None) -> List[Token]:
        """`count` tokens at once, all or none, each under its own lease."""
        return self._send(self._calls.assign(holder, wait, count, priority))

    def keep_alive(self, token: TokenLike, lease: Optional[int] = None) -> Token:
        """The token's life, and its lease (a `Token`'s own, or `lease`), start again."""
        return self._send(self._calls.keep_alive(token, lease))

    def unblock(self, token: TokenLike, lease: Optional[int] = None, *, cooldown: Optional[float] = None,
                outcome: Optional[str] = None) -> Token:
        """Gives the token back. `cooldown` seconds of rest first; `outcome` `success` or `failure`
        (reports to the pool's health). A retry that finds its first try went through answers the
        token as it is now."""
        return self._send(self._calls.unblock(token, lease, cooldown, outcome))

    def disable(self, token: TokenLike, reason: Optional[str] = None, *, lease: Optional[int] = None) -> Token:
        """Takes the token out of service until enabled (admin key; a holder with its `lease`)."""
        return self._send(self._calls.disable(token, reason, lease))

    def enable(self, token: TokenLike) -> Token:
        return self._send(self._calls.enable(token))

    def delete(self, token: TokenLike) -> None:
        self._send(self._calls.delete(token))

    def get(self, token: TokenLike) -> Token:
        return self._send(self._calls.get(token))

    def set_metadata(self, token: TokenLike, metadata: Optional[Mapping[str, Any]]) -> Token:
        return self._send(self._calls.set_metadata(token, metadata))

    def tokens(self, state: str = "all", page_size: int = 100) -> Iterator[Token]:
        """Every token in `state` (`all`, `free`, `assigned`, `cooling`, `disabled`), page by page."""
        cursor: Optional[str] = None
        while True:
            page = self._send(self._calls.page(state, page_size, cursor))
            yield from self._calls.read_page(page)
            cursor = page.get("next")
            if not cursor:
                return

    # ----- pools -----

    def stats(self) -> Dict[str, Any]:
        return self._send(self._calls.stats())

    def waiters(self) -> Dict[str, Any]:
        return self._send(self._calls.waiters())

    def pool_info(self) -> Dict[str, Any]:
        return self._send(self._calls.pool_info())

    def pools(self, page_size: int = 100) -> List[Dict[str, Any]]:
        """Every pool the key may see, with its counts and settings."""
        found: List[Dict[str, Any]] = []
        cursor: Optional[str] = None
        while True:
            page = self._send(_calls.pools_page(page_size, cursor))
            found += page["pools"]
            cursor = page.get("next")
            if not cursor:
                return found

    def set_pool(self, leaseTTL: Optional[float] = None, keepAliveTTL: Optional[float] = None, **settings: Any) -> Dict[str, Any]:
        """Replaces the pool's own settings (`leaseTTL`, `keepAliveTTL`, `cooldown`, `maxFailures`,
        `quarantine`, `rateLimit`, `maxPerHolder`); one left out goes back to the default."""
        return self._send(self._calls.set_pool(_calls.pool_settings(leaseTTL, keepAliveTTL, settings)))

    def delete_pool(self) -> None:
        self._send(self._calls.delete_pool())

    # ----- hold -----

    @contextlib.contextmanager
    def hold(self, holder: Optional[str] = None, wait: Optional[float] = None, *,
             on_lost: Optional[Callable[[], object]] = None) -> Iterator[Lease]:
        """Assigns a token, keeps its lease alive from a daemon thread, and unblocks it at the end,
        also on an exception. If the lease is lost under the block, `lease.lost` turns True,
        `lease.on_lost` runs at once (from the thread), and the block's end raises `LeaseLost`."""
        sent_at = time.monotonic()
        lease = Lease(self.assign(holder, wait), sent_at, on_lost)
        stop = threading.Event()
        thread = threading.Thread(target=self._keep, args=(lease, stop), name=f"tokenpool-keep-alive-{lease.token.token[:6]}", daemon=True)
        thread.start()
        failure: Optional[BaseException] = None
        try:
            yield lease
        except BaseException as error:
            failure = error
            raise
        finally:
            stop.set()
            # A keep-alive in flight (to a server that does not answer) may take up to what is
            # left of the lease: the block does not wait for it; the thread drops its answer.
            thread.join(timeout=1.0)
            if not lease.lost:
                try:
                    self.unblock(lease.token, cooldown=lease.cooldown, outcome=lease.outcome)
                except TokenPoolError as error:
                    logger.warning("Could not give back token %s of pool %s: %s", lease.token.token, lease.token.pool, error)
            if lease.lost:
                raise lease.lost_error() from failure

    def _keep(self, lease: Lease, stop: threading.Event) -> None:
        pause = lease.interval()
        while not stop.wait(pause):
            sent_at = time.monotonic()
            try:
                kept = self._send(self._calls.keep_alive(lease.token, None), deadline=sent_at + max(0.05, lease.time_left()))
                if stop.is_set():
                    return
                lease.kept(kept, sent_at)
                pause = lease.interval()
            except TokenPoolError as error:
                if stop.is_set() or lease.failed(error):
                    return
                pause = lease.retry_pause()
            except Exception as error:  # A bug of ours must not leave the block running unwatched.
                lease.lose(f"the keep-alive thread failed: {error!r}")
                return
