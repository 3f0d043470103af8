"""``arbx data retain`` on the real stores of both profiles: whole months go, the bars a
stored run read stay unless forced, a dry run deletes nothing."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from arbx.app.run_backtest import CLI_OPERATOR
from arbx.domain.backtest.request import BacktestRequest
from arbx.domain.errors import InvalidInput
from arbx.domain.jobs import JobSpec, RunStatus
from arbx.entrypoints import runtime
from arbx.entrypoints.cli.main import main
from arbx.entrypoints.container import Container, build_container, resolve
from arbx.entrypoints.settings import Settings, load_settings
from tests.support.postgres import PostgresTestDatabase

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
PINNED = "kraken:BTC/USD:1m"
RULES = [{"kind": "bars", "timeframe": "1m", "keep_days": 30}]


async def check_retention(container: Container) -> None:
    await (await resolve(container.load_samples)).execute(SAMPLES, only_if_empty=False)
    run = await (await resolve(container.run_backtest)).execute(
        BacktestRequest(
            strategy="sma_cross",
            series=[PINNED],
            start=datetime(2023, 3, 10, 12, tzinfo=UTC),
            end=datetime(2023, 3, 11, tzinfo=UTC),
        ),
        actor=CLI_OPERATOR,
    )
    bars = await resolve(container.bar_store)
    # a scheduled retain job on one series (run now): the rules, for that series only
    job = await (await resolve(container.create_job)).execute(
        JobSpec(
            name="retain-coinbase", kind="retain", series=["coinbase:BTC/USD:1m"], cron="0 3 * * *"
        )
    )
    job_run = await (await resolve(container.run_job_now)).execute(job.id)
    assert job_run is not None
    assert job_run.status is RunStatus.SUCCEEDED, job_run.error
    assert job_run.bars_written == 2876
    before = await bars.list_series()
    assert "coinbase:BTC/USD:1m" not in [str(i.key) for i in before]
    assert len(before) == 4
    retain = await resolve(container.apply_retention)

    dry = await retain.execute(dry_run=True)
    assert await bars.list_series() == before
    by_series = {str(o.item.key): o for o in dry.outcomes}
    assert by_series[PINNED].item.pinned_by == [run.id]
    assert by_series[PINNED].item.delete is None
    others = {str(i.key): i.rows for i in before if str(i.key) != PINNED}
    assert {k: o.bars for k, o in by_series.items() if k != PINNED} == others

    done = await retain.execute(dry_run=False)
    assert {str(o.item.key): o.bars for o in done.outcomes} == {**others, PINNED: 0}
    assert [str(i.key) for i in await bars.list_series()] == [PINNED]
    rerun = await (await resolve(container.run_backtest)).rerun(run.id, actor=CLI_OPERATOR)
    assert not rerun.meta.data_changed

    forced = await retain.execute(dry_run=False, force=True)
    assert sum(o.bars for o in forced.outcomes) == 2880
    assert await bars.list_series() == []


async def test_local_retention_drops_whole_partitions(tmp_path: Path) -> None:
    settings = load_settings(
        profile="test",
        environ={},
        overrides={"storage": {"data_dir": str(tmp_path / "var")}, "retention": RULES},
    )
    container = build_container(settings)
    await runtime.start(container)
    try:
        await check_retention(container)
    finally:
        await runtime.stop(container)
    assert not list((tmp_path / "var" / "bars").rglob("*.parquet"))


@pytest.mark.postgres
async def test_postgres_retention_deletes_by_range(
    tmp_path: Path, postgres_database: PostgresTestDatabase
) -> None:
    from tests.e2e.test_server_profile import server_settings

    schema = postgres_database.new_schema_name("arbx_retain")
    settings = server_settings(tmp_path, postgres_database.url, schema)
    settings = load_settings(
        profile="test",
        environ={},
        overrides={**_as_overrides(settings), "retention": RULES},
    )
    container = build_container(settings)
    try:
        await runtime.start(container)
        try:
            await check_retention(container)
        finally:
            await runtime.stop(container)
    finally:
        postgres_database.drop_schema(schema)


def _as_overrides(settings: Settings) -> dict[str, Any]:
    import msgspec

    return {
        "profile": "server",
        "storage": {"data_dir": str(settings.data_dir)},
        "database": msgspec.to_builtins(settings.database),
        "auth": msgspec.to_builtins(settings.auth),
    }


def test_cli_retain_reads_the_rules_from_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    with (config / "test.toml").open("a") as out:
        out.write('\n[[retention]]\nkind = "bars"\nexchange = "coinbase"\nkeep_days = 30\n')
    monkeypatch.setenv("ARBX_CONFIG_DIR", str(config))
    data = str(tmp_path / "var")
    assert main(["--profile", "test", "--data-dir", data, "data", "load-samples"]) == 0
    capsys.readouterr()
    assert main(["--profile", "test", "--data-dir", data, "data", "retain", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "coinbase:BTC/USD:1m" in out
    assert "would delete 2,876 bars in total" in out
    assert main(["--profile", "test", "--data-dir", data, "data", "retain"]) == 0
    assert "deleted 2,876 bars in total" in capsys.readouterr().out
    assert main(["--profile", "test", "--data-dir", data, "data", "list"]) == 0
    assert "coinbase" not in capsys.readouterr().out
    with (config / "test.toml").open("a") as out:
        out.write('\n[[retention]]\nkind = "trades"\nkeep_days = 30\n')
    assert main(["--profile", "test", "--data-dir", data, "data", "retain"]) == 2
    assert "retention kind 'trades' is not stored by arbx" in capsys.readouterr().err


def test_bad_rules_fail_at_start_up() -> None:
    with pytest.raises(InvalidInput, match="keep_days must be at least 1"):
        load_settings(profile="test", environ={}, overrides={"retention": [{"keep_days": 0}]})
