"""What the server answers, as Python values."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Dict, Mapping, Optional

__all__ = ["Token"]


def parse_time(text: Optional[str]) -> Optional[datetime.datetime]:
    """RFC 3339 UTC with milliseconds (`2026-11-29T02:39:40.826Z`) as an aware datetime."""
    if text is None:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(text)


@dataclasses.dataclass(frozen=True)
class Token:
    """One token as the server last described it (TokenInfo).

    `lease_expires_in` is the seconds left on the lease when the server answered, by Redis's clock:
    time keep-alives by it, not by `lease_expires_at` against your own clock.
    """

    token: str
    pool: str
    #: `free`, `assigned`, `cooling`, `disabled` or `reserved`.
    state: str
    lease: Optional[int]
    holder: Optional[str]
    metadata: Optional[Dict[str, Any]] = dataclasses.field(hash=False)
    expires_at: Optional[datetime.datetime]
    lease_expires_at: Optional[datetime.datetime]
    lease_expires_in: Optional[float]
    #: When a `cooling` token, or one in quarantine, is assignable again.
    available_at: Optional[datetime.datetime] = None
    #: Failure reports in a row (`unblock(outcome="failure")`).
    failures: int = 0
    #: Why a disabled token is disabled.
    reason: Optional[str] = None
    #: The JSON object the server sent, for fields this version does not know yet.
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], pool: str = "default") -> Token:
        expires_in = data.get("leaseExpiresIn")
        return cls(
            token=str(data["token"]),
            pool=str(data.get("pool") or pool),
            state=str(data["state"]),
            lease=data.get("lease"),
            holder=data.get("holder"),
            metadata=data.get("metadata"),
            expires_at=parse_time(data.get("expiresAt")),
            lease_expires_at=parse_time(data.get("leaseExpiresAt")),
            lease_expires_in=float(expires_in) if expires_in is not None else None,
            available_at=parse_time(data.get("availableAt")),
            failures=int(data.get("failures") or 0),
            reason=data.get("reason"),
            raw=dict(data),
        )

    def __str__(self) -> str:
        return self.token
