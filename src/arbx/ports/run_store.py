"""The run store port: where finished backtest runs live."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

import polars as pl

from arbx.domain.backtest.run import BacktestRun, RunSummary, TableName


class RunStore(Protocol):
    """Backtest runs, unique on id.

    Contract (tests/contract/test_run_store.py holds every adapter to it):
    - ``save`` stores a run with its tables; an id already stored raises ``Conflict`` and
      changes nothing. Tables come back exactly as saved (schema, order, float bits).
    - ``get`` returns the whole run or raises ``NotFound``.
    - ``table`` returns one table of a run (``NotFound`` for an unknown run).
    - ``list`` returns summaries newest first (created_at, then id, descending), optionally
      only one strategy's, at most ``limit``.
    - ``delete`` removes a run and its tables; ``NotFound`` for an unknown id.
    - ``ping`` raises ``StorageUnavailable`` when the store cannot be used.
    """

    @abstractmethod
    async def save(self, run: BacktestRun) -> None: ...

    @abstractmethod
    async def get(self, run_id: str) -> BacktestRun: ...

    @abstractmethod
    async def table(self, run_id: str, name: TableName) -> pl.DataFrame: ...

    @abstractmethod
    async def list(self, *, strategy: str | None = None, limit: int = 100) -> list[RunSummary]: ...

    @abstractmethod
    async def delete(self, run_id: str) -> None: ...

    @abstractmethod
    async def ping(self) -> None: ...
