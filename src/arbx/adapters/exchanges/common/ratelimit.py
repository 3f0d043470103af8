"""A token bucket per venue: requests (or Binance request weight) per second."""

from __future__ import annotations

from arbx.adapters.exchanges.common.timing import Timer

_EPSILON = 1e-9  # float dust: 0.99999999999 tokens is one token
_MIN_WAIT = 1e-3  # never sleep for less than a clock can represent


class TokenBucket:
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
