"""Use case: the report of an optimization study, or of a walk-forward analysis, as one
self-contained document (``ports.report_renderer``).

A study is read through ``OptimizeStudies`` (``results:read`` on the study: ``Forbidden``
when it is not the actor's, ``NotFound`` when it does not exist), with its stored trials and
the overfitting diagnostics computed on them. A study still running is reported as it
stands (the report says so); its trials are stored as they finish.

A walk-forward is reported from its result: run here from a request (``WalkForward``, with
its own authorization), or a result computed elsewhere (``render_walk_forward``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from arbx.app.optimize import OptimizeStudies, diagnose
from arbx.app.walk_forward import WalkForward, WalkForwardRequest
from arbx.domain.auth import Principal
from arbx.domain.backtest.result import ENGINE_VERSION
from arbx.domain.errors import InvalidInput
from arbx.domain.reports.downsample import DEFAULT_POINTS
from arbx.domain.reports.model import Report
from arbx.domain.reports.study import TOP_TRIALS, study_report
from arbx.domain.reports.walk_forward import WalkForwardLike, walk_forward_report
from arbx.ports.report_renderer import ReportRenderer

MAX_TOP = 1000


def _currency(request: dict[str, Any] | None) -> str:
    """The quote currency of the first series of a walk-forward's backtest request."""
    try:
        first = str((request or {})["optimization"]["backtest"]["series"][0])
        return first.split(":")[1].split("/", 1)[1]
    except (KeyError, IndexError, TypeError):
        return ""


class ReportStudies:
    def __init__(
        self,
        studies: OptimizeStudies,
        walk_forward: WalkForward,
        renderer: ReportRenderer,
        *,
        generated_by: str = "arbx",
        points: int = DEFAULT_POINTS,
    ) -> None:
        self._studies = studies
        self._walk_forward = walk_forward
        self._renderer = renderer
        self._generated_by = generated_by
        self._points = points

    @property
    def media_type(self) -> str:
        return self._renderer.media_type

    async def build(self, study_id: str, *, actor: Principal, top: int = TOP_TRIALS) -> Report:
        if not 1 <= top <= MAX_TOP:
            raise InvalidInput(f"top must be between 1 and {MAX_TOP}, got {top}", field="top")
        study = await self._studies.get(study_id, actor=actor)
        trials = await self._studies.trials(study_id, actor=actor)
        done = [t for t in trials if t.status == "done"]
        # PBO over many trials takes seconds: off the event loop
        diagnostics = await asyncio.to_thread(diagnose, study, done)
        return await asyncio.to_thread(
            lambda: study_report(
                study,
                trials,
                deflated=diagnostics.deflated_sharpe,
                pbo=diagnostics.pbo,
                diagnostic_notes=diagnostics.notes,
                top=top,
                generated_by=self._generated_by,
            )
        )

    async def report(self, study_id: str, *, actor: Principal, top: int = TOP_TRIALS) -> str:
        """The rendered report of one study."""
        report = await self.build(study_id, actor=actor, top=top)
        return await asyncio.to_thread(self._renderer.render, report)

    async def walk_forward(
        self, request: WalkForwardRequest, *, actor: Principal, jobs: int = 2
    ) -> str:
        """Run a walk-forward analysis here and render its report."""
        result = await self._walk_forward.execute(request, actor=actor, jobs=jobs)
        return await self.render_walk_forward(result, request)

    async def render_walk_forward(
        self, result: WalkForwardLike, request: WalkForwardRequest | None = None
    ) -> str:
        """The rendered report of a walk-forward result (``request``: what made it, shown
        in the manifest)."""
        raw = None if request is None else msgspec.to_builtins(request)
        return await self._render(result, raw, ENGINE_VERSION, _currency(raw))

    async def stored_walk_forward(self, wf_id: str, *, actor: Principal) -> str:
        """The report of a stored walk-forward (``results:read`` on it; ``NotFound``,
        ``Forbidden``); one still running is reported with the folds stored so far."""
        view = await self._walk_forward.view(wf_id, actor=actor)
        stored = msgspec.to_builtins(view.walk_forward)
        series = view.walk_forward.request.get("series") or [""]
        currency = _currency({"optimization": {"backtest": {"series": series}}})
        return await self._render(view.result, stored, view.walk_forward.engine_version, currency)

    async def _render(
        self,
        result: WalkForwardLike,
        request: dict[str, Any] | None,
        engine_version: str,
        currency: str,
    ) -> str:
        report = await asyncio.to_thread(
            lambda: walk_forward_report(
                result,
                request=request,
                engine_version=engine_version,
                currency=currency,
                points=self._points,
                generated_by=self._generated_by,
            )
        )
        return await asyncio.to_thread(self._renderer.render, report)
