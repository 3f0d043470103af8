"""The shared machinery on its own: token bucket, breaker, Retry-After, field names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arbx.adapters.exchanges.common.breaker import CircuitBreaker
from arbx.adapters.exchanges.common.decoding import field_of
from arbx.adapters.exchanges.common.http import parse_retry_after
from arbx.adapters.exchanges.common.ratelimit import MinuteWindow, TokenBucket
from arbx.domain.errors import ExchangeUnavailable
from arbx.domain.market import to_ms
from arbx.ports.exchange import BreakerState
from tests.support.exchanges import FakeTimer


def timer() -> FakeTimer:
    return FakeTimer(datetime(2024, 1, 1, tzinfo=UTC))


async def test_token_bucket_spends_a_burst_then_paces_at_its_rate() -> None:
    clock = timer()
    bucket = TokenBucket(capacity=5, rate=2, timer=clock)
    for _ in range(5):
        await bucket.acquire()
    assert clock.sleeps == []

    for _ in range(4):
        await bucket.acquire()

    assert sum(clock.sleeps) == pytest.approx(2.0)  # 4 more tokens at 2 per second


async def test_token_bucket_block_for_holds_every_request_back() -> None:
    clock = timer()
    bucket = TokenBucket(capacity=10, rate=10, timer=clock)
    bucket.block_for(35)
    started = clock.monotonic()

    await bucket.acquire()

    assert clock.monotonic() - started >= 35


async def test_token_bucket_caps_a_cost_larger_than_capacity() -> None:
    clock = timer()
    bucket = TokenBucket(capacity=10, rate=1, timer=clock)
    await bucket.acquire(50)  # would otherwise wait for ever
    assert bucket.tokens == pytest.approx(0.0)


async def test_minute_window_spends_the_minute_then_waits_for_the_next_boundary() -> None:
    clock = FakeTimer(datetime(2024, 1, 1, 0, 0, 40, tzinfo=UTC))  # 20 s left in the minute
    window = MinuteWindow(10, clock)
    for _ in range(5):
        await window.acquire(2)
    assert clock.sleeps == []
    assert window.tokens == 0

    await window.acquire(2)

    assert clock.sleeps == [pytest.approx(20.0)]  # to the boundary, not 2 s of refill
    assert window.used == 2


async def test_minute_window_follows_the_venues_count_and_clock() -> None:
    clock = FakeTimer(datetime(2024, 1, 1, 0, 0, 58, tzinfo=UTC))
    window = MinuteWindow(10, clock)
    window.observe_clock(to_ms(datetime(2024, 1, 1, 0, 0, 50, tzinfo=UTC)))  # venue 8 s behind
    window.observe_used(9)  # someone else on this IP spent weight this minute

    await window.acquire(2)

    assert clock.sleeps == [pytest.approx(10.0)]  # until the venue's minute turns
    window.block_for(30)
    await window.acquire(1)
    assert clock.sleeps[-1] == pytest.approx(30.0)


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    clock = timer()
    breaker = CircuitBreaker("kraken", clock, threshold=2, cooldown=5)
    breaker.record_failure("HTTP 502")
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure("HTTP 502")
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(ExchangeUnavailable, match="kraken is failing"):
        breaker.before_call()

    clock.advance(5)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # the one probe
    with pytest.raises(ExchangeUnavailable):
        breaker.before_call()  # a second caller waits for the probe's outcome
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


def test_a_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker("binance", timer(), threshold=3, cooldown=30.0)
    for _ in range(5):
        breaker.record_failure("timeout")
        breaker.record_failure("timeout")
        breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("35", 35.0), ("0", 0.0), (" 2.5 ", 2.5), ("soon", None), (None, None), ("-1", None)],
)
def test_retry_after_is_read_as_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_field_of_names_row_fields_and_keys() -> None:
    assert field_of("Expected `float`, got `str` - at `$[3][2]`", ("t", "o", "h")) == "h"
    assert field_of("Object missing required field `symbol` - at `$.symbols[0]`") == "symbol"
    assert field_of("Expected `array`, got `str` - at `$.symbols[0]`") == "symbols"
    assert field_of("Expected `str`, got `int` - at `$.symbols[0].baseAsset`") == "baseAsset"
    assert field_of("no path here") == "payload"
