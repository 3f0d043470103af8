"""[database] settings: defaults, ARBX_* overrides, and bad values named at start-up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from arbx.domain.errors import InvalidInput
from arbx.entrypoints.settings import load_settings, parse_duration


def test_defaults_and_environment_overrides() -> None:
    settings = load_settings(
        profile="server",
        environ={
            "ARBX_DATABASE_URL": "postgresql://arbx:pw@db:5432/arbx",
            "ARBX_DATABASE__TIMESCALE": "off",
            "ARBX_DATABASE__CHUNK_INTERVAL": "12h",
            "ARBX_DATABASE__ACQUIRE_TIMEOUT_S": "2.5",
            "ARBX_DATABASE__MIGRATE_ON_START": "false",
        },
    )
    database = settings.database
    assert settings.profile == "server"
    assert database.url == "postgresql://arbx:pw@db:5432/arbx"
    assert database.schema == "arbx"
    assert (database.timescale, database.chunk_interval_delta) == ("off", timedelta(hours=12))
    assert database.acquire_timeout_s == 2.5
    assert database.migrate_on_start is False
    assert "pw" not in repr(database)


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("CHUNK_INTERVAL", "7 days", "chunk_interval"),
        ("SCHEMA", "Arbx-Prod", "schema"),
        ("POOL_MIN_SIZE", "20", "pool"),
        ("TIMESCALE", "sometimes", "timescale"),
        ("STARTUP_RETRY_S", "0", "startup_retry_s"),
    ],
)
def test_bad_values_fail_naming_the_key(key: str, value: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        load_settings(profile="server", environ={f"ARBX_DATABASE__{key}": value})


def test_durations() -> None:
    assert parse_duration("1w") == timedelta(days=7)
    assert parse_duration("90m") == timedelta(minutes=90)
    for bad in ("", "0d", "7", "3 fortnights", "-1h"):
        with pytest.raises(ValueError, match="positive duration"):
            parse_duration(bad)
