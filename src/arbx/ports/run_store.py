"""The run store port: where backtest runs live, finished or failed."""

from __future__ import annotations

import builtins
from abc import abstractmethod
from datetime import datetime
from typing import Protocol

import msgspec
import polars as pl

from arbx.domain.backtest.listing import RunQuery
from arbx.domain.backtest.run import BacktestRun, RunMeta, RunSummary, TableName


class RunFailure(msgspec.Struct, frozen=True, kw_only=True):
    """A background run that ended without a result: its worker raised, died, or the
    process stopped while it computed (``error`` says which)."""

    id: str
    created_at: datetime
    strategy: str
    bars: int
    error: str
    owner: str | None = None
    shared: bool = False
    # "failed", or "cancelled" (a user stopped it: ``error`` says who)
    status: str = "failed"


class RunStore(Protocol):
    """Backtest runs, unique on id (a finished run and a failure share one id space).

    Contract (tests/contract/test_run_store.py holds every adapter to it):
    - ``save`` stores a run with its tables; an id already stored (run or failure) raises
      ``Conflict`` and changes nothing. Tables come back exactly as saved (schema, order,
      float bits).
    - ``get`` returns the whole run or raises ``NotFound`` (a failure is not a run).
    - ``meta`` returns a run's metadata alone (no table is read), like ``get`` otherwise.
    - ``table`` returns one table of a run (``NotFound`` for an unknown run).
    - ``list`` returns summaries of runs newest first (created_at, then id, descending),
      optionally only one strategy's, at most ``limit``. With ``readable_by`` (a user id)
      only the runs that user may read as a plain reader: owned by them, shared, or made
      outside the API (no owner). The filter applies before the limit. With ``query``
      (``domain.backtest.listing.RunQuery``) only the runs it ``matches`` (series, venue,
      span overlap), in its order (a metric, runs without it last, ties newest first), the
      first ``query.offset`` skipped: the store filters, sorts and pages.
    - ``delete`` removes a run and its tables; ``NotFound`` for an unknown id.
    - ``record_failure`` stores a failure; an id already stored raises ``Conflict``.
      ``failure`` returns it, or raises ``NotFound``. ``failures`` returns every stored
      failure, oldest first (created_at, then id); with ``newest_first`` the other way,
      and optionally one strategy's, a reader's (as ``list``), ``offset`` skipped, at most
      ``limit`` (the store pages).
    - ``ping`` raises ``StorageUnavailable`` when the store cannot be used.
    """

    @abstractmethod
    async def save(self, run: BacktestRun) -> None: ...

    @abstractmethod
    async def get(self, run_id: str) -> BacktestRun: ...

    @abstractmethod
    async def meta(self, run_id: str) -> RunMeta: ...

    @abstractmethod
    async def table(self, run_id: str, name: TableName) -> pl.DataFrame: ...

    @abstractmethod
    async def list(
        self,
        *,
        strategy: str | None = None,
        limit: int = 100,
        readable_by: str | None = None,
        query: RunQuery | None = None,
    ) -> list[RunSummary]: ...

    @abstractmethod
    async def delete(self, run_id: str) -> None: ...

    @abstractmethod
    async def record_failure(self, failure: RunFailure) -> None: ...

    @abstractmethod
    async def failure(self, run_id: str) -> RunFailure: ...

    @abstractmethod
    async def failures(
        self,
        *,
        strategy: str | None = None,
        readable_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> builtins.list[RunFailure]: ...

    @abstractmethod
    async def ping(self) -> None: ...
