"""The ``evaluate`` job kind: a scheduled re-evaluation of an approved catalog version is a
stored run, and a breached rollback rule rolls the version back; bad evaluate jobs are
refused when defined."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from arbx.adapters.memory.audit_log import MemoryAuditLog
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.catalog_store import MemoryCatalogStore
from arbx.adapters.memory.job_store import MemoryJobStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.app.authorize import AuditTrail
from arbx.app.evaluate_strategy import EvaluateStrategy, EvaluateWork
from arbx.app.manage_catalog import StrategyCatalog, StrategyInput
from arbx.app.run_backtest import CLI_OPERATOR, RunBacktest
from arbx.app.run_job import RunJob
from arbx.domain.catalog import RollbackRule
from arbx.domain.errors import InvalidInput
from arbx.domain.jobs import JobDefinition, JobKind, JobOrigin, JobPatch, JobSpec, RunStatus
from arbx.ports.clock import Clock
from tests.builders import key, make_bars

NOW = datetime(2024, 1, 3, tzinfo=UTC)


class StillClock(Clock):
    def now(self) -> datetime:
        return NOW


def evaluate_job(**spec: object) -> JobDefinition:
    values: dict[str, object] = {
        "name": "evaluate-btc-sma",
        "kind": "evaluate",
        "strategy": "btc-sma",
        "interval_s": 86400,
        "lookback_bars": 1000,
        "max_attempts": 1,
    }
    values.update(spec)
    return JobDefinition.from_spec(
        msgspec.convert(values, JobSpec), id="j1", origin=JobOrigin.API, created_at=NOW
    )


def test_evaluate_jobs_name_a_strategy_and_no_series() -> None:
    assert evaluate_job().strategy == "btc-sma"
    with pytest.raises(InvalidInput, match="needs strategy"):
        evaluate_job(strategy=None)
    with pytest.raises(InvalidInput, match="drop series"):
        evaluate_job(series=["binance:BTC/USDC:1m"])
    with pytest.raises(InvalidInput, match="only evaluate jobs take a strategy"):
        evaluate_job(kind="collect", series=["binance:BTC/USDC:1m"])
    leaving = evaluate_job().apply(
        JobPatch(kind="collect", series=["binance:BTC/USDC:1m"]),
        at=NOW,
    )
    assert (leaving.kind, leaving.strategy) == (JobKind.COLLECT, None)


async def test_a_scheduled_evaluation_stores_a_run_and_applies_the_rule() -> None:
    bars = MemoryBarStore()
    await bars.write(key(), make_bars(3000, NOW - timedelta(days=3), volatility=0.01))
    runs = MemoryRunStore()
    catalog = StrategyCatalog(
        MemoryCatalogStore(), AuditTrail(MemoryAuditLog(), StillClock()), StillClock()
    )
    evaluate = EvaluateStrategy(catalog, RunBacktest(bars, runs, StillClock()), bars)
    given = StrategyInput(
        strategy="sma_cross",
        params={"fast": 5, "slow": 20},
        series=["binance:BTC/USDC:1m"],
        rollback=RollbackRule(max_drawdown=1e-6),  # any run that trades draws down more
    )
    await catalog.create("btc-sma", given, actor=CLI_OPERATOR)
    await catalog.promote("btc-sma", 1, "candidate", actor=CLI_OPERATOR)
    await catalog.promote("btc-sma", 1, "approved", actor=CLI_OPERATOR, walk_forward="wf-1")
    jobs = MemoryJobStore()
    await jobs.save(evaluate_job())
    runner = RunJob(
        jobs=jobs,
        bars=bars,
        clock=StillClock(),
        work={},
        whole_work={JobKind.EVALUATE: EvaluateWork(evaluate)},
    )
    assert JobKind.EVALUATE in runner.supported_kinds
    done = await runner.execute("j1")
    assert done.status is RunStatus.SUCCEEDED, done.error
    (stored,) = await runs.list()
    meta = await runs.meta(stored.id)
    assert meta.strategy_version == "btc-sma@v1"
    assert meta.series[0].rows == 1000  # the job's lookback_bars, up to the newest bar
    detail = await catalog.show("btc-sma", actor=CLI_OPERATOR)
    assert detail.current.state == "candidate"
    assert "automatic rollback: max drawdown" in detail.history[-1].reason
    again = await runner.execute("j1")  # nothing approved now: the run fails, permanently
    assert again.status is RunStatus.FAILED
    assert again.error is not None
    assert "no approved version" in again.error
