"""Recorded quotes and books (the stored streams) as the replays a book execution fills on.

- ``execution: "recorded_book"`` replays a venue's stored L2 snapshots and diffs
  (``BOOK_SCHEMA``, via ``market.books.book_updates``) with the sequencing rules of
  ``orderbook.book`` (a gap clears the book until the next snapshot, counted as a resync).
- ``execution: "recorded_quotes"`` turns every stored quote (``QUOTE_SCHEMA``) into a
  one-level book: its bid and ask with their quantities (a side with quantity 0 is empty).
  Depth past the touch is unknown, so an order larger than the quoted size fills only that
  size.

Either way an order meets the book as recorded at its instant (``BookReplay.at``: every
update stamped at or before it, none after: no look-ahead). Our own fills do not deplete
the recorded book: each order walks the book as the venue printed it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market.books import book_updates, check_quotes
from arbx.domain.orderbook.book import BookDiff, BookSnapshot, Level
from arbx.domain.orderbook.tape import BookReplay

RecordedKind = Literal["recorded_book", "recorded_quotes"]


def quote_updates(frame: pl.DataFrame, instrument: str) -> list[BookSnapshot | BookDiff]:
    """One snapshot per quote (sequence = its row number from 1, ``ts`` in epoch ms)."""
    check_quotes(frame)
    ordered = frame.sort("ts", maintain_order=True)
    ts_ms = (ordered["ts"].dt.epoch("us") // 1000).to_list()
    out: list[BookSnapshot | BookDiff] = []
    rows = zip(
        ts_ms,
        ordered["bid"].to_list(),
        ordered["bid_qty"].to_list(),
        ordered["ask"].to_list(),
        ordered["ask_qty"].to_list(),
        strict=True,
    )
    for i, (ts, bid, bid_qty, ask, ask_qty) in enumerate(rows, start=1):
        bids: list[Level] = [(bid, bid_qty)] if bid_qty > 0 else []
        asks: list[Level] = [(ask, ask_qty)] if ask_qty > 0 else []
        out.append(BookSnapshot(instrument, i, bids, asks, ts=ts))
    return out


def recorded_updates(
    frame: pl.DataFrame, instrument: str, kind: RecordedKind
) -> list[BookSnapshot | BookDiff]:
    """The updates of a stored quote frame or book frame, in time order."""
    if kind == "recorded_quotes":
        return quote_updates(frame, instrument)
    return book_updates(frame, instrument)


def check_recorded(frame: pl.DataFrame, label: str, kind: RecordedKind) -> None:
    """Refuse a leg whose recorded stream cannot give a book in the span: no rows at all,
    or (books) diffs without any snapshot to start from."""
    what = "quotes" if kind == "recorded_quotes" else "order-book updates"
    if frame.is_empty():
        raise InvalidInput(
            f"execution {kind!r}: no recorded {what} for {label} in the span; record them"
            " first ('arbx stream ...') or use execution 'bars' or 'synthetic_book'",
            field="execution",
        )
    if kind == "recorded_book" and not frame["kind"].eq("snapshot").any():
        raise InvalidInput(
            f"execution {kind!r}: the recorded book of {label} has diffs but no snapshot in"
            " the span, so no book can be built from it",
            field="execution",
        )


def replays(
    updates: Mapping[str, list[BookSnapshot | BookDiff]],
) -> dict[str, BookReplay]:
    """A fresh replay per label (a replay only moves forward: one per pass)."""
    return {label: BookReplay(label, ups) for label, ups in updates.items()}


def iso_us(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat().replace("+00:00", "Z")


def describe_recorded(frame: pl.DataFrame, label: str, kind: RecordedKind) -> str:
    """A note naming the recorded data a run read: rows, first and last time, and a
    SHA-256 of the rows (each column's values in row order), so a stored run says exactly
    which recorded stream it filled on."""
    digest = hashlib.sha256(f"arbx-{kind}-v1:{frame.height}:".encode())
    for name in frame.columns:
        column = frame[name]
        if column.dtype == pl.String:
            digest.update("\x1f".join(column.fill_null("").to_list()).encode())
        else:
            digest.update(column.to_physical().fill_null(0).to_numpy().astype("<f8").tobytes())
    ts = frame["ts"].dt.epoch("us")
    first, last = iso_us(int(ts.min())), iso_us(int(ts.max()))  # type: ignore[arg-type]
    what = "quotes" if kind == "recorded_quotes" else "book rows"
    return (
        f"{kind} {label}: {frame.height:,} {what} {first} .. {last}"
        f" (sha256 {digest.hexdigest()[:16]})"
    )
