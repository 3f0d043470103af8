"""REST trade history of every venue against the fake servers: every trade of a span once,
in the venues' paging (Binance hour windows then fromId, Coinbase CB-AFTER newest first with a
binary search to the span, Kraken since/last), and the real captured payloads decoded."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import cast

import aiohttp
import polars as pl
import pytest

from arbx.adapters.exchanges.common.venue import VenueClient
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol
from arbx.ports.trade_history import TradeHistory
from tests.support.exchanges import FakeExchanges, FakeTimer, Fault, fixture_bytes, make_client
from tests.support.trade_tapes import TAPE_START_US, tape

BTC_USDC = Symbol.parse("BTC/USDC")
HOUR_US = 3_600_000_000
PATHS = {
    "binance": "/api/v3/aggTrades",
    "binanceus": "/api/v3/aggTrades",
    "coinbase": "/trades",
    "kraken": "/0/public/Trades",
}


async def fetch_all(
    client: TradeHistory, symbol: Symbol, start_us: int, end_us: int
) -> tuple[pl.DataFrame, int]:
    pages, cursor, count = [], None, 0
    while True:
        page = await client.fetch_trades(symbol, start_us, end_us, cursor)
        pages.append(page.trades)
        count += 1
        cursor = page.cursor
        if cursor is None:
            return pl.concat(pages), count
        assert count < 500, "paging does not end"


def history(client: VenueClient) -> TradeHistory:
    assert TradeHistory in type(client).__mro__  # the venue client implements the port
    return cast(TradeHistory, client)


@pytest.mark.parametrize("venue", ["binance", "binanceus", "coinbase", "kraken"])
async def test_every_trade_of_a_span_once(
    venue: str,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    client = history(make_client(fake, exchange_session, fake_timer))
    start, end = TAPE_START_US + 5 * HOUR_US + 123, TAPE_START_US + 11 * HOUR_US
    trades, _ = await fetch_all(client, BTC_USDC, start, end)
    expected = tape(fake, BTC_USDC)
    assert expected is not None
    inside = (expected.ts_us >= start) & (expected.ts_us < end)
    unique = trades.unique("trade_id")
    assert unique.height == int(inside.sum()) > 1000  # several pages
    assert sorted(unique["trade_id"].cast(pl.Int64).to_list()) == expected.ids[inside].tolist()
    first = unique.sort("ts").row(0, named=True)
    i = int(inside.argmax())
    assert first["price"] == pytest.approx(expected.price[i])
    assert first["qty"] == pytest.approx(expected.qty[i])
    assert first["side"] == ("buy" if expected.buy[i] else "sell")  # the taker's side
    assert fake.count(PATHS[venue]) >= 2


async def test_binance_searches_quiet_hours_a_window_at_a_time_then_pages_by_id(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.binance
    client = history(make_client(fake, exchange_session, fake_timer))
    before = TAPE_START_US - 3 * HOUR_US  # three hours before the first trade
    trades, _ = await fetch_all(client, BTC_USDC, before, TAPE_START_US + 2 * HOUR_US)
    asked = [q for path, q in fake.requests if path == "/api/v3/aggTrades"]
    assert [("startTime" in q, "fromId" in q) for q in asked[:4]] == [
        (True, False),
        (True, False),
        (True, False),
        (True, False),
    ]
    assert all(int(q["endTime"]) - int(q["startTime"]) < 3_600_000 for q in asked[:4])
    assert all("fromId" in q for q in asked[4:])
    assert trades["trade_id"][0] == "1"


async def test_coinbase_finds_a_span_long_ago_by_binary_search_not_by_paging_from_now(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.coinbase
    client = history(make_client(fake, exchange_session, fake_timer))
    start, end = TAPE_START_US + HOUR_US, TAPE_START_US + 2 * HOUR_US
    trades, pages = await fetch_all(client, BTC_USDC, start, end)
    assert 300 < trades.height < 1000
    asked = [q for path, q in fake.requests if path.endswith("/trades")]
    # 20,000 trades newest first: paging would take 18 pages; the search takes ~6 probes
    assert sum(q.get("limit") == "1" for q in asked) < 10
    assert sum(q.get("limit") == "1000" for q in asked) <= 4
    assert pages <= 3


async def test_kraken_pages_with_since_in_nanoseconds_and_last(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.kraken
    client = history(make_client(fake, exchange_session, fake_timer))
    start = TAPE_START_US + HOUR_US
    await fetch_all(client, BTC_USDC, start, start + 4 * HOUR_US)
    asked = [q for path, q in fake.requests if path == "/0/public/Trades"]
    assert asked[0]["since"] == str(start * 1000)
    assert asked[0]["pair"] == "XBTUSDC"
    assert all(int(b["since"]) > int(a["since"]) for a, b in itertools.pairwise(asked))


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_an_unlisted_symbol_is_refused(
    venue: str,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    client = history(make_client(fake_venues[venue], exchange_session, fake_timer))
    with pytest.raises(InvalidInput, match="not listed"):
        await client.fetch_trades(Symbol.parse("DOGE/EUR"), TAPE_START_US, TAPE_START_US + 1)


LATER = FakeTimer(datetime(2024, 6, 1, tzinfo=UTC))
MAR_13 = int(datetime(2024, 3, 13, tzinfo=UTC).timestamp()) * 1_000_000


async def test_real_captured_trades_answers_map_to_taker_sides(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    kraken = fake_venues.kraken
    body = fixture_bytes("kraken/rest_trades_real_ccxt.json")
    kraken.inject(Fault.http(200, body, path="/Trades"))
    client = history(make_client(kraken, exchange_session, LATER))
    page = await client.fetch_trades(Symbol.parse("BTC/USDT"), MAR_13, MAR_13 + 86_400_000_000)
    assert page.trades.rows() == [
        ("6324366", datetime(2024, 3, 13, 11, 5, 59, 173347, tzinfo=UTC), 73324.4, 0.010309, "buy")
    ]
    assert page.cursor == "1710327959173746878"  # Kraken's ``last``

    coinbase = fake_venues.coinbase
    body = fixture_bytes("coinbase/rest_trades_exchange_real_ccxt.json")
    coinbase.inject(Fault.http(200, body, path="/trades", CB_AFTER="18502034"))
    client = history(make_client(coinbase, exchange_session, LATER))
    page = await client.fetch_trades(
        Symbol.parse("BTC/USDT"), MAR_13, MAR_13 + 86_400_000_000, cursor="18502035"
    )
    # Coinbase's side is the maker's: a "sell" maker means the taker bought (as ccxt maps it)
    assert page.trades.rows() == [
        (
            "18502034",
            datetime(2024, 3, 13, 11, 0, 17, 710679, tzinfo=UTC),
            73271.63,
            0.00007448,
            "buy",
        )
    ]

    binance = fake_venues.binance
    body = fixture_bytes("binance/rest_aggTrades_docs_example.json")
    binance.inject(Fault.http(200, body, path="/aggTrades"))
    client = history(make_client(binance, exchange_session, LATER))
    start = 1498793709153 * 1000
    page = await client.fetch_trades(BTC_USDC, start, start + 1000, cursor="id:26129")
    assert page.trades.rows() == [
        (
            "26129",
            datetime(2017, 6, 30, 3, 35, 9, 153000, tzinfo=UTC),
            0.01633102,
            4.70443515,
            "sell",
        )
    ]
    assert page.cursor == "id:26130"  # the span goes on: the next page from the next id
