"""`AsyncTokenPool`: `TokenPool`'s methods for asyncio, on `httpx.AsyncClient`s."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType
from typing import Any, AsyncIterator, Callable, Dict, List, Mapping, Optional, Type, TypeVar, Union

import httpx

from . import _calls
from ._calls import Call, TokenLike
from ._client import Verify
from ._errors import TokenPoolError
from ._hold import Lease, logger
from ._models import Token

__all__ = ["AsyncTokenPool"]

T = TypeVar("T")


class AsyncTokenPool(_calls.Endpoint):
    """`TokenPool` for asyncio: the same methods, `async`; `tokens()` is an async iterator and
    `hold()` an async context manager whose keep-alives run in a task.

        async with AsyncTokenPool("http://localhost:8080", pool="accounts") as tp:
            async with tp.hold(holder="ci-42") as lease:
                await run_tests(lease.token.metadata)
    """

    def __init__(
        self,
        url: str,
        pool: str = "default",
        key: Optional[str] = None,
        timeout: float = 10.0,
        *,
        verify: Verify = True,
        http: Optional[httpx.AsyncClient] = None,
        max_connections: int = 100,
    ) -> None:
        super().__init__(url, pool, key, timeout)
        self._owns_http = http is None
        if http is None:
            limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
            verification = _calls.verification(verify)
            self._http = httpx.AsyncClient(base_url=self.url, verify=verification, timeout=timeout, limits=limits)
            # Waiting assigns on connections of their own: see `_calls.Endpoint`.
            waiting = httpx.Limits(max_connections=max_connections, max_keepalive_connections=_calls.WAITING_LIMITS.max_keepalive_connections)
            self._waiting = httpx.AsyncClient(base_url=self.url, verify=verification, timeout=timeout, limits=waiting)
        else:
            self._http = self._waiting = http

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
            await self._waiting.aclose()

    async def __aenter__(self) -> AsyncTokenPool:
        return self

    async def __aexit__(self, kind: Optional[Type[BaseException]], error: Optional[BaseException], trace: Optional[TracebackType]) -> None:
        await self.aclose()

    def with_pool(self, pool: str) -> AsyncTokenPool:
        other = AsyncTokenPool(self.url, pool, timeout=self.timeout, http=self._http)
        other._waiting = self._waiting
        other._headers = self._headers
        return other

    async def _send(self, call: Call[T], deadline: Optional[float] = None) -> T:
        """`call`, tried again on a 503, a failed connection and the like until `timeout` (or `deadline`) passes."""
        attempts = _calls.Attempts(call, self.url, self._headers, self.timeout, deadline)
        http = self._waiting if call.server_wait else self._http
        while True:
            try:
                return attempts.answer(await http.request(**attempts.request()))
            except _calls.Again as again:
                await asyncio.sleep(again.delay)
            except _calls.FollowUp as follow_up:
                followed: T = await self._send(follow_up.call, attempts.deadline)
                return followed
            except httpx.TransportError as error:
                await asyncio.sleep(attempts.failed(error).delay)

    async def generate(self, count: int = 1, metadata: Union[None, Mapping[str, Any], List[Mapping[str, Any]]] = None) -> List[Token]:
        return await self._send(self._calls.generate(count, metadata))

    async def assign(self, holder: Optional[str] = None, wait: Optional[float] = None, *, priority: Optional[int] = None) -> Token:
        return (await self._send(self._calls.assign(holder, wait, None, priority)))[0]

    async def assign_many(self, count: int, holder: Optional[str] = None, wait: Optional[float] = None, *,
                          priority: Optional[int] = None) -> List[Token]:
        return await self._send(self._calls.assign(holder, wait, count, priority))

    async def keep_alive(self, token: TokenLike, lease: Optional[int] = None) -> Token:
        return await self._send(self._calls.keep_alive(token, lease))

    async def unblock(self, token: TokenLike, lease: Optional[int] = None, *, cooldown: Optional[float] = None,
                      outcome: Optional[str] = None) -> Token:
        return await self._send(self._calls.unblock(token, lease, cooldown, outcome))

    async def disable(self, token: TokenLike, reason: Optional[str] = None, *, lease: Optional[int] = None) -> Token:
        return await self._send(self._calls.disable(token, reason, lease))

    async def enable(self, token: TokenLike) -> Token:
        return await self._send(self._calls.enable(token))

    async def delete(self, token: TokenLike) -> None:
        await self._send(self._calls.delete(token))

    async def get(self, token: TokenLike) -> Token:
        return await self._send(self._calls.get(token))

    async def set_metadata(self, token: TokenLike, metadata: Optional[Mapping[str, Any]]) -> Token:
        return await self._send(self._calls.set_metadata(token, metadata))

    async def tokens(self, state: str = "all", page_size: int = 100) -> AsyncIterator[Token]:
        cursor: Optional[str] = None
        while True:
            page = await self._send(self._calls.page(state, page_size, cursor))
            for token in self._calls.read_page(page):
                yield token
            cursor = page.get("next")
            if not cursor:
                return

    async def stats(self) -> Dict[str, Any]:
        return await self._send(self._calls.stats())

    async def waiters(self) -> Dict[str, Any]:
        return await self._send(self._calls.waiters())

    async def pool_info(self) -> Dict[str, Any]:
        return await self._send(self._calls.pool_info())

    async def pools(self, page_size: int = 100) -> List[Dict[str, Any]]:
        found: List[Dict[str, Any]] = []
        cursor: Optional[str] = None
        while True:
            page = await self._send(_calls.pools_page(page_size, cursor))
            found += page["pools"]
            cursor = page.get("next")
            if not cursor:
                return found

    async def set_pool(self, leaseTTL: Optional[float] = None, keepAliveTTL: Optional[float] = None, **settings: Any) -> Dict[str, Any]:
        return await self._send(self._calls.set_pool(_calls.pool_settings(leaseTTL, keepAliveTTL, settings)))

    async def delete_pool(self) -> None:
        await self._send(self._calls.delete_pool())

    @contextlib.asynccontextmanager
    async def hold(self, holder: Optional[str] = None, wait: Optional[float] = None, *,
                   on_lost: Optional[Callable[[], object]] = None) -> AsyncIterator[Lease]:
        """`TokenPool.hold` for asyncio: the keep-alives run in a task; `on_lost` is called from it."""
        sent_at = time.monotonic()
        lease = Lease(await self.assign(holder, wait), sent_at, on_lost)
        keeper = asyncio.ensure_future(self._keep(lease))
        failure: Optional[BaseException] = None
        try:
            yield lease
        except BaseException as error:
            failure = error
            raise
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            if not lease.lost:
                try:
                    await self.unblock(lease.token, cooldown=lease.cooldown, outcome=lease.outcome)
                except TokenPoolError as error:
                    logger.warning("Could not give back token %s of pool %s: %s", lease.token.token, lease.token.pool, error)
            if lease.lost:
                raise lease.lost_error() from failure

    async def _keep(self, lease: Lease) -> None:
        pause = lease.interval()
        while True:
            await asyncio.sleep(pause)
            sent_at = time.monotonic()
            try:
                token = await self._send(self._calls.keep_alive(lease.token, None), deadline=sent_at + max(0.05, lease.time_left()))
                lease.kept(token, sent_at)
                pause = lease.interval()
            except TokenPoolError as error:
                if lease.failed(error):
                    return
                pause = lease.retry_pause()
            except Exception as error:
                lease.lose(f"the keep-alive task failed: {error!r}")
                return
