"""TokenPool's Python client: take a token from a shared pool, keep its lease alive, give it back.

    from tokenpool import TokenPool

    with TokenPool("http://localhost:8080", pool="proxies") as tp:
        with tp.hold(holder="crawler-1") as lease:
            fetch_through(lease.token.metadata["proxy"])

`AsyncTokenPool` has the same methods for asyncio. Errors are `TokenPoolError` and its subclasses.
"""

from ._async_client import AsyncTokenPool
from ._client import TokenPool
from ._errors import (
    BadRequest,
    Forbidden,
    LeaseConflict,
    LeaseLost,
    NoFreeToken,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    TokenPoolError,
    Unauthorized,
    Unavailable,
)
from ._hold import Lease
from ._models import Token
from ._version import __version__

__all__ = [
    "AsyncTokenPool",
    "BadRequest",
    "Forbidden",
    "Lease",
    "LeaseConflict",
    "LeaseLost",
    "NoFreeToken",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "Token",
    "TokenPool",
    "TokenPoolError",
    "Unauthorized",
    "Unavailable",
    "__version__",
]
