"""Job definitions: building from specs, validation naming the field, patches, runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.jobs import (
    CronSchedule,
    IntervalSchedule,
    JobDefinition,
    JobKind,
    JobOrigin,
    JobPatch,
    JobRun,
    JobSpec,
    MarketSpecInput,
    RetryPolicy,
    RunStatus,
    RunTrigger,
)
from arbx.domain.market import SeriesKey
from arbx.domain.quality import RepairPolicy

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def spec(**overrides: object) -> JobSpec:
    values: dict[str, object] = {
        "name": "collect-btc",
        "kind": "collect",
        "series": ["binance:BTC/USDC:1m"],
        "interval_s": 60,
    }
    values.update(overrides)
    return msgspec.convert(values, JobSpec)


def build(**overrides: object) -> JobDefinition:
    return JobDefinition.from_spec(spec(**overrides), id="j1", origin=JobOrigin.API, created_at=T0)


def test_a_spec_builds_a_definition_with_parsed_targets_and_schedule() -> None:
    job = build(series=["binance:BTC/USDC:1m", "kraken:btc/usdc:1m", "binance:BTC/USDC:1m"])
    assert job.kind is JobKind.COLLECT
    assert job.targets == (
        SeriesKey.parse("binance:BTC/USDC:1m"),
        SeriesKey.parse("kraken:BTC/USDC:1m"),
    )
    assert job.schedule == IntervalSchedule(60.0)
    assert job.retry == RetryPolicy()
    assert job.created_at == job.updated_at == T0


def test_markets_expand_to_every_combination_after_explicit_series() -> None:
    job = build(
        series=["coinbase:ETH/USDC:1h"],
        markets={
            "exchanges": ["binance", "kraken"],
            "symbols": ["BTC/USDC", "ETH/USDC"],
            "timeframes": ["1m"],
        },
    )
    assert [str(k) for k in job.targets] == [
        "coinbase:ETH/USDC:1h",
        "binance:BTC/USDC:1m",
        "binance:ETH/USDC:1m",
        "kraken:BTC/USDC:1m",
        "kraken:ETH/USDC:1m",
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"name": ""}, "name"),
        ({"kind": "explode"}, "kind"),
        ({"series": []}, "series"),
        ({"series": ["binance:BTCUSDC:1m"]}, "symbol"),
        ({"series": ["binance:BTC/USDC:7m"]}, "timeframe"),
        ({"series": ["binance-BTC/USDC-1m"]}, "series"),
        ({"interval_s": 0}, "interval_s"),
        ({"interval_s": -5}, "interval_s"),
        ({"interval_s": 400 * 86_400}, "interval_s"),
        ({"interval_s": None}, "schedule"),
        ({"cron": "* * * * *"}, "schedule"),
        ({"interval_s": None, "cron": "61 * * * *"}, "cron"),
        ({"interval_s": None, "cron": "* * * *"}, "cron"),
        ({"interval_s": None, "cron": "0 0 * * 1-5"}, "cron"),
        ({"interval_s": None, "cron": {"minute": "*/0"}}, "cron"),
        ({"interval_s": None, "cron": {"minutes": "5"}}, "cron"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 11}, "max_attempts"),
        ({"backoff_s": -1}, "backoff_s"),
        ({"lookback_bars": 0}, "lookback_bars"),
        ({"markets": {"exchanges": [], "symbols": ["BTC/USDC"], "timeframes": ["1m"]}}, "markets"),
    ],
)
def test_bad_input_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build(**overrides)
    assert caught.value.field == field
    assert caught.value.message


def test_too_many_targets_is_refused() -> None:
    markets = {
        "exchanges": [f"ex{i}" for i in range(30)],
        "symbols": [f"A{i}/USDC" for i in range(20)],
        "timeframes": ["1m"],
    }
    with pytest.raises(InvalidInput, match="at most 500") as caught:
        build(series=[], markets=markets)
    assert caught.value.field == "series"


def test_crontab_and_field_forms_give_the_same_schedule() -> None:
    a = build(interval_s=None, cron="*/5 8-17 * * mon-fri").schedule
    b = build(interval_s=None, cron={"minute": "*/5", "hour": "8-17", "day_of_week": "mon-fri"})
    assert a == b.schedule == CronSchedule(minute="*/5", hour="8-17", day_of_week="mon-fri")


def test_spec_round_trips() -> None:
    job = build(
        interval_s=None,
        cron="0 2 * * *",
        markets={"exchanges": ["kraken"], "symbols": ["BTC/USDC"], "timeframes": ["1h"]},
        max_attempts=5,
        backoff_s=3,
        lookback_bars=48,
        kind="validate",
    )
    again = JobDefinition.from_spec(job.to_spec(), id="j1", origin=JobOrigin.API, created_at=T0)
    assert again == job
    encoded = msgspec.json.encode(job)
    assert msgspec.json.decode(encoded, type=JobDefinition) == job


def test_apply_changes_only_what_the_patch_gives() -> None:
    job = build(kind="collect", max_attempts=4)
    later = T0 + timedelta(hours=1)
    changed = job.apply(JobPatch(cron="0 * * * *", lookback_bars=60), at=later)
    assert isinstance(changed.schedule, CronSchedule)
    assert changed.lookback_bars == 60
    assert changed.retry.max_attempts == 4
    assert changed.targets == job.targets
    assert (changed.created_at, changed.updated_at) == (T0, later)
    back = changed.apply(JobPatch(interval_s=30), at=later)
    assert back.schedule == IntervalSchedule(30.0)


def test_apply_replaces_targets_and_validates_the_whole() -> None:
    job = build(markets={"exchanges": ["kraken"], "symbols": ["BTC/USDC"], "timeframes": ["1m"]})
    only_series = job.apply(JobPatch(series=["coinbase:ETH/USDC:5m"]), at=T0)
    assert [str(k) for k in only_series.targets] == ["coinbase:ETH/USDC:5m"]
    with pytest.raises(InvalidInput) as caught:
        job.apply(JobPatch(series=[]), at=T0)
    assert caught.value.field == "series"
    with pytest.raises(InvalidInput) as caught:
        job.apply(JobPatch(interval_s=0.01), at=T0)
    assert caught.value.field == "interval_s"


def test_same_settings_ignores_pause_and_times() -> None:
    job = build()
    assert job.same_settings(job.with_paused(True, at=T0 + timedelta(days=1)))
    assert not job.same_settings(job.apply(JobPatch(lookback_bars=5), at=T0))


@settings(max_examples=50, deadline=None)
@given(
    base=st.floats(0, 100),
    factor=st.floats(1, 10),
    attempts=st.integers(1, 10),
)
def test_backoff_grows_and_is_capped(base: float, factor: float, attempts: int) -> None:
    policy = RetryPolicy(
        max_attempts=attempts, backoff_s=base, backoff_factor=factor, max_backoff_s=600
    )
    delays = [policy.delay_after(n) for n in range(1, attempts + 1)]
    assert delays == sorted(delays)
    assert all(0 <= d <= 600 for d in delays)
    assert delays[0] == pytest.approx(min(base, 600))
    assert [policy.allows_another(n) for n in range(1, attempts + 1)] == [True] * (attempts - 1) + [
        False
    ]


def test_runs_finish_once_and_keep_time_order() -> None:
    run = JobRun(id="r1", job_id="j1", attempt=1, trigger=RunTrigger.MANUAL, started_at=T0)
    assert run.is_running
    done = run.finish(RunStatus.SUCCEEDED, at=T0 + timedelta(seconds=3), bars_written=12)
    assert (done.status, done.bars_written, done.finished_at) == (
        RunStatus.SUCCEEDED,
        12,
        T0 + timedelta(seconds=3),
    )
    with pytest.raises(InvalidInput):
        done.finish(RunStatus.FAILED, at=T0)
    with pytest.raises(InvalidInput):
        run.finish(RunStatus.RUNNING, at=T0)
    with pytest.raises(InvalidInput):
        JobRun(id="r", job_id="j", attempt=0, trigger=RunTrigger.MANUAL, started_at=T0)
    with pytest.raises(InvalidInput):
        JobRun(
            id="r",
            job_id="j",
            attempt=1,
            trigger=RunTrigger.MANUAL,
            started_at=T0,
            status=RunStatus.FAILED,
            finished_at=T0 - timedelta(seconds=1),
        )


def test_market_spec_input_dedupes() -> None:
    spec_in = MarketSpecInput(["binance", "BINANCE"], ["BTC/USDC", "btc-usdc"], ["1m"])
    assert len(spec_in.parse().series()) == 1


def test_repair_jobs_take_a_policy_and_a_reference_for_venue_fills() -> None:
    job = build(kind="repair")
    assert job.repair_policy is RepairPolicy.FORWARD_FILL
    assert job.reference_for(job.targets[0]) is None
    venue = build(kind="repair", repair_policy="venue", reference_exchange="kraken")
    assert venue.reference_for(SeriesKey.parse("binance:BTC/USDC:1m")) == SeriesKey.parse(
        "kraken:BTC/USDC:1m"
    )
    again = JobDefinition.from_spec(venue.to_spec(), id="j1", origin=JobOrigin.API, created_at=T0)
    assert again == venue
    assert msgspec.json.decode(msgspec.json.encode(venue), type=JobDefinition) == venue


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "repair", "repair_policy": "glue"}, "repair_policy"),
        ({"kind": "repair", "repair_policy": "venue"}, "reference_exchange"),
        ({"kind": "repair", "reference_exchange": "kraken"}, "reference_exchange"),
        (
            {"kind": "repair", "repair_policy": "venue", "reference_exchange": "K!"},
            "reference_exchange",
        ),
        ({"kind": "collect", "repair_policy": "ffill"}, "repair_policy"),
        ({"kind": "validate", "reference_exchange": "kraken"}, "repair_policy"),
    ],
)
def test_bad_repair_options_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build(**overrides)
    assert caught.value.field == field


def test_patching_kind_or_policy_keeps_repair_options_consistent() -> None:
    venue = build(kind="repair", repair_policy="venue", reference_exchange="kraken")
    ffill = venue.apply(JobPatch(repair_policy="ffill"), at=T0)
    assert (ffill.repair_policy, ffill.reference_exchange) == (RepairPolicy.FORWARD_FILL, None)
    collect = venue.apply(JobPatch(kind="collect"), at=T0)
    assert (collect.repair_policy, collect.reference_exchange) == (None, None)
    back = collect.apply(JobPatch(kind="repair"), at=T0)
    assert back.repair_policy is RepairPolicy.FORWARD_FILL
