"""Optimization studies over HTTP: start, status, trials, diagnostics, resume, promote.

``POST /api/v1/optimizations`` validates the whole request and loads its bars before it
answers (a bad request is a 422 naming the field, and nothing is stored), stores the study
and answers 202 with its id; the trials run in the background of this process
(``OptimizeStudies.start``, on the compute executor), each stored as it finishes.
``GET /api/v1/optimizations/{id}`` shows the status, the trials done, the best so far and,
while it runs here, an ETA. A server shutdown leaves a running study ``interrupted``;
``POST .../resume`` continues it (walk-forwards: routes/walk_forwards.py). Ownership as
for backtests: a study belongs to the user
who started it; ``results:read`` sees one's own (and those made by the CLI),
``results:read_any`` every study.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, QueryParameter

from arbx.app.optimize import OptimizeStudies, StudyView, decode_optimization
from arbx.domain.auth import Permission, Principal
from arbx.domain.backtest.run import RunMeta
from arbx.domain.research.objective import Objective, TrialMetrics
from arbx.domain.research.overfitting import DeflatedSharpe, Pbo
from arbx.domain.research.space import SearchSpace
from arbx.domain.research.study import Trial
from arbx.entrypoints.http.security import requires


class TrialOut(msgspec.Struct):
    number: int
    status: str
    params: dict[str, Any]
    value: float | None
    metrics: TrialMetrics
    seed: int
    seconds: float
    error: str | None = None
    run_id: str | None = None


class StudyOut(msgspec.Struct):
    id: str
    status: str
    created_at: datetime
    strategy: str
    method: str
    objective: Objective
    space: SearchSpace
    n_trials: int
    trials_done: int
    trials_failed: int
    running: bool
    eta_seconds: float | None
    best: TrialOut | None
    engine_version: str
    refused_points: int = 0
    error: str | None = None
    strategy_version: str | None = None  # the catalog version studied ("name@v3"), if any


class StudyList(msgspec.Struct):
    optimizations: list[StudyOut]


class TrialList(msgspec.Struct):
    id: str
    trials: list[TrialOut]


class DiagnosticsOut(msgspec.Struct):
    id: str
    deflated_sharpe: DeflatedSharpe | None
    pbo: Pbo | None
    notes: list[str]


class PromotedOut(msgspec.Struct):
    study_id: str
    trial: int
    run_id: str
    run: RunMeta


def _trial(t: Trial) -> TrialOut:
    return TrialOut(
        t.number, t.status, t.params, t.value, t.metrics, t.seed, t.seconds, t.error, t.run_id
    )


def _study(view: StudyView) -> StudyOut:
    s = view.study
    return StudyOut(
        id=s.id,
        status=s.status,
        created_at=s.created_at,
        strategy=s.strategy,
        method=s.method,
        objective=s.objective,
        space=s.space,
        n_trials=s.n_trials,
        trials_done=view.trials_done,
        trials_failed=view.trials_failed,
        running=view.running_here,
        eta_seconds=view.eta_seconds,
        best=None if view.best is None else _trial(view.best),
        engine_version=s.engine_version,
        refused_points=s.refused_points,
        error=s.error,
        strategy_version=s.strategy_version,
    )


_BODY = Body(
    title="OptimizationRequest",
    description=(
        "backtest: a backtest request (as POST /api/v1/backtests; its params are fixed);"
        " space: {param: {low, high, step} | {low, high, log: true, count} | {choices: [...]}"
        " | value}; method: grid | random | bayes (Optuna TPE); objective: sharpe | sortino |"
        " calmar | total_return | net_pnl | excess_return; direction: maximize | minimize;"
        " min_trades; trials (random and bayes); seed."
    ),
)


@post(
    "/api/v1/optimizations",
    summary="Start an optimization study (202 with its id; trials run in the background)",
    tags=["optimizations"],
    guards=[requires(Permission.BACKTESTS_RUN, group="compute")],
    status_code=202,
)
async def start_optimization(
    data: Annotated[dict[str, Any], _BODY],
    optimize_studies: NamedDependency[OptimizeStudies],
    principal: NamedDependency[Principal],
) -> Response[StudyOut]:
    study = await optimize_studies.create(decode_optimization(data), actor=principal)
    optimize_studies.start(study.id, actor=principal)
    view = await optimize_studies.view(study.id, actor=principal)
    return Response(
        _study(view), status_code=202, headers={"Location": f"/api/v1/optimizations/{study.id}"}
    )


@get(
    "/api/v1/optimizations",
    summary="Studies the caller may read, newest first",
    tags=["optimizations"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def list_optimizations(
    optimize_studies: NamedDependency[OptimizeStudies],
    principal: NamedDependency[Principal],
    limit: Annotated[int, QueryParameter(description="at most this many (1..1000)")] = 100,
) -> StudyList:
    return StudyList([_study(v) for v in await optimize_studies.list(actor=principal, limit=limit)])


@get(
    "/api/v1/optimizations/{study_id:str}",
    summary="A study: status, trials done, best so far, ETA while it runs",
    tags=["optimizations"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def get_optimization(
    study_id: FromPath[str],
    optimize_studies: NamedDependency[OptimizeStudies],
    principal: NamedDependency[Principal],
) -> StudyOut:
    return _study(await optimize_studies.view(study_id, actor=principal))


@get(
    "/api/v1/optimizations/{study_id:str}/trials",
    summary="A study's stored trials by number: params, metrics, value, status",
    tags=["optimizations"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def list_trials(
    study_id: FromPath[str],
    optimize_studies: NamedDependency[OptimizeStudies],
    principal: NamedDependency[Principal],
) -> TrialList:
    trials = await optimize_studies.trials(study_id, actor=principal)
    return TrialList(study_id, [_trial(t) for t in trials])


@get(
    "/api/v1/optimizations/{study_id:str}/diagnostics",
    summary="Deflated Sharpe ratio of the best trial and PBO (CSCV) over the stored trials",
    tags=["optimizations"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def get_diagnostics(
    study_id: FromPath[str],
    optimize_studies: NamedDependency[OptimizeStudies],
    principal: NamedDependency[Principal],
) -> DiagnosticsOut:
    d = await optimize_studies.diagnostics(study_id, actor=principal)
    return DiagnosticsOut(study_id, d.deflated_sharpe, d.pbo, d.notes)


@post(
    "/api/v1/optimizations/{study_id:str}/resume",
    summary="Continue an interrupted study in the background (202)",
    tags=["optimizations"],
    guards=[requires(Permission.BACKTESTS_RUN, group="compute")],
    status_code=202,
)
async def resume_optimization(
    study_id: FromPath[str],
    optimize_studies: NamedDependency[OptimizeStudies],
    principal: NamedDependency[Principal],
) -> StudyOut:
    await optimize_studies.get(study_id, actor=principal)
    optimize_studies.start(study_id, actor=principal)
    return _study(await optimize_studies.view(study_id, actor=principal))


@post(
    "/api/v1/optimizations/{study_id:str}/promote",
    summary="Run a trial (default: the best) as a normal stored backtest run",
    tags=["optimizations"],
    guards=[requires(Permission.BACKTESTS_RUN, group="compute")],
    status_code=201,
)
async def promote_trial(
    study_id: FromPath[str],
    optimize_studies: NamedDependency[OptimizeStudies],
    principal: NamedDependency[Principal],
    trial: Annotated[
        int | None, QueryParameter(description="trial number (default: the best)")
    ] = None,
) -> PromotedOut:
    run = await optimize_studies.promote(study_id, trial, actor=principal)
    stored = [
        t for t in await optimize_studies.trials(study_id, actor=principal) if t.run_id == run.id
    ]
    return PromotedOut(study_id, stored[0].number if stored else -1, run.id, run.meta)


ROUTES = [
    start_optimization,
    list_optimizations,
    get_optimization,
    list_trials,
    get_diagnostics,
    resume_optimization,
    promote_trial,
]
