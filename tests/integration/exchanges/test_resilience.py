"""Rate limits, retries, the circuit breaker, time-outs and bad payloads, per venue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from arbx.adapters.exchanges.common.http import RetryPolicy
from arbx.domain.errors import (
    ExchangeError,
    ExchangeUnavailable,
    InvalidInput,
    RateLimited,
)
from arbx.domain.market import Symbol, Timeframe, TimeSpan
from arbx.ports.exchange import BreakerState
from tests.support.exchanges import (
    FakeExchanges,
    FakeTimer,
    Fault,
    fixture_bytes,
    make_client,
    venue_limits,
)

SPAN = TimeSpan.of(datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 2, 6, tzinfo=UTC))
BTC_USDC = Symbol.parse("BTC/USDC")
CANDLES = {"binance": "/api/v3/klines", "coinbase": "/candles", "kraken": "/0/public/OHLC"}
VENUES = ["binance", "coinbase", "kraken"]


async def fetch(client: object) -> object:
    return await client.fetch_ohlcv(BTC_USDC, Timeframe.M1, SPAN)  # type: ignore[attr-defined]


async def test_binance_429_with_retry_after_is_waited_for_then_retried(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.binance
    client = make_client(fake, exchange_session, fake_timer)
    body = fixture_bytes("binance/rest_error_429_-1003_real_body.json")
    fake.inject(Fault(status=429, body=body, headers={"Retry-After": "7"}, path="/klines"))

    page = await client.fetch_ohlcv(BTC_USDC, Timeframe.M1, SPAN)

    assert page.bars.height == 360
    assert 7.0 in fake_timer.sleeps
    assert fake.count("/klines") == 2
    assert client.status().breaker is BreakerState.CLOSED


async def test_binance_418_ban_longer_than_we_wait_fails_with_retry_after(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.binance
    client = make_client(fake, exchange_session, fake_timer)
    body = fixture_bytes("binance/rest_error_418_-1003_ip_banned_real_body.json")
    fake.inject(Fault(status=418, body=body, headers={"Retry-After": "600"}, path="/klines"))

    with pytest.raises(RateLimited, match="banned") as caught:
        await fetch(client)

    assert caught.value.retry_after == 600.0
    assert caught.value.venue == "binance"
    assert fake.count("/klines") == 1  # no hammering during a ban


async def test_binance_418_short_ban_blocks_the_limiter_then_succeeds(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.binance
    client = make_client(fake, exchange_session, fake_timer)
    body = fixture_bytes("binance/rest_error_418_-1003_ip_banned_real_body.json")
    fake.inject(Fault(status=418, body=body, headers={"Retry-After": "3"}, path="/klines"))
    await client.list_markets()
    started = fake_timer.monotonic()

    await fetch(client)

    assert fake_timer.monotonic() - started >= 3.0
    assert fake.count("/klines") == 2


async def test_429_without_retry_after_backs_off_exponentially_then_gives_up(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.coinbase
    client = make_client(fake, exchange_session, fake_timer)
    await client.list_markets()
    fake.inject(Fault.http(429, '{"message":"Public rate limit exceeded"}', path="/candles"), 4)

    with pytest.raises(RateLimited) as caught:
        await fetch(client)

    assert caught.value.retry_after is None
    assert fake.count("/candles") == 4
    backoffs = [s for s in fake_timer.sleeps if s >= 1e-3]
    assert len(backoffs) >= 3
    for attempt, delay in enumerate(backoffs[:3]):
        assert 0 <= delay <= 0.5 * 2**attempt  # full jitter under the exponential cap


async def test_kraken_rate_limit_inside_a_200_body_is_retried(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.kraken
    client = make_client(fake, exchange_session, fake_timer)
    fake.inject(Fault.http(200, '{"error":["EAPI:Rate limit exceeded"]}', path="/OHLC"))
    fake.inject(Fault.http(200, '{"error":["EService:Unavailable"]}', path="/OHLC"))

    page = await client.fetch_ohlcv(BTC_USDC, Timeframe.M1, SPAN)

    assert page.bars.height > 300
    assert fake.count("/OHLC") == 3


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ('{"error":["EGeneral:Invalid arguments"]}', InvalidInput),
        ('{"error":["EGeneral:Permission denied"]}', ExchangeError),
    ],
)
async def test_kraken_other_errors_in_a_200_body_fail_without_retry(
    error: str,
    kind: type[Exception],
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues.kraken
    client = make_client(fake, exchange_session, fake_timer)
    fake.inject(Fault.http(200, error, path="/OHLC"))

    with pytest.raises(kind, match="kraken"):
        await fetch(client)
    assert fake.count("/OHLC") == 1


@pytest.mark.parametrize("venue", VENUES)
async def test_a_5xx_burst_opens_the_breaker_and_a_probe_after_cooldown_closes_it(
    venue: str,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    retry = RetryPolicy(attempts=2, base_delay=0.1, timeout=2.0)
    client = make_client(
        fake, exchange_session, fake_timer, retry=retry, breaker_threshold=3, breaker_cooldown=30
    )
    await client.list_markets()
    fake.inject(Fault.http(503, "<html>503 Service Temporarily Unavailable</html>"), 3)

    with pytest.raises(ExchangeUnavailable, match="HTTP 503"):
        await fetch(client)  # attempts 1 and 2 fail: 2 consecutive failures
    assert client.status().breaker is BreakerState.CLOSED
    with pytest.raises(ExchangeUnavailable, match="circuit breaker is open"):
        await fetch(client)  # third failure opens it; the retry is refused at once
    status = client.status()
    assert status.breaker is BreakerState.OPEN
    assert status.consecutive_failures == 3
    assert "503" in (status.last_error or "")
    assert status.retry_at is not None
    assert status.retry_at > fake_timer.now()
    asked = fake.count(CANDLES[venue])
    with pytest.raises(ExchangeUnavailable, match="circuit breaker is open"):
        await fetch(client)
    assert fake.count(CANDLES[venue]) == asked  # an open breaker sends nothing

    fake_timer.advance(30)
    assert client.status().breaker is BreakerState.HALF_OPEN
    page = await client.fetch_ohlcv(BTC_USDC, Timeframe.M1, SPAN)  # the probe succeeds

    assert page.bars.height > 0
    assert client.status().breaker is BreakerState.CLOSED
    assert client.status().consecutive_failures == 0


async def test_a_failed_half_open_probe_opens_the_breaker_again(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.binance
    retry = RetryPolicy(attempts=1, timeout=2.0)
    client = make_client(
        fake, exchange_session, fake_timer, retry=retry, breaker_threshold=2, breaker_cooldown=10
    )
    await client.list_markets()
    fake.inject(Fault.http(502, "Bad Gateway"), 3)
    for _ in range(2):
        with pytest.raises(ExchangeUnavailable):
            await fetch(client)
    assert client.status().breaker is BreakerState.OPEN

    fake_timer.advance(10)
    with pytest.raises(ExchangeUnavailable, match="HTTP 502"):
        await fetch(client)  # the probe fails

    assert client.status().breaker is BreakerState.OPEN
    fake_timer.advance(10)
    assert (await fetch(client)).bars.height > 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("venue", VENUES)
async def test_a_slow_answer_times_out_and_is_retried(
    venue: str,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    client = make_client(fake, exchange_session, fake_timer, retry=RetryPolicy(timeout=0.2))
    await client.list_markets()
    fake.inject(Fault.slow(1.0))

    page = await client.fetch_ohlcv(BTC_USDC, Timeframe.M1, SPAN)

    assert page.bars.height > 0
    assert fake.count(CANDLES[venue]) == 2


async def test_a_venue_that_never_answers_in_time_is_unavailable(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.kraken
    client = make_client(
        fake, exchange_session, fake_timer, retry=RetryPolicy(attempts=2, timeout=0.2)
    )
    await client.list_markets()
    fake.inject(Fault.slow(1.0), 2)

    with pytest.raises(ExchangeUnavailable, match=r"did not answer .* within 0.2s"):
        await fetch(client)
    assert client.status().consecutive_failures == 2


async def test_an_unreachable_venue_is_unavailable(
    exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    from arbx.adapters.exchanges.binance.client import BinanceClient

    client = BinanceClient(
        exchange_session,
        base_url="http://127.0.0.1:9",
        timer=fake_timer,
        retry=RetryPolicy(attempts=2, timeout=1.0),
        **venue_limits("binance"),
    )

    with pytest.raises(ExchangeUnavailable, match="could not be reached"):
        await client.list_markets()


@pytest.mark.parametrize("venue", VENUES)
async def test_truncated_json_is_an_exchange_error_naming_the_venue(
    venue: str,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    client = make_client(fake, exchange_session, fake_timer)
    await client.list_markets()
    fake.inject(Fault.truncated(), 4)  # every attempt is cut off

    with pytest.raises(ExchangeError, match=f"{venue} sent a .*not valid JSON") as caught:
        await fetch(client)

    assert caught.value.venue == venue
    assert caught.value.field == "payload"
    assert "gave up after 4 attempts" in caught.value.message
    assert fake.count(CANDLES[venue]) == 4


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize(
    "fault",
    [
        Fault.truncated(),
        Fault.http(200, "<html><body>502 Bad Gateway</body></html>"),
        # a bare NaN token where a price should be (quoted or not): not JSON
        Fault(transform=lambda body: re.sub(rb'"?\d+\.\d+"?', b"NaN", body, count=1)),
    ],
    ids=["cut-json", "html-200", "nan-token"],
)
async def test_a_200_that_does_not_decode_is_retried_like_a_5xx(
    venue: str,
    fault: Fault,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    client = make_client(fake, exchange_session, fake_timer)
    await client.list_markets()
    fault.path = CANDLES[venue]
    fake.inject(fault, 2)

    page = await fetch(client)

    assert page.bars.height > 250  # type: ignore[attr-defined]
    assert fake.count(CANDLES[venue]) == 3
    assert client.status().consecutive_failures == 0  # the success closed the count again


async def test_kraken_internal_error_in_a_200_body_is_retried_then_says_how_hard_it_tried(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.kraken
    client = make_client(fake, exchange_session, fake_timer)
    fake.inject(Fault.http(200, '{"error":["EGeneral:Internal error"]}', path="/OHLC"))

    page = await fetch(client)  # one internal error, then the real answer

    assert page.bars.height > 300  # type: ignore[attr-defined]
    assert fake.count("/OHLC") == 2
    fake.inject(Fault.http(200, '{"error":["EGeneral:Internal error"]}', path="/OHLC"), 4)
    with pytest.raises(ExchangeUnavailable, match="Internal error") as caught:
        await fetch(client)
    assert "gave up after 4 attempts" in caught.value.message


@pytest.mark.parametrize(
    ("venue", "old", "new", "field"),
    [
        ("binance", rb',"', b',"x', "open"),  # a price that is not a number
        ("binance", rb"\[\[", b"[[null,", "open_time"),
        ("coinbase", rb",", b',"abc",', "low"),  # Coinbase rows start [time, low, ...]
        ("kraken", rb"\[\[", b'[["soon",', "time"),
        ("kraken", rb'"last":\d+', b'"last":"never"', "last"),
    ],
)
async def test_a_malformed_field_is_an_exchange_error_naming_the_field(
    venue: str,
    old: bytes,
    new: bytes,
    field: str,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    client = make_client(fake, exchange_session, fake_timer)
    await client.list_markets()
    fake.inject(Fault(transform=lambda body: re.sub(old, new, body, count=1)), 4)

    with pytest.raises(ExchangeError) as caught:
        await fetch(client)

    assert caught.value.venue == venue
    assert caught.value.field == field, str(caught.value)
    assert not isinstance(caught.value, ExchangeUnavailable)
    assert "gave up after 4 attempts" in caught.value.message


async def test_a_malformed_markets_list_names_the_field(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.binance
    client = make_client(fake, exchange_session, fake_timer)
    fake.inject(Fault.corrupt(b'"baseAsset":"BTC"', b'"baseAsset":7'), 4)

    with pytest.raises(ExchangeError, match="exchangeInfo") as caught:
        await client.list_markets()
    assert caught.value.field == "baseAsset"


@pytest.mark.parametrize("venue", VENUES)
async def test_an_unknown_symbol_lists_close_matches_without_asking_for_candles(
    venue: str,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    client = make_client(fake, exchange_session, fake_timer)

    with pytest.raises(InvalidInput, match=f"BTC/USDD is not listed on {venue}") as caught:
        await client.fetch_ohlcv(Symbol.parse("BTC/USDD"), Timeframe.M1, SPAN)

    assert caught.value.field == "symbol"
    assert "BTC/USDC" in caught.value.details
    assert "BTC/USDT" in caught.value.details
    assert fake.count(CANDLES[venue]) == 0


@pytest.mark.parametrize(
    ("venue", "status", "body"),
    [
        ("binance", 400, fixture_bytes("binance/rest_error_-1121_invalid_symbol.json")),
        ("coinbase", 404, b'{"message":"NotFound"}'),
        ("kraken", 200, b'{"error":["EQuery:Unknown asset pair"]}'),
    ],
)
async def test_the_venues_own_unknown_symbol_error_is_invalid_input(
    venue: str,
    status: int,
    body: bytes,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    client = make_client(fake, exchange_session, fake_timer)
    await client.list_markets()  # the list still has it; the venue has delisted it since
    fake.inject(Fault.http(status, body, path=CANDLES[venue]))

    with pytest.raises(InvalidInput, match=f"{venue} refused candles of BTC/USDC") as caught:
        await fetch(client)

    assert caught.value.field == "symbol"
    assert "not listed" not in caught.value.message
    assert "did you mean" not in caught.value.message
    assert "although its market list had the pair" in caught.value.message
    assert fake.count(CANDLES[venue]) == 1
    before = sum(
        1 for path, _ in fake.requests if "Pairs" in path or "nfo" in path or path == "/products"
    )
    await fetch(client)  # the stale market list was dropped and is loaded again
    after = sum(
        1 for path, _ in fake.requests if "Pairs" in path or "nfo" in path or path == "/products"
    )
    assert after == before + 1


async def test_binance_request_weight_paces_requests_and_follows_the_venue_count(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.binance
    client = make_client(fake, exchange_session, fake_timer, weight_per_minute=60)
    limiter = client.http.limiter

    for _ in range(5):
        await fetch(client)  # exchangeInfo (20) + 5 x klines (2) = 30 of 60 per minute

    assert limiter.waited == 0.0
    assert limiter.tokens <= 60 - fake.weight_used + 1e-6  # the venue's count was applied
    fake.weight_used = 59  # someone else on this IP used the weight
    await fetch(client)  # the answer says 61 of 60 are used: our bucket is emptied
    assert limiter.waited == 0.0
    await fetch(client)
    assert limiter.waited > 0.0  # we waited for the bucket to refill


async def test_coinbase_requests_are_paced_by_the_token_bucket(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.coinbase
    client = make_client(fake, exchange_session, fake_timer, requests_per_second=2, burst=2)
    started = fake_timer.monotonic()

    for hour in range(6):  # 1 markets request + 6 candle requests at 2 per second
        start = SPAN.start + timedelta(hours=hour)
        await client.fetch_ohlcv(
            BTC_USDC, Timeframe.M1, TimeSpan.of(start, start + timedelta(hours=1))
        )

    assert fake_timer.monotonic() - started == pytest.approx(2.5, abs=0.01)
