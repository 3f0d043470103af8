"""Market data: stored series, bars (JSON, CSV or Arrow, paged), bulk upload."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any

import msgspec
import polars as pl
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import FromQuery, JSONBody, QueryParameter

from arbx.app.import_bars import ImportBars
from arbx.app.query_bars import ListSeries, QueryBars
from arbx.domain.auth import Permission
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.market.tabular import RejectedRow, TimeUnit
from arbx.domain.market.timespan import parse_instant
from arbx.entrypoints.http.encoded_pages import EncodedPages
from arbx.entrypoints.http.security import requires
from arbx.entrypoints.schemas.spans import open_span

CSV = "text/csv"
ARROW = "application/vnd.apache.arrow.stream"
JSON = "application/json"
ISO_MS = "%Y-%m-%dT%H:%M:%S%.3fZ"
# the wire bytes of pages already sent, reused while their bars are unchanged (encoded_pages)
PAGES = EncodedPages()


class SeriesOut(msgspec.Struct):
    exchange: str
    symbol: str
    timeframe: str
    first_ts: datetime
    last_ts: datetime
    rows: int


class SeriesList(msgspec.Struct):
    series: list[SeriesOut]


class BarOut(msgspec.Struct):
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class BarsPage(msgspec.Struct):
    exchange: str
    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    count: int
    next_cursor: str | None
    bars: list[BarOut]


class BarIn(msgspec.Struct, forbid_unknown_fields=True):
    ts: str | int | float
    open: float
    high: float
    low: float
    close: float
    volume: float


class BarsUpload(msgspec.Struct, forbid_unknown_fields=True):
    exchange: str
    symbol: str
    timeframe: str
    bars: list[BarIn]
    time_unit: str = "auto"


class UploadResult(msgspec.Struct):
    series: str
    rows_received: int
    rows_accepted: int
    rows_written: int
    duplicates_dropped: int
    rejected: list[RejectedRow]
    quality_score: float | None
    issues_by_severity: dict[str, int]


@get(
    "/series",
    summary="Stored series with first/last bar and row count",
    guards=[requires(Permission.DATA_READ)],
)
async def list_series(list_series: NamedDependency[ListSeries]) -> SeriesList:
    infos = await list_series.execute()
    return SeriesList(
        [
            SeriesOut(
                str(i.key.exchange),
                str(i.key.symbol),
                str(i.key.timeframe),
                i.first_ts,
                i.last_ts,
                i.rows,
            )
            for i in infos
        ]
    )


def _span(start: str | None, end: str | None, cursor: str | None) -> TimeSpan:
    """[start, end) with open bounds; a page's ``cursor`` replaces the start."""
    span = open_span(start, end)
    if not cursor:
        return span
    if not cursor.isdigit():
        raise InvalidInput("cursor must be the next_cursor of a previous page", field="cursor")
    return TimeSpan.of(parse_instant(cursor, field="cursor"), span.end)


@get(
    "/bars",
    summary="Bars of one series in [start, end): JSON (paged), CSV or Arrow IPC stream",
    description=(
        "Send `Accept: text/csv` or `Accept: application/vnd.apache.arrow.stream` for those "
        "formats. At most `limit` bars per response; when more remain, `next_cursor` (JSON) or "
        "the `X-Next-Cursor` header (all formats) gives the value of `cursor` for the next page."
    ),
    response_headers=None,
    guards=[requires(Permission.DATA_READ)],
)
async def get_bars(
    request: Request[Any, Any, Any],
    query_bars: NamedDependency[QueryBars],
    exchange: FromQuery[str],
    symbol: Annotated[str, QueryParameter(examples=[Example(value="BTC/USDC")])],
    timeframe: FromQuery[str],
    start: Annotated[str | None, QueryParameter(description="ISO-8601 or epoch ms")] = None,
    end: Annotated[
        str | None, QueryParameter(description="ISO-8601 or epoch ms (exclusive)")
    ] = None,
    limit: Annotated[int | None, QueryParameter(ge=1, description="bars per page")] = None,
    cursor: Annotated[
        str | None, QueryParameter(description="next_cursor of the previous page")
    ] = None,
) -> Response[BarsPage]:
    key = SeriesKey.of(exchange, symbol, timeframe)
    span = _span(start, end, cursor)
    page = await query_bars.page(key, span, limit)
    next_cursor = None if page.next_start is None else str(page.next_start)
    headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
    wanted = request.accept.best_match([JSON, CSV, ARROW], default=JSON) or JSON
    memo_key = (key, span.start, span.end, limit, next_cursor, wanted)
    bars = page.bars
    if wanted == CSV:
        body = PAGES.body(memo_key, bars, lambda: bars.write_csv(datetime_format=ISO_MS).encode())
        return Response(body, media_type=CSV, headers=headers)  # type: ignore[arg-type]
    if wanted == ARROW:
        buffer = io.BytesIO()
        bars.write_ipc_stream(buffer)
        return Response(buffer.getvalue(), media_type=ARROW, headers=headers)  # type: ignore[arg-type]

    def encode() -> bytes:
        rows = bars.with_columns(pl.col("ts").dt.to_string(ISO_MS)).write_json()
        head = msgspec.json.encode(
            {
                "exchange": str(key.exchange),
                "symbol": str(key.symbol),
                "timeframe": str(key.timeframe),
                "start": span.start,
                "end": span.end,
                "count": bars.height,
                "next_cursor": next_cursor,
            }
        )
        return head[:-1] + b',"bars":' + rows.encode() + b"}"

    body = PAGES.body(memo_key, bars, encode)
    return Response(body, media_type=JSON, headers=headers)  # type: ignore[arg-type]


@post(
    "/bars",
    summary="Upload bars for one series (upsert); invalid rows are rejected and reported",
    status_code=200,
    guards=[requires(Permission.DATA_WRITE)],
)
async def upload_bars(
    data: JSONBody[BarsUpload], import_bars: NamedDependency[ImportBars]
) -> UploadResult:
    key = SeriesKey.of(data.exchange, data.symbol, data.timeframe)
    try:
        unit = TimeUnit(data.time_unit)
    except ValueError:
        raise InvalidInput("time_unit must be one of auto, s, ms, iso", field="time_unit") from None
    if not data.bars:
        raise InvalidInput("bars is empty; send at least one bar", field="bars")
    ts_values = [b.ts for b in data.bars]
    raw = pl.DataFrame(
        {
            "ts": [str(v) for v in ts_values]
            if any(isinstance(v, str) for v in ts_values)
            else pl.Series(ts_values, dtype=pl.Float64),
            "open": [b.open for b in data.bars],
            "high": [b.high for b in data.bars],
            "low": [b.low for b in data.bars],
            "close": [b.close for b in data.bars],
            "volume": [b.volume for b in data.bars],
        }
    )
    report = await import_bars.ingest_table(raw, key, time_unit=unit)
    return UploadResult(
        series=str(key),
        rows_received=report.rows_read,
        rows_accepted=report.rows_accepted,
        rows_written=report.rows_written,
        duplicates_dropped=report.duplicates_dropped,
        rejected=report.rejected,
        quality_score=report.quality_score,
        issues_by_severity=report.issues_by_severity,
    )


ROUTES = [list_series, get_bars, upload_bars]
