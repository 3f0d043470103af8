"""Compare stored backtest runs: each id is read with the caller's rights (``NotFound`` for
an unknown id, ``Forbidden`` for a run the caller may not read), then
``domain.research.compare`` lines them up."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arbx.app.run_backtest import BacktestRuns
from arbx.domain.auth import Principal
from arbx.domain.errors import InvalidInput
from arbx.domain.research.compare import MAX_RUNS, Comparison, RunCurve, compare_runs


class CompareRuns:
    def __init__(self, runs: BacktestRuns) -> None:
        self._runs = runs

    async def execute(
        self, ids: Sequence[str], *, actor: Principal, max_points: int = 5000
    ) -> Comparison:
        ids = [i.strip() for i in ids if i.strip()]
        if len(ids) < 2:
            raise InvalidInput("give at least two run ids to compare", field="ids")
        if len(ids) > MAX_RUNS:
            raise InvalidInput(f"compare takes at most {MAX_RUNS} runs", field="ids")
        if len(set(ids)) != len(ids):
            raise InvalidInput("a run id is listed twice", field="ids")
        if not 10 <= max_points <= 100_000:
            raise InvalidInput("max_points must be between 10 and 100000", field="max_points")
        metas = [await self._runs.meta(i, actor=actor) for i in ids]  # 404 / 403 first
        curves = []
        for meta in metas:
            curve = await self._runs.table(meta.id, "curve", actor=actor)
            ts = (
                curve["ts"].dt.epoch("ms").to_numpy().astype(np.int64)
                if curve.height
                else np.zeros(0, np.int64)
            )
            equity = curve["equity"].to_numpy().astype(np.float64) if curve.height else np.zeros(0)
            curves.append(RunCurve(meta, ts, equity))
        return compare_runs(curves, max_points)
