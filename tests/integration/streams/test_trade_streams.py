"""Trade streams against local fake venues that replay real WebSocket payloads: reconnects
resubscribe and never duplicate, silent sockets are dropped, refusals stop the stream, bad
messages are counted, a slow store applies backpressure without dropping a trade, and a stop
stores what was received."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import polars as pl
import pytest

from arbx.adapters.memory.trade_store import MemoryTradeStore
from arbx.adapters.parquet.trade_store import ParquetTradeStore
from arbx.adapters.streams.venues import Binance, Coinbase, Kraken
from arbx.adapters.streams.websocket import WebSocketTrades
from arbx.app.stream_trades import StreamTrades
from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.trades import TradeKey
from arbx.ports.trade_stream import StreamFailed, StreamRejected
from tests.integration.streams.fake_venue import Behaviour, FakeVenue, lines

EVERYTHING = TimeSpan.everything()
OMG = Symbol("OMG", "BUSD")
BINANCE_US = lines("binance/binanceus_ws_aggTrade_real.jsonl")  # 11 OMGBUSD aggTrades
COINBASE = lines("coinbase/ws_matches_real.jsonl")


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def serve(behaviour: Behaviour) -> tuple[FakeVenue, str]:
    venue = FakeVenue(behaviour)
    return venue, await venue.start()


def source(session: aiohttp.ClientSession, venue, symbols, url: str, **kw) -> WebSocketTrades:  # type: ignore[no-untyped-def]
    return WebSocketTrades(
        session, venue, symbols, url=url, rng=random.Random(1), sleep=no_sleep, **kw
    )


async def run_until(stream: StreamTrades, src: WebSocketTrades, stored: int, store) -> object:  # type: ignore[no-untyped-def]
    """Run the stream until ``stored`` trades are in the store, then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(stream.run(src, stop))
    for _ in range(500):
        keys = await store.keys()
        total = sum([(await store.read(k, EVERYTHING)).height for k in keys])
        if total >= stored or task.done():
            break
        await asyncio.sleep(0.01)
    stop.set()
    return await asyncio.wait_for(task, 10)


async def test_a_dropped_connection_reconnects_and_stores_each_trade_once(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The first connection closes after 5 messages; the second replays everything from the
    start (as a venue may after a reconnect): 11 distinct trades stored, 5 duplicates seen."""
    fake, url = await serve(Behaviour(BINANCE_US, close_after=lambda n: 5 if n == 0 else None))
    try:
        store = ParquetTradeStore(tmp_path / "trades")
        src = source(session, Binance(), [OMG], url)
        report = await run_until(StreamTrades(store, flush_ms=20), src, 11, store)
    finally:
        await fake.stop()
    back = await store.read(TradeKey("binance", OMG), EVERYTHING)
    expected = [json.loads(line)["data"] for line in BINANCE_US]
    assert back["trade_id"].to_list() == [
        str(e["a"]) for e in sorted(expected, key=lambda e: (e["T"], e["a"]))
    ]
    assert back["price"].to_list() == [
        float(e["p"]) for e in sorted(expected, key=lambda e: (e["T"], e["a"]))
    ]
    assert set(back["side"].to_list()) <= {"buy", "sell"}
    assert back.filter(pl.col("trade_id") == str(expected[0]["a"]))["side"].item() == (
        "sell" if expected[0]["m"] else "buy"
    )
    assert report.stored == 11  # type: ignore[attr-defined]
    assert report.duplicates == 5  # type: ignore[attr-defined]
    assert src.stats.reconnects == 1
    assert fake.connections == 2
    assert all(p == "/stream?streams=omgbusd@aggTrade" for p in fake.paths)


async def test_coinbase_subscribes_again_after_a_reconnect_and_maps_the_taker_side(
    session: aiohttp.ClientSession,
) -> None:
    skl = [line for line in COINBASE if '"product_id":"SKL-USD"' in line]
    fake, url = await serve(
        Behaviour(skl, wait_for_subscribe=True, close_after=lambda n: 10 if n == 0 else None)
    )
    try:
        store = MemoryTradeStore()
        src = source(session, Coinbase(), [Symbol("SKL", "USD")], url)
        await run_until(StreamTrades(store, flush_ms=20), src, len(skl), store)
    finally:
        await fake.stop()
    subscribe = {"type": "subscribe", "product_ids": ["SKL-USD"], "channels": ["matches"]}
    assert fake.subscriptions == [subscribe, subscribe]
    back = await store.read(TradeKey("coinbase", Symbol("SKL", "USD")), EVERYTHING)
    first = json.loads(skl[0])
    row = back.filter(pl.col("trade_id") == str(first["trade_id"])).row(0, named=True)
    assert row["side"] == {"buy": "sell", "sell": "buy"}[first["side"]]  # side is the maker's
    assert row["qty"] == float(first["size"])
    assert back.height == len({json.loads(line)["trade_id"] for line in skl})


async def test_kraken_v2_trades_and_its_subscribe_message(session: aiohttp.ClientSession) -> None:
    docs = Path(__file__).resolve().parents[2] / "fixtures/exchanges/kraken"
    snapshot = json.dumps(json.loads((docs / "ws_v2_trade_docs_example.json").read_text()))
    ack = json.dumps({"method": "subscribe", "result": {"channel": "trade"}, "success": True})
    heartbeat = json.dumps({"channel": "heartbeat"})
    fake, url = await serve(Behaviour([ack, heartbeat, snapshot], wait_for_subscribe=True))
    try:
        store = MemoryTradeStore()
        src = source(session, Kraken(), [Symbol("MATIC", "USD")], url)
        await run_until(StreamTrades(store, flush_ms=20), src, 2, store)
    finally:
        await fake.stop()
    expected = json.loads((docs / "ws_v2_trade_subscribe_docs_example.json").read_text())
    expected["params"]["snapshot"] = False
    assert fake.subscriptions == [expected]
    back = await store.read(TradeKey("kraken", Symbol("MATIC", "USD")), EVERYTHING)
    assert back["trade_id"].to_list() == ["4665846", "4665847"]
    assert back["qty"].to_list() == [6423.46326, 1136.19677815]


async def test_a_silent_socket_is_dropped_and_reconnected(session: aiohttp.ClientSession) -> None:
    fake, url = await serve(Behaviour(BINANCE_US, silent_after=lambda n: 3 if n == 0 else None))
    try:
        store = MemoryTradeStore()
        src = source(session, Binance(), [OMG], url, idle_timeout_s=0.3)
        await run_until(StreamTrades(store, flush_ms=20), src, 11, store)
    finally:
        await fake.stop()
    assert src.stats.silent_timeouts == 1
    assert src.stats.reconnects == 1
    assert (await store.read(TradeKey("binance", OMG), EVERYTHING)).height == 11


async def test_a_refused_subscription_stops_the_stream_with_the_venues_message(
    session: aiohttp.ClientSession,
) -> None:
    error = json.dumps(
        {
            "type": "error",
            "message": "Failed to subscribe",
            "reason": "NOPE-USD is not a valid product",
        }
    )
    fake, url = await serve(Behaviour([error], wait_for_subscribe=True))
    try:
        src = source(session, Coinbase(), [Symbol("NOPE", "USD")], url)
        with pytest.raises(StreamRejected, match="NOPE-USD is not a valid product"):
            await StreamTrades(MemoryTradeStore()).run(src, asyncio.Event())
    finally:
        await fake.stop()
    assert fake.connections == 1


async def test_bad_messages_are_counted_and_skipped(session: aiohttp.ClientSession) -> None:
    broken = [
        BINANCE_US[0],
        '{"stream": "omgbusd@aggTrade", "data": {"e": "aggTrade"',
        BINANCE_US[1],
        BINANCE_US[2].replace('"p":"', '"p":"-'),
    ]
    fake, url = await serve(Behaviour(broken))
    try:
        store = MemoryTradeStore()
        src = source(session, Binance(), [OMG], url)
        await run_until(StreamTrades(store, flush_ms=20), src, 2, store)
    finally:
        await fake.stop()
    assert src.stats.decode_errors == 2
    assert (await store.read(TradeKey("binance", OMG), EVERYTHING)).height == 2


async def test_an_unreachable_venue_fails_after_bounded_attempts(
    session: aiohttp.ClientSession,
) -> None:
    fake, url = await serve(Behaviour([]))
    await fake.stop()  # nothing listens there any more
    src = source(session, Binance(), [OMG], url, max_attempts=3)
    with pytest.raises(StreamFailed, match="3 times in a row"):
        await StreamTrades(MemoryTradeStore()).run(src, asyncio.Event())
    assert src.stats.connects == 0


class SlowStore(MemoryTradeStore):
    async def write(self, key, trades):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.02)
        return await super().write(key, trades)


async def test_a_slow_store_holds_the_reader_back_and_drops_nothing(
    session: aiohttp.ClientSession,
) -> None:
    fake, url = await serve(Behaviour(BINANCE_US))
    try:
        store = SlowStore()
        src = source(session, Binance(), [OMG], url)
        report = await run_until(
            StreamTrades(store, batch_size=1, queue_size=2, flush_ms=5), src, 11, store
        )
    finally:
        await fake.stop()
    assert (await store.read(TradeKey("binance", OMG), EVERYTHING)).height == 11
    assert report.queue_max <= 2  # type: ignore[attr-defined]
    assert report.writes == 11  # type: ignore[attr-defined]


async def test_stopping_stores_what_was_received(session: aiohttp.ClientSession) -> None:
    """A long flush interval: the trades are still queued when the stop comes."""
    fake, url = await serve(Behaviour(BINANCE_US))
    try:
        store = MemoryTradeStore()
        src = source(session, Binance(), [OMG], url)
        stop = asyncio.Event()
        task = asyncio.create_task(
            StreamTrades(store, flush_ms=60_000, batch_size=1000).run(src, stop)
        )
        while src.stats.trades < 11:  # noqa: ASYNC110 (a counter of the source)
            await asyncio.sleep(0.01)
        assert (await store.read(TradeKey("binance", OMG), EVERYTHING)).is_empty()
        stop.set()
        report = await asyncio.wait_for(task, 5)
    finally:
        await fake.stop()
    assert report.stored == 11
    assert (await store.read(TradeKey("binance", OMG), EVERYTHING)).height == 11
