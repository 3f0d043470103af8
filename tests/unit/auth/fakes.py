"""Hand-written fakes shared by the auth, security and use-case tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from arbx.ports.clock import Clock

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


class FakeClock(Clock):
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0.0, **kwargs: float) -> None:
        self._now += timedelta(seconds=seconds, **kwargs)
