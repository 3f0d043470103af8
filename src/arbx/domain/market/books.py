"""Recorded quotes and order-book updates: the frames the quote/book store keeps.

Two kinds of record, both per (venue, symbol) (the ``TradeKey`` of trades):

- A quote frame (``QUOTE_SCHEMA``) is the venue's best bid and ask over time, one row per
  update: ``ts`` (UTC, microseconds), ``bid``, ``bid_qty``, ``ask``, ``ask_qty`` (prices
  positive and finite, quantities non-negative and finite, ``bid < ask``). The key of a
  stored quote is its whole row: writing the same quote again changes nothing.
- A book frame (``BOOK_SCHEMA``) is a stream of L2 snapshots and diffs in long form, one row
  per level: ``ts`` (UTC, microseconds), ``sequence`` (the update id the row belongs to),
  ``first_sequence`` (a diff's first covered id, null for one id), ``kind`` (``snapshot`` or
  ``diff``), ``side`` (``bid`` or ``ask``), ``price`` and ``qty`` (absolute: 0 removes the
  level in a diff; a snapshot's quantities are positive). The key of a stored row is
  (kind, sequence, side, price): replays do not duplicate. ``book_updates`` turns a frame
  back into the ``BookSnapshot``/``BookDiff`` sequence the order-book core replays
  (``arbx.domain.orderbook.tape.BookReplay``); ``book_frame`` is its inverse.

A venue without update ids (Kraken's checksummed book, Coinbase level2) is numbered by the
recorder, one id per message in arrival order, so the sequencing rules still hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market.trades import TradeKey
from arbx.domain.orderbook.book import BookDiff, BookSnapshot, Level

QUOTE_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "bid": pl.Float64(),
    "bid_qty": pl.Float64(),
    "ask": pl.Float64(),
    "ask_qty": pl.Float64(),
}
QUOTE_COLUMNS = tuple(QUOTE_SCHEMA)

BOOK_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "sequence": pl.Int64(),
    "first_sequence": pl.Int64(),
    "kind": pl.String(),
    "side": pl.String(),
    "price": pl.Float64(),
    "qty": pl.Float64(),
}
BOOK_COLUMNS = tuple(BOOK_SCHEMA)
BOOK_KEY = ("kind", "sequence", "side", "price")


@dataclass(frozen=True, slots=True)
class Quote:
    """A venue's best bid and ask at ``ts_us`` (epoch microseconds, the venue's time where it
    sends one, else the receive time)."""

    key: TradeKey
    ts_us: int
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float

    def __post_init__(self) -> None:
        for name in ("bid", "ask"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidInput(
                    f"quote of {self.key} has {name} {value!r}: prices are positive and finite",
                    field=name,
                )
        for name in ("bid_qty", "ask_qty"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInput(
                    f"quote of {self.key} has {name} {value!r}: quantities are non-negative",
                    field=name,
                )
        if self.bid >= self.ask:
            raise InvalidInput(
                f"quote of {self.key} is crossed (bid {self.bid} >= ask {self.ask})",
                field="bid",
            )


def quotes_frame(quotes: Iterable[Quote]) -> pl.DataFrame:
    """The quotes as a frame (in the order given)."""
    rows = list(quotes)
    return pl.DataFrame(
        {
            "ts": pl.Series([q.ts_us for q in rows], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "bid": [q.bid for q in rows],
            "bid_qty": [q.bid_qty for q in rows],
            "ask": [q.ask for q in rows],
            "ask_qty": [q.ask_qty for q in rows],
        },
        schema=QUOTE_SCHEMA,
    )


def empty_quotes() -> pl.DataFrame:
    return pl.DataFrame(schema=QUOTE_SCHEMA)


def empty_book() -> pl.DataFrame:
    return pl.DataFrame(schema=BOOK_SCHEMA)


def check_quotes(frame: pl.DataFrame) -> None:
    """Raise ``InvalidInput`` unless ``frame`` is a quote frame with valid values."""
    if dict(frame.schema) != QUOTE_SCHEMA:
        raise InvalidInput(
            f"a quote frame has the columns {dict(QUOTE_SCHEMA)}; got {dict(frame.schema)}",
            field="quotes",
        )
    if frame.is_empty():
        return
    price_ok = pl.all_horizontal(pl.col(c).is_finite() & (pl.col(c) > 0) for c in ("bid", "ask"))
    qty_ok = pl.all_horizontal(
        pl.col(c).is_finite() & (pl.col(c) >= 0) for c in ("bid_qty", "ask_qty")
    )
    bad = frame.filter(
        ~price_ok.fill_null(False)
        | ~qty_ok.fill_null(False)
        | (pl.col("bid") >= pl.col("ask")).fill_null(True)
        | pl.col("ts").is_null()
    )
    if not bad.is_empty():
        raise InvalidInput(
            f"{bad.height} quote(s) are not valid (prices positive and finite, quantities"
            f" non-negative, bid below ask), e.g. {bad.row(0, named=True)}",
            field="quotes",
        )


def check_book(frame: pl.DataFrame) -> None:
    """Raise ``InvalidInput`` unless ``frame`` is a book frame with valid values."""
    if dict(frame.schema) != BOOK_SCHEMA:
        raise InvalidInput(
            f"a book frame has the columns {dict(BOOK_SCHEMA)}; got {dict(frame.schema)}",
            field="book",
        )
    if frame.is_empty():
        return
    bad = frame.filter(
        pl.col("ts").is_null()
        | pl.col("sequence").is_null()
        | ~pl.col("kind").is_in(["snapshot", "diff"]).fill_null(False)
        | ~pl.col("side").is_in(["bid", "ask"]).fill_null(False)
        | ~(pl.col("price").is_finite() & (pl.col("price") > 0)).fill_null(False)
        | ~(pl.col("qty").is_finite() & (pl.col("qty") >= 0)).fill_null(False)
        | ((pl.col("kind") == "snapshot") & (pl.col("qty") <= 0)).fill_null(False)
    )
    if not bad.is_empty():
        raise InvalidInput(
            f"{bad.height} book row(s) are not valid (kind snapshot or diff, side bid or ask,"
            f" prices positive and finite, quantities non-negative and positive in a"
            f" snapshot), e.g. {bad.row(0, named=True)}",
            field="book",
        )


def merge_rows(
    stored: pl.DataFrame, incoming: pl.DataFrame, key: Sequence[str], order: Sequence[str]
) -> tuple[pl.DataFrame, int]:
    """``stored`` plus the rows of ``incoming`` whose ``key`` it does not hold yet, sorted by
    ``order``; and how many were new. A stored row is never replaced."""
    fresh = incoming.unique(list(key), keep="first", maintain_order=True)
    if not stored.is_empty():
        fresh = fresh.join(stored.select(list(key)), on=list(key), how="anti", nulls_equal=True)
    if fresh.is_empty():
        return stored, 0
    merged = pl.concat([stored, fresh.select(stored.columns)]).sort(list(order))
    return merged, fresh.height


def merge_quotes(stored: pl.DataFrame, incoming: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    check_quotes(incoming)
    return merge_rows(stored, incoming, QUOTE_COLUMNS, QUOTE_COLUMNS)


def merge_book(stored: pl.DataFrame, incoming: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    check_book(incoming)
    return merge_rows(stored, incoming, BOOK_KEY, ("ts", "sequence", "kind", "side", "price"))


def book_frame(
    updates: Iterable[BookSnapshot | BookDiff], *, ts_us: Sequence[int] | None = None
) -> pl.DataFrame:
    """The updates in long form (``ts_us``: each update's time in µs; default its ``ts``
    in ms times 1000). A snapshot needs at least one level to be recorded."""
    rows: dict[str, list[object]] = {c: [] for c in BOOK_COLUMNS}
    for i, update in enumerate(updates):
        ts = update.ts * 1000 if ts_us is None else ts_us[i]
        kind = "snapshot" if isinstance(update, BookSnapshot) else "diff"
        first = None if isinstance(update, BookSnapshot) else update.first_sequence
        if kind == "snapshot" and not (update.bids or update.asks):
            raise InvalidInput(
                f"snapshot {update.sequence} of {update.instrument} has no levels to record",
                field="book",
            )
        for side, levels in (("bid", update.bids), ("ask", update.asks)):
            for price, qty in levels:
                rows["ts"].append(ts)
                rows["sequence"].append(update.sequence)
                rows["first_sequence"].append(first)
                rows["kind"].append(kind)
                rows["side"].append(side)
                rows["price"].append(float(price))
                rows["qty"].append(float(qty))
    frame = pl.DataFrame(
        {**rows, "ts": pl.Series(rows["ts"], dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))},
        schema=BOOK_SCHEMA,
    )
    check_book(frame)
    return frame


def book_updates(frame: pl.DataFrame, instrument: str) -> list[BookSnapshot | BookDiff]:
    """The snapshots and diffs of a book frame, in stored order (time, then sequence); the
    updates' ``ts`` is in epoch ms, as the order-book core counts time."""
    check_book(frame)
    ordered = frame.with_columns(pl.col("ts").dt.epoch("us").alias("ts")).sort(
        ["ts", "sequence", "kind"], maintain_order=True
    )
    out: list[BookSnapshot | BookDiff] = []
    rows = ordered.iter_rows()
    for (ts, sequence, first, kind), group in groupby(rows, key=lambda r: (r[0], r[1], r[2], r[3])):
        bids: list[Level] = []
        asks: list[Level] = []
        for row in group:
            (bids if row[4] == "bid" else asks).append((row[5], row[6]))
        if kind == "snapshot":
            out.append(BookSnapshot(instrument, sequence, bids, asks, ts=ts // 1000))
        else:
            out.append(
                BookDiff(instrument, sequence, bids, asks, first_sequence=first, ts=ts // 1000)
            )
    return out


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """One book message of a (venue, symbol) as a stream delivers it: a snapshot or a diff,
    stamped ``ts_us`` (epoch µs; after the key's previous update, so time order is delivery
    order)."""

    key: TradeKey
    update: BookSnapshot | BookDiff
    ts_us: int
