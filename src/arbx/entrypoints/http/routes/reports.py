"""Reports over HTTP: a run's report and a comparison of runs, each one self-contained HTML
document (``app.report_backtests``).

The use case authorizes each run (403 when it is not the caller's and not shared, 404 when
it does not exist) and refuses a run without a result (409; the problem's ``errors`` give
its ``run_status``: pending, running or failed). The document is served with its own
Content-Security-Policy: inline scripts and styles only, nothing loaded from anywhere, and
``sandbox allow-scripts`` so it runs in an opaque origin (it cannot read the API's
credentials of the page that opened it).
"""

from __future__ import annotations

from typing import Annotated, Final

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter

from arbx.app.report_backtests import ReportBacktests
from arbx.domain.auth import Permission, Principal
from arbx.entrypoints.http.security import requires

REPORT_CSP: Final = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:;"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox allow-scripts"
)
_HTML = {
    200: ResponseSpec(str, description="the report: one HTML document", media_type="text/html")
}


def _document(text: str, media_type: str, filename: str) -> Response[str]:
    return Response(
        text,
        media_type=media_type,
        headers={
            "Content-Security-Policy": REPORT_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@get(
    "/api/v1/backtests/{run_id:str}/report",
    summary="A run's report: one self-contained HTML file (charts, tables, manifest)",
    tags=["backtests"],
    guards=[requires(Permission.RESULTS_READ)],
    responses=_HTML,
    opt={"problems": ["409"]},  # the run is still computing, or failed
)
async def backtest_report(
    run_id: FromPath[str],
    report_backtests: NamedDependency[ReportBacktests],
    principal: NamedDependency[Principal],
) -> Response[str]:
    text = await report_backtests.report(run_id, actor=principal)
    return _document(text, report_backtests.media_type, f"backtest-{run_id}.html")


@get(
    "/api/v1/reports/compare",
    summary="A comparison of 2..10 runs: equity and drawdown on one axis, metrics side by side",
    tags=["backtests"],
    guards=[requires(Permission.RESULTS_READ)],
    responses=_HTML,
    opt={"problems": ["404", "409"]},  # a run does not exist; one is still computing
)
async def compare_report(
    report_backtests: NamedDependency[ReportBacktests],
    principal: NamedDependency[Principal],
    ids: Annotated[
        list[str], QueryParameter(description="run ids, repeated (ids=A&ids=B) or comma-separated")
    ],
) -> Response[str]:
    run_ids = [part for value in ids for part in value.split(",")]
    text = await report_backtests.compare(run_ids, actor=principal)
    return _document(text, report_backtests.media_type, "comparison.html")


ROUTES = [backtest_report, compare_report]
