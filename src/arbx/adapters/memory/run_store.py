"""A RunStore held in a dict: the reference adapter for the contract suite and use-case tests."""

from __future__ import annotations

import asyncio
import builtins

import polars as pl

from arbx.domain.backtest.listing import RunQuery
from arbx.domain.backtest.run import BacktestRun, RunMeta, RunSummary, TableName
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.run_store import RunFailure, RunStore


class MemoryRunStore(RunStore):
    def __init__(self) -> None:
        self._runs: dict[str, BacktestRun] = {}
        self._failures: dict[str, RunFailure] = {}
        self._lock = asyncio.Lock()

    async def save(self, run: BacktestRun) -> None:
        async with self._lock:
            self._check_free(run.id)
            # frames are immutable values in polars: clone so later edits cannot leak in
            self._runs[run.id] = BacktestRun(
                run.meta, {k: v.clone() for k, v in run.tables.items()}
            )

    async def get(self, run_id: str) -> BacktestRun:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFound(f"backtest run {run_id!r} does not exist")
        return BacktestRun(run.meta, {k: v.clone() for k, v in run.tables.items()})

    async def meta(self, run_id: str) -> RunMeta:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFound(f"backtest run {run_id!r} does not exist")
        return run.meta

    async def table(self, run_id: str, name: TableName) -> pl.DataFrame:
        return (await self.get(run_id)).tables[name]

    async def list(
        self,
        *,
        strategy: str | None = None,
        limit: int = 100,
        readable_by: str | None = None,
        query: RunQuery | None = None,
    ) -> builtins.list[RunSummary]:
        q = query or RunQuery()
        runs = [
            r
            for r in self._runs.values()
            if (strategy is None or r.meta.strategy == strategy)
            and (readable_by is None or r.meta.owner in (None, readable_by) or r.meta.shared)
            and q.matches(r.meta)
        ]
        runs.sort(key=lambda r: q.sort_key(r.meta))
        return [r.summary() for r in runs[q.offset : q.offset + max(limit, 0)]]

    async def delete(self, run_id: str) -> None:
        async with self._lock:
            if self._runs.pop(run_id, None) is None:
                raise NotFound(f"backtest run {run_id!r} does not exist")

    async def record_failure(self, failure: RunFailure) -> None:
        async with self._lock:
            self._check_free(failure.id)
            self._failures[failure.id] = failure

    async def failure(self, run_id: str) -> RunFailure:
        found = self._failures.get(run_id)
        if found is None:
            raise NotFound(f"no failed backtest run {run_id!r} is recorded")
        return found

    async def failures(
        self,
        *,
        strategy: str | None = None,
        readable_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> builtins.list[RunFailure]:
        found = sorted(
            (
                f
                for f in self._failures.values()
                if (strategy is None or f.strategy == strategy)
                and (readable_by is None or f.owner in (None, readable_by) or f.shared)
            ),
            key=lambda f: (f.created_at, f.id),
            reverse=newest_first,
        )
        return found[offset:] if limit is None else found[offset : offset + max(limit, 0)]

    async def ping(self) -> None:
        return None

    def _check_free(self, run_id: str) -> None:
        if run_id in self._runs or run_id in self._failures:
            raise Conflict(f"backtest run {run_id!r} is stored already")
