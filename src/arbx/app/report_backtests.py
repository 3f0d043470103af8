"""Use case: the report of a stored backtest run, or the comparison of several, as one
self-contained document (``ports.report_renderer``).

Reading is authorized per run by ``BacktestRuns`` (``results:read`` on the run: ``Forbidden``
when it is not the actor's and not shared, ``NotFound`` when it does not exist). A run still
computing in the background (or failed) has no result: ``Conflict`` naming its status.
The report shows the bars the run read as stored now (the price chart, the arbitrage
spread); the data table says when they changed since.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import polars as pl

from arbx.app.background_backtests import DONE, BackgroundRun
from arbx.app.run_backtest import BacktestRuns
from arbx.domain.auth import Principal
from arbx.domain.backtest.request import validate_request
from arbx.domain.backtest.run import TABLE_NAMES, BacktestRun, RunMeta
from arbx.domain.errors import ArbxError, Conflict, InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.reports.arbitrage import spread_chart
from arbx.domain.reports.backtest import ReportInput, backtest_report
from arbx.domain.reports.compare import comparison_report
from arbx.domain.reports.downsample import DEFAULT_POINTS
from arbx.domain.reports.model import Block, Paragraphs, Report
from arbx.ports.bar_store import BarStore
from arbx.ports.report_renderer import ReportRenderer
from arbx.ports.run_store import RunFailure

MAX_COMPARED = 10


class ReportBacktests:
    def __init__(
        self,
        runs: BacktestRuns,
        bars: BarStore,
        renderer: ReportRenderer,
        *,
        generated_by: str = "arbx",
        points: int = DEFAULT_POINTS,
    ) -> None:
        self._runs = runs
        self._bars = bars
        self._renderer = renderer
        self._generated_by = generated_by
        self._points = points

    @property
    def media_type(self) -> str:
        return self._renderer.media_type

    async def report(self, run_id: str, *, actor: Principal) -> str:
        """The rendered report of one run."""
        report = await self.build(run_id, actor=actor)
        return await asyncio.to_thread(self._renderer.render, report)

    async def compare(self, run_ids: Sequence[str], *, actor: Principal) -> str:
        """The rendered comparison of 2..10 runs, in the order given."""
        report = await self.build_comparison(run_ids, actor=actor)
        return await asyncio.to_thread(self._renderer.render, report)

    async def build(self, run_id: str, *, actor: Principal) -> Report:
        run = await self._finished(run_id, actor)
        meta = run.meta
        span = TimeSpan(meta.span_start, meta.span_end)
        bars: dict[str, pl.DataFrame] = {}
        for used in meta.series:
            frame = await self._read(SeriesKey.parse(used.series), span)
            if frame is not None:
                bars[used.series] = frame
        spread = await self._spread(meta, span) if meta.engine == "arbitrage" else None
        inp = ReportInput(meta, run.tables, bars, self._generated_by, spread)
        return await asyncio.to_thread(backtest_report, inp, points=self._points)

    async def build_comparison(self, run_ids: Sequence[str], *, actor: Principal) -> Report:
        ids = [i.strip() for i in run_ids if i.strip()]
        if len(ids) < 2 or len(ids) > MAX_COMPARED:
            raise InvalidInput(
                f"compare 2 to {MAX_COMPARED} runs (got {len(ids)}); give their ids", field="ids"
            )
        if len(set(ids)) != len(ids):
            raise InvalidInput("a run is named twice; give each run once", field="ids")
        runs = [await self._finished(run_id, actor) for run_id in ids]
        pairs = [(run.meta, run.tables["curve"]) for run in runs]
        return await asyncio.to_thread(
            comparison_report, pairs, points=self._points, generated_by=self._generated_by
        )

    async def _finished(self, run_id: str, actor: Principal) -> BacktestRun:
        found = await self._runs.status(run_id, actor=actor)
        if isinstance(found, BackgroundRun) and found.status == DONE:
            found = await self._runs.get(run_id, actor=actor)
        if isinstance(found, BackgroundRun | RunFailure):
            status = found.status
            why = f" ({found.error})" if found.error else ""
            raise Conflict(
                f"backtest run {run_id!r} is {status}{why}: it has no result to report yet"
                if status not in ("failed", "cancelled")
                else f"backtest run {run_id!r} {status}{why}: it has no result to report",
                details=[{"run_status": status}],
            )
        assert set(found.tables) >= set(TABLE_NAMES)
        return found

    async def _read(self, key: SeriesKey, span: TimeSpan) -> pl.DataFrame | None:
        try:
            frame = await self._bars.read(key, span)
        except ArbxError:
            return None
        return None if frame.is_empty() else frame

    async def _spread(self, meta: RunMeta, span: TimeSpan) -> Block:
        valid = validate_request(meta.request)
        bars = {}
        for key in valid.all_keys():
            frame = await self._read(key, span)
            if frame is None:
                return Paragraphs(
                    "spread", "Net spread", [f"{key}: no bars stored now; the spread is not shown"]
                )
            bars[key] = frame
        try:
            return await asyncio.to_thread(spread_chart, valid, bars, points=self._points)
        except InvalidInput as exc:
            return Paragraphs("spread", "Net spread", [f"the spread cannot be shown: {exc}"])
