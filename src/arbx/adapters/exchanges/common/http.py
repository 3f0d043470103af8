"""GET with rate limit, retries (exponential backoff + jitter, Retry-After) and a breaker."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
import msgspec

from arbx.adapters.exchanges.common.breaker import CircuitBreaker
from arbx.adapters.exchanges.common.decoding import MalformedPayload
from arbx.adapters.exchanges.common.ratelimit import RateLimiter
from arbx.adapters.exchanges.common.timing import Timer
from arbx.domain.errors import ExchangeError, ExchangeUnavailable, RateLimited

T = TypeVar("T")

Params = Mapping[str, str | int]


class RetryPolicy(msgspec.Struct, frozen=True):
    """How hard to try. ``timeout`` is per request (seconds); delays grow as
    ``base_delay * 2**attempt`` capped at ``max_delay``, with full jitter. A Retry-After
    longer than ``max_retry_after`` is not waited for: the call fails with ``RateLimited``.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 90.0
    timeout: float = 15.0


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str]
    path: str


@dataclass(slots=True)
class HttpStats:
    """Counters the benchmark and /api/v1/exchanges can read."""

    requests: int = 0
    retries: int = 0
    http_seconds: float = 0.0
    parse_seconds: float = 0.0
    slept_seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (venues send delta-seconds); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class VenueHttp:
    """One venue's HTTP edge over the process-wide ``aiohttp.ClientSession``.

    ``get`` sends a GET, retries time-outs, connection errors, 5xx, 429 and 418 (a 418 or 429
    Retry-After also blocks the rate limiter), and hands every other answer to ``parse``.
    ``parse`` turns the response into a value or raises; a ``RateLimited`` or
    ``ExchangeUnavailable`` it raises (Kraken puts those inside a 200 body) is retried too,
    and so is a ``MalformedPayload`` (a 200 whose body does not decode), which counts as a
    failure for the breaker like a 5xx. The error a call finally fails with says how many
    attempts it made.
    """

    @classmethod
    def with_breaker(
        cls,
        venue: str,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        limiter: RateLimiter,
        timer: Timer,
        retry: RetryPolicy | None,
        rng: random.Random | None,
        breaker_threshold: int,
        breaker_cooldown: float,
        observe: Callable[[HttpResponse], None] | None = None,
    ) -> VenueHttp:
        """The venue's HTTP with its own circuit breaker: what every venue client builds."""
        breaker = CircuitBreaker(
            venue, timer, threshold=breaker_threshold, cooldown=breaker_cooldown
        )
        return cls(
            venue,
            session,
            base_url,
            limiter=limiter,
            breaker=breaker,
            timer=timer,
            retry=retry,
            rng=rng,
            observe=observe,
        )

    def __init__(
        self,
        venue: str,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        limiter: RateLimiter,
        breaker: CircuitBreaker,
        timer: Timer,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        observe: Callable[[HttpResponse], None] | None = None,
    ) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.breaker = breaker
        self.retry = retry or RetryPolicy()
        self.stats = HttpStats()
        self._session = session
        self._timer = timer
        self._rng = rng or random.Random()
        self._observe = observe

    def backoff(self, attempt: int) -> float:
        cap = min(self.retry.max_delay, self.retry.base_delay * 2**attempt)
        return self._rng.uniform(0.0, cap)

    async def get(
        self,
        path: str,
        params: Params | None,
        parse: Callable[[HttpResponse], T],
        *,
        weight: float = 1.0,
    ) -> T:
        last: ExchangeError | None = None
        for attempt in range(max(1, self.retry.attempts)):
            if attempt:
                self.stats.retries += 1
            try:
                self.breaker.before_call()
            except ExchangeUnavailable as exc:
                if last is None:
                    raise
                raise _gave_up(exc, attempt, last) from last
            await self.limiter.acquire(weight)
            try:
                response = await self._send(path, params)
            except ExchangeUnavailable as exc:
                self.breaker.record_failure(exc.message)
                last, delay = exc, self.backoff(attempt)
            else:
                if self._observe is not None:
                    self._observe(response)
                if response.status >= 500:
                    reason = f"{self.venue} answered HTTP {response.status} on {path}"
                    self.breaker.record_failure(reason)
                    last, delay = (
                        ExchangeUnavailable(reason, venue=self.venue),
                        self.backoff(attempt),
                    )
                else:
                    self.breaker.record_success()
                    if response.status in (418, 429):
                        last = self._rate_limited(response)
                        delay = last.retry_after or self.backoff(attempt)
                        self.limiter.block_for(delay)
                        if delay > self.retry.max_retry_after:
                            raise _gave_up(last, attempt + 1)
                    else:
                        try:
                            started = time.perf_counter()
                            try:
                                return parse(response)
                            finally:
                                self.stats.parse_seconds += time.perf_counter() - started
                        except RateLimited as exc:
                            last, delay = exc, exc.retry_after or self.backoff(attempt)
                        except (ExchangeUnavailable, MalformedPayload) as exc:
                            self.breaker.record_failure(exc.message)
                            last, delay = exc, self.backoff(attempt)
            if attempt + 1 < self.retry.attempts:
                self.stats.slept_seconds += delay
                await self._timer.sleep(delay)
        assert last is not None
        raise _gave_up(last, max(1, self.retry.attempts))

    async def _send(self, path: str, params: Params | None) -> HttpResponse:
        url = f"{self.base_url}{path}"
        timeout = aiohttp.ClientTimeout(total=self.retry.timeout)
        started = time.perf_counter()
        self.stats.requests += 1
        try:
            async with self._session.get(url, params=params, timeout=timeout) as resp:
                body = await resp.read()
                response = HttpResponse(resp.status, body, dict(resp.headers), path)
        except TimeoutError as exc:
            raise ExchangeUnavailable(
                f"{self.venue} did not answer {path} within {self.retry.timeout:g}s",
                venue=self.venue,
            ) from exc
        except aiohttp.ClientError as exc:
            raise ExchangeUnavailable(
                f"{self.venue} could not be reached at {self.base_url}: {exc}", venue=self.venue
            ) from exc
        finally:
            self.stats.http_seconds += time.perf_counter() - started
        self.stats.statuses[response.status] = self.stats.statuses.get(response.status, 0) + 1
        return response

    def _rate_limited(self, response: HttpResponse) -> RateLimited:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        what = "banned this IP for now (HTTP 418)" if response.status == 418 else "rate-limited us"
        hint = f"; retry after {retry_after:g}s" if retry_after is not None else ""
        detail = response.body[:200].decode("utf-8", "replace").strip()
        return RateLimited(
            f"{self.venue} {what} on {response.path}{hint}" + (f": {detail}" if detail else ""),
            venue=self.venue,
            retry_after=retry_after,
        )


E = TypeVar("E", bound=ExchangeError)


def _gave_up(error: E, attempts: int, last: ExchangeError | None = None) -> E:
    """``error`` with how many attempts were made (and, when the breaker stopped the retries,
    what the last attempt answered) appended to its message."""
    plural = "attempt" if attempts == 1 else "attempts"
    note = f" (gave up after {attempts} {plural}"
    note += f"; the last one: {last.message})" if last is not None else ")"
    error.message = f"{error.message}{note}"
    error.args = (error.message,)
    return error
