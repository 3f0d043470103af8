"""Use cases of optimization studies: plan, run, resume, promote, query.

``OptimizeStudies.create`` validates everything before any work (the backtest request, the
search space against the strategy's typed parameters, the method, the objective, the number
of trials against ``max_trials``), loads and fingerprints the bars, and stores the study
(status ``running``). ``run`` evaluates the trials not stored yet on the ``Executor``:
the bars go to the workers once per study (``Executor.share``), batches of trials go out
``jobs`` at a time, and every trial is stored as it comes back. Cancelling ``run`` (Ctrl-C,
a server shutdown) stores the study as ``interrupted`` with its finished trials; ``resume``
continues, refusing when the stored data no longer match the study's fingerprints.

Methods: ``grid`` (every valid point in order; trial k is point k), ``random`` (trial k is
drawn from a generator seeded with (seed, k), so a trial does not depend on which others
ran), ``bayes`` (Optuna's TPE sampler; trial k's sampler is seeded with seed + k over the
trials told before it, so an uninterrupted rerun with the same ``jobs`` gives the same
trials).

Authorization as for backtests: creating and running need ``backtests:run``; reading a study
``results:read`` on it (own, or made outside the API: no owner; everybody's with
``results:read_any``).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
import numpy as np

from arbx.app.holding import Holding
from arbx.app.manage_catalog import StrategyCatalog
from arbx.app.run_backtest import PreparedBacktest, RunBacktest
from arbx.domain.auth import Permission, Principal
from arbx.domain.auth.policy import Resource, require
from arbx.domain.backtest.request import BacktestRequest, decode_request, validate_request
from arbx.domain.backtest.result import ENGINE_VERSION
from arbx.domain.backtest.run import BacktestRun, data_changes
from arbx.domain.backtest.runner import buy_and_hold
from arbx.domain.errors import Conflict, InvalidInput, NotFound
from arbx.domain.research.evaluate import Point, StudyData, evaluate
from arbx.domain.research.holder import DEFAULT_LEASE
from arbx.domain.research.objective import Objective, parse_objective
from arbx.domain.research.overfitting import DeflatedSharpe, Pbo, deflated_sharpe_of, pbo_cscv
from arbx.domain.research.space import (
    DEFAULT_MAX_TRIALS,
    SearchSpace,
    grid_points,
    parse_space,
    sample_point,
)
from arbx.domain.research.study import (
    METHODS,
    Method,
    Study,
    StudyStatus,
    Trial,
    best_trial,
)
from arbx.domain.strategies import StrategyType, get_strategy, parse_params
from arbx.ports.clock import Clock
from arbx.ports.executor import Executor, Shared, Submission
from arbx.ports.process_probe import ProcessProbe
from arbx.ports.study_store import StudyStore

log = logging.getLogger("arbx.optimize")

DEFAULT_TRIALS = 50
GRID_BATCH_MAX = 50  # grid-kernel trials per call: one broadcast, stored when it returns

Progress = Callable[[int, int, Trial | None], None]  # (done, total, best so far)


class OptimizationRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A study to run: the backtest request (its ``params`` are fixed values), the search
    space (parameter -> range, choices or a value), the method and the objective."""

    backtest: dict[str, Any]
    space: dict[str, Any]
    method: str = "grid"
    objective: str = "sharpe"
    direction: str = "maximize"
    min_trades: int = 0
    trials: int | None = None
    seed: int = 0


def field_of(exc: msgspec.ValidationError, default: str = "request") -> str:
    """The field a msgspec validation error names (path, unknown or missing field)."""
    text = str(exc)
    if "at `$." in text:
        return text.rsplit("at `$.", 1)[1].rstrip("`")
    for words in ("unknown field `", "missing required field `"):
        if words in text:
            return text.split(words, 1)[1].split("`", 1)[0]
    return default


def decode_optimization(raw: Mapping[str, Any] | bytes) -> OptimizationRequest:
    try:
        data = msgspec.json.decode(raw) if isinstance(raw, bytes | bytearray) else dict(raw)
        return msgspec.convert(data, OptimizationRequest, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid optimization request: {exc}", field=field_of(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the request is not valid JSON: {exc}", field="request") from None
    except (TypeError, ValueError):
        raise InvalidInput("an optimization request is a JSON object", field="request") from None


@dataclass(frozen=True)
class StudyView:
    """A study with its progress: trials done and failed, the best so far, an ETA while it
    runs in this process."""

    study: Study
    trials_done: int
    trials_failed: int
    best: Trial | None
    eta_seconds: float | None
    running_here: bool


@dataclass(frozen=True)
class Diagnostics:
    """Overfitting statistics over a study's finished trials (``None`` when too few)."""

    deflated_sharpe: DeflatedSharpe | None
    pbo: Pbo | None
    notes: list[str]


@dataclass(frozen=True)
class Plan:
    """A validated optimization: the effective base request (params: the fixed values), the
    space, method, objective, trial count and seed, and the bars loaded."""

    request: BacktestRequest
    strategy: StrategyType
    space: SearchSpace
    method: Method
    objective: Objective
    n_trials: int
    seed: int
    refused: int
    prepared: PreparedBacktest
    strategy_version: str | None = None  # the catalog version it came from ("name@v3")


@dataclass
class _Live:
    started: float
    done_at_start: int
    done: int
    total: int


def _study_resource(study: Study) -> Resource:
    return Resource(owner_id=study.owner or "", shared=study.owner is None)


def _in_backtest(exc: InvalidInput) -> InvalidInput:
    """An error of the backtest part of the request, its field under ``backtest.``."""
    field = exc.field or "request"
    if field == "request" and "missing required field `" in exc.message:
        field = exc.message.split("missing required field `", 1)[1].split("`", 1)[0]
    return InvalidInput(exc.message, field=f"backtest.{field}")


class OptimizeStudies:
    def __init__(
        self,
        backtests: RunBacktest,
        studies: StudyStore,
        executor: Executor,
        clock: Clock,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        *,
        max_trials: int = DEFAULT_MAX_TRIALS,
        jobs: int = 2,
        probe: ProcessProbe | None = None,
        lease: timedelta = DEFAULT_LEASE,
        catalog: StrategyCatalog | None = None,
    ) -> None:
        self._backtests = backtests
        self._catalog = catalog
        self.holding = Holding(probe, clock, lease)
        self._studies = studies
        self._executor = executor
        self._clock = clock
        self._new_id = new_id
        self._max_trials = max_trials
        self._jobs = max(1, jobs)
        self._live: dict[str, _Live] = {}
        self._tasks: dict[str, asyncio.Task[StudyView]] = {}
        # bars loaded by ``create``, kept for the ``run`` that follows (not read twice)
        self._loaded: dict[str, PreparedBacktest] = {}

    @property
    def max_trials(self) -> int:
        return self._max_trials

    async def prepare(self, request: BacktestRequest) -> PreparedBacktest:
        """Validate ``request`` and load its bars (as a backtest would)."""
        return await self._backtests.prepare(request)

    # -- create ---------------------------------------------------------------------------

    async def plan(self, request: OptimizationRequest, *, actor: Principal) -> Plan:
        """Validate ``request`` and load its bars (``InvalidInput`` names the field)."""
        require(actor, Permission.BACKTESTS_RUN)
        raw, strategy_version = await self._from_catalog(request.backtest, actor)
        try:
            backtest = decode_request(raw)
            strategy = get_strategy(backtest.strategy)
        except InvalidInput as exc:
            raise _in_backtest(exc) from None
        space = parse_space(strategy, request.space)
        space = msgspec.structs.replace(space, fixed={**backtest.params, **space.fixed})
        for name in space.names:
            space.fixed.pop(name, None)
        if request.method not in METHODS:
            raise InvalidInput(
                f"unknown method {request.method!r}; use one of {', '.join(METHODS)}",
                field="method",
            )
        method: Method = request.method  # type: ignore[assignment]
        objective = parse_objective(request.objective, request.direction, request.min_trades)
        if not 0 <= request.seed < 2**63:
            raise InvalidInput("seed must be a whole number, 0 <= seed < 2**63", field="seed")
        refused = 0
        if method == "grid":
            if request.trials is not None:
                raise InvalidInput(
                    "trials sets the count of random and bayes searches; a grid runs every"
                    " point of its space",
                    field="trials",
                )
            grid = grid_points(strategy, space, self._max_trials)
            n_trials, refused, first = len(grid.points), grid.refused, grid.points[0]
        else:
            n_trials = DEFAULT_TRIALS if request.trials is None else request.trials
            if not 1 <= n_trials <= self._max_trials:
                raise InvalidInput(
                    f"trials must be between 1 and optimize.max_trials ({self._max_trials:,}),"
                    f" got {n_trials:,}",
                    field="trials",
                )
            first = sample_point(strategy, space, np.random.default_rng([request.seed, 0]))
        base = msgspec.structs.replace(backtest, params=space.params_of(first))
        try:
            if validate_request(base).recorded:  # series, span, settings: before any read
                raise InvalidInput(
                    f"execution {base.execution!r} is not supported in studies yet (trials"
                    " fill on bars or synthetic books); run it as a single backtest",
                    field="execution",
                )
            prepared = await self._backtests.prepare(base)
        except InvalidInput as exc:
            raise _in_backtest(exc) from None
        effective = msgspec.structs.replace(prepared.request, params=dict(space.fixed))
        return Plan(
            effective, strategy, space, method, objective, n_trials, request.seed, refused,
            prepared, strategy_version,
        )  # fmt: skip

    async def _from_catalog(
        self, backtest: dict[str, Any], actor: Principal
    ) -> tuple[dict[str, Any], str | None]:
        """A backtest whose strategy is a catalog version (``name@vN``) made the version's:
        its strategy type, parameters (the request's own override them), series and fees
        (when the request gives none); with the version's label. Others as they are."""
        ref = backtest.get("strategy")
        if not isinstance(ref, str) or "@" not in ref:
            return backtest, None
        name, _, tag = ref.partition("@")
        if not tag.startswith("v") or not tag[1:].isdigit() or not name:
            raise InvalidInput(
                f"a catalog strategy is NAME@vN (e.g. my-sma@v2), got {ref!r}",
                field="backtest.strategy",
            )
        if self._catalog is None:
            raise InvalidInput(
                "catalog strategies are not available here", field="backtest.strategy"
            )
        try:
            _, version = await self._catalog.version(name, int(tag[1:]), actor=actor)
        except NotFound as exc:
            raise InvalidInput(exc.message, field="backtest.strategy") from None
        spec = version.spec
        made = dict(backtest)
        made["strategy"] = spec.strategy
        made["params"] = {**spec.params, **dict(backtest.get("params") or {})}
        if not backtest.get("series"):
            made["series"] = list(spec.series)
        if not backtest.get("fees") and spec.fees:
            made["fees"] = msgspec.to_builtins(spec.fees)
        return made, f"{name}@v{version.number}"

    async def create(self, request: OptimizationRequest, *, actor: Principal) -> Study:
        """Validate ``request`` and load its bars; store the study (nothing is stored when
        anything is wrong: ``InvalidInput`` names the field)."""
        plan = await self.plan(request, actor=actor)
        study = Study(
            id=self._new_id(),
            created_at=self._clock.now(),
            strategy=plan.strategy.name,
            method=plan.method,
            space=plan.space,
            objective=plan.objective,
            request=msgspec.to_builtins(plan.request),
            n_trials=plan.n_trials,
            seed=plan.seed,
            engine_version=ENGINE_VERSION,
            series=plan.prepared.series_used(),
            owner=actor.user_id or None,
            refused_points=plan.refused,
            updated_at=self._clock.now(),
            holder=self.holding.me(),
            strategy_version=plan.strategy_version,
        )
        await self._studies.create(study)
        self._loaded = {study.id: plan.prepared}  # only the newest study's bars
        return study

    # -- run and resume -------------------------------------------------------------------

    async def run(
        self,
        study_id: str,
        *,
        actor: Principal,
        jobs: int | None = None,
        progress: Progress | None = None,
    ) -> StudyView:
        """Evaluate the trials not stored yet; each is stored as it finishes. Cancelled
        (Ctrl-C, shutdown), the study is stored ``interrupted``: ``resume`` continues."""
        require(actor, Permission.BACKTESTS_RUN)
        study = await self._studies.get(study_id)
        require(actor, Permission.RESULTS_READ, _study_resource(study))
        if study_id in self._live:
            raise Conflict(f"study {study_id} is running already")
        jobs = self._jobs if jobs is None else jobs
        if jobs < 1:
            raise InvalidInput("jobs must be >= 1", field="jobs")
        study = await self._claim(study)
        stored = await self._studies.trials(study_id)
        strategy = get_strategy(study.strategy)
        self._live[study_id] = _Live(time.monotonic(), len(stored), len(stored), study.n_trials)
        shared: Shared[StudyData] | None = None
        try:
            async with self.holding.heartbeat(study_id, self._studies.heartbeat):
                if len(stored) < study.n_trials:
                    data = await self._data(study)
                    shared = self._executor.share(data)
                    runner = _Runner(self, study, strategy, shared, jobs, progress, stored)
                    await runner.run()
            study = await self._set_status(study, "done")
        except asyncio.CancelledError:
            await asyncio.shield(self._set_status(study, "interrupted"))
            raise
        except Exception as exc:
            await self._set_status(study, "failed", error=str(exc))
            raise
        finally:
            self._live.pop(study_id, None)
            if shared is not None:
                self._executor.release(shared)
        return await self.view(study_id, actor=actor)

    async def resume(
        self,
        study_id: str,
        *,
        actor: Principal,
        jobs: int | None = None,
        progress: Progress | None = None,
    ) -> StudyView:
        """Continue an interrupted (or failed) study from its stored trials."""
        return await self.run(study_id, actor=actor, jobs=jobs, progress=progress)

    def start(self, study_id: str, *, actor: Principal) -> None:
        """Run a stored study in the background of this process (the HTTP API); ``close``
        stops every such study, leaving it ``interrupted``."""
        if study_id in self._tasks or study_id in self._live:
            raise Conflict(f"study {study_id} is running already")
        task = asyncio.ensure_future(self.run(study_id, actor=actor))
        self._tasks[study_id] = task

        def forget(done: asyncio.Task[StudyView]) -> None:
            self._tasks.pop(study_id, None)
            if not done.cancelled() and done.exception() is not None:
                log.warning("study %s failed: %s", study_id, done.exception())

        task.add_done_callback(forget)

    async def close(self) -> None:
        """Stop the studies running in the background (their finished trials are kept)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _data(self, study: Study) -> StudyData:
        request = decode_request(study.request)
        loaded = self._loaded.pop(study.id, None)
        prepared = loaded or await self._backtests.prepare(
            msgspec.structs.replace(request, params=self._any_params(study))
        )
        changes = data_changes(study.series, prepared.series_used())
        if changes:
            names = ", ".join(c.series for c in changes)
            raise Conflict(
                f"the data of study {study.id} changed since it started ({names}): its trials"
                " would not be comparable; start a new study"
            )
        data = StudyData(study.id, request, prepared.bars, study.objective)
        valid = prepared.valid
        if valid.engine != "arbitrage":  # the buy-and-hold benchmark, once per study
            main = data.arrays[valid.keys[0]]
            data.extra["benchmark"] = buy_and_hold(main, valid.execution())
        return data

    def _any_params(self, study: Study) -> dict[str, Any]:
        strategy = get_strategy(study.strategy)
        if study.method == "grid":
            return study.space.params_of(grid_points(strategy, study.space, 10**9).points[0])
        point = sample_point(strategy, study.space, np.random.default_rng([study.seed, 0]))
        return study.space.params_of(point)

    async def _claim(self, study: Study) -> Study:
        """Hold ``study`` (status ``running``, this process its holder); ``Conflict`` while
        another live process runs it."""
        if study.status == "running" and not self.holding.mine(study):
            await self.holding.settle(study, self._studies.interrupt, "study")
            study = await self._studies.get(study.id)
            if study.status == "running" and study.holder is not None:
                raise Conflict(
                    f"study {study.id} is running in {study.holder.describe()}; wait for it,"
                    " or resume it once that process stops"
                )
        claimed = msgspec.structs.replace(
            study,
            status="running",
            error=None,
            holder=self.holding.me(),
            updated_at=self._clock.now(),
        )
        await self._studies.update(claimed)
        return claimed

    async def _set_status(
        self, study: Study, status: StudyStatus, *, error: str | None = None
    ) -> Study:
        stored = await self._studies.get(study.id)
        if stored.holder is not None and not self.holding.mine(stored):
            log.warning(
                "study %s is held by %s now; not marking it %s",
                study.id,
                stored.holder.describe(),
                status,
            )
            return stored  # another process took it over (this one was found gone)
        fresh = msgspec.structs.replace(
            stored, status=status, error=error, updated_at=self._clock.now()
        )
        await self._studies.update(fresh)
        return fresh

    async def _settled(self, study: Study) -> Study:
        """``study``, marked interrupted first when it is running in a process that is gone."""
        if study.status != "running" or study.id in self._live:
            return study
        if await self.holding.settle(study, self._studies.interrupt, "study"):
            return await self._studies.get(study.id)
        return study

    async def recover(self) -> builtins.list[Study]:
        """Mark the studies left ``running`` by processes that are gone ``interrupted`` (at
        start-up: ``arbx serve``, the CLI); the studies it marked."""
        marked = []
        for study in await self._studies.list(limit=100_000, status="running"):
            if study.id not in self._live and await self.holding.settle(
                study, self._studies.interrupt, "study"
            ):
                marked.append(await self._studies.get(study.id))
        return marked

    async def _store(self, trial: Trial) -> None:
        await self._studies.add_trial(trial)
        live = self._live.get(trial.study_id)
        if live is not None:
            live.done += 1

    # -- promote --------------------------------------------------------------------------

    async def promote(
        self, study_id: str, number: int | None = None, *, actor: Principal
    ) -> BacktestRun:
        """Run trial ``number`` (the best when None) as a normal stored backtest run."""
        require(actor, Permission.BACKTESTS_RUN)
        study = await self._studies.get(study_id)
        require(actor, Permission.RESULTS_READ, _study_resource(study))
        trials = await self._studies.trials(study_id)
        if number is None:
            chosen = best_trial(trials, study.objective)
            if chosen is None:
                raise InvalidInput(
                    f"study {study_id} has no feasible trial to promote", field="trial"
                )
        else:
            found = [t for t in trials if t.number == number]
            if not found:
                raise InvalidInput(
                    f"study {study_id} has no trial {number} (trials 0..{study.n_trials - 1},"
                    f" {len(trials)} stored)",
                    field="trial",
                )
            chosen = found[0]
            if chosen.status != "done":
                raise InvalidInput(
                    f"trial {number} failed ({chosen.error}); promote a finished one",
                    field="trial",
                )
        request = msgspec.structs.replace(decode_request(study.request), params=chosen.params)
        run = await self._backtests.execute(
            request, actor=actor, strategy_version=study.strategy_version
        )
        await self._studies.set_trial_run(study_id, chosen.number, run.id)
        return run

    # -- queries --------------------------------------------------------------------------

    async def get(self, study_id: str, *, actor: Principal) -> Study:
        require(actor, Permission.RESULTS_READ)
        study = await self._studies.get(study_id)
        require(actor, Permission.RESULTS_READ, _study_resource(study))
        return await self._settled(study)

    async def view(self, study_id: str, *, actor: Principal) -> StudyView:
        study = await self.get(study_id, actor=actor)
        trials = await self._studies.trials(study_id)
        return self._view(study, trials)

    def _view(self, study: Study, trials: Sequence[Trial]) -> StudyView:
        done = sum(1 for t in trials if t.status == "done")
        live = self._live.get(study.id)
        eta = None
        if live is not None and live.done > live.done_at_start:
            rate = (time.monotonic() - live.started) / (live.done - live.done_at_start)
            eta = max(0.0, rate * (study.n_trials - live.done))
        return StudyView(
            study,
            done,
            len(trials) - done,
            best_trial(list(trials), study.objective),
            eta,
            live is not None,
        )

    async def trials(self, study_id: str, *, actor: Principal) -> builtins.list[Trial]:
        await self.get(study_id, actor=actor)
        return await self._studies.trials(study_id)

    async def list(self, *, actor: Principal, limit: int = 100) -> builtins.list[StudyView]:
        require(actor, Permission.RESULTS_READ)
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        readable_by = None if actor.has(Permission.RESULTS_READ_ANY) else actor.user_id
        found = await self._studies.list(limit=limit, readable_by=readable_by)
        return [self._view(await self._settled(s), await self._studies.trials(s.id)) for s in found]

    async def diagnostics(
        self, study_id: str, *, actor: Principal, splits: int = 16
    ) -> Diagnostics:
        """Deflated Sharpe ratio of the best trial and PBO (CSCV) over the finished trials'
        stored returns (per return bucket, see ``study.RETURN_BUCKETS``)."""
        study = await self.get(study_id, actor=actor)
        trials = [t for t in await self._studies.trials(study_id) if t.status == "done"]
        return diagnose(study, trials, splits)


def diagnose(study: Study, trials: Sequence[Trial], splits: int = 16) -> Diagnostics:
    notes: list[str] = []
    usable = [t for t in trials if t.returns]
    best = best_trial(list(usable), study.objective)
    dsr = None
    if best is not None and len(best.returns) >= 2:
        sharpes = []
        for t in usable:
            r = np.asarray(t.returns)
            sd = float(r.std(ddof=1)) if r.size > 1 else 0.0
            sharpes.append(float(r.mean()) / sd if sd > 0 else 0.0)
        dsr = deflated_sharpe_of(np.asarray(best.returns), np.asarray(sharpes))
        notes.append(
            f"deflated Sharpe of trial {best.number} over {len(usable)} trials, on"
            f" {len(best.returns)} equal slices of the span"
        )
    else:
        notes.append("no deflated Sharpe ratio: no finished trial with returns")
    pbo = None
    lengths = {len(t.returns) for t in usable}
    if len(usable) >= 2 and len(lengths) == 1:
        periods = lengths.pop()
        s = min(splits, 2 * (periods // 4))
        s -= s % 2
        if s >= 2:
            matrix = np.asarray([t.returns for t in usable]).T
            pbo = pbo_cscv(matrix, splits=s)
            notes.append(f"PBO by CSCV with {s} splits of {periods} return slices")
    if pbo is None:
        notes.append("no PBO: it needs at least 2 finished trials over the same slices")
    return Diagnostics(dsr, pbo, notes)


def study_points(
    strategy: StrategyType, space: SearchSpace, method: Method, n_trials: int, seed: int
) -> list[Point]:
    """Trial k's (number, seed, full params) of a grid or random search."""
    if method == "grid":
        values = grid_points(strategy, space, 10**9).points
    else:
        values = [
            sample_point(strategy, space, np.random.default_rng([seed, k])) for k in range(n_trials)
        ]
    return [(k, _trial_seed(seed, k), space.params_of(v)) for k, v in enumerate(values)]


def search_trials(
    data: StudyData, space: SearchSpace, method: Method, n_trials: int, seed: int
) -> list[Trial]:
    """A whole search in this process (a walk-forward fold in a worker): the same trials a
    study of the same method and seed gives with one job."""
    strategy = get_strategy(data.request.strategy)
    if method != "bayes":
        return evaluate(data, study_points(strategy, space, method, n_trials, seed))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = _distributions(space)
    study = optuna.create_study(direction=data.objective.direction)
    trials: list[Trial] = []
    for number in range(n_trials):
        study.sampler = optuna.samplers.TPESampler(seed=(seed + number) % 2**32)
        ask = study.ask(dists)
        params = space.params_of({name: ask.params[name] for name in space.names})
        trial = evaluate(data, [(number, _trial_seed(seed, number), params)])[0]
        if trial.value is None:
            study.tell(ask, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(ask, trial.value)
        trials.append(trial)
    return trials


def _evaluate_shared(shared: Shared[StudyData], points: list[Point]) -> list[Trial]:
    """The call a worker runs: the study's data (loaded once per worker) and a batch."""
    return evaluate(shared.get(), points)


def _trial_seed(seed: int, number: int) -> int:
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class _Runner:
    """Keeps ``jobs`` batches in flight and stores trials as they come back."""

    def __init__(
        self,
        owner: OptimizeStudies,
        study: Study,
        strategy: StrategyType,
        shared: Shared[StudyData],
        jobs: int,
        progress: Progress | None,
        stored: Sequence[Trial],
    ) -> None:
        self._owner = owner
        self._study = study
        self._strategy = strategy
        self._shared = shared
        self._jobs = jobs
        self._progress = progress
        self._trials = list(stored)
        self._done = {t.number for t in stored}

    def _report(self) -> None:
        if self._progress is not None:
            best = best_trial(self._trials, self._study.objective)
            self._progress(len(self._trials), self._study.n_trials, best)

    async def run(self) -> None:
        self._report()
        if self._study.method == "bayes":
            await self._bayes()
            return
        pending = self._points()
        batch = 1
        if self._strategy.grid is not None and self._strategy.kind == "signal":
            # one batch per job: each computes its windows' averages once (up to 50 trials
            # per batch, stored when it returns)
            batch = max(1, min(GRID_BATCH_MAX, math.ceil(len(pending) / self._jobs)))
        batches = [pending[i : i + batch] for i in range(0, len(pending), batch)]
        await self._drain(batches)

    def _points(self) -> list[Point]:
        s = self._study
        points = study_points(self._strategy, s.space, s.method, s.n_trials, s.seed)
        return [p for p in points if p[0] not in self._done]

    async def _drain(self, batches: list[list[Point]]) -> None:
        queue = list(reversed(batches))
        flying: dict[asyncio.Task[list[Trial]], Submission[list[Trial]]] = {}
        try:
            while queue or flying:
                while queue and len(flying) < self._jobs:
                    sub = self._owner._executor.submit(_evaluate_shared, self._shared, queue.pop())
                    flying[asyncio.ensure_future(sub.result())] = sub
                finished, _ = await asyncio.wait(flying, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(finished, key=id):
                    flying.pop(task)
                    for trial in task.result():
                        await self._keep(trial)
        finally:
            for task, sub in flying.items():
                sub.cancel()
                task.cancel()

    async def _keep(self, trial: Trial) -> None:
        await self._owner._store(trial)
        self._trials.append(trial)
        self._done.add(trial.number)
        self._report()

    async def _bayes(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        s = self._study
        dists = _distributions(s.space)
        study = optuna.create_study(direction=s.objective.direction)
        for t in sorted(self._trials, key=lambda t: t.number):
            study.add_trial(_frozen(t, dists))
        number = len(self._trials)
        while number < s.n_trials:
            asks: list[tuple[Any, Point]] = []
            while len(asks) < self._jobs and number < s.n_trials:
                study.sampler = optuna.samplers.TPESampler(seed=(s.seed + number) % 2**32)
                ask = study.ask(dists)
                values = {name: ask.params[name] for name in s.space.names}
                asks.append((ask, (number, _trial_seed(s.seed, number), s.space.params_of(values))))
                number += 1
            ready: list[tuple[Any, Point]] = []
            for ask, point in asks:
                try:
                    parse_params(self._strategy, point[2])
                    ready.append((ask, point))
                except InvalidInput as exc:  # a rule between parameters: a failed trial
                    study.tell(ask, state=optuna.trial.TrialState.FAIL)
                    await self._keep(
                        Trial(
                            study_id=s.id,
                            number=point[0],
                            params=point[2],
                            seed=point[1],
                            status="failed",
                            error=exc.message,
                        )
                    )
            subs = [
                (ask, self._owner._executor.submit(_evaluate_shared, self._shared, [point]))
                for ask, point in ready
            ]
            try:
                results = [(ask, (await sub.result())[0]) for ask, sub in subs]
            finally:
                for _, sub in subs:
                    sub.cancel()
            for ask, trial in results:
                if trial.value is None:
                    study.tell(ask, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(ask, trial.value)
                await self._keep(trial)


def _distributions(space: SearchSpace) -> dict[str, Any]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for d in space.dimensions:
        if d.choices:
            out[d.name] = CategoricalDistribution(list(d.choices))
        elif d.kind == "int":
            assert d.low is not None
            assert d.high is not None
            step = 1 if d.step is None or d.log else int(d.step)
            high = int(d.low + ((int(d.high) - int(d.low)) // step) * step)
            out[d.name] = IntDistribution(int(d.low), high, log=d.log, step=step)
        else:
            assert d.low is not None
            assert d.high is not None
            if d.step is not None:
                n = math.floor((d.high - d.low) / d.step + 1e-9)
                out[d.name] = FloatDistribution(d.low, d.low + n * d.step, step=d.step)
            else:
                out[d.name] = FloatDistribution(d.low, d.high, log=d.log)
    return out


def _frozen(trial: Trial, dists: dict[str, Any]) -> Any:
    import optuna

    params = {name: trial.params[name] for name in dists}
    if trial.value is None:
        return optuna.trial.create_trial(
            params=params, distributions=dists, state=optuna.trial.TrialState.FAIL
        )
    return optuna.trial.create_trial(params=params, distributions=dists, value=trial.value)
