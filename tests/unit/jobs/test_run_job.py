"""RunJob: windows per kind, recorded runs, per-series failures, retries by policy,
cancellation."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.job_store import MemoryJobStore
from arbx.app.run_job import RunJob, SeriesWork
from arbx.domain.errors import ExchangeUnavailable, InvalidInput, RateLimited
from arbx.domain.jobs import JobDefinition, JobKind, JobOrigin, JobSpec, RunStatus, RunTrigger
from arbx.domain.market import SeriesKey, TimeSpan
from tests.builders import make_bars
from tests.unit.jobs.fakes import FakeClock, FakeCollector, RecordingSleep

BTC = SeriesKey.parse("binance:BTC/USDC:1m")
ETH = SeriesKey.parse("kraken:ETH/USDC:1m")
MINUTE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # the fake clock starts at 12:00:30


class Setup:
    def __init__(self, **work: SeriesWork) -> None:
        self.clock = FakeClock()
        self.jobs = MemoryJobStore()
        self.bars = MemoryBarStore()
        self.sleep = RecordingSleep(self.clock)
        self.collector = FakeCollector(self.bars)
        kinds = {JobKind.COLLECT: self.collector, **{JobKind(k): w for k, w in work.items()}}
        self.run_job = RunJob(
            jobs=self.jobs, bars=self.bars, clock=self.clock, work=kinds, sleep=self.sleep
        )

    async def add(self, **spec: object) -> JobDefinition:
        values: dict[str, object] = {
            "name": "collect",
            "kind": "collect",
            "series": [str(BTC)],
            "interval_s": 60,
            "lookback_bars": 30,
            "backoff_s": 5,
        }
        values.update(spec)
        job = JobDefinition.from_spec(
            msgspec.convert(values, JobSpec),
            id=str(values["name"]),
            origin=JobOrigin.API,
            created_at=self.clock.now(),
        )
        await self.jobs.save(job)
        return job


async def test_a_collection_run_fetches_the_lookback_then_only_new_closed_bars() -> None:
    s = Setup()
    await s.add()
    first = await s.run_job.execute("collect")
    assert first.status is RunStatus.SUCCEEDED
    assert first.bars_written == 30
    assert s.collector.calls == [(BTC, TimeSpan(MINUTE - timedelta(minutes=30), MINUTE))]
    s.clock.advance(minutes=2)
    second = await s.run_job.execute("collect", RunTrigger.MANUAL)
    assert second.bars_written == 2
    assert second.trigger is RunTrigger.MANUAL
    assert s.collector.calls[-1] == (BTC, TimeSpan(MINUTE, MINUTE + timedelta(minutes=2)))
    # nothing new closed yet: the series is skipped, the run still succeeds
    s.clock.advance(seconds=10)
    third = await s.run_job.execute("collect")
    assert (third.status, third.bars_written, len(s.collector.calls)) == (RunStatus.SUCCEEDED, 0, 2)
    runs = await s.jobs.list_runs("collect")
    assert [r.bars_written for r in runs] == [0, 2, 30]
    assert all(r.finished_at is not None and r.attempt == 1 for r in runs)


async def test_collection_starts_after_what_is_stored() -> None:
    s = Setup()
    await s.bars.write(BTC, make_bars(20, start=MINUTE - timedelta(minutes=25)))
    await s.add()
    run = await s.run_job.execute("collect")
    assert s.collector.calls == [(BTC, TimeSpan(MINUTE - timedelta(minutes=5), MINUTE))]
    assert run.bars_written == 5


async def test_validate_and_repair_get_the_lookback_window() -> None:
    seen: list[tuple[str, SeriesKey, TimeSpan]] = []

    def recorder(name: str) -> SeriesWork:
        async def work(job: JobDefinition, key: SeriesKey, span: TimeSpan) -> int:
            seen.append((name, key, span))
            return 3 if name == "repair" else 0

        return work

    s = Setup(validate=recorder("validate"), repair=recorder("repair"))
    await s.add(name="v", kind="validate", series=[str(BTC), str(ETH)], lookback_bars=60)
    await s.add(name="r", kind="repair", lookback_bars=60)
    assert (await s.run_job.execute("v")).status is RunStatus.SUCCEEDED
    assert (await s.run_job.execute("r")).bars_written == 3
    window = TimeSpan(MINUTE - timedelta(hours=1), MINUTE)
    assert seen == [("validate", BTC, window), ("validate", ETH, window), ("repair", BTC, window)]


async def test_a_kind_without_work_fails_clearly_without_retry() -> None:
    s = Setup()
    await s.add(name="v", kind="validate")
    run = await s.run_job.execute("v")
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "validate jobs cannot run" in run.error
    assert "collect" in run.error
    assert s.sleep.delays == []
    assert s.run_job.supported_kinds == frozenset({JobKind.COLLECT})


async def test_transient_failures_are_retried_with_backoff_then_succeed() -> None:
    s = Setup()
    await s.add(max_attempts=3, backoff_s=5)
    s.collector.failures = [ExchangeUnavailable("binance timed out", venue="binance")] * 2
    last = await s.run_job.execute("collect")
    assert last.status is RunStatus.SUCCEEDED
    assert last.attempt == 3
    assert s.sleep.delays == [5.0, 10.0]
    runs = await s.jobs.list_runs("collect")
    assert [(r.attempt, r.status) for r in runs] == [
        (3, RunStatus.SUCCEEDED),
        (2, RunStatus.FAILED),
        (1, RunStatus.FAILED),
    ]
    assert runs[1].error is not None
    assert "binance:BTC/USDC:1m: ExchangeUnavailable: binance timed out" in runs[1].error


async def test_retries_stop_at_the_policy_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    s = Setup()
    await s.add(max_attempts=2, backoff_s=1)
    s.collector.failures = [ExchangeUnavailable("down", venue="binance")] * 5
    with caplog.at_level(logging.WARNING, logger="arbx.app.run_job"):
        last = await s.run_job.execute("collect")
    assert (last.status, last.attempt) == (RunStatus.FAILED, 2)
    assert s.sleep.delays == [1.0]
    messages = [r.getMessage() for r in caplog.records]
    assert any("attempt 1 failed, retrying" in m for m in messages)
    assert any("failed after 2 attempt(s)" in m for m in messages)
    assert [r.levelno for r in caplog.records][-1] == logging.ERROR


async def test_rate_limits_wait_at_least_retry_after() -> None:
    s = Setup()
    await s.add(max_attempts=2, backoff_s=1)
    s.collector.failures = [RateLimited("slow down", venue="binance", retry_after=42)]
    assert (await s.run_job.execute("collect")).status is RunStatus.SUCCEEDED
    assert s.sleep.delays == [42.0]


async def test_permanent_failures_are_not_retried() -> None:
    s = Setup()
    await s.add(max_attempts=5)
    s.collector.failures = [InvalidInput("unknown symbol BTC/USDC; try BTC/USDT", field="symbol")]
    run = await s.run_job.execute("collect")
    assert (run.status, run.attempt) == (RunStatus.FAILED, 1)
    assert s.sleep.delays == []


async def test_one_failing_series_does_not_stop_the_others() -> None:
    s = Setup()
    await s.add(series=[str(BTC), str(ETH)], max_attempts=1)
    s.collector.fail_for[BTC] = ExchangeUnavailable("down", venue="binance")
    run = await s.run_job.execute("collect")
    assert run.status is RunStatus.FAILED
    assert run.bars_written == 30  # ETH was collected
    assert run.error is not None
    assert str(BTC) in run.error
    assert str(ETH) not in run.error
    assert await s.bars.coverage(ETH) == [TimeSpan(MINUTE - timedelta(minutes=30), MINUTE)]


async def test_a_retry_after_partial_success_fetches_only_what_is_missing() -> None:
    s = Setup()
    await s.add(series=[str(BTC), str(ETH)], max_attempts=2)
    s.collector.fail_for[BTC] = ExchangeUnavailable("down", venue="binance")
    last = await s.run_job.execute("collect")
    assert last.status is RunStatus.FAILED  # BTC keeps failing: two attempts
    eth_calls = [span for key, span in s.collector.calls if key == ETH]
    assert len(eth_calls) == 1  # the second attempt found ETH current and skipped it


async def test_unexpected_errors_are_recorded_and_retried() -> None:
    s = Setup()
    await s.add(max_attempts=2)
    s.collector.failures = [ZeroDivisionError("bug")]
    run = await s.run_job.execute("collect")
    assert (run.status, run.attempt) == (RunStatus.SUCCEEDED, 2)
    first = (await s.jobs.list_runs("collect"))[-1]
    assert first.error is not None
    assert "ZeroDivisionError: bug" in first.error


async def test_a_job_paused_during_backoff_is_not_retried() -> None:
    s = Setup()
    job = await s.add(max_attempts=3)
    s.collector.failures = [ExchangeUnavailable("down", venue="binance")] * 3

    async def pause_while_sleeping(seconds: float) -> None:
        await s.jobs.update(job.with_paused(True, at=s.clock.now()))

    s.run_job = RunJob(
        jobs=s.jobs,
        bars=s.bars,
        clock=s.clock,
        work={JobKind.COLLECT: s.collector},
        sleep=pause_while_sleeping,
    )
    run = await s.run_job.execute("collect")
    assert (run.status, run.attempt) == (RunStatus.FAILED, 1)


async def test_cancellation_records_a_cancelled_run_and_keeps_whole_pages() -> None:
    s = Setup()
    await s.add(lookback_bars=30)
    s.collector.page_bars = 10
    s.collector.gate = asyncio.Event()
    task = asyncio.create_task(s.run_job.execute("collect"))
    s.collector.gate.set()
    await s.collector.page_done.wait()
    s.collector.gate.clear()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (run,) = await s.jobs.list_runs("collect")
    assert run.status is RunStatus.CANCELLED
    assert run.error is not None
    assert "cancelled" in run.error
    stored = len(await s.bars.read(BTC, TimeSpan.everything()))
    assert stored % 10 == 0
    assert 10 <= stored < 30
    # the next run fetches only the rest
    s.collector.gate = None
    again = await s.run_job.execute("collect")
    assert again.bars_written == 30 - stored
