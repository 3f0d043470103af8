"""Make sure the store holds a series' history over a span: fetch only what is missing.

``EnsureHistory.execute(series, span)`` reads the store's coverage, subtracts it (and the
quiet stretches the venue is already known to have printed nothing in), fetches the rest
from the venue page by page, validates each batch with the data-quality ingest rules,
upserts the accepted bars, and records the gaps the venue really has. It is resumable: an
interrupted run leaves whole batches written, and the next run starts from the coverage, so
it fetches only what is still missing; upserts mean nothing is ever stored twice.

Near the live edge venues are not final yet: they publish a bar seconds late, and their
newest candle may still be forming. The last ``settle_bars`` intervals before the closed
edge are the settle window: a hole there is recorded as ``pending`` (asked again on the next
run, classed only once the edge has moved past it), and stored bars there (plus the one
interval that has just left it) are fetched again and replaced when the venue's final bar
differs: the only case in which a stored bar is overwritten, and the report lists each.
Holes recorded before (quiet intervals, outages, what the venue does not serve) are not
fetched again; bars past the venue's own closed edge are reported as not fetched.
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import msgspec
import polars as pl

from arbx.domain.errors import ArbxError, InvalidInput
from arbx.domain.market import (
    BAR_COLUMNS,
    Exchange,
    SeriesKey,
    Timeframe,
    TimeSpan,
    empty_bars,
    to_ms,
)
from arbx.domain.quality import (
    DataGap,
    GapCause,
    detect_gaps,
    merge_gap_status,
    validate_for_ingest,
)
from arbx.ports.bar_store import BarStore
from arbx.ports.clock import Clock
from arbx.ports.exchange import ExchangeClient, OhlcvPage
from arbx.ports.quality_store import QualityStore

MAX_REJECTED_LISTED = 100

log = logging.getLogger(__name__)


class HistoryProgress(msgspec.Struct, frozen=True):
    """Sent after every page: how far the run is (time of the missing spans fetched)."""

    series: SeriesKey
    bars_fetched: int
    bars_written: int
    pages: int
    fraction: float
    elapsed_seconds: float
    eta_seconds: float | None


class RejectedBar(msgspec.Struct, frozen=True):
    ts: datetime | None
    reasons: str


class ReplacedBar(msgspec.Struct, frozen=True):
    """A stored bar of the settle window that the venue's later answer changed."""

    ts: datetime
    before: tuple[float, float, float, float, float]  # open, high, low, close, volume
    after: tuple[float, float, float, float, float]


class EnsureHistoryReport(msgspec.Struct, frozen=True):
    """What a run did. ``missing`` are the spans it set out to fetch (after coalescing);
    ``venue_gaps`` the holes the venue has inside them (quiet intervals are information),
    each with its cause: not printed (``no_trades``, ``outage``, ``unknown``), not served
    (``not_served``) or not yet published (``pending``, at the live edge). ``not_fetched``
    are the parts of ``missing`` no answer covered (past the venue's own closed edge: asked
    again on the next run). ``replaced`` lists stored settle-window bars overwritten."""

    series: SeriesKey
    span: TimeSpan | None
    missing: list[TimeSpan]
    pages: int
    requests: int
    bars_fetched: int
    bars_written: int
    bars_rejected: int
    rejected: list[RejectedBar]
    venue_gaps: list[DataGap]
    fetched_as: Timeframe | None
    resampled: bool
    fetch_seconds: float
    validate_seconds: float
    store_seconds: float
    not_fetched: list[TimeSpan] = msgspec.field(default_factory=list)
    bars_replaced: int = 0
    replaced: list[ReplacedBar] = msgspec.field(default_factory=list)

    def gap_bars(self, *causes: GapCause) -> int:
        """Missing bars of the venue gaps with one of ``causes``."""
        return sum(g.bars_missing for g in self.venue_gaps if g.cause in causes)

    @property
    def up_to_date(self) -> bool:
        """True when nothing was missing."""
        return not self.missing


ProgressCallback = Callable[[HistoryProgress], None]


@dataclass
class _Run:
    series: SeriesKey
    total_ms: int
    started: float
    progress: ProgressCallback | None
    pages: int = 0
    requests: int = 0
    fetched_ms: int = 0
    bars_fetched: int = 0
    bars_written: int = 0
    rejected: list[RejectedBar] = field(default_factory=list)
    bars_rejected: int = 0
    gaps: dict[datetime, DataGap] = field(default_factory=dict)
    fetched_as: Timeframe | None = None
    resampled: bool = False
    settle: TimeSpan | None = None  # the settle window: holes here are pending
    replace_from: datetime | None = None  # stored bars from here on may be replaced
    not_served: list[TimeSpan] = field(default_factory=list)
    not_fetched: list[TimeSpan] = field(default_factory=list)
    bars_replaced: int = 0
    replaced: list[ReplacedBar] = field(default_factory=list)
    fetch_seconds: float = 0.0
    validate_seconds: float = 0.0
    store_seconds: float = 0.0

    def page_done(self, page: OhlcvPage) -> None:
        self.pages += 1
        self.requests += page.requests
        self.bars_fetched += page.bars.height
        self.fetched_as, self.resampled = page.fetched_as, page.resampled
        if page.not_served is not None:
            self.not_served.append(page.not_served)
        if page.covered is not None:
            self.fetched_ms += page.covered.end_ms - page.covered.start_ms
        if self.progress is not None:
            fraction = min(1.0, self.fetched_ms / self.total_ms) if self.total_ms else 1.0
            elapsed = time.perf_counter() - self.started
            eta = elapsed * (1.0 - fraction) / fraction if fraction > 0 else None
            self.progress(
                HistoryProgress(
                    self.series,
                    self.bars_fetched,
                    self.bars_written,
                    self.pages,
                    fraction,
                    elapsed,
                    eta,
                )
            )


class EnsureHistory:
    """Backfill one series over one span from its venue into the bar store.

    - ``exchanges``: the venue clients by exchange id (an unknown one is ``InvalidInput``).
    - ``quality``: where venue gaps are recorded (optional; they are always reported). Gaps
      recorded as ``no_trades`` are not fetched again.
    - ``batch_rows``: bars validated and written together (an interruption loses at most one
      batch, which the next run fetches again).
    - ``coalesce_bars``: two missing spans separated by fewer stored bars than this are
      fetched as one (a page re-read costs less than one request per tiny hole).
    - ``settle_bars``: the settle window at the live edge, in intervals (see the module).
    """

    def __init__(
        self,
        store: BarStore,
        exchanges: Mapping[Exchange, ExchangeClient],
        clock: Clock,
        *,
        quality: QualityStore | None = None,
        batch_rows: int = 10_000,
        coalesce_bars: int = 720,
        settle_bars: int = 3,
    ) -> None:
        if batch_rows < 1 or coalesce_bars < 0:
            raise InvalidInput("batch_rows must be >= 1 and coalesce_bars >= 0", field="batch_rows")
        if settle_bars < 0:
            raise InvalidInput("settle_bars must be >= 0", field="settle_bars")
        self._settle_bars = settle_bars
        self._store = store
        self._exchanges = dict(exchanges)
        self._clock = clock
        self._quality = quality
        self._batch_rows = batch_rows
        self._coalesce_bars = coalesce_bars

    def client_for(self, exchange: Exchange) -> ExchangeClient:
        client = self._exchanges.get(exchange)
        if client is None:
            known = ", ".join(sorted(str(e) for e in self._exchanges)) or "none"
            raise InvalidInput(
                f"exchange {exchange} has no configured client; configured: {known}."
                f" {exchange} is not configured; use one of {known}, or enable it in"
                f" [exchanges.{exchange}]",
                field="exchange",
            )
        return client

    async def check(self, series: SeriesKey) -> ExchangeClient:
        """The series' venue client, after checking what can be checked before fetching:
        the venue is configured, serves the timeframe, and lists the symbol
        (``InvalidInput`` naming the field, with close matches for a symbol)."""
        client = self.client_for(series.exchange)
        _support(client, series.timeframe)
        listed = {m.symbol for m in await client.list_markets()}
        if series.symbol not in listed:
            names = [str(s) for s in listed]
            close = difflib.get_close_matches(str(series.symbol), names, n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InvalidInput(
                f"symbol {series.symbol} is not listed on {client.venue}{hint}",
                field="symbol",
                details=close,
            )
        return client

    def settle_window(self, timeframe: Timeframe) -> TimeSpan | None:
        """The last ``settle_bars`` closed intervals (None when ``settle_bars`` is 0)."""
        edge = timeframe.floor_ms(to_ms(self._clock.now()))
        if not self._settle_bars:
            return None
        return TimeSpan.from_ms(edge - self._settle_bars * timeframe.ms, edge)

    async def missing_spans(self, series: SeriesKey, span: TimeSpan) -> list[TimeSpan]:
        """The spans a run would fetch: grid-aligned, closed bars only, not stored (but the
        settle window's stored bars, fetched again), not recorded as a hole of the venue
        (but pending holes, asked again, also just before the span), coalesced."""
        missing, _ = await self._plan(series, span)
        return missing

    async def _plan(
        self, series: SeriesKey, span: TimeSpan
    ) -> tuple[list[TimeSpan], datetime | None]:
        """(the missing spans, where stored bars may start to be replaced)."""
        aligned = self._aligned(series.timeframe, span)
        if aligned is None:
            return [], None
        tf_ms = series.timeframe.ms
        refetch = await self._refetch_spans(series, aligned)
        if refetch:
            aligned = TimeSpan(min(aligned.start, refetch[0].start), aligned.end)
        covered = [
            part
            for c in await self._store.coverage(series, aligned)
            for part in c.subtract(refetch)
        ]
        pending: list[TimeSpan] = []
        if self._quality is not None:
            around = TimeSpan.from_ms(
                aligned.start_ms - self._coalesce_bars * tf_ms, aligned.end_ms
            )
            for gap in await self._quality.gaps(series, around):
                if gap.cause is GapCause.PENDING:
                    pending.append(gap.span)
                elif gap.span.overlaps(aligned):
                    covered.append(gap.span)  # a hole the venue answered around before
        missing = aligned.subtract(covered)
        missing += [p for p in pending if not any(p.overlaps(m) for m in missing)]
        replace_from = refetch[0].start if refetch else None
        return _coalesce(missing, self._coalesce_bars * tf_ms), replace_from

    async def _refetch_spans(self, series: SeriesKey, aligned: TimeSpan) -> list[TimeSpan]:
        """Stored bars that may not have been final when written, sorted: the settle window
        plus the interval that has just left it (when ``aligned`` reaches it), and, when
        ``aligned`` continues the stored series from its newest bar (a collect run after a
        pause), the last ``settle_bars + 1`` bars stored: they were the live edge then."""
        tf = series.timeframe
        settle = self.settle_window(tf)
        if settle is None:
            return []
        spans: list[TimeSpan] = []
        reach = self._settle_bars + 1
        tail = TimeSpan.from_ms(aligned.start_ms - reach * tf.ms, aligned.start_ms)
        before = await self._store.coverage(series, tail)
        continues = bool(before) and before[-1].end == aligned.start
        if continues and not await self._store.coverage(series, aligned):
            spans.append(tail)
        start = settle.start_ms - tf.ms
        if aligned.end_ms > start:
            live = TimeSpan.from_ms(start, aligned.end_ms)
            if spans and spans[-1].end_ms >= live.start_ms:
                spans[-1] = TimeSpan(spans[-1].start, live.end)
            else:
                spans.append(live)
        return spans

    async def execute(
        self, series: SeriesKey, span: TimeSpan, progress: ProgressCallback | None = None
    ) -> EnsureHistoryReport:
        client = self.client_for(series.exchange)
        _support(client, series.timeframe)
        missing, replace_from = await self._plan(series, span)
        run = _Run(
            series,
            sum(m.end_ms - m.start_ms for m in missing),
            time.perf_counter(),
            progress,
        )
        run.settle = self.settle_window(series.timeframe)
        run.replace_from = replace_from
        for target in missing:
            await self._fill(client, series, target, run)
        if run.bars_replaced:
            log.info(
                "%s: replaced %d stored bar(s) of the settle window the venue changed since: %s",
                series,
                run.bars_replaced,
                ", ".join(r.ts.isoformat() for r in run.replaced[:10]),
            )
        return EnsureHistoryReport(
            series=series,
            span=self._aligned(series.timeframe, span),
            missing=missing,
            pages=run.pages,
            requests=run.requests,
            bars_fetched=run.bars_fetched,
            bars_written=run.bars_written,
            bars_rejected=run.bars_rejected,
            rejected=run.rejected,
            venue_gaps=sorted(run.gaps.values(), key=lambda g: g.start),
            fetched_as=run.fetched_as,
            resampled=run.resampled,
            fetch_seconds=run.fetch_seconds,
            validate_seconds=run.validate_seconds,
            store_seconds=run.store_seconds,
            not_fetched=run.not_fetched,
            bars_replaced=run.bars_replaced,
            replaced=run.replaced[:MAX_REJECTED_LISTED],
        )

    # -- one missing span -------------------------------------------------------------------

    async def _fill(
        self, client: ExchangeClient, series: SeriesKey, target: TimeSpan, run: _Run
    ) -> None:
        buffer: list[pl.DataFrame] = []
        rows = 0
        batch_start: datetime = target.start
        carry: DataGap | None = None
        cursor: datetime | None = target.start
        while cursor is not None:
            started = time.perf_counter()
            try:
                page = await client.fetch_ohlcv(
                    series.symbol, series.timeframe, TimeSpan(cursor, target.end)
                )
            except ArbxError as exc:
                # keep what the batch fetched so far (its pages were valid), then say so
                if buffer:
                    await self._flush(series, TimeSpan(batch_start, cursor), buffer, run, carry)
                raise _what_was_kept(exc, series, run, cursor) from None
            run.fetch_seconds += time.perf_counter() - started
            covered_end = page.covered.end if page.covered is not None else cursor
            buffer.append(page.bars)
            rows += page.bars.height
            run.page_done(page)
            if page.next_start is None and covered_end < target.end:
                # the venue's own clock says these are not closed yet: nothing answered
                run.not_fetched.append(TimeSpan(covered_end, target.end))
            cursor = page.next_start
            if (rows >= self._batch_rows or cursor is None) and batch_start < covered_end:
                batch = TimeSpan(batch_start, covered_end)
                carry = await self._flush(series, batch, buffer, run, carry)
                buffer, rows, batch_start = [], 0, covered_end

    async def _flush(
        self,
        series: SeriesKey,
        batch: TimeSpan,
        frames: Sequence[pl.DataFrame],
        run: _Run,
        carry: DataGap | None,
    ) -> DataGap | None:
        """Validate and write one batch, then record its gaps; return a gap that runs up to
        the batch's end (the next batch continues it)."""
        fetched = pl.concat(frames) if frames else empty_bars()
        started = time.perf_counter()
        accepted = fetched
        if not fetched.is_empty():
            split = validate_for_ingest(series, fetched, now=self._clock.now())
            accepted = split.accepted.select(BAR_COLUMNS)
            run.bars_rejected += split.rejected.height
            for ts, reasons in split.rejected.select("ts", "reasons").iter_rows():
                if len(run.rejected) < MAX_REJECTED_LISTED:
                    run.rejected.append(RejectedBar(ts, str(reasons)))
        run.validate_seconds += time.perf_counter() - started
        started = time.perf_counter()
        if not accepted.is_empty():
            accepted = await self._keep_stored(series, batch, accepted, run)
        if not accepted.is_empty():
            run.bars_written += await self._store.write(series, accepted)
        trailing = await self._record_gaps(series, batch, fetched, run, carry)
        run.store_seconds += time.perf_counter() - started
        return trailing

    async def _keep_stored(
        self, series: SeriesKey, batch: TimeSpan, accepted: pl.DataFrame, run: _Run
    ) -> pl.DataFrame:
        """``accepted`` without the bars the store holds already, but those of the settle
        window that the venue has changed since (recorded as replaced)."""
        known = await self._store.read(series, batch)
        if known.is_empty():
            return accepted
        values = list(BAR_COLUMNS[1:])
        joined = accepted.join(
            known.select(BAR_COLUMNS), on="ts", how="left", suffix="__stored", coalesce=True
        )
        stored = pl.col("open__stored").is_not_null()
        changed = pl.any_horizontal([pl.col(c) != pl.col(f"{c}__stored") for c in values])
        may_replace = (
            pl.lit(False) if run.replace_from is None else pl.col("ts") >= run.replace_from
        )
        flagged = joined.with_columns(
            (stored & changed & may_replace).alias("__replace"),
            (~stored).alias("__new"),
        )
        for row in flagged.filter(pl.col("__replace")).iter_rows(named=True):
            run.bars_replaced += 1
            if len(run.replaced) < MAX_REJECTED_LISTED:
                before = tuple(float(row[f"{c}__stored"]) for c in values)
                after = tuple(float(row[c]) for c in values)
                run.replaced.append(ReplacedBar(row["ts"], before, after))  # type: ignore[arg-type]
        return flagged.filter(pl.col("__new") | pl.col("__replace")).select(BAR_COLUMNS)

    async def _record_gaps(
        self,
        series: SeriesKey,
        batch: TimeSpan,
        fetched: pl.DataFrame,
        run: _Run,
        carry: DataGap | None,
    ) -> DataGap | None:
        """Holes inside what the venue answered for are the venue's own: record them.

        The checked span grows to take in a gap carried from the previous batch and any
        stored gap it overlaps, so a quiet stretch across batches or runs stays one gap.
        """
        start = carry.start if carry is not None else batch.start
        end = batch.end
        stored: list[DataGap] = []
        if self._quality is not None:
            stored = await self._quality.gaps(series, TimeSpan(start, end))
            start = min([start, *(g.start for g in stored)])
            end = max([end, *(g.end for g in stored)])
        span = TimeSpan(start, end)
        bars = fetched
        if span != batch:
            known = await self._store.read(series, span)
            bars = pl.concat([known, fetched]).unique("ts", keep="last").sort("ts")
        gaps = [_settled(gap, run) for gap in detect_gaps(series, bars, span=span)]
        if self._quality is not None and (gaps or stored):
            await self._quality.replace_gaps(series, span, merge_gap_status(gaps, stored))
        for gap in gaps:
            if gap.span.overlaps(batch):
                run.gaps[gap.start] = gap  # a gap continued by this batch replaces its piece
        return gaps[-1] if gaps and gaps[-1].end == batch.end else None

    def _aligned(self, timeframe: Timeframe, span: TimeSpan) -> TimeSpan | None:
        """``span`` widened to the grid and cut at the last closed bar (None when empty)."""
        step = timeframe.ms
        start = timeframe.floor_ms(span.start_ms)
        end = min(-(-span.end_ms // step) * step, timeframe.floor_ms(to_ms(self._clock.now())))
        return TimeSpan.from_ms(start, end) if start < end else None


def _settled(gap: DataGap, run: _Run) -> DataGap:
    """A detected gap with what the run knows about it: pending in the settle window (the
    venue may still publish it), not served where the venue answered from a later start."""
    cause = gap.cause
    if any(gap.span.overlaps(part) for part in run.not_served):
        cause = GapCause.NOT_SERVED
    if run.settle is not None and gap.span.overlaps(run.settle):
        cause = GapCause.PENDING
    if cause is gap.cause:
        return gap
    return DataGap(gap.series, gap.start, gap.end, gap.bars_missing, cause, gap.status)


E = TypeVar("E", bound=ArbxError)


def _what_was_kept(error: E, series: SeriesKey, run: _Run, stopped_at: datetime) -> E:
    """``error`` with what the run wrote before it (the next run resumes from there)."""
    note = (
        f"; this run wrote {run.bars_written:,} bar(s) of {series} before the failure,"
        f" (the valid bars it fetched before {stopped_at.isoformat()} are stored;"
        " run it again to fetch the rest)"
    )
    error.message = f"{error.message}{note}"
    error.args = (error.message,)
    return error


def _support(client: ExchangeClient, timeframe: Timeframe) -> None:
    """Refuse a timeframe the venue can neither serve natively nor resample to."""
    supports = client.supported_timeframes()
    if any(s.timeframe is timeframe and s.fetched_as is not None for s in supports):
        return
    offered = ", ".join(s.timeframe.value for s in supports if s.native)
    raise InvalidInput(
        f"timeframe {timeframe} cannot be served by {client.venue}; use one of {offered}",
        field="timeframe",
    )


def _coalesce(spans: Sequence[TimeSpan], within_ms: int) -> list[TimeSpan]:
    """Merge spans separated by less than ``within_ms``."""
    merged: list[TimeSpan] = []
    for span in sorted(spans):
        if merged and span.start_ms - merged[-1].end_ms < within_ms:
            merged[-1] = TimeSpan(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged
