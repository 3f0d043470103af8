"""Decode a venue's JSON with a reusable msgspec Decoder; malformed -> ExchangeError(field)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

import msgspec
import numpy as np
import polars as pl

from arbx.domain.errors import ExchangeError
from arbx.domain.market import BAR_SCHEMA

T = TypeVar("T")


class MalformedPayload(ExchangeError):
    """A venue answered (often with a 200) a body that does not decode: an HTML error page,
    a cut-off JSON, a ``NaN`` token, a field of the wrong type. Usually a proxy or the venue
    hiccuping, so ``VenueHttp`` retries it like a 5xx before the fetch fails."""


_PATH = re.compile(r"at `(\$[^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]+)`")
_INDEX = re.compile(r"\[(\d+)\]$")
_KEY = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)$")


def field_of(message: str, row_fields: Sequence[str] = (), default: str = "payload") -> str:
    """The field a msgspec validation message points at ("$[3][2]" -> row_fields[2])."""
    missing = _MISSING.search(message)
    if missing:
        return missing.group(1)
    match = _PATH.search(message)
    if not match:
        return default
    path = match.group(1)
    if row_fields:
        index = _INDEX.search(path)
        if index and int(index.group(1)) < len(row_fields) and path.count("[") >= 2:
            return row_fields[int(index.group(1))]
    key = _KEY.search(re.sub(r"\[[^\]]*\]$", "", path))
    return key.group(1) if key else path


def decode(
    decoder: msgspec.json.Decoder[T],
    body: bytes | msgspec.Raw,
    *,
    venue: str,
    what: str,
    row_fields: Sequence[str] = (),
    field: str = "payload",
) -> T:
    """Decode ``body`` or raise ``MalformedPayload`` naming the venue, the endpoint and the
    field."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        name = field_of(str(exc), row_fields, field)
        raise MalformedPayload(
            f"{venue} sent a malformed {what} payload (field {name}): {exc}",
            venue=venue,
            field=name,
        ) from exc
    except msgspec.DecodeError as exc:
        raise MalformedPayload(
            f"{venue} sent a {what} body that is not valid JSON ({exc}); it may have been cut off",
            venue=venue,
            field=field,
        ) from exc


def bars_from_columns(
    ts_ms: Sequence[int] | np.ndarray,
    open_: Sequence[float],
    high: Sequence[float],
    low: Sequence[float],
    close: Sequence[float],
    volume: Sequence[float],
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> pl.DataFrame:
    """The canonical bar frame from plain columns (ts in epoch milliseconds).

    Keeps rows with ``start_ms <= ts < end_ms`` (when given), sorted by ts, one row per ts
    (the last one sent). Done in numpy: cheaper than a polars query on a page-sized frame.
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    columns = [np.asarray(c, dtype=np.float64) for c in (open_, high, low, close, volume)]
    keep: np.ndarray | None = None
    if start_ms is not None or end_ms is not None:
        lo = np.iinfo(np.int64).min if start_ms is None else start_ms
        hi = np.iinfo(np.int64).max if end_ms is None else end_ms
        keep = (ts >= lo) & (ts < hi)
        if keep.all():
            keep = None
    if keep is not None:
        ts, columns = ts[keep], [c[keep] for c in columns]
    if ts.size > 1 and not (np.diff(ts) > 0).all():
        order = np.argsort(ts, kind="stable")
        ts, columns = ts[order], [c[order] for c in columns]
        last = np.r_[ts[1:] != ts[:-1], True]  # the last row of each run of equal ts
        ts, columns = ts[last], [c[last] for c in columns]
    return pl.DataFrame(
        {
            "ts": ts,
            "open": columns[0],
            "high": columns[1],
            "low": columns[2],
            "close": columns[3],
            "volume": columns[4],
        }
    ).with_columns(pl.col("ts").cast(BAR_SCHEMA["ts"]))
