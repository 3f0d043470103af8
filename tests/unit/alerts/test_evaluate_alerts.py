"""EvaluateAlerts over memory stores and the observations hooks: every rule kind fires from
its own facts, resolves when they go, and is restored from the store after a restart."""

from __future__ import annotations

from datetime import timedelta

from arbx.adapters.memory.alert_store import MemoryAlertStore
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.job_store import MemoryJobStore
from arbx.adapters.telemetry.noop import NoTelemetry
from arbx.app.alerts import EvaluateAlerts, ManageAlertRules, Notifications
from arbx.app.observations import Observations
from arbx.domain.alerts import AlertRuleSpec, TransitionState
from arbx.domain.jobs import JobDefinition, JobOrigin, JobRun, JobSpec, RunStatus, RunTrigger
from arbx.domain.market import SeriesKey
from arbx.domain.quality.model import DataGap, GapCause
from arbx.ports.run_store import RunFailure
from tests.builders import make_bars
from tests.unit.auth.fakes import FakeClock

KEY = SeriesKey.parse("binance:BTC/USDC:1m")


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(make_bars(1)["ts"][0] + timedelta(minutes=30))
        self.store = MemoryAlertStore()
        self.bars = MemoryBarStore()
        self.jobs = MemoryJobStore()
        self.observations = Observations(NoTelemetry(), self.clock)
        self.sent = Notifications(
            [], clock=self.clock, telemetry=NoTelemetry(), attempts=1, base_delay_s=0, max_delay_s=0
        )
        self.rules = ManageAlertRules(store=self.store, clock=self.clock, channels=frozenset())

    def evaluator(self) -> EvaluateAlerts:
        return EvaluateAlerts(
            store=self.store,
            observations=self.observations,
            bars=self.bars,
            jobs=self.jobs,
            exchanges={},
            notifications=self.sent,
            clock=self.clock,
        )

    async def job(self, job_id: str) -> None:
        spec = JobSpec(name=job_id, kind="validate", series=[str(KEY)], interval_s=3600)
        at = self.clock.now()
        await self.jobs.save(
            JobDefinition.from_spec(spec, id=job_id, origin=JobOrigin.API, created_at=at)
        )

    async def ran(self, job_id: str, run_id: str, status: RunStatus, error: str = "") -> None:
        """A run of ``job_id`` stored as the job runner stores it, seen by the hooks."""
        now = self.clock.now()
        run = JobRun(
            id=run_id, job_id=job_id, attempt=1, trigger=RunTrigger.SCHEDULE, started_at=now
        )
        await self.jobs.start_run(run)
        done = run.finish(status, at=now, error=error or None)
        self.observations.job_finished((), {}, await self.jobs.finish_run(done))
        self.clock.advance(1)


def states(transitions: list[object]) -> list[tuple[str, str]]:
    return [(t.subject, t.state.value) for t in transitions]  # type: ignore[attr-defined]


async def test_a_stale_collector_fires_and_resolves_when_bars_come() -> None:
    world = World()
    await world.bars.write(KEY, make_bars(10))  # newest bar closes 20 min before "now"
    await world.rules.sync_config(
        [AlertRuleSpec(name="stale", kind="collector_stale", threshold=15)]
    )
    evaluate = world.evaluator()
    fired = await evaluate.execute()
    assert states(fired) == [(str(KEY), "firing")]
    assert fired[0].value == 20.0
    world.clock.advance(1)
    await world.bars.write(KEY, make_bars(30))
    assert states(await evaluate.execute()) == [(str(KEY), "resolved")]
    assert [t.state for t in await world.store.history("config-stale")] == [
        TransitionState.RESOLVED,
        TransitionState.FIRING,
    ]


async def test_quality_gaps_jobs_and_backtests_fire_from_the_hooks() -> None:
    world = World()
    await world.rules.sync_config(
        [
            AlertRuleSpec(name="quality", kind="quality_below", threshold=0.9),
            AlertRuleSpec(name="gaps", kind="outage_gap", threshold=5),
            AlertRuleSpec(name="jobs", kind="job_failing", threshold=2),
            AlertRuleSpec(name="backtests", kind="backtest_failed"),
        ]
    )
    evaluate = world.evaluator()
    obs, now = world.observations, world.clock.now()

    class Report:
        key = KEY

        class score:  # stands for a SeriesScore
            score = 0.5

    obs.scored((), {}, Report())
    small = DataGap(KEY, now, now + timedelta(minutes=2), 2, GapCause.OUTAGE)
    big = DataGap(KEY, now + timedelta(hours=1), now + timedelta(hours=2), 60, GapCause.OUTAGE)
    quiet = DataGap(KEY, now + timedelta(hours=3), now + timedelta(hours=4), 60, GapCause.NO_TRADES)
    obs.gaps_replaced((KEY, None, [small, big, quiet]), {}, 3)
    await world.job("j1")
    for n in range(2):
        await world.ran("j1", f"r{n}", RunStatus.FAILED, "venue down")
    failure = RunFailure(id="bt1", created_at=now, strategy="sma_cross", bars=10, error="boom")
    obs.backtest_failed((failure,), {}, None)

    fired = {t.rule_name: t for t in await evaluate.execute()}
    assert {name: t.subject for name, t in fired.items()} == {
        "quality": str(KEY),
        "gaps": str(KEY),
        "jobs": "j1",
        "backtests": "sma_cross",
    }
    assert fired["gaps"].value == 60.0  # the 2-bar gap is below the threshold
    assert "venue down" in fired["jobs"].summary
    assert "bt1: boom" in fired["backtests"].summary
    obs.gaps_replaced((KEY, None, [small, big]), {}, 2)  # seen already: nothing new
    await world.ran("j1", "r9", RunStatus.SUCCEEDED)
    resolved = await evaluate.execute()
    assert sorted(t.rule_name for t in resolved) == ["backtests", "gaps", "jobs"]
    assert all(t.state is TransitionState.RESOLVED for t in resolved)


async def test_signals_from_streams_and_the_catalog() -> None:
    world = World()
    await world.rules.sync_config(
        [
            AlertRuleSpec(name="down", kind="stream_disconnected", threshold=60),
            AlertRuleSpec(name="spread", kind="spread_above", threshold=25),
            AlertRuleSpec(name="rollback", kind="strategy_rolled_back"),
        ]
    )
    evaluate = world.evaluator()
    obs = world.observations
    obs.signal("stream_disconnected", "binance:trades:BTC/USDC", 1.0, "socket closed")
    obs.signal("spread_above", "binance/kraken:BTC/USDC", 31.5)
    obs.signal("strategy_rolled_back", "sma-btc", 1.0, "v3 rolled back to v2")
    assert sorted(t.rule_name for t in await evaluate.execute()) == ["rollback", "spread"]
    world.clock.advance(61)
    obs.signal("stream_disconnected", "binance:trades:BTC/USDC", 1.0, "still closed")
    second = sorted((t.rule_name, t.state.value) for t in await evaluate.execute())
    assert second == [("down", "firing"), ("rollback", "resolved")]  # the spread still holds


async def test_firing_alerts_survive_a_restart() -> None:
    world = World()
    await world.bars.write(KEY, make_bars(10))
    await world.rules.sync_config(
        [AlertRuleSpec(name="stale", kind="collector_stale", threshold=15)]
    )
    assert len(await world.evaluator().execute()) == 1
    restarted = world.evaluator()
    assert await restarted.execute() == []  # still firing: not raised again
    await world.bars.write(KEY, make_bars(30))
    assert states(await restarted.execute()) == [(str(KEY), "resolved")]


async def test_config_sync_changes_in_place_and_drops_removed_rules() -> None:
    world = World()
    await world.rules.sync_config([AlertRuleSpec(name="a", kind="breaker_open")])
    api_rule = await world.rules.create(AlertRuleSpec(name="b", kind="backtest_failed"))
    first = await world.store.get_rule("config-a")
    world.clock.advance(60)
    await world.rules.sync_config([AlertRuleSpec(name="a", kind="breaker_open", cooldown_s=5)])
    changed = await world.store.get_rule("config-a")
    assert (changed.cooldown_s, changed.created_at) == (5.0, first.created_at)
    await world.rules.sync_config([])
    assert [r.id for r in await world.store.list_rules()] == [api_rule.id]


async def test_deleting_a_rule_resolves_its_firing_alerts() -> None:
    world = World()
    await world.bars.write(KEY, make_bars(10))
    rule = await world.rules.create(
        AlertRuleSpec(name="stale", kind="collector_stale", threshold=15)
    )
    evaluate = world.evaluator()
    assert len(await evaluate.execute()) == 1
    await world.rules.delete(rule.id)
    world.clock.advance(1)
    [ended] = await evaluate.execute()
    assert (ended.rule_id, ended.state) == (rule.id, TransitionState.RESOLVED)
    assert await world.store.firing() == []
    assert await evaluate.execute() == []


async def test_a_failure_streak_survives_a_restart() -> None:
    """Runs stored by one process and one more by the next: the new process (fresh
    observations, fresh evaluator) counts the whole streak."""
    world = World()
    await world.rules.sync_config([AlertRuleSpec(name="jobs", kind="job_failing", threshold=3)])
    await world.job("nightly")
    await world.ran("nightly", "a", RunStatus.SUCCEEDED)
    for n in range(2):
        await world.ran("nightly", f"f{n}", RunStatus.FAILED, "venue down")
    assert await world.evaluator().execute() == []
    # the process restarts: nothing of it is left but the stores
    world.observations = Observations(NoTelemetry(), world.clock)
    await world.ran("nightly", "c", RunStatus.CANCELLED, "interrupted")  # neither breaks it
    await world.ran("nightly", "f2", RunStatus.FAILED, "venue still down")
    [fired] = await world.evaluator().execute()
    assert (fired.subject, fired.state, fired.value) == ("nightly", TransitionState.FIRING, 3.0)
    assert fired.summary == "failed 3 time(s) in a row: venue still down"


def test_failure_streaks_count_back_to_the_last_success() -> None:
    from arbx.domain.jobs.streaks import failure_streak

    def runs(*statuses: RunStatus) -> list[JobRun]:  # newest first
        now = make_bars(1)["ts"][0]
        out = []
        for n, status in enumerate(statuses):
            run = JobRun(
                id=str(n), job_id="j", attempt=1, trigger=RunTrigger.SCHEDULE, started_at=now
            )
            if status is not RunStatus.RUNNING:
                run = run.finish(status, at=now, error=f"e{n}")
            out.append(run)
        return out

    f, s, c, r = RunStatus.FAILED, RunStatus.SUCCEEDED, RunStatus.CANCELLED, RunStatus.RUNNING
    streak = failure_streak(runs(r, f, c, f, s, f))
    assert (streak.failures, streak.last_error, streak.complete) == (2, "e1", True)
    assert failure_streak(runs(s, f, f)).failures == 0
    assert failure_streak(runs(f, f)).complete is False
    assert failure_streak([]).failures == 0


async def test_a_long_streak_is_counted_past_the_first_page_of_runs() -> None:
    world = World()
    await world.rules.sync_config([AlertRuleSpec(name="jobs", kind="job_failing", threshold=2)])
    await world.job("j")
    for n in range(40):
        await world.ran("j", f"f{n:02}", RunStatus.FAILED, "down")
    [fired] = await world.evaluator().execute()
    assert fired.value == 40.0
