"""Hand-written fakes for the jobs tests: a clock you move, a recording scheduler, and series
work that writes real bars into a bar store page by page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from arbx.domain.jobs import JobDefinition
from arbx.domain.market import SeriesKey, TimeSpan, to_ms
from arbx.ports.bar_store import BarStore
from arbx.ports.job_store import JobScheduler
from tests.builders import make_bars

T0 = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class RecordingSleep:
    """Stands in for asyncio.sleep: records the delays, moves the fake clock, yields once."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.delays: list[float] = []
        self._clock = clock

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self._clock is not None:
            self._clock.advance(seconds=seconds)
        await asyncio.sleep(0)


class FakeScheduler(JobScheduler):
    def __init__(self) -> None:
        self.scheduled: dict[str, JobDefinition] = {}
        self.running: set[str] = set()
        self.triggered: list[str] = []

    def schedule(self, job: JobDefinition) -> None:
        self.scheduled[job.id] = job

    def unschedule(self, job_id: str) -> None:
        self.scheduled.pop(job_id, None)

    def trigger(self, job_id: str) -> bool:
        if job_id in self.running:
            return False
        self.triggered.append(job_id)
        return True

    def is_running(self, job_id: str) -> bool:
        return job_id in self.running

    def next_run_at(self, job_id: str) -> datetime | None:
        job = self.scheduled.get(job_id)
        return None if job is None or job.paused else T0 + timedelta(minutes=1)


class FakeCollector:
    """Writes synthetic bars for the window into ``bars``, ``page_bars`` at a time (each page
    one atomic write), like a backfill would. Scripted failures are raised per call; ``gate``
    (when set) holds each page until the test releases it."""

    def __init__(self, bars: BarStore, *, page_bars: int = 1000) -> None:
        self.bars = bars
        self.page_bars = page_bars
        self.calls: list[tuple[SeriesKey, TimeSpan]] = []
        self.failures: list[BaseException | None] = []
        self.fail_for: dict[SeriesKey, BaseException] = {}
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.page_done = asyncio.Event()
        self.active = 0
        self.max_active = 0
        self._changed = asyncio.Condition()

    async def __call__(self, job: JobDefinition, key: SeriesKey, span: TimeSpan) -> int:
        self.calls.append((key, span))
        if key in self.fail_for:
            raise self.fail_for[key]
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                raise failure
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.entered.set()
        async with self._changed:
            self._changed.notify_all()
        try:
            written = 0
            step = key.timeframe.ms
            cursor = to_ms(span.start)
            while cursor < to_ms(span.end):
                if self.gate is not None:
                    await self.gate.wait()
                n = min(self.page_bars, (to_ms(span.end) - cursor) // step)
                page = make_bars(
                    n,
                    start=span.start + timedelta(milliseconds=cursor - to_ms(span.start)),
                    timeframe=key.timeframe,
                )
                written += await self.bars.write(key, page)
                cursor += n * step
                self.page_done.set()
                await asyncio.sleep(0)
            return written
        finally:
            self.active -= 1

    async def wait_active(self, count: int) -> None:
        """Return once ``count`` calls are inside the collector at the same time."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.active >= count)
