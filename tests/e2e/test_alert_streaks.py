"""A job failing K times in a row fires its alert even when the app restarted between the
failures: the streak is read from the stored job runs, on both profiles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from arbx.domain.alerts import AlertRuleSpec, TransitionState
from arbx.domain.jobs import JobSpec, RunStatus
from arbx.entrypoints import runtime
from arbx.entrypoints.container import Container, build_container, resolve
from arbx.entrypoints.settings import Settings, load_settings
from tests.e2e.test_server_profile import server_settings
from tests.support.postgres import PostgresTestDatabase


def local(tmp_path: Path) -> Settings:
    return load_settings(
        profile="test", environ={}, overrides={"storage": {"data_dir": str(tmp_path / "var")}}
    )


@pytest.fixture(params=["local", "server"])
def profile(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Settings]]:
    if request.param == "local":
        yield lambda: local(tmp_path)
        return
    database: PostgresTestDatabase = request.getfixturevalue("postgres_database")
    schema = database.new_schema_name("arbx_streak")
    try:
        yield lambda: server_settings(tmp_path, database.url, schema)
    finally:
        database.drop_schema(schema)


async def _fail_once(container: Container, job_id: str) -> None:
    run = await (await resolve(container.run_job_now)).execute(job_id)
    assert run.status is RunStatus.FAILED, run  # the test profile's venues answer nothing


async def test_a_failure_streak_across_restarts_fires(profile: Callable[[], Settings]) -> None:
    first = build_container(profile())
    await runtime.start(first)
    try:
        job = await (await resolve(first.create_job)).execute(
            JobSpec(
                name="collect-btc",
                kind="collect",
                series=["binance:BTC/USDC:1m"],
                interval_s=3600,
                paused=True,
                max_attempts=1,
            )
        )
        await (await resolve(first.manage_alert_rules)).create(
            AlertRuleSpec(name="collect-failing", kind="job_failing", threshold=2)
        )
        await _fail_once(first, job.id)
        assert await (await resolve(first.evaluate_alerts)).execute() == []
    finally:
        await runtime.stop(first)
    second = build_container(profile())  # the restart: a new process's container
    await runtime.start(second)
    try:
        await _fail_once(second, job.id)
        [fired] = await (await resolve(second.evaluate_alerts)).execute()
        assert (fired.subject, fired.state, fired.value) == (
            job.id,
            TransitionState.FIRING,
            2.0,
        )
        assert fired.summary.startswith("failed 2 time(s) in a row: ")
    finally:
        await runtime.stop(second)
