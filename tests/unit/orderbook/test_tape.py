"""Recorded books replayed forward: the book known at an instant, nothing from after it."""

from __future__ import annotations

import pytest

from arbx.domain.errors import InvalidInput
from arbx.domain.orderbook.book import BookDiff, BookSnapshot
from arbx.domain.orderbook.tape import BookReplay

TAPE = [
    BookDiff("X", 0, bids=[(9.0, 1.0)], ts=50),  # before any snapshot: dropped
    BookSnapshot("X", 1, bids=[(10.0, 1.0)], asks=[(11.0, 1.0)], ts=100),
    BookDiff("X", 2, asks=[(10.5, 2.0)], ts=200),
    BookDiff("X", 4, asks=[(10.4, 2.0)], ts=300),  # a gap: cleared until the next snapshot
    BookSnapshot("X", 10, bids=[(20.0, 1.0)], asks=[(21.0, 1.0)], ts=400),
]


def test_the_book_as_known_at_each_instant() -> None:
    replay = BookReplay("X", TAPE)
    assert replay.at(0).best_ask() is None  # nothing known yet: an empty book
    assert replay.at(99).best_bid() is None
    assert replay.at(100).best_ask() == (11.0, 1.0)
    assert replay.at(199).best_ask() == (11.0, 1.0)
    assert replay.at(200).best_ask() == (10.5, 2.0)
    gone = replay.at(300)
    assert (gone.best_bid(), gone.best_ask()) == (None, None)
    assert replay.resyncs == 1
    assert replay.at(400).mid() == 20.5
    with pytest.raises(InvalidInput, match="forward only"):
        replay.at(399)


def test_an_unordered_tape_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not in time order"):
        BookReplay("X", [TAPE[2], TAPE[1]])
