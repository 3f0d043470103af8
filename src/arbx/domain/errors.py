"""One small error tree for the whole of arbx.

Entry points map these classes to HTTP problems (``entrypoints/http/errors.py``) or to CLI exit
codes; adapters translate library errors into them at their edge (``raise X from exc``).
Messages say what was wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ArbxError(Exception):
    """Base of every error arbx raises on purpose."""

    title = "arbx error"

    def __init__(self, message: str, *, details: Sequence[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[Any] = list(details or [])

    def __str__(self) -> str:
        return self.message


class InvalidInput(ArbxError):
    """The caller asked for something malformed or impossible (bad symbol, inverted span...)."""

    title = "invalid input"

    def __init__(
        self, message: str, *, field: str | None = None, details: Sequence[Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.field = field


class NotFound(ArbxError):
    title = "not found"


class Conflict(ArbxError):
    title = "conflict"


class Unauthenticated(ArbxError):
    title = "unauthenticated"


class Forbidden(ArbxError):
    title = "forbidden"


class ExternalError(ArbxError):
    """Something outside arbx (an exchange, a database) failed or refused."""

    title = "upstream error"


class ExchangeError(ExternalError):
    """An exchange answered with an error or with a payload we cannot use."""

    title = "exchange error"

    def __init__(
        self,
        message: str,
        *,
        venue: str,
        field: str | None = None,
        details: Sequence[Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.venue = venue
        self.field = field


class RateLimited(ExchangeError):
    title = "rate limited"

    def __init__(self, message: str, *, venue: str, retry_after: float | None = None) -> None:
        super().__init__(message, venue=venue)
        self.retry_after = retry_after


class ExchangeUnavailable(ExchangeError):
    """Time-outs, 5xx, an open circuit breaker: try again later."""

    title = "exchange unavailable"


class StorageError(ExternalError):
    title = "storage error"


class StorageUnavailable(StorageError):
    """The store cannot be reached right now (database down, disk unmounted)."""

    title = "storage unavailable"
