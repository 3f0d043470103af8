"""Backtests over HTTP: run, list, show, result tables, delete; and the strategy types.

``POST /api/v1/backtests`` validates the request and loads its bars at once (a bad request
is a 422 naming the field, and nothing is stored). A run reading fewer than
``backtest.inline_max_bars`` bars is computed before the answer (201 with the run); a larger
one answers 202 with its id and is computed in a worker process (``BacktestJobs``), so the
API stays responsive, then stored. ``GET /api/v1/backtests/{id}`` shows such a run as
pending, running, done or failed. Runs in flight live in this process; failures are appended
to ``<data_dir>/backtest_failures.jsonl`` so a failed run still reads as failed after a
restart. A run stopped by a shutdown is recorded as failed (interrupted).

Ownership: a run belongs to the user who started it (an API key acts for its owner) and may
be shared with ``"shared": true`` in the request. Holders of ``results:read`` see their own
and shared runs (and runs made outside the API, e.g. by the CLI); ``results:read_any`` sees
all. Deleting needs ``backtests:run`` and ownership (or ``results:read_any``).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final

import msgspec
import polars as pl
from litestar import Litestar, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, QueryParameter

from arbx.app.run_backtest import BacktestRuns, PreparedBacktest, RunBacktest, compute
from arbx.domain.auth import Permission, Principal
from arbx.domain.auth.policy import Resource, can, require
from arbx.domain.backtest.request import decode_request
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.backtest.run import BacktestRun, RunMeta, RunSummary, TableName
from arbx.domain.errors import ArbxError, InvalidInput, NotFound
from arbx.domain.strategies import describe_all
from arbx.entrypoints.http.security import requires
from arbx.ports.clock import Clock

log = logging.getLogger("arbx.backtests")

CSV: Final = "text/csv"
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
KEEP_FINISHED: Final = 200  # finished background runs remembered in memory
INTERRUPTED: Final = "interrupted: arbx stopped while the run was computing; run it again"
TABLES: Final[tuple[TableName, ...]] = ("curve", "trades", "orders", "fills", "balances")

# -- wire shapes ------------------------------------------------------------------------------


class BacktestOut(msgspec.Struct):
    """One run: its status; when done, everything about it but its tables (``run``)."""

    id: str
    status: str
    created_at: datetime
    run: RunMeta | None = None
    error: str | None = None
    bars: int | None = None


class BacktestList(msgspec.Struct):
    backtests: list[RunSummary]
    in_flight: list[BacktestOut]


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


# -- background runs ----------------------------------------------------------------------------


@dataclass(eq=False)
class BackgroundRun:
    id: str
    created_at: datetime
    bars: int
    owner: str | None
    shared: bool
    status: str = PENDING
    error: str | None = None
    future: Future[BacktestResult] | None = None
    task: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        return self.status in (DONE, FAILED)

    def view(self) -> BacktestOut:
        status = self.status
        if status == PENDING and self.future is not None and self.future.running():
            status = RUNNING
        return BacktestOut(self.id, status, self.created_at, error=self.error, bars=self.bars)


class FailureLog:
    """Failed background runs, one JSON line each, so they read as failed after a restart."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def add(self, out: BacktestOut) -> None:
        line = msgspec.json.encode(out) + b"\n"

        def append() -> None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("ab") as handle:
                handle.write(line)

        await asyncio.to_thread(append)

    async def get(self, run_id: str) -> BacktestOut | None:
        def scan() -> BacktestOut | None:
            if not self._path.is_file():
                return None
            found = None
            with self._path.open("rb") as handle:
                for line in handle:
                    if run_id.encode() in line:
                        try:
                            found = msgspec.json.decode(line, type=BacktestOut)
                        except msgspec.DecodeError:
                            continue
            return found if found is not None and found.id == run_id else None

        return await asyncio.to_thread(scan)


class BacktestJobs:
    """Runs small backtests at once and large ones in a process pool (spawned on first use,
    shut down with the app); remembers the runs in flight and records failures."""

    def __init__(
        self,
        *,
        run_backtest: Callable[[], Awaitable[RunBacktest]],
        clock: Clock,
        inline_max_bars: int,
        pool_workers: int,
        failures: FailureLog,
    ) -> None:
        self._run_backtest = run_backtest
        self._clock = clock
        self.inline_max_bars = inline_max_bars
        self._workers = pool_workers
        self._failures = failures
        self._pool: ProcessPoolExecutor | None = None
        self._runs: dict[str, BackgroundRun] = {}

    async def submit(
        self, raw: dict[str, Any], principal: Principal | None
    ) -> BacktestRun | BackgroundRun:
        """Validate and load; compute now (small) or in the background (large)."""
        body = dict(raw)
        shared = body.pop("shared", False)
        if not isinstance(shared, bool):
            raise InvalidInput("shared must be true or false", field="shared")
        request = decode_request(body)
        uc = await self._run_backtest()
        prepared = await uc.prepare(request)
        return await self._start(uc, prepared, principal, shared)

    async def rerun(
        self, stored: RunMeta, principal: Principal | None
    ) -> BacktestRun | BackgroundRun:
        """Run a stored run's request again, as a new run of ``principal``."""
        uc = await self._run_backtest()
        prepared = await uc.prepare(stored.request)
        return await self._start(uc, prepared, principal, stored.shared)

    async def _start(
        self,
        uc: RunBacktest,
        prepared: PreparedBacktest,
        principal: Principal | None,
        shared: bool,
    ) -> BacktestRun | BackgroundRun:
        owner = None if principal is None else principal.user_id
        if prepared.bar_count < self.inline_max_bars:
            result = await asyncio.to_thread(compute, prepared)
            return await uc.store(prepared, result, owner=owner, shared=shared)
        run = BackgroundRun(uc.new_id(), self._clock.now(), prepared.bar_count, owner, shared)
        try:
            run.future = self._executor().submit(compute, prepared)
        except BrokenProcessPool:  # a worker died earlier: start a fresh pool, once
            self._drop_pool()
            run.future = self._executor().submit(compute, prepared)
        run.task = asyncio.create_task(self._finish(run, uc, prepared), name=f"backtest {run.id}")
        self._runs[run.id] = run
        self._prune()
        return run

    def in_flight(self, principal: Principal | None) -> list[BacktestOut]:
        return [
            r.view()
            for r in self._runs.values()
            if not r.done and can(principal, Permission.RESULTS_READ, _resource(r.owner, r.shared))
        ]

    async def status(self, run_id: str) -> BackgroundRun | BacktestOut | None:
        """A run this process remembers, or a recorded failure; None when neither."""
        run = self._runs.get(run_id)
        if run is not None and run.status != DONE:
            return run
        if run is None:
            return await self._failures.get(run_id)
        return None

    def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    async def _finish(
        self, run: BackgroundRun, uc: RunBacktest, prepared: PreparedBacktest
    ) -> None:
        assert run.future is not None
        try:
            result = await asyncio.wrap_future(run.future)
            await uc.store(prepared, result, run_id=run.id, owner=run.owner, shared=run.shared)
            run.status = DONE
            return
        except asyncio.CancelledError:
            run.future.cancel()
            run.error = INTERRUPTED
            await self._fail(run)
            raise
        except ArbxError as exc:
            run.error = f"{type(exc).__name__}: {exc.message}"
        except BrokenProcessPool as exc:  # a worker died (killed, out of memory...)
            log.error("backtest %s: worker process died: %s", run.id, exc)
            run.error = "the worker process computing this run died (out of memory?)"
            self._drop_pool()
        except Exception as exc:  # a bug or a dead worker: keep the server up, say what happened
            log.exception("backtest %s failed", run.id)
            run.error = f"{type(exc).__name__}: {exc}"
        await self._fail(run)

    async def _fail(self, run: BackgroundRun) -> None:
        run.status = FAILED
        log.warning("backtest %s failed: %s", run.id, run.error)
        try:
            await self._failures.add(run.view())
        except OSError as exc:
            log.warning("backtest %s failure could not be recorded: %s", run.id, exc)

    def _prune(self) -> None:
        finished = [r for r in self._runs.values() if r.done]
        for run in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._runs[run.id]

    async def close(self) -> None:
        """Stop: runs in flight are recorded as interrupted; the pool stops after the runs
        its workers are computing (queued ones are dropped)."""
        flying = [r for r in self._runs.values() if r.task is not None and not r.task.done()]
        for run in flying:
            assert run.task is not None
            run.task.cancel()
        await asyncio.gather(*(r.task for r in flying if r.task), return_exceptions=True)
        for run in flying:  # a task cancelled before it started never saw the cancellation
            if not run.done:
                if run.future is not None:
                    run.future.cancel()
                run.error = INTERRUPTED
                await self._fail(run)
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    @asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.close()


# -- views ------------------------------------------------------------------------------------


def _resource(owner: str | None, shared: bool) -> Resource:
    """Runs made outside the API (no owner) are visible to every reader."""
    return Resource(owner_id=owner or "", shared=shared or owner is None)


def _done(run: BacktestRun) -> BacktestOut:
    return BacktestOut(
        run.id,
        DONE,
        run.meta.created_at,
        run=run.meta,
        bars=sum(s.rows for s in run.meta.series),
    )


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


async def _readable(queries: BacktestRuns, run_id: str, principal: Principal) -> BacktestRun:
    run = await queries.get(run_id)
    require(principal, Permission.RESULTS_READ, _resource(run.meta.owner, run.meta.shared))
    return run


# -- handlers ---------------------------------------------------------------------------------

_BODY = Body(
    title="BacktestRequest",
    description=(
        "strategy (see GET /api/v1/strategies), params, series ['exchange:BASE/QUOTE:tf', ...],"
        " start and end (ISO-8601 or epoch ms, UTC, end exclusive); optional: conversions"
        " {traded series: series pricing its quote}, capital, fees {venue: {maker_bps,"
        " taker_bps}}, slippage {kind: none|fixed|volume_share, bps, k_bps}, sizing, fill"
        " (next_open | close, optimistic), engine (auto|vectorized|event), lot_size, risk,"
        " risk_free_rate, arbitrage {...}, shared (bool: let every results reader see it)."
    ),
)


def _accepted(run: BacktestRun | BackgroundRun) -> Response[BacktestOut]:
    if isinstance(run, BacktestRun):
        return Response(_done(run), status_code=201)
    return Response(
        run.view(), status_code=202, headers={"Location": f"/api/v1/backtests/{run.id}"}
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
    backtest_jobs: NamedDependency[BacktestJobs],
    principal: NamedDependency[Principal],
) -> Response[BacktestOut]:
    return _accepted(await backtest_jobs.submit(data, principal))


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
    backtest_jobs: NamedDependency[BacktestJobs],
    backtest_runs: NamedDependency[BacktestRuns],
    principal: NamedDependency[Principal],
) -> Response[BacktestOut]:
    stored = await _readable(backtest_runs, run_id, principal)
    return _accepted(await backtest_jobs.rerun(stored.meta, principal))


@get(
    "/api/v1/backtests",
    summary="Stored runs (newest first) and the caller's runs still computing",
    tags=["backtests"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def list_backtests(
    backtest_runs: NamedDependency[BacktestRuns],
    backtest_jobs: NamedDependency[BacktestJobs],
    principal: NamedDependency[Principal],
    strategy: Annotated[str | None, QueryParameter(description="only this strategy")] = None,
    limit: Annotated[int, QueryParameter(description="at most this many (1..1000)")] = 100,
) -> BacktestList:
    if principal.has(Permission.RESULTS_READ_ANY):
        found = await backtest_runs.list(strategy=strategy, limit=limit)
    else:
        every = await backtest_runs.list(strategy=strategy, limit=1000)
        visible = (
            s
            for s in every
            if can(principal, Permission.RESULTS_READ, _resource(s.owner, s.shared))
        )
        found = list(visible)[:limit]
    return BacktestList(found, backtest_jobs.in_flight(principal))


@get(
    "/api/v1/backtests/{run_id:str}",
    summary="One run: status (pending, running, done, failed) and, when done, its metrics",
    tags=["backtests"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def get_backtest(
    run_id: FromPath[str],
    backtest_runs: NamedDependency[BacktestRuns],
    backtest_jobs: NamedDependency[BacktestJobs],
    principal: NamedDependency[Principal],
) -> BacktestOut:
    known = await backtest_jobs.status(run_id)
    if isinstance(known, BackgroundRun):
        require(principal, Permission.RESULTS_READ, _resource(known.owner, known.shared))
        return known.view()
    try:
        return _done(await _readable(backtest_runs, run_id, principal))
    except NotFound:
        if known is not None:  # a recorded failure
            return known
        raise


async def _table(
    request: Request[Any, Any, Any],
    queries: BacktestRuns,
    run_id: str,
    name: TableName,
    principal: Principal,
) -> tuple[pl.DataFrame | None, Response[bytes] | None]:
    await _readable(queries, run_id, principal)
    frame = await queries.table(run_id, name)
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
    summary="Delete a stored run and its tables (owner, or a holder of results:read_any)",
    tags=["backtests"],
    guards=[requires(Permission.BACKTESTS_RUN)],
)
async def delete_backtest(
    run_id: FromPath[str],
    backtest_runs: NamedDependency[BacktestRuns],
    principal: NamedDependency[Principal],
) -> None:
    run = await backtest_runs.get(run_id)
    owned = Resource(owner_id=run.meta.owner or "", shared=False)
    require(principal, Permission.RESULTS_READ, owned)
    await backtest_runs.delete(run_id)


@get(
    "/api/v1/strategies",
    summary="Strategy types with their parameter schemas and defaults",
    tags=["backtests"],
    guards=[requires(Permission.STRATEGIES_READ)],
)
async def list_strategies() -> StrategyList:
    return StrategyList(describe_all())


ROUTES = [
    run_backtest,
    rerun_backtest,
    list_backtests,
    get_backtest,
    get_trades,
    get_equity,
    get_table,
    delete_backtest,
    list_strategies,
]
