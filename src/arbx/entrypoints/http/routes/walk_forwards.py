"""Walk-forward analyses over HTTP: start (202), status and stored result, list, resume.

``POST /api/v1/walk-forwards`` validates the whole request (the optimization as for
``POST /api/v1/optimizations``, the folds against the bars) and loads its bars before it
answers: a bad request is a 422 naming the field, and nothing is stored. It stores the
walk-forward and answers 202 with its id; the folds run in the background of this process
on the compute executor, each stored as it finishes. ``GET /api/v1/walk-forwards/{id}``
shows the status, the folds done and the result of the stored folds (``result``: per fold
the spans, chosen parameters, in-sample vs out-of-sample; the stitched out-of-sample curve
and metrics, efficiency, parameter stability). A server shutdown leaves a running one
``interrupted``; ``POST .../resume`` continues it. Ownership as for studies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, QueryParameter

from arbx.app.walk_forward import WalkForward, decode_walk_forward
from arbx.domain.auth import Permission, Principal
from arbx.domain.research.objective import Objective
from arbx.domain.research.space import SearchSpace
from arbx.domain.research.walk_forward import FoldSpan, WalkForwardResult, WalkForwardStudy
from arbx.entrypoints.http.security import requires


class WalkForwardOut(msgspec.Struct):
    id: str
    status: str
    created_at: datetime
    updated_at: datetime | None
    strategy: str
    strategy_version: str | None
    method: str
    objective: Objective
    space: SearchSpace
    trials_per_fold: int
    seed: int
    mode: str
    train: int
    test: int
    step: int
    purge: int
    embargo: int
    folds_total: int
    folds_done: int
    running: bool
    engine_version: str
    folds: list[FoldSpan]
    error: str | None = None
    result: WalkForwardResult | None = None


class WalkForwardList(msgspec.Struct):
    walk_forwards: list[WalkForwardOut]


def _out(
    wf: WalkForwardStudy, done: int, running: bool, result: WalkForwardResult | None
) -> WalkForwardOut:
    return WalkForwardOut(
        id=wf.id,
        status=wf.status,
        created_at=wf.created_at,
        updated_at=wf.updated_at,
        strategy=wf.strategy,
        strategy_version=wf.strategy_version,
        method=wf.method,
        objective=wf.objective,
        space=wf.space,
        trials_per_fold=wf.n_trials,
        seed=wf.seed,
        mode=wf.mode,
        train=wf.train,
        test=wf.test,
        step=wf.step,
        purge=wf.purge,
        embargo=wf.embargo,
        folds_total=len(wf.folds),
        folds_done=done,
        running=running,
        engine_version=wf.engine_version,
        folds=wf.folds,
        error=wf.error,
        result=result,
    )


_BODY = Body(
    title="WalkForwardRequest",
    description=(
        "optimization: an optimization request (as POST /api/v1/optimizations; its backtest"
        " strategy may be a catalog version, NAME@vN); train, test (bars of the first"
        " series), step (default: test), mode (rolling | anchored), purge, embargo (bars)."
    ),
)


@post(
    "/api/v1/walk-forwards",
    summary="Start a walk-forward analysis (202 with its id; folds run in the background)",
    tags=["walk-forwards"],
    guards=[requires(Permission.BACKTESTS_RUN, group="compute")],
    status_code=202,
)
async def start_walk_forward(
    data: Annotated[dict[str, Any], _BODY],
    walk_forward: NamedDependency[WalkForward],
    principal: NamedDependency[Principal],
) -> Response[WalkForwardOut]:
    wf = await walk_forward.create(decode_walk_forward(data), actor=principal)
    walk_forward.start(wf.id, actor=principal)
    return Response(
        _out(wf, 0, True, None),
        status_code=202,
        headers={"Location": f"/api/v1/walk-forwards/{wf.id}"},
    )


@get(
    "/api/v1/walk-forwards",
    summary="Walk-forwards the caller may read, newest first (without their results)",
    tags=["walk-forwards"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def list_walk_forwards(
    walk_forward: NamedDependency[WalkForward],
    principal: NamedDependency[Principal],
    limit: Annotated[int, QueryParameter(description="at most this many (1..1000)")] = 100,
) -> WalkForwardList:
    found = await walk_forward.list(actor=principal, limit=limit)
    out = []
    for wf in found:
        view = await walk_forward.view(wf.id, actor=principal)
        out.append(_out(view.walk_forward, view.folds_done, view.running_here, None))
    return WalkForwardList(out)


@get(
    "/api/v1/walk-forwards/{wf_id:str}",
    summary="A walk-forward: status, folds done, and the result of its stored folds",
    tags=["walk-forwards"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def get_walk_forward(
    wf_id: FromPath[str],
    walk_forward: NamedDependency[WalkForward],
    principal: NamedDependency[Principal],
) -> WalkForwardOut:
    view = await walk_forward.view(wf_id, actor=principal)
    return _out(view.walk_forward, view.folds_done, view.running_here, view.result)


@post(
    "/api/v1/walk-forwards/{wf_id:str}/resume",
    summary="Continue an interrupted walk-forward in the background (202)",
    tags=["walk-forwards"],
    guards=[requires(Permission.BACKTESTS_RUN, group="compute")],
    status_code=202,
)
async def resume_walk_forward(
    wf_id: FromPath[str],
    walk_forward: NamedDependency[WalkForward],
    principal: NamedDependency[Principal],
) -> WalkForwardOut:
    view = await walk_forward.view(wf_id, actor=principal)
    walk_forward.start(wf_id, actor=principal)
    return _out(view.walk_forward, view.folds_done, True, None)


ROUTES = [
    start_walk_forward,
    list_walk_forwards,
    get_walk_forward,
    resume_walk_forward,
]
