"""Walk-forward analyses: optimize on each train fold, evaluate the best parameters on the test
fold after it, stitch the out-of-sample equity; stored, resumable, run in the background.

``WalkForward.create`` validates everything before any work (the optimization as a study's,
the fold layout against the bars of the first series), loads and fingerprints the bars and
stores the walk-forward (status ``running``, with its fold spans). ``run`` computes the folds
not stored yet on the ``Executor`` (the bars go to the workers once, ``Executor.share``;
each fold is one call: the search of its train span, as a study's with one job, then one
backtest of its best trial on its test span) and stores each fold as it finishes. Each test
fold starts flat and warms its indicators up inside the fold: no bar before the fold is read.
Cancelled (Ctrl-C, a server shutdown) the walk-forward is ``interrupted`` with its finished
folds; ``resume`` continues, refusing when the stored data changed since. A walk-forward left
``running`` by a process that is gone is shown ``interrupted`` (``app.holding``).

The result (``domain.research.walk_forward.assemble``): per fold the spans, the chosen
parameters, the in-sample and out-of-sample objective and metrics; the chained out-of-sample
equity and its metrics; walk-forward efficiency; parameter stability.

Authorization as for studies: ``backtests:run`` to start, ``results:read`` on it to read.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import polars as pl

from arbx.app.optimize import (
    OptimizationRequest,
    OptimizeStudies,
    field_of,
    search_trials,
    study_points,
)
from arbx.app.run_backtest import PreparedBacktest
from arbx.domain.auth import Permission, Principal
from arbx.domain.auth.policy import Resource, require
from arbx.domain.backtest.request import decode_request
from arbx.domain.backtest.result import ENGINE_VERSION
from arbx.domain.backtest.run import data_changes
from arbx.domain.backtest.runner import run as run_engine
from arbx.domain.errors import ArbxError, Conflict, InvalidInput
from arbx.domain.market import SeriesKey
from arbx.domain.research.evaluate import StudyData, trial_metrics
from arbx.domain.research.folds import FoldMode, walk_forward_folds
from arbx.domain.research.objective import TrialMetrics
from arbx.domain.research.space import SearchSpace
from arbx.domain.research.study import Method, best_trial
from arbx.domain.research.walk_forward import (
    FoldOut,
    FoldSpan,
    WalkForwardFold,
    WalkForwardResult,
    WalkForwardStatus,
    WalkForwardStudy,
    assemble,
)
from arbx.domain.strategies import get_strategy
from arbx.ports.clock import Clock
from arbx.ports.executor import Executor, Shared
from arbx.ports.walk_forward_store import WalkForwardStore

__all__ = [
    "FoldOut",
    "WalkForward",
    "WalkForwardRequest",
    "WalkForwardResult",
    "WalkForwardView",
    "decode_walk_forward",
]

log = logging.getLogger("arbx.walk_forward")

FoldProgress = Callable[[int, int], None]  # (folds done, folds in all)


class WalkForwardRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An optimization request plus the folds (in bars of the first series)."""

    optimization: dict[str, Any]
    train: int
    test: int
    step: int | None = None
    mode: str = "rolling"
    purge: int = 0
    embargo: int = 0


def decode_walk_forward(raw: Mapping[str, Any] | bytes) -> WalkForwardRequest:
    try:
        data = msgspec.json.decode(raw) if isinstance(raw, bytes | bytearray) else dict(raw)
        return msgspec.convert(data, WalkForwardRequest, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid walk-forward request: {exc}", field=field_of(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the request is not valid JSON: {exc}", field="request") from None
    except (TypeError, ValueError):
        raise InvalidInput("a walk-forward request is a JSON object", field="request") from None


@dataclass(frozen=True)
class WalkForwardView:
    """A walk-forward with its progress and the result of its stored folds."""

    walk_forward: WalkForwardStudy
    folds_done: int
    running_here: bool
    result: WalkForwardResult


def _annualized(m: TrialMetrics, span_days: float) -> float | None:
    if m.total_return is None or span_days <= 0:
        return None
    return m.total_return * 365.0 / span_days


def _days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86_400


def _cut(
    bars: Mapping[SeriesKey, pl.DataFrame], start: datetime, end: datetime
) -> dict[SeriesKey, pl.DataFrame]:
    return {k: f.filter((pl.col("ts") >= start) & (pl.col("ts") < end)) for k, f in bars.items()}


class _FoldTask(msgspec.Struct, frozen=True):
    span: FoldSpan
    space: SearchSpace
    method: Method
    n_trials: int
    seed: int


def run_fold(shared: Shared[StudyData], task: _FoldTask) -> tuple[FoldOut, list[float], list[int]]:
    """One fold in a worker: search the train span, run the best on the test span."""
    data = shared.get()
    s = task.span
    train = (s.train_start, s.train_end)
    test = (s.test_start, s.test_end)
    fold_data = StudyData(
        f"{data.study_id}-fold{s.index}", data.request, _cut(data.bars, *train), data.objective
    )
    empty = FoldOut(s.index, *train, *test, None, None, None, None, None, None, 0)
    try:
        trials = search_trials(fold_data, task.space, task.method, task.n_trials, task.seed)
    except ArbxError as exc:
        return msgspec.structs.replace(empty, error=exc.message), [], []
    best = best_trial(trials, data.objective)
    if best is None:
        reason = "no feasible trial in the train fold"
        return msgspec.structs.replace(empty, trials=len(trials), error=reason), [], []
    try:
        result = run_engine(data.valid(best.params), _cut(data.bars, *test))
    except ArbxError as exc:
        return msgspec.structs.replace(empty, params=best.params, error=exc.message), [], []
    oos = trial_metrics(result.metrics, result.benchmark, data.request.capital)
    is_ann = _annualized(best.metrics, _days(*train))
    oos_ann = _annualized(oos, _days(*test))
    eff = None if not is_ann or oos_ann is None or is_ann <= 0 else oos_ann / is_ann
    out = FoldOut(
        s.index, *train, *test, best.params, best.metrics, oos, best.value,
        data.objective.value(oos), eff, len(trials),
    )  # fmt: skip
    curve = result.curve
    return out, curve["equity"].to_list(), curve["ts"].dt.epoch("ms").to_list()


def _resource(wf: WalkForwardStudy) -> Resource:
    return Resource(owner_id=wf.owner or "", shared=wf.owner is None)


class WalkForward:
    def __init__(
        self,
        studies: OptimizeStudies,
        executor: Executor,
        store: WalkForwardStore,
        clock: Clock,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._studies = studies
        self._executor = executor
        self._store = store
        self._clock = clock
        self._new_id = new_id
        self._holding = studies.holding
        self._live: set[str] = set()
        self._tasks: dict[str, asyncio.Task[WalkForwardView]] = {}
        self._loaded: dict[str, PreparedBacktest] = {}

    # -- create ---------------------------------------------------------------------------

    async def create(self, request: WalkForwardRequest, *, actor: Principal) -> WalkForwardStudy:
        """Validate ``request`` (``InvalidInput`` names the field), load its bars and store
        the walk-forward with its fold spans; nothing is stored when anything is wrong."""
        require(actor, Permission.BACKTESTS_RUN)
        plan = await self._studies.plan(_optimization(request.optimization), actor=actor)
        if request.mode not in ("rolling", "anchored"):
            raise InvalidInput(
                f"mode must be rolling or anchored, got {request.mode!r}", field="mode"
            )
        mode: FoldMode = request.mode  # type: ignore[assignment]
        main = plan.prepared.bars[plan.prepared.valid.keys[0]]
        folds = walk_forward_folds(
            main.height,
            train=request.train,
            test=request.test,
            step=request.step,
            mode=mode,
            purge=request.purge,
            embargo=request.embargo,
        )
        ts = main["ts"]
        bar = plan.prepared.valid.keys[0].timeframe.duration

        def at(i: int) -> datetime:
            value: datetime = ts[i]
            return value

        spans = [
            FoldSpan(
                f.index,
                at(f.train_start),
                at(f.train_end - 1) + bar,
                at(f.test_start),
                at(f.test_end - 1) + bar,
                (f.train_start, f.train_end, f.test_start, f.test_end),
            )
            for f in folds
        ]
        now = self._clock.now()
        wf = WalkForwardStudy(
            id=self._new_id(),
            created_at=now,
            strategy=plan.strategy.name,
            strategy_version=plan.strategy_version,
            method=plan.method,
            space=plan.space,
            objective=plan.objective,
            request=msgspec.to_builtins(plan.request),
            n_trials=plan.n_trials,
            seed=plan.seed,
            mode=mode,
            train=request.train,
            test=request.test,
            step=request.step or request.test,
            purge=request.purge,
            embargo=request.embargo,
            folds=spans,
            bar_ms=int(bar.total_seconds() * 1000),
            engine_version=ENGINE_VERSION,
            series=plan.prepared.series_used(),
            owner=actor.user_id or None,
            updated_at=now,
            holder=self._holding.me(),
        )
        await self._store.create(wf)
        self._loaded = {wf.id: plan.prepared}
        return wf

    async def execute(
        self, request: WalkForwardRequest, *, actor: Principal, jobs: int | None = None
    ) -> WalkForwardResult:
        """Create and run to the end (the CLI, the Python API); the result names its id."""
        wf = await self.create(request, actor=actor)
        return (await self.run(wf.id, actor=actor, jobs=jobs)).result

    # -- run ------------------------------------------------------------------------------

    async def run(
        self,
        wf_id: str,
        *,
        actor: Principal,
        jobs: int | None = None,
        progress: FoldProgress | None = None,
    ) -> WalkForwardView:
        """Compute the folds not stored yet (``jobs`` at once; default: every fold handed to
        the executor at once), each stored as it finishes."""
        require(actor, Permission.BACKTESTS_RUN)
        if jobs is not None and jobs < 1:
            raise InvalidInput("jobs must be >= 1", field="jobs")
        wf = await self._store.get(wf_id)
        require(actor, Permission.RESULTS_READ, _resource(wf))
        if wf_id in self._live:
            raise Conflict(f"walk-forward {wf_id} is running already")
        wf = await self._claim(wf)
        self._live.add(wf_id)
        shared: Shared[StudyData] | None = None
        try:
            async with self._holding.heartbeat(wf_id, self._store.heartbeat):
                done = {f.fold.index for f in await self._store.folds(wf_id)}
                pending = [s for s in wf.folds if s.index not in done]
                if progress is not None:
                    progress(len(done), len(wf.folds))
                if pending:
                    shared = self._executor.share(await self._data(wf))
                    await self._drain(wf, shared, pending, len(done), jobs, progress)
            await self._set_status(wf, "done")
        except asyncio.CancelledError:
            await asyncio.shield(self._set_status(wf, "interrupted"))
            raise
        except Exception as exc:
            await self._set_status(wf, "failed", error=str(exc))
            raise
        finally:
            self._live.discard(wf_id)
            if shared is not None:
                self._executor.release(shared)
        return await self.view(wf_id, actor=actor)

    async def resume(
        self,
        wf_id: str,
        *,
        actor: Principal,
        jobs: int | None = None,
        progress: FoldProgress | None = None,
    ) -> WalkForwardView:
        """Continue an interrupted (or failed) walk-forward from its stored folds."""
        return await self.run(wf_id, actor=actor, jobs=jobs, progress=progress)

    async def _drain(
        self,
        wf: WalkForwardStudy,
        shared: Shared[StudyData],
        pending: list[FoldSpan],
        done: int,
        jobs: int | None,
        progress: FoldProgress | None,
    ) -> None:
        queue = list(reversed(pending))
        limit = len(pending) if jobs is None else jobs
        flying: dict[asyncio.Task[tuple[FoldOut, list[float], list[int]]], Any] = {}
        started: dict[int, float] = {}
        try:
            while queue or flying:
                while queue and len(flying) < limit:
                    span = queue.pop()
                    task = _FoldTask(span, wf.space, wf.method, wf.n_trials, wf.seed)
                    sub = self._executor.submit(run_fold, shared, task)
                    started[span.index] = time.monotonic()
                    flying[asyncio.ensure_future(sub.result())] = sub
                finished, _ = await asyncio.wait(flying, return_when=asyncio.FIRST_COMPLETED)
                for task_done in sorted(finished, key=id):
                    flying.pop(task_done)
                    out, equity, ts = task_done.result()
                    await self._store.add_fold(
                        WalkForwardFold(
                            walk_forward_id=wf.id,
                            fold=out,
                            equity=equity,
                            ts=ts,
                            seconds=time.monotonic() - started[out.index],
                        )
                    )
                    done += 1
                    if progress is not None:
                        progress(done, len(wf.folds))
        finally:
            for waiting, sub in flying.items():
                sub.cancel()
                waiting.cancel()

    async def _data(self, wf: WalkForwardStudy) -> StudyData:
        request = decode_request(wf.request)
        prepared = self._loaded.pop(wf.id, None)
        if prepared is None:
            first = self._first_params(wf)
            prepared = await self._studies.prepare(msgspec.structs.replace(request, params=first))
        changes = data_changes(wf.series, prepared.series_used())
        if changes:
            names = ", ".join(c.series for c in changes)
            raise Conflict(
                f"the data of walk-forward {wf.id} changed since it started ({names}): its"
                " folds would not be comparable; start a new one"
            )
        return StudyData(wf.id, request, prepared.bars, wf.objective)

    def _first_params(self, wf: WalkForwardStudy) -> dict[str, Any]:
        strategy = get_strategy(wf.strategy)
        method: Method = "random" if wf.method == "bayes" else wf.method
        points = study_points(strategy, wf.space, method, 1, wf.seed)
        return points[0][2]

    async def _claim(self, wf: WalkForwardStudy) -> WalkForwardStudy:
        if wf.status == "running" and not self._holding.mine(wf):
            await self._holding.settle(wf, self._store.interrupt, "walk-forward")
            wf = await self._store.get(wf.id)
            if wf.status == "running" and wf.holder is not None:
                raise Conflict(
                    f"walk-forward {wf.id} is running in {wf.holder.describe()}; wait for it,"
                    " or resume it once that process stops"
                )
        claimed = msgspec.structs.replace(
            wf, status="running", error=None, holder=self._holding.me(),
            updated_at=self._clock.now(),
        )  # fmt: skip
        await self._store.update(claimed)
        return claimed

    async def _set_status(
        self, wf: WalkForwardStudy, status: WalkForwardStatus, *, error: str | None = None
    ) -> None:
        stored = await self._store.get(wf.id)
        if stored.holder is not None and not self._holding.mine(stored):
            log.warning("walk-forward %s is held by %s now", wf.id, stored.holder.describe())
            return
        await self._store.update(
            msgspec.structs.replace(
                stored, status=status, error=error, updated_at=self._clock.now()
            )
        )

    async def _settled(self, wf: WalkForwardStudy) -> WalkForwardStudy:
        if wf.status != "running" or wf.id in self._live:
            return wf
        if await self._holding.settle(wf, self._store.interrupt, "walk-forward"):
            return await self._store.get(wf.id)
        return wf

    async def recover(self) -> builtins.list[WalkForwardStudy]:
        """Mark the walk-forwards left ``running`` by processes that are gone."""
        marked = []
        for wf in await self._store.list(limit=100_000, status="running"):
            if wf.id not in self._live and await self._holding.settle(
                wf, self._store.interrupt, "walk-forward"
            ):
                marked.append(await self._store.get(wf.id))
        return marked

    # -- background (the HTTP API) --------------------------------------------------------

    def start(self, wf_id: str, *, actor: Principal) -> None:
        """Run a stored walk-forward in the background of this process; ``close`` stops
        them, leaving them ``interrupted``."""
        if wf_id in self._tasks or wf_id in self._live:
            raise Conflict(f"walk-forward {wf_id} is running already")
        task = asyncio.ensure_future(self.run(wf_id, actor=actor))
        self._tasks[wf_id] = task

        def forget(done: asyncio.Task[WalkForwardView]) -> None:
            self._tasks.pop(wf_id, None)
            if not done.cancelled() and done.exception() is not None:
                log.warning("walk-forward %s failed: %s", wf_id, done.exception())

        task.add_done_callback(forget)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- queries --------------------------------------------------------------------------

    async def get(self, wf_id: str, *, actor: Principal) -> WalkForwardStudy:
        require(actor, Permission.RESULTS_READ)
        wf = await self._store.get(wf_id)
        require(actor, Permission.RESULTS_READ, _resource(wf))
        return await self._settled(wf)

    async def view(self, wf_id: str, *, actor: Principal) -> WalkForwardView:
        wf = await self.get(wf_id, actor=actor)
        folds = await self._store.folds(wf_id)
        return WalkForwardView(wf, len(folds), wf_id in self._live, assemble(wf, folds))

    async def list(self, *, actor: Principal, limit: int = 100) -> builtins.list[WalkForwardStudy]:
        require(actor, Permission.RESULTS_READ)
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        readable_by = None if actor.has(Permission.RESULTS_READ_ANY) else actor.user_id
        found = await self._store.list(limit=limit, readable_by=readable_by)
        return [await self._settled(w) for w in found]

    async def result(self, wf_id: str, *, actor: Principal) -> WalkForwardResult:
        return (await self.view(wf_id, actor=actor)).result


def _optimization(raw: dict[str, Any]) -> OptimizationRequest:
    try:
        return msgspec.convert(raw, OptimizationRequest, strict=False)
    except msgspec.ValidationError as exc:
        field = f"optimization.{field_of(exc)}"
        raise InvalidInput(f"invalid optimization: {exc}", field=field) from None
