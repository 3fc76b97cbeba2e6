"""Each operation as data: its request, how to read its answer, and whether to try again.

`TokenPool` and `AsyncTokenPool` send the same `Call`s, one with `httpx.Client`, the other with
`httpx.AsyncClient`; everything but the sending lives here, once.
"""

from __future__ import annotations

import dataclasses
import random
import ssl
import time
import uuid
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, TypeVar, Union
from urllib.parse import quote

import httpx

from ._errors import LeaseConflict, NotFound, TokenPoolError, Unavailable, error_for
from ._models import Token
from ._version import __version__

T = TypeVar("T")

#: A token as its string or as the `Token` an earlier call answered (whose lease is then used).
TokenLike = Union[str, Token]

# Backoff between retries without a Retry-After: 0.1 s doubling to 2 s, with full jitter.
_FIRST_DELAY = 0.1
_MAX_DELAY = 2.0


@dataclasses.dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: Any = None
    #: Sent as `Idempotency-Key`, the same on every retry, so a retry never takes or makes twice.
    idempotency_key: Optional[str] = None
    #: A 404 on assign means no free token.
    is_assign: bool = False
    #: The seconds the server may hold the request before it answers (a waiting assign's `wait`).
    server_wait: float = 0.0
    #: After a retry, a 404 or 409 may be the first try's success (a DELETE, an unblock): then
    #: this is the answer instead of the error...
    if_gone_after_retry: Optional[Callable[[], T]] = None
    #: ... or this call's (the token as it is now, for an unblock).
    follow_up: Optional[Call[T]] = None


class FollowUp(Exception, Generic[T]):
    """The answer is `call`'s: send it instead (see `Call.follow_up`)."""

    def __init__(self, call: Call[T]) -> None:
        super().__init__(call.path)
        self.call = call


class Retry(Exception):
    """The answer asks for another try after `delay` seconds (if the deadline allows)."""

    def __init__(self, error: TokenPoolError, delay: Optional[float]) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay = delay


def backoff(attempt: int) -> float:
    """The pause before try `attempt + 1` when the server named none: full jitter, capped."""
    return random.uniform(0, min(_MAX_DELAY, _FIRST_DELAY * 2 ** (attempt - 1)))


def next_delay(retry: Retry, attempt: int, deadline: float) -> Optional[float]:
    """How long to sleep before the next try, or None when the deadline leaves no time for it."""
    delay = retry.delay if retry.delay is not None else backoff(attempt)
    if time.monotonic() + delay >= deadline:
        return None
    return delay


def verification(verify: Any) -> Any:
    """httpx's `verify`, with a CA file's path made into an `ssl.SSLContext` (what httpx asks for)."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


def is_tls_failure(error: BaseException) -> bool:
    """A certificate the client does not trust, or a TLS handshake that failed: not transient."""
    seen: Optional[BaseException] = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Again(Exception):
    """Sleep `delay` seconds, then send the call again."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


class Attempts(Generic[T]):
    """One call's tries, for either client: the request's arguments, and for each answer or
    connection error the value, the error to raise, `Again` or `FollowUp`."""

    def __init__(self, call: Call[T], url: str, headers: Mapping[str, str], timeout: float, deadline: Optional[float]) -> None:
        self.call = call
        self.url = url
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else time.monotonic() + timeout + call.server_wait
        self.headers = {**headers, **({"Idempotency-Key": call.idempotency_key} if call.idempotency_key else {})}
        self.attempt = 0

    def request(self) -> Dict[str, Any]:
        """The next try's arguments for `httpx.Client.request`, its timeout what is left."""
        self.attempt += 1
        left = max(0.05, self.deadline - time.monotonic())
        call = self.call
        return {"method": call.method, "url": call.path, "params": call.params, "json": call.body, "headers": self.headers,
                "timeout": httpx.Timeout(left, connect=min(left, self.timeout))}

    def answer(self, response: httpx.Response) -> T:
        try:
            return outcome(self.call, response, self.attempt)
        except Retry as retry:
            delay = next_delay(retry, self.attempt, self.deadline)
            if delay is None:
                raise retry.error from None
            raise Again(delay) from None

    def failed(self, error: httpx.TransportError) -> Again:
        """No answer: `Again`, or the error to raise once the deadline leaves no time."""
        if is_tls_failure(error):
            raise TokenPoolError(f"TLS with {self.url} failed: {error}") from error
        delay = next_delay(Retry(Unavailable(str(error)), None), self.attempt, self.deadline)
        if delay is None:
            raise Unavailable(f"no answer from {self.url} within {self.timeout:g} s: {type(error).__name__}") from error
        return Again(delay)


def outcome(call: Call[T], response: httpx.Response, attempt: int) -> T:
    """The call's value for `response`, or its error raised; `Retry` for a 503, a 429 that names
    its wait, or a 409 `idempotency-key-in-use` (the first try is still running)."""
    if response.status_code < 300:
        return call.read(response)
    problem = _problem(response)
    retry_after = _retry_after(response)
    error = error_for(response.status_code, problem, retry_after, on_assign=call.is_assign)
    if response.status_code == 503 or (response.status_code == 429 and retry_after is not None):
        raise Retry(error, retry_after)
    if response.status_code == 409 and error.code == "idempotency-key-in-use":
        raise Retry(error, retry_after)
    if attempt > 1 and isinstance(error, (NotFound, LeaseConflict)):
        if call.if_gone_after_retry is not None:
            return call.if_gone_after_retry()
        if call.follow_up is not None:
            raise FollowUp(call.follow_up)
    raise error


def _problem(response: httpx.Response) -> Dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response) -> Optional[float]:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


# ----- the calls -----


def _segment(text: str) -> str:
    return quote(text, safe="")


def _token_text(token: TokenLike) -> str:
    return token.token if isinstance(token, Token) else token


def _lease_of(token: TokenLike, lease: Optional[int]) -> Optional[int]:
    if lease is not None:
        return lease
    return token.lease if isinstance(token, Token) else None


def _seconds(value: float) -> str:
    return format(value, "g")


# Waiting assigns (`wait=`) go on a connection pool of their own. On a shared one, as many waits
# as it has connections would take them all, and the give-backs and keep-alives that would end
# those waits could not be sent until the waits ran out. Few of its connections are kept idle:
# httpcore's pool does work for each idle connection times all of them on every request (a burst
# of 200 holds spent most of its time there), and a wait outlasts a new connection by far.
WAITING_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=8)


class Endpoint:
    """What `TokenPool` and `AsyncTokenPool` both keep: the server, the pool and its calls, the
    key's header (never shown: not in `repr`), the timeout."""

    def __init__(self, url: str, pool: str, key: Optional[str], timeout: float) -> None:
        self.url = url.rstrip("/")
        self.pool = pool
        self.timeout = timeout
        self._calls = Calls(pool)
        self._headers = {"User-Agent": f"tokenpool-python/{__version__}"}
        if key is not None:
            self._headers["Authorization"] = f"Bearer {key}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, pool={self.pool!r})"


class Calls:
    """The calls of one pool."""

    def __init__(self, pool: str) -> None:
        self.pool = pool
        self.base = f"/pools/{_segment(pool)}"

    def _one(self, response: httpx.Response) -> Token:
        return Token.from_json(response.json(), self.pool)

    def _many(self, response: httpx.Response) -> List[Token]:
        return [Token.from_json(item, self.pool) for item in response.json()["tokens"]]

    def _token_path(self, token: TokenLike, action: str = "") -> str:
        return f"{self.base}/tokens/{_segment(_token_text(token))}" + (f"/{action}" if action else "")

    def generate(self, count: int, metadata: Any) -> Call[List[Token]]:
        if isinstance(metadata, list):
            body: Dict[str, Any] = {"metadata": metadata}
        else:
            body = {"count": count}
            if metadata is not None:
                body["metadata"] = metadata
        return Call("POST", f"{self.base}/tokens/batch", self._many, body=body, idempotency_key=str(uuid.uuid4()))

    def assign(self, holder: Optional[str], wait: Optional[float], count: Optional[int], priority: Optional[int]) -> Call[List[Token]]:
        params: Dict[str, str] = {}
        if wait is not None:
            params["wait"] = _seconds(wait)
        if count is not None:
            params["count"] = str(count)
        if priority is not None:
            params["priority"] = str(priority)
        read = self._many if count is not None else (lambda response: [self._one(response)])
        return Call(
            "POST", f"{self.base}/tokens/assign", read, params=params, body={"holder": holder} if holder is not None else None,
            idempotency_key=str(uuid.uuid4()), is_assign=True, server_wait=wait or 0.0,
        )

    def keep_alive(self, token: TokenLike, lease: Optional[int]) -> Call[Token]:
        lease = _lease_of(token, lease)
        params = {"lease": str(lease)} if lease is not None else {}
        return Call("POST", self._token_path(token, "keep-alive"), self._one, params=params)

    def unblock(self, token: TokenLike, lease: Optional[int], cooldown: Optional[float], outcome: Optional[str]) -> Call[Token]:
        lease = _lease_of(token, lease)
        params: Dict[str, str] = {}
        if lease is not None:
            params["lease"] = str(lease)
        if cooldown is not None:
            params["cooldown"] = _seconds(cooldown)
        if outcome is not None:
            params["outcome"] = outcome
        # With a lease, a retry whose first try went through finds the lease ended: the token as it is now.
        return Call("POST", self._token_path(token, "unblock"), self._one, params=params,
                    follow_up=self.get(token) if lease is not None else None)

    def disable(self, token: TokenLike, reason: Optional[str], lease: Optional[int]) -> Call[Token]:
        params = {"lease": str(lease)} if lease is not None else {}
        return Call(
            "POST", self._token_path(token, "disable"), self._one, params=params,
            body={"reason": reason} if reason is not None else None, idempotency_key=str(uuid.uuid4()),
        )

    def enable(self, token: TokenLike) -> Call[Token]:
        return Call("POST", self._token_path(token, "enable"), self._one)

    def delete(self, token: TokenLike) -> Call[None]:
        return Call("DELETE", self._token_path(token), lambda response: None, if_gone_after_retry=lambda: None)

    def get(self, token: TokenLike) -> Call[Token]:
        return Call("GET", self._token_path(token), self._one)

    def set_metadata(self, token: TokenLike, metadata: Optional[Mapping[str, Any]]) -> Call[Token]:
        return Call("PATCH", self._token_path(token), self._one, body={"metadata": metadata})

    def page(self, state: str, limit: int, cursor: Optional[str]) -> Call[Dict[str, Any]]:
        params = {"state": state, "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        return Call("GET", f"{self.base}/tokens", lambda response: dict(response.json()), params=params)

    def read_page(self, page: Mapping[str, Any]) -> List[Token]:
        return [Token.from_json(item, self.pool) for item in page["tokens"]]

    def stats(self) -> Call[Dict[str, Any]]:
        return Call("GET", f"{self.base}/stats", lambda response: dict(response.json()))

    def waiters(self) -> Call[Dict[str, Any]]:
        return Call("GET", f"{self.base}/waiters", lambda response: dict(response.json()))

    def pool_info(self) -> Call[Dict[str, Any]]:
        return Call("GET", self.base, lambda response: dict(response.json()))

    def set_pool(self, settings: Mapping[str, Any]) -> Call[Dict[str, Any]]:
        return Call("PUT", self.base, lambda response: dict(response.json()), body=dict(settings))

    def delete_pool(self) -> Call[None]:
        return Call("DELETE", self.base, lambda response: None, if_gone_after_retry=lambda: None)


def pools_page(limit: int, cursor: Optional[str]) -> Call[Dict[str, Any]]:
    params = {"limit": str(limit)}
    if cursor:
        params["cursor"] = cursor
    return Call("GET", "/pools", lambda response: dict(response.json()), params=params)


def pool_settings(lease_ttl: Optional[float], keep_alive_ttl: Optional[float], settings: Mapping[str, Any]) -> Dict[str, Any]:
    """`set_pool`'s body: the given settings (PUT replaces them all: one left out is the default)."""
    body: Dict[str, Any] = {}
    if lease_ttl is not None:
        body["leaseTTL"] = lease_ttl
    if keep_alive_ttl is not None:
        body["keepAliveTTL"] = keep_alive_ttl
    body.update(settings)
    return body
