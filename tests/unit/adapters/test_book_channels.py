"""The book channels without a socket: Kraken's checksum against the documented example, and
a property of Binance sequencing: whatever the point at which the stream is joined and the
REST snapshot taken, the snapshot plus the diffs delivered (through the stored frame) equal
the venue's later book."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.adapters.streams.books import BinanceBooks, WebSocketBooks, kraken_checksum
from arbx.adapters.streams.quotes import WebSocketQuotes
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol
from arbx.domain.market.books import BookUpdate, book_frame, book_updates
from arbx.domain.orderbook.book import BookSnapshot, L2Book
from arbx.ports.trade_stream import StreamStats
from tests.integration.streams.fake_venue import lines

# -- Kraken's CRC32 ----------------------------------------------------------------------------


def _levels(rows: list[dict[str, float]]) -> list[tuple[float, float]]:
    return [(row["price"], row["qty"]) for row in rows]


def test_kraken_checksum_matches_the_documented_snapshot_and_update() -> None:
    snapshot, update = (
        json.loads(line)["data"][0] for line in lines("kraken/ws_v2_book_docs_example.jsonl")
    )
    bids, asks = _levels(snapshot["bids"]), _levels(snapshot["asks"])
    assert kraken_checksum(asks, bids, 4, 8) == snapshot["checksum"] == 2439117997
    ((price, qty),) = _levels(update["bids"])
    after = [(p, qty if p == price else q) for p, q in bids]
    assert kraken_checksum(asks, after, 4, 8) == update["checksum"] == 2114181697


def test_kraken_checksum_sees_a_changed_level_and_the_precision() -> None:
    snapshot = json.loads(lines("kraken/ws_v2_book_docs_example.jsonl")[0])["data"][0]
    bids, asks = _levels(snapshot["bids"]), _levels(snapshot["asks"])
    changed = [(bids[0][0], bids[0][1] + 1e-8), *bids[1:]]
    assert kraken_checksum(asks, changed, 4, 8) != 2439117997
    assert kraken_checksum(asks, bids, 5, 8) != 2439117997  # "0.56660" is not "0.5666"
    assert kraken_checksum([*asks[:10], (0.9, 1.0)], bids, 4, 8) == 2439117997  # top 10 only


# -- Binance sequencing, as a property ------------------------------------------------------------


class _Response:
    def __init__(self, body: str) -> None:
        self.status = 200
        self._body = body.encode()

    async def __aenter__(self) -> _Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        return self._body


class _Session:
    """Answers the REST depth call with the venue's book at the snapshot's id."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.calls = 0

    def get(self, url: str, params: dict[str, str]) -> _Response:
        self.calls += 1
        return _Response(self.body)


class _Link:
    def __init__(self, session: _Session) -> None:
        self.session = session
        self.stats = StreamStats("binance")

    async def send(self, message: Any) -> None:
        raise AssertionError("binance books never send on the socket")


def _wire(levels: dict[float, float]) -> list[list[str]]:
    return [[repr(p), repr(q)] for p, q in sorted(levels.items())]


steps = st.lists(
    st.tuples(
        st.integers(1, 3),  # ids the event covers
        st.lists(st.tuples(st.integers(1, 20), st.sampled_from([0.0, 1.0, 2.5])), max_size=4),
        st.lists(st.tuples(st.integers(21, 40), st.sampled_from([0.0, 1.0, 2.5])), max_size=4),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(events=steps, join=st.integers(0, 24), lag=st.integers(0, 30))
def test_snapshot_plus_delivered_diffs_equal_the_later_book(
    events: Sequence[tuple[int, list[tuple[int, float]], list[tuple[int, float]]]],
    join: int,
    lag: int,
) -> None:
    """The venue's book evolves by ``events``; the client joins at event ``join`` and the REST
    snapshot is taken ``lag`` ids later (never before the first event it holds). What the
    channel delivers, stored and read back, replays to the venue's final book."""
    join = min(join, len(events) - 1)
    bids: dict[float, float] = {0.5: 1.0}
    asks: dict[float, float] = {50.0: 1.0}
    history: list[tuple[int, dict[float, float], dict[float, float]]] = [
        (10, dict(bids), dict(asks))
    ]
    frames = []
    last = 10
    for width, bid_levels, ask_levels in events:
        first, last = last + 1, last + width
        for book, levels in ((bids, bid_levels), (asks, ask_levels)):
            for tick, qty in levels:
                price = float(tick)
                if qty == 0.0:
                    book.pop(price, None)
                else:
                    book[price] = qty
        history.append((last, dict(bids), dict(asks)))
        frames.append(
            json.dumps(
                {
                    "stream": "bnbbtc@depth@100ms",
                    "data": {
                        "e": "depthUpdate",
                        "E": 1_700_000_000_000 + last,
                        "s": "BNBBTC",
                        "U": first,
                        "u": last,
                        "b": [[repr(float(t)), repr(q)] for t, q in bid_levels],
                        "a": [[repr(float(t)), repr(q)] for t, q in ask_levels],
                    },
                }
            )
        )
    start_id = history[join][0]  # the book just before the first event the client holds
    candidates = [h for h in history if h[0] >= start_id]
    snap_id, snap_bids, snap_asks = candidates[min(lag, len(candidates) - 1)]
    body = json.dumps({"lastUpdateId": snap_id, "bids": _wire(snap_bids), "asks": _wire(snap_asks)})
    channel = BinanceBooks([Symbol("BNB", "BTC")], "ws://unused", rest_url="http://unused")
    link = _Link(_Session(body))

    async def run() -> list[BookUpdate]:
        delivered: list[BookUpdate] = []
        for frame in frames[join:]:
            delivered += await channel.handle(frame, link)  # type: ignore[arg-type]
        return delivered

    delivered = asyncio.run(run())
    assert link.stats.gaps == 0
    assert link.session.calls == 1
    stored = book_frame([u.update for u in delivered], ts_us=[u.ts_us for u in delivered])
    book = L2Book("BNBBTC")
    for update in book_updates(stored, "BNBBTC"):
        if isinstance(update, BookSnapshot):
            book.apply_snapshot(update)
        else:
            assert book.apply_diff(update)
    got_bids, got_asks = book.depth(1000)
    assert dict(got_bids) == bids
    assert dict(got_asks) == asks
    assert book.sequence is not None
    assert book.sequence <= last


def test_an_unknown_venue_is_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="no quote stream for venue 'bitstamp'.*binance"):
        WebSocketQuotes(None, "bitstamp", [Symbol("BTC", "USD")])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no book stream for venue 'bitstamp'.*kraken"):
        WebSocketBooks(None, "bitstamp", [Symbol("BTC", "USD")])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="depth 7"):
        WebSocketBooks(None, "kraken", [Symbol("BTC", "USD")], depth=7)  # type: ignore[arg-type]
