"""Auth-specific errors, inside the one tree of ``arbx.domain.errors``."""

from __future__ import annotations

from arbx.domain.errors import ArbxError


class TooManyRequests(ArbxError):
    """The caller must wait ``retry_after`` seconds (HTTP 429 with ``Retry-After``).

    Used for sign-in throttling and per-principal/per-address rate limits. (``RateLimited`` in
    the shared tree is an exchange error, for venues limiting us.)
    """

    title = "too many requests"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
