"""Backtests over HTTP: run, list, show, result tables, delete; and the strategy types.

``POST /api/v1/backtests`` validates the request and loads its bars at once (a bad request
is a 422 naming the field, and nothing is stored). A run reading fewer than
``backtest.inline_max_bars`` bars is computed before the answer (201 with the run); a larger
one answers 202 with its id and is computed in a worker process (``app.background_backtests``),
so the API stays responsive, then stored. ``GET /api/v1/backtests/{id}`` shows such a run as
pending, running, done or failed. Runs in flight live in this process; a failed one is
recorded by the run store, so it reads as failed after a restart and on every server of the
profile. A run stopped by a shutdown is recorded as failed (interrupted). Its owner (or a
holder of ``results:read_any``) cancels a background run with ``POST .../{id}/cancel`` or a
DELETE while it computes: its worker process is ended and it is recorded as cancelled. The use cases
(``app.run_backtest``) authorize every read, list and delete; these handlers parse and shape.

Ownership: a run belongs to the user who started it (an API key acts for its owner) and may
be shared with ``"shared": true`` in the request. Holders of ``results:read`` see their own
and shared runs (and runs made outside the API, e.g. by the CLI); ``results:read_any`` sees
all. Deleting needs ``backtests:run`` and ownership (or ``results:read_any``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

import msgspec
import polars as pl
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, QueryParameter

from arbx.app.background_backtests import DONE, BackgroundRun, CancelBacktest
from arbx.app.run_backtest import BacktestRuns, RunBacktest
from arbx.domain.auth import Permission, Principal
from arbx.domain.backtest.listing import parse_run_query
from arbx.domain.backtest.request import decode_request
from arbx.domain.backtest.run import (
    TABLE_NAMES,
    BacktestRun,
    DataChange,
    RunMeta,
    RunSummary,
    TableName,
)
from arbx.domain.errors import InvalidInput
from arbx.domain.strategies import describe_all, plugin_failures
from arbx.entrypoints.http.security import requires
from arbx.ports.run_store import RunFailure

CSV: Final = "text/csv"
TABLES: Final[tuple[TableName, ...]] = TABLE_NAMES

# -- wire shapes ------------------------------------------------------------------------------


class BacktestOut(msgspec.Struct):
    """One run: its status; when done, everything about it but its tables (``run``)."""

    id: str
    status: str
    created_at: datetime
    run: RunMeta | None = None
    error: str | None = None
    bars: int | None = None
    # a rerun: the series whose data changed since the run it repeats ([] when none)
    data_changed: list[DataChange] | None = None


class BacktestList(msgspec.Struct):
    backtests: list[RunSummary]
    in_flight: list[BacktestOut]
    # with status=failed: the recorded failures, newest first
    failed: list[BacktestOut] = msgspec.field(default_factory=list)
    # the offset of the next page (of backtests, or failed); None on the last page
    next_offset: int | None = None


class RecordsOut(msgspec.Struct):
    id: str
    table: str
    rows: int
    records: list[dict[str, Any]]


class ColumnsOut(msgspec.Struct):
    id: str
    table: str
    rows: int
    columns: dict[str, list[Any]]


class StrategyList(msgspec.Struct):
    strategies: list[dict[str, Any]]
    # strategy plugins that failed to load: where -> the error's last line
    plugin_failures: dict[str, str] = msgspec.field(default_factory=dict)


# -- views ------------------------------------------------------------------------------------


def _background(run: BackgroundRun) -> BacktestOut:
    return BacktestOut(
        run.id,
        run.status,
        run.created_at,
        error=run.error,
        bars=run.bars,
        data_changed=run.data_changed,
    )


def _failed(failure: RunFailure) -> BacktestOut:
    return BacktestOut(
        failure.id, failure.status, failure.created_at, error=failure.error, bars=failure.bars
    )


def _done(run: BacktestRun) -> BacktestOut:
    return BacktestOut(
        run.id,
        DONE,
        run.meta.created_at,
        run=run.meta,
        bars=sum(s.rows for s in run.meta.series),
        data_changed=run.meta.data_changed,
    )


def _view(run: BacktestRun | BackgroundRun | RunFailure) -> BacktestOut:
    if isinstance(run, BacktestRun):
        return _done(run)
    if isinstance(run, BackgroundRun):
        return _background(run)
    return _failed(run)


def _wants_csv(request: Request[Any, Any, Any]) -> bool:
    return request.accept.best_match(["application/json", CSV], "application/json") == CSV


def _csv(frame: pl.DataFrame, run_id: str, name: str) -> Response[bytes]:
    return Response(
        frame.write_csv(datetime_format="%Y-%m-%dT%H:%M:%S%.3fZ").encode(),
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{run_id}-{name}.csv"'},
    )


def _iso(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
    )


# -- handlers ---------------------------------------------------------------------------------

_BODY = Body(
    title="BacktestRequest",
    description=(
        "strategy (see GET /api/v1/strategies), params, series ['exchange:BASE/QUOTE:tf', ...],"
        " start and end (ISO-8601 or epoch ms, UTC, end exclusive); optional: conversions"
        " {traded series: series pricing its quote}, capital, fees {venue: {maker_bps,"
        " taker_bps}}, slippage {kind: none|fixed|volume_share, bps, k_bps}, sizing, fill"
        " (next_open | close, optimistic), engine (auto|vectorized|event), lot_size, risk,"
        " risk_free_rate, arbitrage {...}, execution (bars | synthetic_book: orders walk"
        " books built from bars, flagged synthetic | recorded_book | recorded_quotes: orders"
        " walk the recorded books or best bid/ask of every traded series; a 422 naming"
        " execution when a series has none in the span), latency_ms (book executions: an"
        " order meets the book that much after its fill instant), book {spread_bps, levels,"
        " level_step_bps, depth_share, depth_growth, latency_ms},"
        " shared (bool: let every results reader see it)."
    ),
)


def _accepted(run: BacktestRun | BackgroundRun) -> Response[BacktestOut]:
    if isinstance(run, BacktestRun):
        return Response(_done(run), status_code=201)
    return Response(
        _background(run), status_code=202, headers={"Location": f"/api/v1/backtests/{run.id}"}
    )


_ANSWERS = {
    201: ResponseSpec(BacktestOut, description="computed at once: the stored run"),
    202: ResponseSpec(BacktestOut, description="accepted: computing in the background"),
}


@post(
    "/api/v1/backtests",
    summary="Run a backtest: small runs answer with the result (201), large ones with an id (202)",
    tags=["backtests"],
    guards=[requires(Permission.BACKTESTS_RUN, group="compute")],
    responses=_ANSWERS,
    status_code=201,
)
async def run_backtest(
    data: Annotated[dict[str, Any], _BODY],
    run_backtest: NamedDependency[RunBacktest],
    principal: NamedDependency[Principal],
) -> Response[BacktestOut]:
    body = dict(data)
    shared = body.pop("shared", False)
    if not isinstance(shared, bool):
        raise InvalidInput("shared must be true or false", field="shared")
    request = decode_request(body)
    return _accepted(await run_backtest.start(request, actor=principal, shared=shared))


@post(
    "/api/v1/backtests/{run_id:str}/rerun",
    summary="Run a stored run's request again on the data stored now (a new run)",
    tags=["backtests"],
    guards=[requires(Permission.BACKTESTS_RUN, group="compute")],
    responses=_ANSWERS,
    status_code=201,
)
async def rerun_backtest(
    run_id: FromPath[str],
    run_backtest: NamedDependency[RunBacktest],
    principal: NamedDependency[Principal],
) -> Response[BacktestOut]:
    return _accepted(await run_backtest.start_rerun(run_id, actor=principal))


@get(
    "/api/v1/backtests",
    summary="Stored runs (newest first, or sorted by a metric; filtered, paged by the store)"
    " and the caller's runs still computing",
    tags=["backtests"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def list_backtests(
    backtest_runs: NamedDependency[BacktestRuns],
    principal: NamedDependency[Principal],
    strategy: Annotated[str | None, QueryParameter(description="only this strategy")] = None,
    limit: Annotated[int, QueryParameter(description="at most this many (1..1000)")] = 100,
    status: Annotated[
        str | None,
        QueryParameter(description="only done (stored), pending, running or failed runs"),
    ] = None,
    series: Annotated[
        str | None,
        QueryParameter(description="runs that read this series (exchange:BASE/QUOTE:tf)"),
    ] = None,
    venue: Annotated[
        str | None, QueryParameter(description="runs that read a series of this exchange")
    ] = None,
    start: Annotated[
        str | None, QueryParameter(description="runs whose span ends after this (ISO-8601, UTC)")
    ] = None,
    end: Annotated[
        str | None, QueryParameter(description="runs whose span starts before this (ISO-8601)")
    ] = None,
    sort: Annotated[
        str | None,
        QueryParameter(
            description="created_at (default), total_return, cagr, sharpe, sortino, calmar,"
            " max_drawdown, win_rate, profit_factor, trade_count, final_equity, excess_return"
        ),
    ] = None,
    order: Annotated[str | None, QueryParameter(description="desc (default) or asc")] = None,
    offset: Annotated[int, QueryParameter(description="runs skipped before this page")] = 0,
) -> BacktestList:
    query = parse_run_query(
        series=series, venue=venue, start=start, end=end, sort=sort, order=order, offset=offset
    )
    found = await backtest_runs.listing(
        actor=principal, strategy=strategy, limit=limit, query=query, status=status
    )
    return BacktestList(
        found.backtests,
        [_background(r) for r in found.in_flight],
        [_failed(f) for f in found.failed],
        found.next_offset,
    )


@get(
    "/api/v1/backtests/{run_id:str}",
    summary="One run: status (pending, running, done, failed, cancelled) and, when done, its"
    " metrics",
    tags=["backtests"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def get_backtest(
    run_id: FromPath[str],
    backtest_runs: NamedDependency[BacktestRuns],
    principal: NamedDependency[Principal],
) -> BacktestOut:
    return _view(await backtest_runs.status(run_id, actor=principal))


async def _table(
    request: Request[Any, Any, Any],
    queries: BacktestRuns,
    run_id: str,
    name: TableName,
    principal: Principal,
) -> tuple[pl.DataFrame | None, Response[bytes] | None]:
    frame = await queries.table(run_id, name, actor=principal)
    if _wants_csv(request):
        return None, _csv(frame, run_id, name)
    return frame, None


@get(
    "/api/v1/backtests/{run_id:str}/trades",
    summary="A run's trades (per leg for arbitrage); CSV with Accept: text/csv",
    tags=["backtests"],
    guards=[requires(Permission.RESULTS_READ)],
    responses={200: ResponseSpec(RecordsOut, description="the trades as records")},
)
async def get_trades(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    backtest_runs: NamedDependency[BacktestRuns],
    principal: NamedDependency[Principal],
) -> Response[Any]:
    frame, csv = await _table(request, backtest_runs, run_id, "trades", principal)
    if csv is not None:
        return csv
    assert frame is not None
    return Response(RecordsOut(run_id, "trades", frame.height, _iso(frame).to_dicts()))


@get(
    "/api/v1/backtests/{run_id:str}/equity",
    summary="A run's equity and drawdown curve per bar (columns); CSV with Accept: text/csv",
    tags=["backtests"],
    guards=[requires(Permission.RESULTS_READ)],
    responses={200: ResponseSpec(ColumnsOut, description="the curve, one list per column")},
)
async def get_equity(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    backtest_runs: NamedDependency[BacktestRuns],
    principal: NamedDependency[Principal],
) -> Response[Any]:
    frame, csv = await _table(request, backtest_runs, run_id, "curve", principal)
    if csv is not None:
        return csv
    assert frame is not None
    columns = _iso(frame).to_dict(as_series=False)
    return Response(ColumnsOut(run_id, "equity", frame.height, columns))


@get(
    "/api/v1/backtests/{run_id:str}/tables/{name:str}",
    summary="Any table of a run: curve, trades, orders, fills or balances (per venue, arbitrage)",
    tags=["backtests"],
    guards=[requires(Permission.RESULTS_READ)],
    responses={200: ResponseSpec(RecordsOut, description="the table as records")},
)
async def get_table(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    name: FromPath[str],
    backtest_runs: NamedDependency[BacktestRuns],
    principal: NamedDependency[Principal],
) -> Response[Any]:
    if name not in TABLES:
        raise InvalidInput(
            f"table {name!r} does not exist; use one of {', '.join(TABLES)}", field="name"
        )
    frame, csv = await _table(request, backtest_runs, run_id, name, principal)
    if csv is not None:
        return csv
    assert frame is not None
    return Response(RecordsOut(run_id, name, frame.height, _iso(frame).to_dicts()))


@delete(
    "/api/v1/backtests/{run_id:str}",
    summary="Delete a stored run and its tables, or cancel a run still computing (owner, or a"
    " holder of results:read_any)",
    tags=["backtests"],
    guards=[requires(Permission.BACKTESTS_RUN)],
)
async def delete_backtest(
    run_id: FromPath[str],
    backtest_runs: NamedDependency[BacktestRuns],
    cancel_backtest: NamedDependency[CancelBacktest],
    principal: NamedDependency[Principal],
) -> None:
    if await backtest_runs.computing(run_id):
        await cancel_backtest.execute(run_id, actor=principal)
        return
    await backtest_runs.delete(run_id, actor=principal)


@post(
    "/api/v1/backtests/{run_id:str}/cancel",
    status_code=202,
    summary="Cancel a background run (owner, or a holder of results:read_any): its worker"
    " process is ended and the run is recorded as cancelled",
    tags=["backtests"],
    guards=[requires(Permission.BACKTESTS_RUN)],
)
async def cancel_backtest_run(
    run_id: FromPath[str],
    cancel_backtest: NamedDependency[CancelBacktest],
    principal: NamedDependency[Principal],
) -> BacktestOut:
    run = await cancel_backtest.execute(run_id, actor=principal)
    if run is None:  # computing in another process of the profile: asked to stop
        return BacktestOut(run_id, "cancel_requested", datetime.now(UTC))
    return _background(run)


@get(
    "/api/v1/strategies",
    summary="Strategy types with their parameter schemas and defaults",
    tags=["backtests"],
    guards=[requires(Permission.STRATEGIES_READ)],
)
async def list_strategies() -> StrategyList:
    failures = {
        where: (error.strip().splitlines() or [""])[-1]
        for where, error in plugin_failures().items()
    }
    return StrategyList(describe_all(), failures)


ROUTES = [
    run_backtest,
    rerun_backtest,
    list_backtests,
    get_backtest,
    get_trades,
    get_equity,
    get_table,
    delete_backtest,
    cancel_backtest_run,
    list_strategies,
]
