"""Research reports over HTTP: a study's report, and a walk-forward's, each one
self-contained HTML document (``app.report_studies``), served with the report CSP of
``routes.reports``.

``GET /api/v1/optimizations/{id}/report`` reads a stored study (403 when it is not the
caller's, 404 when it does not exist; a study still running is reported as it stands).
``POST /api/v1/optimizations/walk-forward/report`` runs a walk-forward request here (as
``POST /api/v1/optimizations/walk-forward``: a bad request is a 422 naming the field) and
answers with its report. ``GET /api/v1/walk-forwards/{id}/report`` reports a stored
walk-forward (403, 404 as for studies; one still running with the folds stored so far).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, QueryParameter

from arbx.app.report_studies import ReportStudies
from arbx.app.walk_forward import decode_walk_forward
from arbx.domain.auth import Permission, Principal
from arbx.domain.reports.study import TOP_TRIALS
from arbx.entrypoints.http.routes.reports import _HTML, _document
from arbx.entrypoints.http.security import requires


@get(
    "/api/v1/optimizations/{study_id:str}/report",
    summary="A study's report: heatmap, parameters vs objective, top trials, PBO, manifest",
    tags=["optimizations"],
    guards=[requires(Permission.RESULTS_READ)],
    responses=_HTML,
)
async def study_report(
    study_id: FromPath[str],
    report_studies: NamedDependency[ReportStudies],
    principal: NamedDependency[Principal],
    top: Annotated[
        int, QueryParameter(description="rows of the trials table (1..1000)")
    ] = TOP_TRIALS,
) -> Response[str]:
    text = await report_studies.report(study_id, actor=principal, top=top)
    return _document(text, report_studies.media_type, f"study-{study_id}.html")


_WF_BODY = Body(
    title="WalkForwardRequest",
    description=(
        "as POST /api/v1/optimizations/walk-forward: optimization (an optimization request),"
        " train, test (bars of the first series), step, mode (rolling | anchored), purge,"
        " embargo."
    ),
)


@post(
    "/api/v1/optimizations/walk-forward/report",
    summary="Run a walk-forward analysis and answer with its report (folds, IS vs OOS, equity)",
    tags=["optimizations"],
    guards=[requires(Permission.BACKTESTS_RUN, group="compute")],
    responses=_HTML,
    status_code=200,
)
async def walk_forward_report(
    data: Annotated[dict[str, Any], _WF_BODY],
    report_studies: NamedDependency[ReportStudies],
    principal: NamedDependency[Principal],
) -> Response[str]:
    text = await report_studies.walk_forward(decode_walk_forward(data), actor=principal)
    return _document(text, report_studies.media_type, "walk-forward.html")


@get(
    "/api/v1/walk-forwards/{wf_id:str}/report",
    summary="A stored walk-forward's report: folds, IS vs OOS, chained OOS equity, manifest",
    tags=["walk-forwards"],
    guards=[requires(Permission.RESULTS_READ)],
    responses=_HTML,
)
async def stored_walk_forward_report(
    wf_id: FromPath[str],
    report_studies: NamedDependency[ReportStudies],
    principal: NamedDependency[Principal],
) -> Response[str]:
    text = await report_studies.stored_walk_forward(wf_id, actor=principal)
    return _document(text, report_studies.media_type, f"walk-forward-{wf_id}.html")


ROUTES = [walk_forward_report, study_report, stored_walk_forward_report]
