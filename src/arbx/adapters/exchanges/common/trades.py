"""Trade rows of a venue's REST answer as a trade frame (the venue's wire mapped at the edge)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from arbx.domain.errors import ExchangeError, InvalidInput
from arbx.domain.market.trades import TRADE_SCHEMA, check_trades


def trades_frame_from(
    ids: Sequence[int | str],
    ts_us: Sequence[int],
    price: Sequence[float],
    qty: Sequence[float],
    side: Sequence[str],
    *,
    start_us: int,
    end_us: int,
    venue: str,
) -> pl.DataFrame:
    """The rows with ``start_us <= ts < end_us`` as a ``TRADE_SCHEMA`` frame, in venue order;
    a row a trade cannot be (price or quantity not positive) is the venue's error."""
    frame = pl.DataFrame(
        {
            "trade_id": [str(i) for i in ids],
            "ts": pl.Series(list(ts_us), dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "price": pl.Series(list(price), dtype=pl.Float64),
            "qty": pl.Series(list(qty), dtype=pl.Float64),
            "side": pl.Series(list(side), dtype=pl.String),
        },
        schema=TRADE_SCHEMA,
    )
    try:
        check_trades(frame)
    except InvalidInput as exc:
        raise ExchangeError(f"{venue} sent trades arbx cannot store: {exc}", venue=venue) from exc
    micros = frame.get_column("ts").dt.epoch("us")
    return frame.filter((micros >= start_us) & (micros < end_us))


def iso_us(text: str) -> int:
    """Epoch microseconds of an ISO-8601 time such as ``2024-03-13T11:00:17.710679Z``."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    seconds = int(moment.timestamp())
    return seconds * 1_000_000 + moment.microsecond
