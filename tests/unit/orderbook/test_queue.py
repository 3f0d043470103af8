"""The queue-position model: a passive order fills only after the queue ahead trades."""

from __future__ import annotations

import pytest

from arbx.domain.orderbook.book import BookDiff, BookSnapshot, L2Book
from arbx.domain.orderbook.errors import InvalidOrder
from arbx.domain.orderbook.queue import QueueFill, QueueModel


def model() -> QueueModel:
    book = L2Book("X")
    book.apply_snapshot(BookSnapshot("X", 1, bids=[(99.0, 5.0), (98.0, 3.0)], asks=[(101.0, 4.0)]))
    return QueueModel(book)


def test_fills_only_after_the_quantity_ahead_trades() -> None:
    q = model()
    o = q.place(1, "buy", 99.0, 2.0)
    assert o.ahead == 5.0
    assert q.on_trade(99.0, 4.0, "sell") == []  # 4 of the 5 ahead
    assert o.ahead == 1.0
    assert q.on_trade(99.0, 2.0, "sell") == [QueueFill(1, 99.0, 1.0, False)]
    assert (o.ahead, o.filled, o.remaining) == (0.0, 1.0, 1.0)
    # a buy aggressor or a trade at another level does not touch our bid
    assert q.on_trade(99.0, 9.0, "buy") == []
    assert q.on_trade(99.5, 9.0, "sell") == []
    assert q.on_trade(99.0, 5.0, "sell") == [QueueFill(1, 99.0, 1.0, False)]
    assert q.open_orders() == []


def test_trade_through_fills_what_is_left() -> None:
    q = model()
    q.place(1, "buy", 99.0, 2.0)
    assert q.on_trade(98.0, 0.1, "sell") == [QueueFill(1, 99.0, 2.0, True)]


def test_cancels_come_from_behind_and_growth_queues_behind() -> None:
    q = model()
    o = q.place(1, "buy", 99.0, 1.0)
    q.book.apply_diff(BookDiff("X", 2, bids=[(99.0, 8.0)]))
    q.on_book()
    assert o.ahead == 5.0  # growth is behind us
    q.book.apply_diff(BookDiff("X", 3, bids=[(99.0, 2.0)]))
    q.on_book()
    assert o.ahead == 2.0  # the level holds only 2 now: at most 2 can be ahead
    q.book.apply_diff(BookDiff("X", 4, bids=[(99.0, 0.0)]))
    q.on_book()
    assert o.ahead == 0.0
    assert q.on_trade(99.0, 0.5, "sell") == [QueueFill(1, 99.0, 0.5, False)]


def test_our_earlier_orders_are_ahead_of_later_ones() -> None:
    q = model()
    a = q.place(1, "sell", 101.0, 2.0)
    b = q.place(2, "sell", 101.0, 1.0)
    assert (a.ahead, b.ahead) == (4.0, 6.0)
    assert q.on_trade(101.0, 6.5, "buy") == [
        QueueFill(1, 101.0, 2.0, False),
        QueueFill(2, 101.0, 0.5, False),
    ]


def test_a_passive_order_may_not_cross() -> None:
    q = model()
    with pytest.raises(InvalidOrder, match="crosses the book"):
        q.place(1, "buy", 101.0, 1.0)
    with pytest.raises(InvalidOrder, match="crosses the book"):
        q.place(2, "sell", 99.0, 1.0)
    with pytest.raises(InvalidOrder, match="positive"):
        q.place(3, "sell", 102.0, 0.0)
    q.place(4, "buy", 100.0, 1.0)
    assert q.order(4).ahead == 0.0  # a new best level: nobody ahead
    q.cancel(4)
    assert q.open_orders() == []
