"""Apply the retention rules to the stored bars (``arbx data retain``); see
``domain/market/retention.py`` for what goes and what a stored run pins."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import msgspec

from arbx.domain.jobs import JobDefinition
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.market.retention import RetentionItem, RetentionRule, plan_retention
from arbx.ports.bar_store import BarStore
from arbx.ports.clock import Clock
from arbx.ports.run_store import RunStore

EVERYTHING = 2**31 - 1


class RetentionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    item: RetentionItem
    bars: int  # bars in the deleted span (that would go, on a dry run)


class RetentionReport(msgspec.Struct, frozen=True, kw_only=True):
    dry_run: bool
    force: bool
    at: datetime
    outcomes: list[RetentionOutcome]

    @property
    def bars(self) -> int:
        return sum(o.bars for o in self.outcomes)


class ApplyRetention:
    def __init__(
        self, bars: BarStore, runs: RunStore, clock: Clock, rules: Sequence[RetentionRule]
    ) -> None:
        self._bars = bars
        self._runs = runs
        self._clock = clock
        self._rules = list(rules)

    async def _pins(self) -> dict[SeriesKey, list[tuple[str, datetime]]]:
        pins: dict[SeriesKey, list[tuple[str, datetime]]] = defaultdict(list)
        for summary in await self._runs.list(limit=EVERYTHING):
            meta = await self._runs.meta(summary.id)
            for used in meta.series:
                pins[SeriesKey.parse(used.series)].append((meta.id, used.first_ts))
        return pins

    async def execute(
        self, *, dry_run: bool, force: bool = False, only: SeriesKey | None = None
    ) -> RetentionReport:
        """Apply the rules to every stored series (``only``: to that one)."""
        now = self._clock.now()
        stored = [
            (i.key, i.first_ts)
            for i in await self._bars.list_series()
            if only is None or i.key == only
        ]
        plan = plan_retention(self._rules, stored, now, await self._pins(), force=force)
        outcomes = []
        for item in plan:
            count = 0
            if item.delete is not None:
                if dry_run:
                    covered = await self._bars.coverage(item.key, item.delete)
                    step = item.key.timeframe.ms
                    count = sum((s.end_ms - s.start_ms) // step for s in covered)
                else:
                    count = await self._bars.delete(item.key, item.delete)
            outcomes.append(RetentionOutcome(item=item, bars=count))
        return RetentionReport(dry_run=dry_run, force=force, at=now, outcomes=outcomes)


class RetainWork:
    """The work of a ``retain`` job on one of its series: the rules, never forced (a job
    never deletes what a stored run read). Returns the bars deleted."""

    def __init__(self, retention: ApplyRetention) -> None:
        self._retention = retention

    async def __call__(self, job: JobDefinition, key: SeriesKey, span: TimeSpan) -> int:
        report = await self._retention.execute(dry_run=False, only=key)
        return report.bars
