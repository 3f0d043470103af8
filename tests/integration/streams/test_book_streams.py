"""Quote and book streams against local fake venues that replay the venues' documented
payloads: quotes of all three venues; Binance depth sequencing with the REST snapshot (stale
diffs dropped, a gap healed by a fresh snapshot); Kraken's checksum checked and a bad one
healed by resubscribing; Coinbase level2; reconnects, silent sockets, malformed frames; a
burst into a slow store under both backpressure policies."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import polars as pl
import pytest

from arbx.adapters.memory.book_store import MemoryBookStore
from arbx.adapters.streams.books import WebSocketBooks
from arbx.adapters.streams.quotes import WebSocketQuotes
from arbx.app.stream_books import RecordReport, StreamBooks, StreamQuotes
from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.books import book_updates
from arbx.domain.market.trades import TradeKey
from arbx.domain.orderbook.book import BookSnapshot, L2Book
from arbx.domain.orderbook.errors import BookNotReady
from arbx.ports.trade_stream import StreamRejected
from tests.integration.streams.fake_venue import FIXTURES, Behaviour, FakeVenue, lines

EVERYTHING = TimeSpan.everything()
MATIC = Symbol("MATIC", "USD")
KRAKEN_BOOK = lines("kraken/ws_v2_book_docs_example.jsonl")  # snapshot, update
COINBASE_L2 = lines("coinbase/ws_level2_docs_example.jsonl")  # snapshot, l2update
BINANCE_DEPTH = lines("binance/ws_depthUpdate_docs_example.jsonl")
FIXTURES_ERROR = FIXTURES / "binance" / "rest_error_-1121_invalid_symbol.json"


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def serve(behaviour: Behaviour) -> tuple[FakeVenue, str]:
    venue = FakeVenue(behaviour)
    return venue, await venue.start()


def fast(**kw: Any) -> dict[str, Any]:
    return {"rng": random.Random(1), "sleep": no_sleep, **kw}


async def record(
    recorder: StreamBooks | StreamQuotes,
    source: Any,
    done: Callable[[], bool],
    *,
    rounds: int = 500,
) -> RecordReport:
    """Run until ``done()`` holds (or the source ends), then stop and return the report."""
    stop = asyncio.Event()
    task = asyncio.create_task(recorder.run(source, stop))
    for _ in range(rounds):
        if done() or task.done():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    stop.set()
    return await asyncio.wait_for(task, 10)


async def replay(store: MemoryBookStore, key: TradeKey, instrument: str) -> L2Book:
    """The stored book updates of ``key`` replayed into a strict book (no gaps allowed)."""
    book = L2Book(instrument)
    for update in book_updates(await store.read_book(key, EVERYTHING), instrument):
        if isinstance(update, BookSnapshot):
            book.apply_snapshot(update)
        else:
            book.apply_diff(update)
    return book


# -- quotes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("venue", "fixture", "symbol", "expected"),
    [
        (
            "binance",
            "binance/ws_bookTicker_docs_example.jsonl",
            Symbol("BNB", "USDT"),
            (25.3519, 31.21, 25.3652, 40.66),
        ),
        (
            "coinbase",
            "coinbase/ws_ticker_docs_example.jsonl",
            Symbol("ETH", "USD"),
            (1285.04, 0.46688654, 1285.27, 1.5663704),
        ),
        (
            "kraken",
            "kraken/ws_v2_ticker_docs_example.jsonl",
            Symbol("ALGO", "USD"),
            (0.10025, 740.0, 0.10036, 1361.44813783),
        ),
    ],
)
async def test_each_venues_documented_quote_is_stored(
    session: aiohttp.ClientSession,
    venue: str,
    fixture: str,
    symbol: Symbol,
    expected: tuple[float, ...],
) -> None:
    fake, url = await serve(Behaviour(lines(fixture), wait_for_subscribe=venue != "binance"))
    store = MemoryBookStore()
    key = TradeKey(venue, symbol)
    try:
        source = WebSocketQuotes(session, venue, [symbol], url=url, **fast())
        report = await record(
            StreamQuotes(store, flush_ms=10), source, lambda: source.stats.quotes >= 1
        )
    finally:
        await fake.stop()
    quotes = await store.read_quotes(key, EVERYTHING)
    assert quotes.select("bid", "bid_qty", "ask", "ask_qty").row(0) == expected
    assert report.stored == 1
    assert report.stream.quotes == 1
    if venue == "binance":
        assert fake.paths == ["/stream?streams=bnbusdt@bookTicker"]
    else:
        channel = fake.subscriptions[0].get("channels") or [
            fake.subscriptions[0]["params"]["channel"]
        ]
        assert channel == ["ticker"]


async def test_a_silent_quote_socket_is_dropped_and_reopened(
    session: aiohttp.ClientSession,
) -> None:
    ticker = lines("binance/ws_bookTicker_docs_example.jsonl")
    fake, url = await serve(Behaviour(ticker * 3, silent_after=lambda n: 1 if n == 0 else None))
    store = MemoryBookStore()
    try:
        source = WebSocketQuotes(
            session, "binance", [Symbol("BNB", "USDT")], url=url, **fast(idle_timeout_s=0.2)
        )
        report = await record(
            StreamQuotes(store, flush_ms=10), source, lambda: source.stats.quotes >= 4
        )
    finally:
        await fake.stop()
    assert report.stream.silent_timeouts >= 1
    assert report.stream.reconnects >= 1
    assert fake.connections >= 2


# -- Binance depth with the REST snapshot ---------------------------------------------------------


def depth_event(
    first: int,
    last: int,
    bids: list[tuple[float, float]],
    asks: list[tuple[float, float]],
    symbol: str = "BNBBTC",
) -> str:
    """A diff event of the documented ``depthUpdate`` shape (combined-stream envelope)."""
    data = {
        "e": "depthUpdate",
        "E": 1672515782136 + last,
        "s": symbol,
        "U": first,
        "u": last,
        "b": [[f"{p:.8f}", f"{q:.8f}"] for p, q in bids],
        "a": [[f"{p:.8f}", f"{q:.8f}"] for p, q in asks],
    }
    return json.dumps({"stream": f"{symbol.lower()}@depth@100ms", "data": data})


def depth_snapshot(last_id: int, bids: dict[float, float], asks: dict[float, float]) -> str:
    """A REST depth answer of the documented shape."""
    return json.dumps(
        {
            "lastUpdateId": last_id,
            "bids": [[f"{p:.8f}", f"{q:.8f}"] for p, q in sorted(bids.items(), reverse=True)],
            "asks": [[f"{p:.8f}", f"{q:.8f}"] for p, q in sorted(asks.items())],
        }
    )


async def test_the_documented_depth_diff_applies_to_a_snapshot(
    session: aiohttp.ClientSession,
) -> None:
    """The docs' diff (U=157, u=160) onto a snapshot at 156: applied, first-event rule held."""
    snapshot = depth_snapshot(156, {0.0023: 5.0}, {0.0027: 1.0})
    fake, url = await serve(Behaviour(BINANCE_DEPTH, depth=lambda n, q: (200, snapshot)))
    store = MemoryBookStore()
    key = TradeKey("binance", Symbol("BNB", "BTC"))
    try:
        source = WebSocketBooks(session, "binance", [key.symbol], url=url, rest_url=url, **fast())
        await record(
            StreamBooks(store, flush_ms=10), source, lambda: source.stats.book_updates >= 1
        )
    finally:
        await fake.stop()
    assert fake.paths == ["/stream?streams=bnbbtc@depth@100ms"]
    assert fake.depth_calls == [{"symbol": "BNBBTC", "limit": "1000"}]
    book = await replay(store, key, "BNBBTC")
    assert book.depth(5) == ([(0.0024, 10.0), (0.0023, 5.0)], [(0.0026, 100.0), (0.0027, 1.0)])
    assert source.current(key.symbol, 1) == ([(0.0024, 10.0)], [(0.0026, 100.0)])


async def test_a_sequence_gap_is_healed_by_a_fresh_snapshot(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Diffs at or below the snapshot are dropped; the first applied one straddles it; a gap
    (104..105 missing) drops the book, counts, and a fresh snapshot heals it."""
    events = [
        depth_event(95, 99, [(4.0, 1.0)], []),  # stale: u <= lastUpdateId (100)
        depth_event(99, 101, [(4.0, 2.0)], []),  # first applied: U <= 101 <= u
        depth_event(102, 103, [], [(4.1, 3.0)]),
        depth_event(106, 107, [(3.9, 9.0)], []),  # gap: 104..105 never came
        depth_event(108, 108, [(3.95, 1.0)], []),
    ]
    snapshots = [
        depth_snapshot(100, {4.0: 5.0}, {4.2: 1.0}),
        depth_snapshot(107, {4.0: 2.0, 3.9: 9.0}, {4.1: 3.0, 4.2: 1.0}),
    ]
    fake, url = await serve(Behaviour(events, depth=lambda n, q: (200, snapshots[min(n, 1)])))
    store = MemoryBookStore()
    key = TradeKey("binance", Symbol("BNB", "BTC"))
    try:
        source = WebSocketBooks(session, "binance", [key.symbol], url=url, rest_url=url, **fast())
        report = await record(
            StreamBooks(store, flush_ms=10), source, lambda: source.stats.book_updates >= 3
        )
    finally:
        await fake.stop()
    stats = report.stream
    assert (stats.gaps, stats.resyncs, stats.snapshots) == (1, 1, 2)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("BNBBTC is inconsistent" in m and "sequence gap" in m for m in warned)
    assert len(fake.depth_calls) == 2
    stored = book_updates(await store.read_book(key, EVERYTHING), "BNBBTC")
    kinds = [(type(u).__name__, u.sequence) for u in stored]
    assert kinds == [
        ("BookSnapshot", 100),
        ("BookDiff", 101),
        ("BookDiff", 103),
        ("BookSnapshot", 107),
        ("BookDiff", 108),
    ]
    book = L2Book("BNBBTC", on_gap="resync")
    for update in stored:
        if isinstance(update, BookSnapshot):
            book.apply_snapshot(update)
        else:
            assert book.apply_diff(update)
    assert book.depth(5) == ([(4.0, 2.0), (3.95, 1.0), (3.9, 9.0)], [(4.1, 3.0), (4.2, 1.0)])


# -- Kraken v2 book with its checksum -------------------------------------------------------------


def kraken_resnapshot(msg: dict[str, Any]) -> list[str]:
    """Answer a resubscribe with the documented snapshot (a fresh book)."""
    if msg.get("method") == "subscribe":
        return [KRAKEN_BOOK[0]]
    return []


async def test_kraken_documented_book_passes_its_checksums(session: aiohttp.ClientSession) -> None:
    fake, url = await serve(Behaviour(KRAKEN_BOOK, wait_for_subscribe=True))
    store = MemoryBookStore()
    key = TradeKey("kraken", MATIC)
    try:
        source = WebSocketBooks(session, "kraken", [MATIC], url=url, **fast())
        report = await record(
            StreamBooks(store, flush_ms=10), source, lambda: source.stats.book_updates >= 1
        )
    finally:
        await fake.stop()
    assert fake.subscriptions == [
        {"method": "subscribe", "params": {"channel": "book", "symbol": ["MATIC/USD"], "depth": 10}}
    ]
    assert report.stream.checksum_failures == 0
    book = await replay(store, key, "MATIC/USD")
    assert book.quantity_at("bids", 0.5657) == 1098.3947558
    assert book.best_bid() == (0.5666, 4831.75496356)
    assert book.best_ask() == (0.5668, 4410.79769741)


async def test_a_bad_kraken_checksum_is_healed_by_resubscribing(
    session: aiohttp.ClientSession,
) -> None:
    corrupt = json.loads(KRAKEN_BOOK[1])
    corrupt["data"][0]["checksum"] = 12345
    messages = [KRAKEN_BOOK[0], json.dumps(corrupt)]
    fake, url = await serve(Behaviour(messages, wait_for_subscribe=True, respond=kraken_resnapshot))
    store = MemoryBookStore()
    key = TradeKey("kraken", MATIC)
    try:
        source = WebSocketBooks(session, "kraken", [MATIC], url=url, **fast())
        report = await record(
            StreamBooks(store, flush_ms=10), source, lambda: source.stats.resyncs >= 1
        )
    finally:
        await fake.stop()
    assert report.stream.checksum_failures == 1
    assert report.stream.resyncs == 1
    assert [m["method"] for m in fake.received] == ["subscribe", "unsubscribe", "subscribe"]
    stored = book_updates(await store.read_book(key, EVERYTHING), "MATIC/USD")
    assert [type(u).__name__ for u in stored] == [
        "BookSnapshot",
        "BookSnapshot",
    ]  # bad diff never stored
    assert source.current(MATIC, 1) == ([(0.5666, 4831.75496356)], [(0.5668, 4410.79769741)])


async def test_a_book_known_wrong_is_not_served(session: aiohttp.ClientSession) -> None:
    corrupt = json.loads(KRAKEN_BOOK[1])
    corrupt["data"][0]["checksum"] = 1
    fake, url = await serve(
        Behaviour([KRAKEN_BOOK[0], json.dumps(corrupt)], wait_for_subscribe=True)
    )
    try:
        source = WebSocketBooks(session, "kraken", [MATIC], url=url, **fast())
        await record(
            StreamBooks(MemoryBookStore(), flush_ms=10),
            source,
            lambda: source.stats.checksum_failures >= 1,
        )
    finally:
        await fake.stop()
    with pytest.raises(BookNotReady):
        source.current(MATIC, 5)


async def test_a_dropped_kraken_connection_resubscribes_and_rebuilds(
    session: aiohttp.ClientSession,
) -> None:
    fake, url = await serve(
        Behaviour(KRAKEN_BOOK, wait_for_subscribe=True, close_after=lambda n: 1 if n == 0 else None)
    )
    store = MemoryBookStore()
    key = TradeKey("kraken", MATIC)
    try:
        source = WebSocketBooks(session, "kraken", [MATIC], url=url, **fast())
        report = await record(
            StreamBooks(store, flush_ms=10), source, lambda: source.stats.book_updates >= 1
        )
    finally:
        await fake.stop()
    assert report.stream.reconnects == 1
    assert len(fake.subscriptions) == 2
    book = await replay(store, key, "MATIC/USD")
    assert book.quantity_at("bids", 0.5657) == 1098.3947558


# -- Coinbase level2 ---------------------------------------------------------------------------------


async def test_coinbase_level2_is_numbered_and_malformed_frames_are_counted(
    session: aiohttp.ClientSession,
) -> None:
    bad_side = json.loads(COINBASE_L2[1])
    bad_side["changes"] = [["hold", "10101.8", "1"]]
    messages = [COINBASE_L2[0], "this is not json", json.dumps(bad_side), COINBASE_L2[1]]
    fake, url = await serve(Behaviour(messages, wait_for_subscribe=True))
    store = MemoryBookStore()
    key = TradeKey("coinbase", Symbol("BTC", "USD"))
    try:
        source = WebSocketBooks(session, "coinbase", [key.symbol], url=url, **fast())
        report = await record(
            StreamBooks(store, flush_ms=10), source, lambda: source.stats.book_updates >= 1
        )
    finally:
        await fake.stop()
    assert fake.subscriptions[0] == {
        "type": "subscribe",
        "product_ids": ["BTC-USD"],
        "channels": ["level2_batch"],
    }
    assert report.stream.decode_errors == 2
    book = await replay(store, key, "BTC-USD")
    assert book.depth(3) == ([(10101.8, 0.162567), (10101.1, 0.4505414)], [(10102.55, 0.57753524)])


# -- a burst into a slow store --------------------------------------------------------------------


class SlowBookStore(MemoryBookStore):
    async def write_book(self, key: TradeKey, rows: pl.DataFrame) -> int:
        await asyncio.sleep(0.005)
        return await super().write_book(key, rows)


def burst(n: int) -> tuple[list[str], dict[float, float], dict[float, float]]:
    """``n`` diffs after a snapshot at 1000; the book they lead to."""
    bids, asks = {1.0: 1.0}, {2.0: 1.0}
    events = []
    for i in range(n):
        price = round(1.0 - 0.001 * (i % 50 + 1), 6)
        qty = float(i % 7)
        bids[price] = qty
        if qty == 0.0:
            del bids[price]
        events.append(depth_event(1001 + i, 1001 + i, [(price, qty)], []))
    return events, bids, asks


@pytest.mark.parametrize("policy", ["block", "drop"])
async def test_a_burst_into_a_slow_store(session: aiohttp.ClientSession, policy: str) -> None:
    """Under "block" every diff is stored; under "drop" diffs are dropped and counted, a
    fresh snapshot is asked for, and what is stored still replays to the venue's book."""
    n = 200
    events, final_bids, final_asks = burst(n)
    snapshots = [
        depth_snapshot(1000, {1.0: 1.0}, {2.0: 1.0}),
        depth_snapshot(1000 + n, final_bids, final_asks),
    ]
    fake, url = await serve(Behaviour(events, depth=lambda k, q: (200, snapshots[min(k, 1)])))
    store = SlowBookStore()
    key = TradeKey("binance", Symbol("BNB", "BTC"))
    recorder = StreamBooks(store, batch_size=1, flush_ms=5, queue_size=5, policy=policy)  # type: ignore[arg-type]
    try:
        source = WebSocketBooks(session, "binance", [key.symbol], url=url, rest_url=url, **fast())
        report = await record(
            recorder,
            source,
            lambda: source.stats.messages >= n,
            rounds=1000,
        )
    finally:
        await fake.stop()
    assert report.queue_max <= 5
    book = L2Book("BNBBTC", on_gap="resync")
    for update in book_updates(await store.read_book(key, EVERYTHING), "BNBBTC"):
        if isinstance(update, BookSnapshot):
            book.apply_snapshot(update)
        else:
            book.apply_diff(update)
    if policy == "block":
        assert report.dropped == 0
        assert source.stats.book_updates == n
        assert report.stored == 2 + n  # the snapshot's two levels and one level per diff
        assert book.resyncs == 0
    else:
        assert report.dropped > 0
        assert len(fake.depth_calls) == 2  # the drop asked for a fresh snapshot
    assert book.ready
    bids, asks = book.depth(100)
    assert dict(bids) == final_bids
    assert dict(asks) == final_asks


async def test_a_refused_depth_snapshot_stops_the_stream(session: aiohttp.ClientSession) -> None:
    refusal = (FIXTURES_ERROR).read_text()
    fake, url = await serve(Behaviour(BINANCE_DEPTH, depth=lambda n, q: (400, refusal)))
    try:
        source = WebSocketBooks(
            session, "binance", [Symbol("BNB", "BTC")], url=url, rest_url=url, **fast()
        )
        with pytest.raises(StreamRejected, match="Invalid symbol"):
            await record(StreamBooks(MemoryBookStore(), flush_ms=10), source, lambda: False)
    finally:
        await fake.stop()


async def test_a_crossed_coinbase_book_is_resubscribed(session: aiohttp.ClientSession) -> None:
    """An l2update that leaves the book crossed drops it; arbx subscribes again and the
    venue's fresh snapshot heals it; the crossing update is never stored."""
    crossing = json.loads(COINBASE_L2[1])
    crossing["changes"] = [["buy", "10110.00", "1.0"]]  # above the best ask 10102.55
    fake, url = await serve(
        Behaviour(
            [COINBASE_L2[0], json.dumps(crossing)],
            wait_for_subscribe=True,
            respond=lambda msg: [COINBASE_L2[0]] if msg.get("type") == "subscribe" else [],
        )
    )
    store = MemoryBookStore()
    key = TradeKey("coinbase", Symbol("BTC", "USD"))
    try:
        source = WebSocketBooks(session, "coinbase", [key.symbol], url=url, **fast())
        report = await record(
            StreamBooks(store, flush_ms=10), source, lambda: source.stats.resyncs >= 1
        )
    finally:
        await fake.stop()
    assert (report.stream.crossed, report.stream.resyncs) == (1, 1)
    assert [m["type"] for m in fake.received] == ["subscribe", "unsubscribe", "subscribe"]
    stored = book_updates(await store.read_book(key, EVERYTHING), "BTC-USD")
    assert [type(u).__name__ for u in stored] == ["BookSnapshot", "BookSnapshot"]
    assert source.current(key.symbol, 1) == ([(10101.1, 0.4505414)], [(10102.55, 0.57753524)])


async def test_an_empty_snapshot_is_recorded_through_the_book_its_diffs_build(
    session: aiohttp.ClientSession,
) -> None:
    """A book with no levels has no rows to record (a stored snapshot needs one): the first
    diff after it is recorded as a snapshot of the book it builds, so the record never
    replays that diff onto an older recorded book."""
    empty = {"type": "snapshot", "product_id": "BTC-USD", "bids": [], "asks": []}
    messages = [COINBASE_L2[0], json.dumps(empty), COINBASE_L2[1]]
    fake, url = await serve(Behaviour(messages, wait_for_subscribe=True))
    store = MemoryBookStore()
    key = TradeKey("coinbase", Symbol("BTC", "USD"))
    try:
        source = WebSocketBooks(session, "coinbase", [key.symbol], url=url, **fast())
        await record(
            StreamBooks(store, flush_ms=10), source, lambda: source.stats.book_updates >= 1
        )
    finally:
        await fake.stop()
    stored = book_updates(await store.read_book(key, EVERYTHING), "BTC-USD")
    assert [type(u).__name__ for u in stored] == ["BookSnapshot", "BookSnapshot"]
    book = await replay(store, key, "BTC-USD")
    assert book.depth(5) == ([(10101.8, 0.162567)], [])
