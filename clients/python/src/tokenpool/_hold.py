"""A held lease: kept alive in the background, given back at the end, and told when it is lost.

The keep-alive timing is the server's: every third of `lease_expires_in` as the last answer gave
it (Redis's clock, as a duration, so a client clock that is off does not matter). The lease is
lost when a keep-alive answers 404 or 409, or when none succeeded before the deadline the last
successful one set (measured from when that request was sent, so never later than the server's).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from ._errors import LeaseConflict, LeaseLost, NotFound, TokenPoolError
from ._models import Token

__all__ = ["Lease"]

logger = logging.getLogger("tokenpool")

# A keep-alive that failed for want of a connection is tried again this often (or sooner, near the deadline).
_RETRY_PAUSE = 0.5


class Lease:
    """What `hold` yields: `token` (the Token, as the last keep-alive answered), `lost` (True once the
    lease ended under the block), `reason` (why) and `on_lost`, a callable run once, at once, from
    the keep-alive thread or task when the lease is lost. Set `cooldown` or `outcome` in the block
    and the unblock at its end sends them.
    """

    def __init__(self, token: Token, sent_at: float, on_lost: Optional[Callable[[], object]] = None) -> None:
        self.token = token
        self.on_lost = on_lost
        self.reason: Optional[str] = None
        #: Set in the block to rest the token this many seconds when it goes back (the upstream
        #: said "slow down").
        self.cooldown: Optional[float] = None
        #: Set in the block to `"failure"` (the token did not work: counts toward the pool's
        #: quarantine) or `"success"`; sent with the unblock at the end.
        self.outcome: Optional[str] = None
        self._lost = threading.Event()
        self._deadline = sent_at + (token.lease_expires_in or 0.0)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def wait_lost(self, timeout: Optional[float] = None) -> bool:
        """Blocks until the lease is lost or `timeout` passes; True if it was lost."""
        return self._lost.wait(timeout)

    # ----- what the keep-alive loop (sync or async) asks -----

    def interval(self) -> float:
        """Seconds to the next keep-alive: a third of what the server last said was left."""
        return max(0.05, (self.token.lease_expires_in or 3.0) / 3.0)

    def time_left(self) -> float:
        return self._deadline - time.monotonic()

    def retry_pause(self) -> float:
        return max(0.0, min(_RETRY_PAUSE, self.time_left()))

    def kept(self, token: Token, sent_at: float) -> None:
        self.token = token
        self._deadline = sent_at + (token.lease_expires_in or 0.0)

    def failed(self, error: Exception) -> bool:
        """A keep-alive failed with `error`: whether the lease is now lost."""
        if isinstance(error, (NotFound, LeaseConflict)):
            self.lose(f"a keep-alive answered {error}")
            return True
        if self.time_left() <= 0:
            self.lose(f"no keep-alive succeeded before the lease's deadline (last: {error})")
            return True
        return False

    def lose(self, reason: str) -> None:
        if self._lost.is_set():
            return
        self.reason = reason
        self._lost.set()
        logger.warning("Lease lost: token %s of pool %s, lease %s: %s", self.token.token, self.token.pool, self.token.lease, reason)
        if self.on_lost is not None:
            try:
                self.on_lost()
            except Exception:
                logger.exception("on_lost raised")

    def lost_error(self) -> LeaseLost:
        return LeaseLost(
            f"lease {self.token.lease} of token {self.token.token} (pool {self.token.pool}) was lost: {self.reason}",
            status=0, type="lease-lost",
        )

    def __repr__(self) -> str:
        return f"Lease(token={self.token.token!r}, pool={self.token.pool!r}, lease={self.token.lease}, lost={self.lost})"


def is_retryable(error: BaseException) -> bool:
    """A keep-alive error that may pass: no answer, or 503/429 after the client's own retries."""
    return isinstance(error, TokenPoolError) and not isinstance(error, (NotFound, LeaseConflict))
