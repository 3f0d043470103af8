"""Recorded quote and book frames: validation, idempotent merges and the round trip to the
order-book core's updates."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market.books import (
    QUOTE_SCHEMA,
    book_frame,
    book_updates,
    empty_book,
    empty_quotes,
    merge_book,
    merge_quotes,
)
from arbx.domain.orderbook.book import BookDiff, BookSnapshot
from arbx.domain.orderbook.tape import BookReplay

UPDATES: list[BookSnapshot | BookDiff] = [
    BookSnapshot("x", 5, [(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.0)], ts=1000),
    BookDiff("x", 6, [(99.0, 0.0)], [], ts=1001),
    BookDiff("x", 8, [], [(102.0, 3.0)], first_sequence=7, ts=1002),
]


def quotes(rows: list[tuple[int, float, float, float, float]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=["ts", "bid", "bid_qty", "ask", "ask_qty"], orient="row")
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))).select(
        pl.col(c).cast(t) for c, t in QUOTE_SCHEMA.items()
    )


def test_book_frame_round_trips_to_the_same_updates_and_replays() -> None:
    frame = book_frame(UPDATES)
    assert frame.height == 5
    assert book_updates(frame, "x") == UPDATES
    replay = BookReplay("x", book_updates(frame, "x"))
    book = replay.at(1002)
    assert book.best_bid() == (98.0, 2.0)
    assert book.best_ask() == (101.0, 1.0)


def test_merging_a_book_frame_twice_stores_each_row_once() -> None:
    frame = book_frame(UPDATES)
    merged, new = merge_book(empty_book(), frame)
    assert new == 5
    again, new_again = merge_book(merged, frame.reverse())
    assert new_again == 0
    assert again.equals(merged)


@pytest.mark.parametrize(
    ("column", "value"),
    [("price", float("nan")), ("price", -1.0), ("qty", -2.0), ("side", "mid"), ("kind", "x")],
)
def test_an_invalid_book_row_is_refused(column: str, value: object) -> None:
    frame = book_frame(UPDATES).with_columns(pl.lit(value).alias(column))
    with pytest.raises(InvalidInput):
        merge_book(empty_book(), frame.cast(book_frame(UPDATES).schema))


def test_a_snapshot_level_with_zero_quantity_is_refused() -> None:
    with pytest.raises(InvalidInput):
        book_frame([BookSnapshot("x", 1, [(1.0, 0.0)], [(2.0, 1.0)])])


def test_quotes_merge_idempotently_and_crossed_quotes_are_refused() -> None:
    frame = quotes([(1, 99.0, 1.0, 100.0, 2.0), (2, 99.5, 1.0, 100.0, 2.0)])
    merged, new = merge_quotes(empty_quotes(), frame)
    assert (new, merged.height) == (2, 2)
    assert merge_quotes(merged, frame)[1] == 0
    with pytest.raises(InvalidInput, match="bid below ask"):
        merge_quotes(merged, quotes([(3, 100.0, 1.0, 100.0, 1.0)]))


@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.lists(st.tuples(st.integers(1, 50), st.integers(0, 5)), max_size=4),
        ),
        max_size=12,
    )
)
def test_any_update_sequence_round_trips(spec: list[tuple[bool, list[tuple[int, int]]]]) -> None:
    updates: list[BookSnapshot | BookDiff] = []
    for i, (snapshot, levels) in enumerate(spec, start=1):
        bids = list({float(p): float(q) for p, q in levels}.items())
        if snapshot:
            bids = [(p, q) for p, q in bids if q > 0] or [(1.0, 1.0)]
            updates.append(BookSnapshot("x", i, bids, [(100.0, 1.0)], ts=i))
        else:
            updates.append(BookDiff("x", i, bids, [], ts=i))
    expected = [u for u in updates if u.bids or u.asks]
    assert book_updates(book_frame(updates), "x") == expected


def test_a_quote_checks_its_values_and_becomes_a_frame() -> None:
    from arbx.domain.market.books import Quote, check_quotes, quotes_frame
    from arbx.domain.market.model import Symbol
    from arbx.domain.market.trades import TradeKey

    key = TradeKey("binance", Symbol.parse("BTC/USDC"))
    frame = quotes_frame([Quote(key, 1, 99.0, 1.0, 100.0, 2.0)])
    check_quotes(frame)
    assert frame.row(0)[1:] == (99.0, 1.0, 100.0, 2.0)
    with pytest.raises(InvalidInput, match="crossed"):
        Quote(key, 1, 100.0, 1.0, 99.0, 2.0)
    with pytest.raises(InvalidInput):
        Quote(key, 1, float("nan"), 1.0, 99.0, 2.0)
