"""The L2 book: queries, sequencing, and that no update sequence corrupts it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.orderbook.book import BookDiff, BookSnapshot, L2Book
from arbx.domain.orderbook.errors import BookNotReady, CrossedBook, SequenceGap


def book(on_gap: str = "raise") -> L2Book:
    b = L2Book("BTC/USDC", on_gap=on_gap)  # type: ignore[arg-type]
    b.apply_snapshot(
        BookSnapshot(
            "BTC/USDC",
            10,
            bids=[(99.0, 2.0), (100.0, 1.0), (98.0, 5.0)],
            asks=[(102.0, 4.0), (101.0, 3.0), (103.0, 10.0)],
        )
    )
    return b


def test_best_levels_mid_spread_microprice() -> None:
    b = book()
    assert b.best_bid() == (100.0, 1.0)
    assert b.best_ask() == (101.0, 3.0)
    assert b.mid() == 100.5
    assert b.spread() == 1.0
    # leans toward the bid: there is less on it, so the next move is likelier down
    assert b.microprice() == pytest.approx((100.0 * 3.0 + 101.0 * 1.0) / 4.0)
    assert b.depth(2) == ([(100.0, 1.0), (99.0, 2.0)], [(101.0, 3.0), (102.0, 4.0)])
    assert b.depth(0) == ([], [])
    assert b.depth(10)[0] == [(100.0, 1.0), (99.0, 2.0), (98.0, 5.0)]


def test_walking_the_book() -> None:
    b = book()
    w = b.walk("buy", 5.0)
    assert (w.filled, w.notional, w.levels, w.worst_price) == (5.0, 3 * 101.0 + 2 * 102.0, 2, 102.0)
    assert w.average_price == pytest.approx((303.0 + 204.0) / 5.0)
    assert w.complete
    assert w.shortfall == 0.0
    s = b.walk("sell", 10.0)
    assert (s.filled, s.notional, s.worst_price) == (8.0, 100.0 + 198.0 + 490.0, 98.0)
    assert s.shortfall == 2.0
    assert not s.complete
    capped = b.walk("buy", 10.0, limit=101.5)
    assert (capped.filled, capped.levels) == (3.0, 1)
    nothing = b.walk("sell", 1.0, limit=100.5)
    assert nothing.filled == 0.0
    assert math.isnan(nothing.average_price)
    with pytest.raises(InvalidInput, match="positive"):
        b.walk("buy", 0.0)


def test_diffs_set_and_remove_levels() -> None:
    b = book()
    assert b.apply_diff(BookDiff("BTC/USDC", 11, bids=[(100.0, 0.0), (100.5, 2.0)]))
    assert b.best_bid() == (100.5, 2.0)
    assert b.apply_diff(BookDiff("BTC/USDC", 12, asks=[(101.0, 0.0), (101.0 + 0.25, 1.0)]))
    assert b.best_ask() == (101.25, 1.0)
    assert b.sequence == 12
    # removing a level that is not there is harmless
    assert b.apply_diff(BookDiff("BTC/USDC", 13, asks=[(150.0, 0.0)]))
    assert b.levels("asks") == 3


def test_diff_before_snapshot_is_refused_or_counted() -> None:
    with pytest.raises(BookNotReady, match="before a snapshot"):
        L2Book("X").apply_diff(BookDiff("X", 1, bids=[(1.0, 1.0)]))
    b = L2Book("X", on_gap="resync")
    assert not b.apply_diff(BookDiff("X", 1, bids=[(1.0, 1.0)]))
    assert b.dropped_diffs == 1
    with pytest.raises(BookNotReady):
        b.best_bid()


def test_stale_and_overlapping_diffs() -> None:
    b = book()
    assert not b.apply_diff(BookDiff("BTC/USDC", 10, bids=[(100.0, 9.0)]))
    assert b.stale_diffs == 1
    assert b.best_bid() == (100.0, 1.0)
    # ids 8..12 contain 11: applies (absolute quantities make the overlap harmless)
    assert b.apply_diff(BookDiff("BTC/USDC", 12, bids=[(100.0, 9.0)], first_sequence=8))
    assert b.best_bid() == (100.0, 9.0)
    assert b.sequence == 12


def test_gap_raises_and_clears_the_book() -> None:
    b = book()
    with pytest.raises(SequenceGap, match="expected 11") as err:
        b.apply_diff(BookDiff("BTC/USDC", 13, bids=[(100.0, 9.0)]))
    assert (err.value.expected, err.value.got) == (11, 13)
    assert not b.ready
    assert b.resyncs == 1
    with pytest.raises(BookNotReady):
        b.mid()
    with pytest.raises(BookNotReady):
        b.apply_diff(BookDiff("BTC/USDC", 14, bids=[(100.0, 9.0)]))
    b.apply_snapshot(BookSnapshot("BTC/USDC", 20, bids=[(1.0, 1.0)], asks=[(2.0, 1.0)]))
    assert b.mid() == 1.5


def test_gap_in_resync_mode_is_counted() -> None:
    b = book("resync")
    assert not b.apply_diff(BookDiff("BTC/USDC", 15, bids=[(100.0, 9.0)]))
    assert (b.resyncs, b.ready) == (1, False)
    assert not b.apply_diff(BookDiff("BTC/USDC", 16))
    assert b.dropped_diffs == 1


def test_crossing_diff_clears_instead_of_corrupting() -> None:
    b = book()
    with pytest.raises(CrossedBook, match="crossed"):
        b.apply_diff(BookDiff("BTC/USDC", 11, bids=[(101.0, 1.0)]))
    assert not b.ready
    assert b.resyncs == 1
    r = book("resync")
    assert not r.apply_diff(BookDiff("BTC/USDC", 11, asks=[(99.5, 1.0)]))
    assert r.resyncs == 1
    assert not r.ready


@pytest.mark.parametrize(
    "diff",
    [
        BookDiff("BTC/USDC", 11, bids=[(100.0, -1.0)]),
        BookDiff("BTC/USDC", 11, bids=[(100.0, math.nan)]),
        BookDiff("BTC/USDC", 11, asks=[(0.0, 1.0)]),
        BookDiff("BTC/USDC", 11, asks=[(math.inf, 1.0)]),
        BookDiff("BTC/USDC", 11, bids=[(99.5, 1.0)], asks=[(101.0, math.inf)]),
        BookDiff("BTC/USDC", 11, first_sequence=12),
    ],
)
def test_bad_diff_changes_nothing(diff: BookDiff) -> None:
    b = book()
    before = (b.depth(10), b.sequence)
    with pytest.raises(InvalidInput):
        b.apply_diff(diff)
    assert (b.depth(10), b.sequence) == before


@pytest.mark.parametrize(
    ("bids", "asks", "match"),
    [
        ([(100.0, 1.0)], [(100.0, 1.0)], "crossed"),
        ([(100.0, 1.0), (100.0, 2.0)], [], "twice"),
        ([(100.0, 0.0)], [], "positive"),
    ],
)
def test_bad_snapshot_changes_nothing(bids: list, asks: list, match: str) -> None:
    b = book()
    before = b.depth(10)
    with pytest.raises(InvalidInput, match=match):
        b.apply_snapshot(BookSnapshot("BTC/USDC", 50, bids=bids, asks=asks))
    assert b.depth(10) == before
    assert b.sequence == 10


def test_wrong_instrument() -> None:
    with pytest.raises(InvalidInput, match="sent to the book of"):
        book().apply_diff(BookDiff("ETH/USDC", 11))


# -- properties ---------------------------------------------------------------------------

ticks = st.integers(1, 40)
qtys = st.sampled_from([0.0, 0.0, 0.5, 1.0, 3.0])
diff_levels = st.lists(st.tuples(ticks, qtys), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(diff_levels, diff_levels, st.integers(0, 6)), max_size=40))
def test_book_matches_a_reference_model_and_never_crosses(steps: list) -> None:
    """Random diffs (bids on ticks 1..40, asks on 41..80, some skipping ids) against a plain
    dict model: the book equals the model after every applied diff, is never crossed, and
    after a gap answers nothing until a new snapshot."""
    b = L2Book("X", on_gap="resync")
    b.apply_snapshot(BookSnapshot("X", 0, bids=[(10.0, 1.0)], asks=[(50.0, 1.0)]))
    model_b, model_a = {10.0: 1.0}, {50.0: 1.0}
    seq = 0
    for bid_levels, ask_levels, skip in steps:
        seq += 1 if skip else 2  # one in seven skips an id
        bids = [(float(t), q) for t, q in bid_levels]
        asks = [(float(t + 40), q) for t, q in ask_levels]
        was_ready = b.ready
        applied = b.apply_diff(BookDiff("X", seq, bids=bids, asks=asks))
        if not was_ready:
            assert not applied
            b.apply_snapshot(BookSnapshot("X", seq, bids=[(10.0, 1.0)], asks=[(50.0, 1.0)]))
            model_b, model_a = {10.0: 1.0}, {50.0: 1.0}
            continue
        if not applied:
            assert b.resyncs >= 1
            assert not b.ready
            continue
        for model, levels in ((model_b, bids), (model_a, asks)):
            for p, q in levels:
                if q == 0.0:
                    model.pop(p, None)
                else:
                    model[p] = q
        got_b, got_a = b.depth(1000)
        assert got_b == sorted(model_b.items(), reverse=True)
        assert got_a == sorted(model_a.items())
        if got_b and got_a:
            assert got_b[0][0] < got_a[0][0]
        total = sum(model_a.values())
        if total:
            assert b.walk("buy", total * 2).filled == pytest.approx(total)
