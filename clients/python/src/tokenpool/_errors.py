"""The errors a TokenPool call raises: one class per answer a caller handles differently.

Each carries what the server's problem+json said (`status`, `type`, `title`, `detail`); `code` is
the last part of `type` (`urn:tokenpool:problem:no-free-token`: `no-free-token`, `lease-conflict`, `forbidden-pool`, ...). No error
message ever holds an API key: the server's details never do, and the client adds none.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

__all__ = [
    "TokenPoolError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "NoFreeToken",
    "LeaseConflict",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "Unavailable",
    "LeaseLost",
]


class TokenPoolError(Exception):
    """An answer that is not a success, or no answer at all (`status` 0)."""

    def __init__(
        self,
        detail: str,
        *,
        status: int = 0,
        type: str = "about:blank",
        title: str = "",
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        #: Seconds the server asked to wait before a retry (`Retry-After`), if it said.
        self.retry_after = retry_after

    @property
    def code(self) -> str:
        """The problem's short name: the last part of its `type` (`urn:tokenpool:problem:forbidden-pool`)."""
        return re.split(r"[/:]", self.type.rstrip("/"))[-1]

    def __str__(self) -> str:
        if self.status:
            return f"{self.status} {self.code}: {self.detail}"
        return self.detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, detail={self.detail!r})"


class BadRequest(TokenPoolError):
    """400: the request itself is wrong (a malformed token, a bad TTL, ...): a retry will not help."""


class Unauthorized(TokenPoolError):
    """401: no key, or a key the server does not know."""


class Forbidden(TokenPoolError):
    """403: the key may not do this (`forbidden`) or may not touch this pool (`forbidden-pool`)."""


class NotFound(TokenPoolError):
    """404: no such token (never made, deleted, or dead without keep-alive) or no such pool."""


class NoFreeToken(NotFound):
    """404 on assign: no token was free (within `wait`, when given). Nothing was taken."""


class LeaseConflict(TokenPoolError):
    """409: the lease given is not the token's current one (it lapsed, or another holds it now)."""


class PayloadTooLarge(TokenPoolError):
    """413: the body, or a token's metadata, is over the server's limit."""


class RateLimited(TokenPoolError):
    """429: over the key's rate (`rate-limited`) or the holder's cap (`holder-limit`), still after
    retrying for `timeout` seconds when the server asked to wait."""


class ServerError(TokenPoolError):
    """500 and other 5xx but 503: the server's own fault; a retry will not help."""


class Unavailable(TokenPoolError):
    """503 or no connection, still after retrying for `timeout` seconds."""


class LeaseLost(TokenPoolError):
    """A `hold` block's lease ended before the block did: a keep-alive answered 404 or 409, or none
    succeeded before the lease's deadline. Another worker may hold the token now."""


_BY_STATUS: Mapping[int, type[TokenPoolError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: LeaseConflict,
    413: PayloadTooLarge,
    429: RateLimited,
    503: Unavailable,
}


def error_for(status: int, problem: Mapping[str, Any], retry_after: Optional[float], *, on_assign: bool = False) -> TokenPoolError:
    """The error for an answer of `status` with its problem+json body (`{}` when it had none)."""
    kind: type[TokenPoolError]
    if status == 404 and on_assign:
        kind = NoFreeToken
    elif status in _BY_STATUS:
        kind = _BY_STATUS[status]
    elif status >= 500:
        kind = ServerError
    else:
        kind = TokenPoolError
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    return kind(
        detail,
        status=status,
        type=str(problem.get("type") or "about:blank"),
        title=str(problem.get("title") or ""),
        retry_after=retry_after,
    )
