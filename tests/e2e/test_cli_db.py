"""``arbx db upgrade | info | status`` against PostgreSQL, in this test's own schema, and the
other commands on the server profile (their stores are in PostgreSQL too)."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from arbx.adapters.postgres.migrate import load_migrations
from arbx.entrypoints.cli.main import main
from tests.support.postgres import PostgresTestDatabase

pytestmark = pytest.mark.postgres

LABELS = [m.label for m in load_migrations()]
HEAD = len(LABELS)


@pytest.fixture
def schema(
    postgres_database: PostgresTestDatabase, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh schema name, and the environment pointing the server profile at it."""
    name = postgres_database.new_schema_name("arbx_cli")
    monkeypatch.setenv("ARBX_DATABASE_URL", postgres_database.url)
    monkeypatch.setenv("ARBX_DATABASE__SCHEMA", name)
    monkeypatch.setenv("ARBX_DATABASE__STARTUP_RETRY_S", "5")
    try:
        yield name
    finally:
        postgres_database.drop_schema(name)


def arbx(tmp_path: Path, *args: str) -> int:
    return main(["--profile", "server", "--data-dir", str(tmp_path / "var"), *args])


def test_status_upgrade_info_on_an_empty_schema(
    tmp_path: Path, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(tmp_path, "db", "status") == 1
    err = capsys.readouterr().err
    assert f"{HEAD} pending" in err
    assert "arbx db upgrade" in err

    assert arbx(tmp_path, "db", "upgrade") == 0
    out = capsys.readouterr().out
    assert f"migration     {HEAD:04d}; applied now: {', '.join(LABELS)}" in out
    assert "storage path  plain (the server has no timescaledb extension)" in out

    assert arbx(tmp_path, "db", "upgrade") == 0  # idempotent
    assert "applied now: none (up to date)" in capsys.readouterr().out

    assert arbx(tmp_path, "db", "info") == 0
    out = capsys.readouterr().out
    assert out.startswith("server        PostgreSQL ")
    assert f"schema {schema}" in out
    assert f"migration     {HEAD:04d} of {HEAD:04d} (up to date)" in out
    for label in LABELS:
        assert f"applied     {label}" in out
    assert "storage path  plain" in out
    assert "date_bin views market_data_1d, market_data_1h" in out
    assert "secret" not in out

    assert arbx(tmp_path, "db", "info", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["schema"] == schema
    assert info["up_to_date"] is True
    assert [m["version"] for m in info["applied"]] == list(range(1, HEAD + 1))
    assert (info["path"], info["hypertable"]) == ("plain", False)
    assert info["reason"] == "the server has no timescaledb extension"

    assert arbx(tmp_path, "db", "status") == 0
    assert f"up to date at migration {HEAD:04d} (plain)" in capsys.readouterr().out


def test_a_database_newer_than_the_code_is_a_clear_failure(
    tmp_path: Path,
    schema: str,
    postgres_database: PostgresTestDatabase,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert arbx(tmp_path, "db", "upgrade") == 0
    with postgres_database.connect() as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} (version, name, checksum) VALUES (%s, 'future', 'x')").format(
                sql.Identifier(schema, "schema_migrations")
            ),
            (HEAD + 1,),
        )
    capsys.readouterr()
    for command in ("info", "upgrade", "status"):
        assert arbx(tmp_path, "db", command) == 1
        err = capsys.readouterr().err
        assert f"at migration {HEAD + 1:04d}_future, newer than this arbx knows" in err
        assert "upgrade arbx" in err


def test_an_unreachable_server_fails_after_the_start_up_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ARBX_DATABASE_URL", f"postgresql://arbx:hunter2@127.0.0.1:{port}/arbx")
    monkeypatch.setenv("ARBX_DATABASE__STARTUP_RETRY_S", "0.5")
    assert arbx(tmp_path, "db", "info") == 1
    err = capsys.readouterr().err
    assert "arbx: failed: PostgreSQL at" in err
    assert "unreachable after" in err
    assert "hunter2" not in err


def test_other_commands_on_the_server_profile_use_postgres(
    tmp_path: Path,
    schema: str,
    postgres_database: PostgresTestDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secrets.toml").write_text(
        '[auth]\nsecret_hash_key = "' + "k" * 48 + '"\n'
        'signing_keys = [{ kid = "cli", secret = "' + "s" * 48 + '" }]\n'
    )
    monkeypatch.setenv("ARBX_AUTH__ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("ARBX_AUTH__ARGON2_TIME_COST", "1")
    monkeypatch.setenv("ARBX_AUTH__ARGON2_PARALLELISM", "1")
    monkeypatch.setattr("sys.stdin", io.StringIO("server admin passphrase 7\n"))
    assert arbx(tmp_path, "users", "create-admin", "--username", "ops", "--password-stdin") == 0
    assert "created admin 'ops'" in capsys.readouterr().out
    with postgres_database.connect() as conn:
        row = conn.execute(
            sql.SQL("SELECT username FROM {}").format(sql.Identifier(schema, "users"))
        ).fetchone()
    assert row == ("ops",)
    assert not (tmp_path / "var" / "arbx.sqlite").exists()
