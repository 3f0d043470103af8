"""The Python API: ``import arbx`` for scripts and notebooks, over the same use cases as the
CLI and the HTTP API (no server, no HTTP).

    import arbx

    with arbx.open("./var", create=True) as ws:          # the local profile's data dir
        ws.load_samples()
        bars = ws.bars("kraken:BTC/USD:1m", start="2023-03-10", end="2023-03-11")
        run = ws.backtest("sma_cross", "kraken:BTC/USD:1m", "2023-03-10", "2023-03-12",
                          params={"fast": 10, "slow": 50})
        run.metrics, run.trades, run.equity, run.id

``arbx.open("postgresql://...")`` opens the server profile's database instead. Every call is
synchronous: the workspace runs the async use cases on a private event loop in a thread of
its own, so it works the same in a script and in a Jupyter cell (whose loop is already
running). Errors are the ``arbx.ArbxError`` tree (``InvalidInput`` names the field).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from arbx.domain.errors import InvalidInput, NotFound
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.market.timespan import parse_instant, utc

if TYPE_CHECKING:
    from types import TracebackType

    from arbx.app.backfill_trades import BackfillTradesReport
    from arbx.app.ensure_history import EnsureHistoryReport
    from arbx.app.import_bars import ImportReport
    from arbx.app.import_trades import ImportTradesReport
    from arbx.app.repair_series import RepairReport
    from arbx.app.validate_series import ValidationReport
    from arbx.domain.backtest.metrics import Metrics
    from arbx.domain.backtest.run import BacktestRun, RunMeta, TableName
    from arbx.entrypoints.container import Container
    from arbx.entrypoints.settings import Settings

T = TypeVar("T")
Instant = str | int | datetime
"""A time: ISO-8601 text (``"2023-03-10"``, ``"2023-03-10T07:00:00Z"``), epoch milliseconds
or a ``datetime`` (naive means UTC)."""
Series = str | SeriesKey
"""A series: ``"kraken:BTC/USDC:1m"`` or a ``SeriesKey``."""

__all__ = ["Backtest", "Instant", "Series", "Workspace", "open_workspace"]


def open_workspace(
    where: str | Path = "var",
    *,
    create: bool = False,
    profile: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> Workspace:
    """Open a store: a data dir (the local profile: Parquet bars and one SQLite file) or a
    PostgreSQL URL (the server profile). ``create`` makes a missing data dir (otherwise a
    missing one is an error, so a typo never starts an empty store). ``config`` overrides
    settings as the config files do (``{"backtest": {"fees": ...}}``). Close it with
    ``close()`` or use it as a context manager."""
    overrides: dict[str, Any] = {key: value for key, value in (config or {}).items()}
    text = str(where)
    if text.startswith(("postgresql://", "postgres://")):
        chosen = profile or "server"
        overrides["database"] = {**overrides.get("database", {}), "url": text}
    else:
        chosen = profile or "local"
        path = Path(where).expanduser()
        if path.exists() and not path.is_dir():
            raise InvalidInput(f"data dir {path} is a file, not a folder", field="data_dir")
        if not path.exists() and not create:
            raise NotFound(
                f"data dir {path} does not exist; pass create=True to start a new store there"
            )
        overrides["storage"] = {**overrides.get("storage", {}), "data_dir": str(path)}
    from arbx.entrypoints.settings import load_settings

    return Workspace(load_settings(profile=chosen, overrides=overrides))


class _Loop:
    """A private event loop in a daemon thread: every coroutine of a workspace runs there,
    so resources bound to a loop (the SQLite connection, the HTTP session, a pool) stay on
    one, whether or not the caller's thread runs a loop of its own."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="arbx", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a workspace call cannot be made from inside its own loop")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _resolve(value: T | Awaitable[T]) -> T:
    if isinstance(value, Awaitable):
        return await value
    return value


def _key(series: Series) -> SeriesKey:
    return series if isinstance(series, SeriesKey) else SeriesKey.parse(series)


def _trade_key(venue: str, symbol: str) -> Any:
    from arbx.domain.market import Exchange, Symbol
    from arbx.domain.market.trades import TradeKey

    return TradeKey(str(Exchange.parse(venue)), Symbol.parse(symbol))


def _instant(value: Instant, field: str) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a time, not {value!r}", field=field)
    return parse_instant(str(value), field=field)


def _span(start: Instant | None, end: Instant | None) -> TimeSpan:
    whole = TimeSpan.everything()
    begin = whole.start if start is None else _instant(start, "start")
    finish = whole.end if end is None else _instant(end, "end")
    return TimeSpan.of(begin, finish)


def _fees(fees: Mapping[str, Any]) -> dict[str, Any]:
    """``{"kraken": 26}`` or ``{"kraken": (40, 25)}`` (taker, maker) or the request's own
    ``{"kraken": {"taker_bps": 40, "maker_bps": 25}}``."""
    out: dict[str, Any] = {}
    for venue, fee in fees.items():
        if isinstance(fee, Mapping):
            out[venue] = dict(fee)
        elif isinstance(fee, tuple | list):
            taker, maker = fee
            out[venue] = {"taker_bps": taker, "maker_bps": maker}
        else:
            out[venue] = {"taker_bps": fee, "maker_bps": fee}
    return out


METRIC_NAMES: tuple[str, ...] = (
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration_bars",
    "trade_count",
    "open_trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "exposure",
    "turnover",
    "fees_paid",
    "var_95",
    "cvar_95",
    "final_equity",
    "bars",
)


def _metric(metrics: Metrics | None, name: str) -> float | None:
    value = None if metrics is None else getattr(metrics, name, None)
    return None if value is None else float(value)


class Backtest:
    """A stored backtest run: its id, request, metrics beside the benchmark, and its tables
    as polars frames (``.to_pandas()`` for pandas)."""

    def __init__(self, run: BacktestRun, workspace: Workspace | None = None) -> None:
        self._run = run
        self._workspace = workspace

    def report(self, out: str | Path | None = None) -> str:
        """The run's self-contained HTML report (charts, metrics, data, manifest); written
        to ``out`` too when given. Same as ``arbx backtest report ID``."""
        if self._workspace is None:
            raise InvalidInput("this result has no workspace; use Workspace.report(id)", field="")
        return self._workspace.report(self.id, out)

    def __repr__(self) -> str:
        ret = self._run.meta.metrics.total_return
        shown = "-" if ret is None else f"{ret * 100:.2f}%"
        return f"<Backtest {self.id} {self.strategy} total_return={shown}>"

    @property
    def id(self) -> str:
        """The stored run's id (``arbx backtest show ID``, ``GET /api/v1/backtests/{id}``)."""
        return self._run.meta.id

    @property
    def strategy(self) -> str:
        return self._run.meta.strategy

    @property
    def params(self) -> dict[str, Any]:
        """The effective strategy parameters (defaults filled in)."""
        return dict(self._run.meta.params)

    @property
    def meta(self) -> RunMeta:
        """Everything stored about the run: effective request, series read, notes..."""
        return self._run.meta

    @property
    def notes(self) -> list[str]:
        return list(self._run.meta.notes)

    @property
    def metrics(self) -> pl.DataFrame:
        """One row per metric: ``metric``, ``strategy``, ``benchmark`` (buy and hold, or the
        opening inventory held for arbitrage)."""
        meta = self._run.meta
        return pl.DataFrame(
            {
                "metric": list(METRIC_NAMES),
                "strategy": [_metric(meta.metrics, n) for n in METRIC_NAMES],
                "benchmark": [_metric(meta.benchmark, n) for n in METRIC_NAMES],
            },
            schema={"metric": pl.String, "strategy": pl.Float64, "benchmark": pl.Float64},
        )

    def metric(self, name: str) -> float | None:
        """One metric of the strategy, e.g. ``run.metric("sharpe")``."""
        if name not in METRIC_NAMES and not hasattr(self._run.meta.metrics, name):
            raise InvalidInput(
                f"unknown metric {name!r}; use one of {', '.join(METRIC_NAMES)}", field="metric"
            )
        return _metric(self._run.meta.metrics, name)

    def table(self, name: TableName) -> pl.DataFrame:
        """A result table by name: curve, trades, orders, fills, balances, opportunities."""
        frame = self._run.tables.get(name)
        if frame is None:
            raise InvalidInput(
                f"unknown table {name!r}; use one of {', '.join(sorted(self._run.tables))}",
                field="table",
            )
        return frame

    @property
    def trades(self) -> pl.DataFrame:
        return self.table("trades")

    @property
    def equity(self) -> pl.DataFrame:
        """The equity curve per bar: ts, equity, drawdown and the position columns."""
        return self.table("curve")

    @property
    def orders(self) -> pl.DataFrame:
        return self.table("orders")

    @property
    def fills(self) -> pl.DataFrame:
        return self.table("fills")

    @property
    def balances(self) -> pl.DataFrame:
        """Per-venue balances of an arbitrage run (empty for a single market)."""
        return self.table("balances")

    @property
    def opportunities(self) -> pl.DataFrame:
        return self.table("opportunities")


class Workspace:
    """One store (a local data dir or a PostgreSQL database) and the use cases over it.

    Made by ``arbx.open``; synchronous; close with ``close()`` or ``with``. Not for use
    from several threads at once.
    """

    def __init__(self, settings: Settings) -> None:
        from arbx.entrypoints import runtime
        from arbx.entrypoints.container import build_container

        self._settings = settings
        self._container: Container = build_container(settings)
        self._loop = _Loop()
        try:
            self._loop.run(runtime.start(self._container))
        except BaseException:
            self._loop.close()
            raise
        self._closed = False

    # -- life ---------------------------------------------------------------------------

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "PostgreSQL" if self._settings.profile == "server" else str(self._settings.data_dir)
        return (
            f"<arbx.Workspace {self._settings.profile} {where}{' closed' if self._closed else ''}>"
        )

    def close(self) -> None:
        """Close the stores and the loop (idempotent)."""
        if self._closed:
            return
        from arbx.entrypoints import runtime

        self._closed = True
        try:
            self._loop.run(runtime.stop(self._container))
        finally:
            self._loop.close()

    @property
    def settings(self) -> Settings:
        return self._settings

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise InvalidInput("this workspace is closed; open another with arbx.open", field="")
        return self._loop.run(coro)

    async def _use(self, name: str) -> Any:
        return await _resolve(getattr(self._container, name)())

    # -- market data --------------------------------------------------------------------

    def series(self) -> pl.DataFrame:
        """Stored series: ``series``, ``exchange``, ``symbol``, ``timeframe``, ``first_ts``,
        ``last_ts`` (bar open times, UTC) and ``rows``."""

        async def go() -> pl.DataFrame:
            infos = await (await self._use("list_series")).execute()
            return pl.DataFrame(
                {
                    "series": [str(i.key) for i in infos],
                    "exchange": [str(i.key.exchange) for i in infos],
                    "symbol": [str(i.key.symbol) for i in infos],
                    "timeframe": [i.key.timeframe.value for i in infos],
                    "first_ts": [i.first_ts for i in infos],
                    "last_ts": [i.last_ts for i in infos],
                    "rows": [i.rows for i in infos],
                },
                schema={
                    "series": pl.String,
                    "exchange": pl.String,
                    "symbol": pl.String,
                    "timeframe": pl.String,
                    "first_ts": pl.Datetime("ms", "UTC"),
                    "last_ts": pl.Datetime("ms", "UTC"),
                    "rows": pl.Int64,
                },
            )

        return self._call(go())

    def bars(
        self, series: Series, start: Instant | None = None, end: Instant | None = None
    ) -> pl.DataFrame:
        """Bars of ``series`` in ``[start, end)`` (the whole series without them): ts (open
        time, UTC), open, high, low, close, volume. ``NotFound`` for a series not stored."""
        key, span = _key(series), _span(start, end)

        async def go() -> pl.DataFrame:
            await self._known(key)
            frame: pl.DataFrame = await (await self._use("query_bars")).all(key, span)
            return frame

        return self._call(go())

    async def _known(self, key: SeriesKey) -> None:
        infos = await (await self._use("list_series")).execute()
        stored = [str(i.key) for i in infos]
        if str(key) not in stored:
            from arbx.domain.suggestions import unknown

            raise NotFound(unknown("series", str(key), stored))

    def import_file(
        self,
        path: str | Path,
        series: Series | None = None,
        *,
        mapping: Mapping[str, str] | None = None,
        time_unit: str = "auto",
        time_format: str | None = None,
        skip_rows: int = 0,
        has_header: bool = True,
    ) -> ImportReport:
        """Import a CSV (also .csv.gz), Parquet, Arrow or ccxt JSON file (an upsert), or such
        an object at ``s3://BUCKET/PATH``. ``series`` defaults to the file name
        (``kraken_BTC-USDC_1m.csv``); ``mapping`` takes bar columns from other source columns
        (``{"ts": "open_time"}``)."""
        from arbx.app.import_bars import ImportCommand, key_from_file_name
        from arbx.domain.market.tabular import TimeUnit

        file: Path | str = (
            path if isinstance(path, str) and path.startswith("s3://") else Path(path).expanduser()
        )
        key = key_from_file_name(file) if series is None else _key(series)
        try:
            unit = TimeUnit(time_unit)
        except ValueError:
            choices = ", ".join(u.value for u in TimeUnit)
            raise InvalidInput(
                f"time_unit {time_unit!r} is not one of {choices}", field="time_unit"
            ) from None
        command = ImportCommand(
            path=file,
            key=key,
            mapping=dict(mapping or {}),
            time_unit=unit,
            time_format=time_format,
            skip_rows=skip_rows,
            has_header=has_header,
        )

        async def go() -> ImportReport:
            report: ImportReport = await (await self._use("import_bars")).execute(command)
            return report

        return self._call(go())

    def import_trades(
        self,
        path: str | Path,
        venue: str,
        symbol: str,
        *,
        format: str = "auto",
        bars: Sequence[str] = ("1m",),
        member: str | None = None,
    ) -> ImportTradesReport:
        """Import a trade-history file (Kraken time and sales CSV, Binance trades/aggTrades
        dumps, ccxt trades JSON; also .gz/.zip) into the trade store, each trade once, and
        build ``bars`` (timeframes) of its complete intervals; as ``arbx data import-trades``."""
        from arbx.app.import_trades import ImportTradesCommand
        from arbx.domain.market import Timeframe
        from arbx.domain.market.trade_files import TradeFormat

        try:
            fmt = TradeFormat(format)
        except ValueError:
            choices = ", ".join(f.value for f in TradeFormat)
            raise InvalidInput(
                f"format {format!r} is not one of {choices}", field="format"
            ) from None
        command = ImportTradesCommand(
            path=Path(path).expanduser(),
            key=_trade_key(venue, symbol),
            format=fmt,
            timeframes=tuple(Timeframe.parse(tf) for tf in bars),
            member=member,
        )

        async def go() -> ImportTradesReport:
            report: ImportTradesReport = await (await self._use("import_trades")).execute(command)
            return report

        return self._call(go())

    def fetch_trades(
        self,
        venue: str,
        symbol: str,
        start: Instant,
        end: Instant | None = None,
        *,
        bars: Sequence[str] = ("1m",),
    ) -> BackfillTradesReport:
        """Backfill trades of ``symbol`` in ``[start, end)`` from the venue's REST trade
        history (idempotent by trade id) and build ``bars`` of the span; as ``arbx data
        fetch-trades``."""
        from arbx.domain.market import Timeframe

        key, span = _trade_key(venue, symbol), _span(start, end)
        frames = tuple(Timeframe.parse(tf) for tf in bars)

        async def go() -> BackfillTradesReport:
            use_case = await self._use("backfill_trades")
            report: BackfillTradesReport = await use_case.execute(key, span, frames)
            return report

        return self._call(go())

    def trades(
        self, venue: str, symbol: str, start: Instant | None = None, end: Instant | None = None
    ) -> pl.DataFrame:
        """Stored trades of ``venue``/``symbol`` in ``[start, end)``: trade_id, ts (UTC, µs),
        price, qty, side (the taker's; null when the source does not say)."""
        key, span = _trade_key(venue, symbol), _span(start, end)

        async def go() -> pl.DataFrame:
            frame: pl.DataFrame = await (await self._use("trade_store")).read(key, span)
            return frame

        return self._call(go())

    def load_samples(self, *, if_empty: bool = False) -> list[ImportReport]:
        """Import the bundled sample data (two days around the March 2023 USDC de-peg)."""
        from arbx.entrypoints.samples import samples_dir

        async def go() -> list[ImportReport]:
            loader = await self._use("load_samples")
            reports: list[ImportReport] = await loader.execute(
                samples_dir(), only_if_empty=if_empty
            )
            return reports

        return self._call(go())

    def fetch(
        self, series: Series, start: Instant, end: Instant | None = None
    ) -> EnsureHistoryReport:
        """Backfill ``series`` from its exchange's public API (only what is not stored)."""
        key, span = _key(series), _span(start, end)

        async def go() -> EnsureHistoryReport:
            report: EnsureHistoryReport = await (await self._use("ingest_runs")).execute(key, span)
            return report

        return self._call(go())

    def validate(
        self,
        series: Series,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        cross_venue: bool = True,
    ) -> ValidationReport:
        """Check a stored series against the quality rules and record the findings."""
        key = _key(series)
        span = None if start is None and end is None else _span(start, end)

        async def go() -> ValidationReport:
            await self._known(key)
            uc = await self._use("validate_series")
            report: ValidationReport = await uc.execute(key, span, cross_venue=cross_venue)
            return report

        return self._call(go())

    def repair(
        self,
        series: Series,
        policy: str = "ffill",
        *,
        reference: Series | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        basis_window: int = 60,
        dry_run: bool = False,
    ) -> RepairReport:
        """Fill (``ffill``, ``venue`` from ``reference``) or accept (``leave``) the open gaps
        of a stored series; ``dry_run`` stores nothing."""
        from arbx.domain.quality.repair import RepairPolicy

        key = _key(series)
        chosen = RepairPolicy.parse(policy)
        ref = None if reference is None else _key(reference)
        span = None if start is None and end is None else _span(start, end)

        async def go() -> RepairReport:
            await self._known(key)
            uc = await self._use("repair_series")
            report: RepairReport = await uc.execute(
                key, chosen, span, reference=ref, basis_window=basis_window, dry_run=dry_run
            )
            return report

        return self._call(go())

    # -- backtests ----------------------------------------------------------------------

    def backtest(
        self,
        strategy: str,
        series: Series | Sequence[Series],
        start: Instant,
        end: Instant,
        *,
        params: Mapping[str, Any] | None = None,
        conversions: Mapping[str, str] | None = None,
        fees: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Backtest:
        """Run a strategy on stored bars, store the run and return it.

        ``series``: one for a signal strategy, several venues for arbitrage;
        ``fees``: ``{"kraken": 26}`` (bps) or ``{"kraken": (40, 25)}`` (taker, maker);
        ``fields``: any other field of the backtest request (``capital``, ``fill``,
        ``engine``, ``slippage``, ``sizing``, ``risk``, ``arbitrage``, ``lot_size``,
        ``min_notional``, ``execution`` with ``latency_ms``: ``execution="recorded_book",
        latency_ms=50``...), as in ``POST /api/v1/backtests``. A bad request raises
        ``InvalidInput`` naming the field, and stores nothing."""
        from arbx.app.run_backtest import CLI_OPERATOR
        from arbx.domain.backtest.request import decode_request

        request = decode_request(
            _backtest_body(strategy, series, start, end, params, conversions, fees, fields)
        )

        async def go() -> Backtest:
            uc = await self._use("run_backtest")
            return Backtest(await uc.execute(request, actor=CLI_OPERATOR), self)

        return self._call(go())

    def run(self, run_id: str) -> Backtest:
        """A stored run by id."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> Backtest:
            queries = await self._use("backtest_runs")
            return Backtest(await queries.get(run_id, actor=CLI_OPERATOR), self)

        return self._call(go())

    def runs(self, *, strategy: str | None = None, limit: int = 100) -> pl.DataFrame:
        """Stored runs, newest first: id, created_at, strategy, series, total_return,
        sharpe, max_drawdown, trade_count."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> pl.DataFrame:
            queries = await self._use("backtest_runs")
            found = await queries.list(actor=CLI_OPERATOR, strategy=strategy, limit=limit)
            return pl.DataFrame(
                {
                    "id": [r.id for r in found],
                    "created_at": [r.created_at for r in found],
                    "strategy": [r.strategy for r in found],
                    "series": [", ".join(r.series) for r in found],
                    "total_return": [r.total_return for r in found],
                    "sharpe": [r.sharpe for r in found],
                    "max_drawdown": [r.max_drawdown for r in found],
                    "trade_count": [r.trade_count for r in found],
                },
                schema={
                    "id": pl.String,
                    "created_at": pl.Datetime("us", "UTC"),
                    "strategy": pl.String,
                    "series": pl.String,
                    "total_return": pl.Float64,
                    "sharpe": pl.Float64,
                    "max_drawdown": pl.Float64,
                    "trade_count": pl.Int64,
                },
            )

        return self._call(go())

    def rerun(self, run_id: str) -> Backtest:
        """Run a stored run's request again on the data stored now (a new run)."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> Backtest:
            uc = await self._use("run_backtest")
            return Backtest(await uc.rerun(run_id, actor=CLI_OPERATOR), self)

        return self._call(go())

    def delete_run(self, run_id: str) -> None:
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> None:
            queries = await self._use("backtest_runs")
            await queries.delete(run_id, actor=CLI_OPERATOR)

        self._call(go())

    # -- reports and comparison -----------------------------------------------------------

    def report(self, run_id: str, out: str | Path | None = None) -> str:
        """The HTML report of a stored run (written to ``out`` too when given)."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> str:
            reports = await self._use("report_backtests")
            text: str = await reports.report(run_id, actor=CLI_OPERATOR)
            return text

        return _written(self._call(go()), out)

    def compare(self, run_ids: Sequence[str]) -> Any:
        """Runs side by side (``arbx backtest compare``): their metrics and differences, the
        equity curves on one time axis and the Jobson-Korkie-Memmel test of the Sharpe
        difference on the overlap (a ``Comparison``)."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> Any:
            uc = await self._use("compare_runs")
            return await uc.execute(list(run_ids), actor=CLI_OPERATOR)

        return self._call(go())

    def compare_report(self, run_ids: Sequence[str], out: str | Path | None = None) -> str:
        """The HTML comparison report of 2..10 runs (written to ``out`` too when given)."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> str:
            reports = await self._use("report_backtests")
            text: str = await reports.compare(list(run_ids), actor=CLI_OPERATOR)
            return text

        return _written(self._call(go()), out)

    # -- research -----------------------------------------------------------------------

    def optimize(
        self,
        strategy: str,
        series: Series | Sequence[Series],
        start: Instant,
        end: Instant,
        *,
        space: Mapping[str, Any],
        method: str = "grid",
        objective: str = "sharpe",
        direction: str = "maximize",
        min_trades: int = 0,
        trials: int | None = None,
        seed: int = 0,
        jobs: int | None = None,
        params: Mapping[str, Any] | None = None,
        conversions: Mapping[str, str] | None = None,
        fees: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Study:
        """Search ``space`` (parameter -> ``{"low", "high", "step"}``, ``{"choices": [...]}``
        or a value; ``log: true`` for a log scale) by ``method`` (grid, random, bayes), store the
        study with every trial and return it. Same as ``arbx optimize run``; ``params`` fixes
        the parameters not searched."""
        from arbx.app.optimize import decode_optimization
        from arbx.app.run_backtest import CLI_OPERATOR

        body = _backtest_body(strategy, series, start, end, params, conversions, fees, fields)
        request = decode_optimization(
            {
                "backtest": _json_ready(body),
                "space": dict(space),
                "method": method,
                "objective": objective,
                "direction": direction,
                "min_trades": min_trades,
                "trials": trials,
                "seed": seed,
            }
        )

        async def go() -> str:
            uc = await self._use("optimize_studies")
            study = await uc.create(request, actor=CLI_OPERATOR)
            await uc.run(study.id, actor=CLI_OPERATOR, jobs=jobs)
            return str(study.id)

        return self.study(self._call(go()))

    def study(self, study_id: str) -> Study:
        """A stored study with its trials and overfitting diagnostics."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> Study:
            uc = await self._use("optimize_studies")
            view = await uc.view(study_id, actor=CLI_OPERATOR)
            trials = await uc.trials(study_id, actor=CLI_OPERATOR)
            diagnostics = await uc.diagnostics(study_id, actor=CLI_OPERATOR)
            return Study(view, trials, diagnostics, self)

        return self._call(go())

    def resume(self, study_id: str, *, jobs: int | None = None) -> Study:
        """Continue an interrupted study from its stored trials."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> None:
            uc = await self._use("optimize_studies")
            await uc.resume(study_id, actor=CLI_OPERATOR, jobs=jobs)

        self._call(go())
        return self.study(study_id)

    def promote(self, study_id: str, trial: int | None = None) -> Backtest:
        """Run a study's trial (the best when None) as a normal stored backtest."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> Backtest:
            uc = await self._use("optimize_studies")
            return Backtest(await uc.promote(study_id, trial, actor=CLI_OPERATOR), self)

        return self._call(go())

    def walk_forward(
        self,
        strategy: str,
        series: Series | Sequence[Series],
        start: Instant,
        end: Instant,
        *,
        space: Mapping[str, Any],
        train: int,
        test: int,
        step: int | None = None,
        mode: str = "rolling",
        purge: int = 0,
        embargo: int = 0,
        method: str = "grid",
        objective: str = "sharpe",
        direction: str = "maximize",
        min_trades: int = 0,
        trials: int | None = None,
        seed: int = 0,
        jobs: int = 2,
        params: Mapping[str, Any] | None = None,
        conversions: Mapping[str, str] | None = None,
        fees: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Any:
        """Walk-forward analysis (``arbx optimize walk-forward``): folds of ``train`` and
        ``test`` bars of the first series (``step``, rolling or anchored, ``purge`` and
        ``embargo`` bars), an optimization per train fold, its best parameters on the next
        test fold; returns the stored ``WalkForwardResult`` (its ``id``; folds, stitched
        out-of-sample equity and metrics, efficiency, parameter stability). ``strategy`` may
        be a catalog version (``"name@v3"``: its parameters, series and fees)."""
        from arbx.app.run_backtest import CLI_OPERATOR
        from arbx.app.walk_forward import decode_walk_forward

        body = _backtest_body(strategy, series, start, end, params, conversions, fees, fields)
        request = decode_walk_forward(
            {
                "optimization": {
                    "backtest": _json_ready(body),
                    "space": dict(space),
                    "method": method,
                    "objective": objective,
                    "direction": direction,
                    "min_trades": min_trades,
                    "trials": trials,
                    "seed": seed,
                },
                "train": train,
                "test": test,
                "step": step,
                "mode": mode,
                "purge": purge,
                "embargo": embargo,
            }
        )

        async def go() -> Any:
            uc = await self._use("walk_forward")
            return await uc.execute(request, actor=CLI_OPERATOR, jobs=jobs)

        return self._call(go())

    def study_report(self, study_id: str, out: str | Path | None = None, *, top: int = 50) -> str:
        """The HTML report of a stored study (``arbx optimize report STUDY``): objective
        heatmap, parameters against the objective, top ``top`` trials, deflated Sharpe and
        PBO, manifest; written to ``out`` too when given."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> str:
            reports = await self._use("report_studies")
            text: str = await reports.report(study_id, actor=CLI_OPERATOR, top=top)
            return text

        return _written(self._call(go()), out)

    def walk_forward_report(self, result: Any, out: str | Path | None = None) -> str:
        """The HTML report of a ``walk_forward`` result: folds, in- against out-of-sample,
        the stitched out-of-sample equity, efficiency, chosen parameters; written to ``out``
        too when given."""

        async def go() -> str:
            reports = await self._use("report_studies")
            text: str = await reports.render_walk_forward(result)
            return text

        return _written(self._call(go()), out)

    def walk_forward_result(self, walk_forward_id: str) -> Any:
        """A stored walk-forward's ``WalkForwardResult`` (of the folds stored so far)."""
        from arbx.app.run_backtest import CLI_OPERATOR

        async def go() -> Any:
            uc = await self._use("walk_forward")
            return await uc.result(walk_forward_id, actor=CLI_OPERATOR)

        return self._call(go())

    @staticmethod
    def strategies() -> list[dict[str, Any]]:
        """Strategy types: name, kind, description, parameters (JSON schema) and defaults."""
        from arbx.domain.strategies import describe_all

        return list(describe_all())


def _backtest_body(
    strategy: str,
    series: Series | Sequence[Series],
    start: Instant,
    end: Instant,
    params: Mapping[str, Any] | None,
    conversions: Mapping[str, str] | None,
    fees: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    """The backtest request body of the Python API's arguments."""
    listed = [series] if isinstance(series, str | SeriesKey) else list(series)
    body: dict[str, Any] = {
        "strategy": strategy,
        "series": [str(_key(s)) for s in listed],
        "start": _instant(start, "start"),
        "end": _instant(end, "end"),
        "params": dict(params or {}),
        **fields,
    }
    if conversions:
        body["conversions"] = {str(_key(k)): str(_key(v)) for k, v in conversions.items()}
    if fees:
        body["fees"] = _fees(fees)
    return body


def _json_ready(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with its times as ISO-8601 text (a study stores its request as JSON)."""
    import msgspec

    ready: dict[str, Any] = msgspec.to_builtins(dict(body))
    return ready


def _written(text: str, out: str | Path | None) -> str:
    """``text``, written to ``out`` first when given (a temporary file renamed into place, so
    a reader never sees half a report)."""
    if out is not None:
        import os

        path = Path(out)
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    return text


class Study:
    """A stored optimization study: its id and status, every trial as a polars frame
    (``number``, ``status``, ``value``, the parameters, the metrics), the best trial and the
    overfitting diagnostics (deflated Sharpe ratio, probability of backtest overfitting)."""

    def __init__(self, view: Any, trials: Sequence[Any], diagnostics: Any, workspace: Workspace):
        self._view = view
        self._trials = list(trials)
        self._diagnostics = diagnostics
        self._workspace = workspace

    def __repr__(self) -> str:
        return (
            f"<Study {self.id} {self._view.study.strategy} {self.status}"
            f" {self._view.trials_done}/{self._view.study.n_trials} trials>"
        )

    @property
    def id(self) -> str:
        return str(self._view.study.id)

    @property
    def status(self) -> str:
        return str(self._view.study.status)

    @property
    def best(self) -> dict[str, Any] | None:
        """The best finished trial: ``number``, ``params``, ``value`` (or None)."""
        best = self._view.best
        if best is None:
            return None
        return {"number": best.number, "params": dict(best.params), "value": best.value}

    @property
    def trials(self) -> pl.DataFrame:
        import msgspec

        rows = []
        for t in sorted(self._trials, key=lambda t: t.number):
            metrics = msgspec.to_builtins(t.metrics)
            rows.append(
                {
                    "number": t.number,
                    "status": t.status,
                    "value": t.value,
                    **{f"param_{k}": v for k, v in t.params.items()},
                    **{k: v for k, v in metrics.items() if isinstance(v, int | float | None)},
                }
            )
        return pl.DataFrame(rows, infer_schema_length=None)

    @property
    def diagnostics(self) -> Any:
        """``Diagnostics``: ``deflated_sharpe`` and ``pbo`` (None with too few trials)."""
        return self._diagnostics

    def promote(self, trial: int | None = None) -> Backtest:
        """Run a trial (the best when None) as a normal stored backtest."""
        return self._workspace.promote(self.id, trial)

    def report(self, out: str | Path | None = None, *, top: int = 50) -> str:
        """The study's self-contained HTML report (``arbx optimize report``)."""
        return self._workspace.study_report(self.id, out, top=top)
