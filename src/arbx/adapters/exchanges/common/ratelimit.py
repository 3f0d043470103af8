"""Rate limiters per venue: a token bucket (requests per second) and a fixed one-minute
window (Binance's request weight per minute)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from arbx.adapters.exchanges.common.timing import Timer
from arbx.domain.market import to_ms

_EPSILON = 1e-9  # float dust: 0.99999999999 tokens is one token
_MIN_WAIT = 1e-3  # never sleep for less than a clock can represent


class RateLimiter(Protocol):
    """What ``VenueHttp`` needs from a limiter: wait for a cost, honour a venue's
    Retry-After, and follow the venue's own count when it reports one."""

    capacity: float
    waited: float

    @property
    @abstractmethod
    def tokens(self) -> float: ...

    @abstractmethod
    async def acquire(self, cost: float = 1.0) -> None: ...

    @abstractmethod
    def block_for(self, seconds: float) -> None: ...

    @abstractmethod
    def observe_used(self, used: float) -> None: ...


class TokenBucket(RateLimiter):
    """``capacity`` tokens, refilled at ``rate`` per second; a request spends its cost.

    ``acquire`` waits (through the injected timer) until the cost is available. ``block_for``
    empties the bucket for a while (a venue's Retry-After); ``observe_used`` lowers the
    tokens when the venue reports it has counted more usage than we did (Binance's
    X-MBX-USED-WEIGHT-1M header).
    """

    def __init__(self, capacity: float, rate: float, timer: Timer) -> None:
        if capacity <= 0 or rate <= 0:
            raise ValueError("token bucket capacity and rate must be > 0")
        self.capacity = float(capacity)
        self.rate = float(rate)
        self._timer = timer
        self._tokens = float(capacity)
        self._stamp = timer.monotonic()
        self._blocked_until = 0.0
        self.waited = 0.0

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._timer.monotonic()
        if now > self._stamp:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    async def acquire(self, cost: float = 1.0) -> None:
        cost = min(float(cost), self.capacity)
        while True:
            now = self._timer.monotonic()
            if now < self._blocked_until:
                wait = self._blocked_until - now
            else:
                self._refill()
                if self._tokens >= cost - _EPSILON:
                    self._tokens = max(0.0, self._tokens - cost)
                    return
                wait = max((cost - self._tokens) / self.rate, _MIN_WAIT)
            self.waited += wait
            await self._timer.sleep(wait)

    def block_for(self, seconds: float) -> None:
        until = self._timer.monotonic() + max(0.0, seconds)
        self._blocked_until = max(self._blocked_until, until)
        self._tokens = 0.0
        self._stamp = max(self._stamp, until)

    def observe_used(self, used: float) -> None:
        self._refill()
        self._tokens = min(self._tokens, max(0.0, self.capacity - used))


class MinuteWindow(RateLimiter):
    """``capacity`` per fixed window of wall-clock time (Binance counts request weight per
    calendar minute, X-MBX-USED-WEIGHT-1M, and resets it at the minute boundary).

    A request whose cost does not fit what is left of the current window waits for the next
    window boundary: a bucket that refills continuously would spend weight the venue still
    counts against the current minute, earning one 429 per exhausted minute (which Binance
    escalates to an IP ban). ``observe_used`` raises our count to the venue's, and
    ``observe_clock`` puts the window boundaries on the venue's clock (its ``Date``, whole
    seconds, so our boundary falls at or just after the venue's, never before it).
    """

    def __init__(self, capacity: float, timer: Timer, *, window_s: float = 60.0) -> None:
        if capacity <= 0 or window_s <= 0:
            raise ValueError("window capacity and length must be > 0")
        self.capacity = float(capacity)
        self.window_ms = round(window_s * 1000)
        self._timer = timer
        self._offset_ms = 0  # the venue's clock minus ours, as last observed
        self._window = self._current()
        self._used = 0.0
        self._blocked_until = 0.0
        self.waited = 0.0

    def _venue_now_ms(self) -> int:
        return to_ms(self._timer.now()) + self._offset_ms

    def _current(self) -> int:
        return self._venue_now_ms() // self.window_ms

    def observe_clock(self, venue_ms: int) -> None:
        """The venue's clock as an answer gave it (truncated to the second)."""
        self._offset_ms = venue_ms - to_ms(self._timer.now())

    def _roll(self) -> None:
        window = self._current()
        if window != self._window:
            self._window, self._used = window, 0.0

    @property
    def used(self) -> float:
        self._roll()
        return self._used

    @property
    def tokens(self) -> float:
        return max(0.0, self.capacity - self.used)

    async def acquire(self, cost: float = 1.0) -> None:
        cost = min(float(cost), self.capacity)
        while True:
            now = self._timer.monotonic()
            if now < self._blocked_until:
                wait = self._blocked_until - now
            else:
                self._roll()
                if self._used + cost <= self.capacity + _EPSILON:
                    self._used += cost
                    return
                next_window_ms = (self._window + 1) * self.window_ms
                wait = max((next_window_ms - self._venue_now_ms()) / 1000, _MIN_WAIT)
            self.waited += wait
            await self._timer.sleep(wait)

    def block_for(self, seconds: float) -> None:
        until = self._timer.monotonic() + max(0.0, seconds)
        self._blocked_until = max(self._blocked_until, until)

    def observe_used(self, used: float) -> None:
        self._roll()
        self._used = max(self._used, float(used))
