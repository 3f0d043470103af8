"""Trades: one row per trade a venue printed, keyed by the venue's own trade id.

A trade frame has ``TRADE_SCHEMA``: ``trade_id`` (the venue's id, as text: Binance and Kraken
count, Coinbase counts per product), ``ts`` (the venue's trade time, UTC, microseconds),
``price`` and ``qty`` (positive, finite) and ``side`` (the taker's side: ``buy`` or ``sell``).
The key of a stored trade is (venue, symbol, trade_id): writing the same trade again changes
nothing, so a replayed or re-subscribed stream never duplicates a row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market.model import Symbol

Side = Literal["buy", "sell"]

TRADE_SCHEMA: dict[str, pl.DataType] = {
    "trade_id": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "price": pl.Float64(),
    "qty": pl.Float64(),
    "side": pl.String(),
}
TRADE_COLUMNS = tuple(TRADE_SCHEMA)


@dataclass(frozen=True, slots=True)
class TradeKey:
    """Which venue and pair a trade stream or a stored trade belongs to."""

    venue: str
    symbol: Symbol

    def __str__(self) -> str:
        return f"{self.venue}:{self.symbol}"


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade as a venue printed it (``ts_us``: its time in epoch microseconds)."""

    key: TradeKey
    trade_id: str
    ts_us: int
    price: float
    qty: float
    side: Side

    def __post_init__(self) -> None:
        if not (math.isfinite(self.price) and self.price > 0):
            raise InvalidInput(
                f"trade {self.trade_id} of {self.key} has price {self.price!r}: prices are"
                " positive and finite",
                field="price",
            )
        if not (math.isfinite(self.qty) and self.qty > 0):
            raise InvalidInput(
                f"trade {self.trade_id} of {self.key} has quantity {self.qty!r}: quantities"
                " are positive and finite",
                field="qty",
            )
        if self.side not in ("buy", "sell"):
            raise InvalidInput(f"trade side {self.side!r} is not buy or sell", field="side")


def empty_trades() -> pl.DataFrame:
    return pl.DataFrame(schema=TRADE_SCHEMA)


def trades_frame(trades: Iterable[Trade]) -> pl.DataFrame:
    """The trades as a frame (in the order given)."""
    rows = list(trades)
    if not rows:
        return empty_trades()
    return pl.DataFrame(
        {
            "trade_id": [t.trade_id for t in rows],
            "ts": pl.Series([t.ts_us for t in rows], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "price": [t.price for t in rows],
            "qty": [t.qty for t in rows],
            "side": [t.side for t in rows],
        },
        schema=TRADE_SCHEMA,
    )


def merge_trades(stored: pl.DataFrame, incoming: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """``stored`` plus the trades of ``incoming`` it does not hold yet (by trade id), sorted
    by time then id; and how many were new. A stored trade is never replaced."""
    check_trades(incoming)
    fresh = incoming.unique("trade_id", keep="first", maintain_order=True)
    if not stored.is_empty():
        fresh = fresh.join(stored.select("trade_id"), on="trade_id", how="anti")
    if fresh.is_empty():
        return stored, 0
    merged = pl.concat([stored, fresh.select(TRADE_COLUMNS)]).sort(["ts", "trade_id"])
    return merged, fresh.height


def check_trades(frame: pl.DataFrame) -> None:
    """Raise ``InvalidInput`` unless ``frame`` is a trade frame with valid values."""
    if dict(frame.schema) != TRADE_SCHEMA:
        raise InvalidInput(
            f"a trade frame has the columns {dict(TRADE_SCHEMA)}; got {dict(frame.schema)}",
            field="trades",
        )
    if frame.is_empty():
        return
    bad = frame.filter(
        ~pl.col("price").is_finite()
        | (pl.col("price") <= 0)
        | ~pl.col("qty").is_finite()
        | (pl.col("qty") <= 0)
        | ~pl.col("side").is_in(["buy", "sell"])
        | pl.col("trade_id").is_null()
        | pl.col("ts").is_null()
    )
    if not bad.is_empty():
        first = bad.row(0, named=True)
        raise InvalidInput(
            f"{bad.height} trade(s) are not valid (prices and quantities positive and finite,"
            f" side buy or sell), e.g. {first}",
            field="trades",
        )


def trades_in(frame: pl.DataFrame, start_us: int, end_us: int) -> pl.DataFrame:
    """The rows of a time-sorted trade frame with ``start_us <= ts < end_us``."""
    ts = frame.get_column("ts").dt.epoch("us")
    return frame.filter((ts >= start_us) & (ts < end_us))
