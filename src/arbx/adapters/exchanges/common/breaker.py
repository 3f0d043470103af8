"""A circuit breaker per venue: stop hammering a venue that keeps failing."""

from __future__ import annotations

from datetime import timedelta

from arbx.adapters.exchanges.common.timing import Timer
from arbx.domain.errors import ExchangeUnavailable
from arbx.ports.exchange import BreakerState


class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failures -> half-open after ``cooldown``.

    In half-open one probe request goes through: success closes the breaker, failure opens it
    again for another cool-down. Failures are time-outs, connection errors and 5xx; a venue
    that answers (even with an error or a 429) is not failing.
    """

    def __init__(self, venue: str, timer: Timer, *, threshold: int, cooldown: float):
        if threshold < 1 or cooldown < 0:
            raise ValueError("breaker threshold must be >= 1 and cooldown >= 0")
        self.venue = venue
        self.threshold = threshold
        self.cooldown = cooldown
        self._timer = timer
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.last_error: str | None = None

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._timer.monotonic() - self._opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def retry_in(self) -> float | None:
        """Seconds until a probe is allowed (None when closed)."""
        if self._opened_at is None:
            return None
        return max(0.0, self._opened_at + self.cooldown - self._timer.monotonic())

    def retry_at_delta(self) -> timedelta | None:
        seconds = self.retry_in()
        return None if seconds is None else timedelta(seconds=seconds)

    def before_call(self) -> None:
        """Raise ``ExchangeUnavailable`` unless a request may go out now."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return
        wait = self.retry_in() or 0.0
        raise ExchangeUnavailable(
            f"{self.venue} is failing ({self._failures} consecutive failures, last: "
            f"{self.last_error}); its circuit breaker is open, try again in {wait:.0f}s",
            venue=self.venue,
        )

    def record_success(self) -> None:
        """The venue answered (any answer that is not a 5xx counts: it is reachable)."""
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self, reason: str) -> None:
        self._failures += 1
        self.last_error = reason
        if self._probing or self._failures >= self.threshold:
            self._opened_at = self._timer.monotonic()
        self._probing = False
