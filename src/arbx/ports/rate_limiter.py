"""Rate limiter ports: request buckets per route group, and sign-in throttling."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from arbx.domain.auth.limits import RateDecision


class RateLimiter(Protocol):
    """Token buckets keyed by (route group, caller key).

    ``hit`` takes one request from the bucket of ``key`` (``principal:<id>`` or
    ``address:<ip>``) in ``group`` and says whether it may go ahead; an unknown group raises
    ``InvalidInput``.
    """

    @abstractmethod
    def hit(self, group: str, key: str) -> RateDecision: ...


class LoginThrottle(Protocol):
    """Progressive delays after failed sign-ins, per username and per client address.

    Keys are the canonical username as typed (whether or not such a user exists, so the
    behaviour reveals nothing) and the client address. ``wait`` returns the seconds to wait
    before another attempt is accepted (0: go ahead). ``failed`` records a failure for both
    keys; ``succeeded`` forgets the username's failures.
    """

    @abstractmethod
    def wait(self, username: str, address: str | None) -> float: ...

    @abstractmethod
    def failed(self, username: str, address: str | None) -> None: ...

    @abstractmethod
    def succeeded(self, username: str, address: str | None) -> None: ...
