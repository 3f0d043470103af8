"""The whole app on the server profile: every store in PostgreSQL (this test's own schema),
migrated at start-up; readiness reports the storage path; an unreachable database answers 503
and start-up gives up instead of hanging.

The app reaches PostgreSQL through a loopback TCP proxy, so a test can cut the connection
(the server itself stays up for the other tests) and restore it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from arbx.domain.auth import Role
from arbx.domain.errors import StorageError, StorageUnavailable
from arbx.entrypoints import runtime
from arbx.entrypoints.container import build_container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import Settings, load_settings
from tests.builders import make_bars
from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, AnonymousClient, make_admin_key
from tests.e2e.test_api_market import SERIES, upload_body
from tests.e2e.test_auth_matrix import bearer, login, make_user
from tests.support.postgres import PostgresTestDatabase

pytestmark = pytest.mark.postgres

AUTH_SECRETS = {
    "signing_keys": [{"kid": "e2e-server", "secret": "s" * 48}],
    "secret_hash_key": "h" * 48,
}


class TcpProxy:
    """Forwards loopback connections to PostgreSQL on its own event loop in a thread.
    ``cut`` closes the listener and aborts every connection; ``start`` (same port) restores."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._loop.call_soon_threadsafe(self._flowing.set)
        self.port = 0

    def start(self) -> int:
        async def listen() -> asyncio.Server:
            return await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self._server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def stall(self) -> None:
        """Keep every connection open but forward nothing (a database that stops answering)."""
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def resume(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)

    def cut(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(1 << 16):
                    await self._flowing.wait()
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


@pytest.fixture
def schema(postgres_database: PostgresTestDatabase) -> Iterator[str]:
    name = postgres_database.new_schema_name("arbx_e2e")
    try:
        yield name
    finally:
        postgres_database.drop_schema(name)


@pytest.fixture
def proxy(postgres_database: PostgresTestDatabase) -> Iterator[TcpProxy]:
    params = conninfo_to_dict(postgres_database.url)
    host = str(params.get("host") or "127.0.0.1")
    tcp = TcpProxy(
        host if not host.startswith("/") else "127.0.0.1", int(params.get("port") or 5432)
    )
    tcp.start()
    try:
        yield tcp
    finally:
        tcp.close()


def proxied_url(database: PostgresTestDatabase, proxy: TcpProxy) -> str:
    return make_conninfo(database.url, host="127.0.0.1", port=str(proxy.port))


def server_settings(tmp_path: Path, url: str, schema: str, **database: Any) -> Settings:
    return load_settings(
        profile="test",
        environ={},
        overrides={
            "profile": "server",
            "storage": {"data_dir": str(tmp_path / "var")},
            "database": {
                "url": url,
                "schema": schema,
                "pool_max_size": 4,
                "acquire_timeout_s": 1.5,
                "startup_retry_s": 10.0,
                **database,
            },
            "auth": AUTH_SECRETS,
        },
    )


def count_rows(database: PostgresTestDatabase, schema: str, table: str) -> int:
    with database.connect() as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def server_client(
    tmp_path: Path, postgres_database: PostgresTestDatabase, proxy: TcpProxy, schema: str
) -> Iterator[TestClient]:
    """The app on the server profile through the proxy, authorized as the first admin."""
    settings = server_settings(tmp_path, proxied_url(postgres_database, proxy), schema)
    container = build_container(settings)
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        yield client


def database_check(client: TestClient) -> tuple[int, dict[str, Any], dict[str, Any]]:
    response = client.get("/ready")
    body = response.json()
    checks = {c["name"]: c for c in body["checks"]}
    return response.status_code, body, checks["database"]


def test_ready_reports_postgres_on_the_plain_path(
    server_client: TestClient, schema: str, tmp_path: Path
) -> None:
    status, body, database = database_check(server_client)
    assert status == 200, body
    assert body["profile"] == "server"
    assert database["ok"] is True
    assert f"schema {schema} at migration" in database["detail"]
    assert "path plain" in database["detail"]
    assert "no timescaledb" in database["detail"]
    assert not (tmp_path / "var" / "arbx.sqlite").exists()  # nothing here uses SQLite


def test_bars_quality_backtests_and_jobs_live_in_postgres(
    server_client: TestClient,
    postgres_database: PostgresTestDatabase,
    schema: str,
    tmp_path: Path,
) -> None:
    bars = make_bars(600)
    written = server_client.post("/api/v1/bars", json=upload_body(bars))
    assert written.status_code == 200, written.text
    assert written.json()["rows_written"] == 600
    page = server_client.get("/api/v1/bars", params={**SERIES, "limit": 50}).json()
    assert page["count"] == 50
    assert page["bars"][0]["close"] == pytest.approx(bars["close"][0])
    assert server_client.get("/api/v1/series").json()["series"][0]["rows"] == 600
    assert count_rows(postgres_database, schema, "market_data") == 600

    target = {**SERIES, "start": "2024-01-01", "end": "2024-01-02"}
    check = server_client.post("/api/v1/quality/check", json=target)
    assert check.status_code == 200, check.text
    assert check.json()["bars"] == 600

    run = server_client.post(
        "/api/v1/backtests",
        json={
            "strategy": "sma_cross",
            "params": {"fast": 5, "slow": 20},
            "series": ["kraken:BTC/USDC:1m"],
            "start": "2024-01-01",
            "end": "2024-01-02",
        },
    )
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    again = server_client.get(f"/api/v1/backtests/{run_id}")
    assert again.status_code == 200
    assert again.json()["run"]["metrics"] == run.json()["run"]["metrics"]
    assert count_rows(postgres_database, schema, "backtest_runs") == 1

    job = server_client.post(
        "/api/v1/jobs",
        json={
            "name": "validate-kraken",
            "kind": "validate",
            "series": ["kraken:BTC/USDC:1m"],
            "interval_s": 3600,
        },
    )
    assert job.status_code == 201, job.text
    assert count_rows(postgres_database, schema, "jobs") == 1
    assert not (tmp_path / "var" / "arbx.sqlite").exists()


def test_sign_in_refresh_and_audit_use_the_postgres_stores(
    server_client: TestClient, postgres_database: PostgresTestDatabase, schema: str
) -> None:
    anonymous = AnonymousClient(server_client)
    first = login(anonymous, ADMIN_USERNAME, ADMIN_PASSWORD)
    me = anonymous.get("/api/v1/auth/me", headers=bearer(first["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == ADMIN_USERNAME
    rotated = anonymous.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    replay = anonymous.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert count_rows(postgres_database, schema, "users") == 1
    assert count_rows(postgres_database, schema, "api_keys") == 1
    assert count_rows(postgres_database, schema, "refresh_tokens") == 2
    actions = [e["action"] for e in server_client.get("/api/v1/audit").json()["entries"]]
    assert {"auth.login", "auth.refresh", "auth.refresh_replay"} <= set(actions)


def test_a_lost_database_fails_ready_and_answers_503_then_recovers(
    server_client: TestClient, proxy: TcpProxy
) -> None:
    assert server_client.get("/ready").status_code == 200
    proxy.cut()

    status, body, database = database_check(server_client)
    assert status == 503
    assert body["status"] == "not ready"
    assert database["ok"] is False
    assert "PostgreSQL" in database["detail"]

    series = server_client.get("/api/v1/series")
    assert series.status_code == 503
    assert series.headers["content-type"].startswith("application/problem+json")
    problem = series.json()
    assert problem["status"] == 503
    assert "PostgreSQL" in problem["detail"]

    proxy.start()  # the server is back: the pool reconnects (with backoff), no restart needed
    deadline = time.monotonic() + 60
    while (status := database_check(server_client)[0]) != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == 200
    assert server_client.get("/api/v1/series").status_code == 200


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_start_up_gives_up_within_the_configured_time(tmp_path: Path) -> None:
    url = f"postgresql://arbx@127.0.0.1:{_closed_port()}/arbx"
    container = build_container(server_settings(tmp_path, url, "arbx", startup_retry_s=1.0))
    # the bound is a hang guard only: start-up itself gives up after startup_retry_s
    with pytest.raises(StorageUnavailable, match=r"unreachable after \d+ attempt"):
        await asyncio.wait_for(runtime.start(container), timeout=15)


async def test_a_database_newer_than_the_code_refuses_to_start(
    tmp_path: Path, postgres_database: PostgresTestDatabase, schema: str
) -> None:
    settings = server_settings(tmp_path, postgres_database.url, schema)
    container = build_container(settings)
    await runtime.start(container)
    await runtime.stop(container)
    with psycopg.connect(postgres_database.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} (version, name, checksum) VALUES (9999, 'future', 'x')").format(
                sql.Identifier(schema, "schema_migrations")
            )
        )
    for migrate in (True, False):
        again = build_container(
            server_settings(tmp_path, postgres_database.url, schema, migrate_on_start=migrate)
        )
        with pytest.raises(StorageError, match="newer than this arbx"):
            await runtime.start(again)


async def test_without_migrate_on_start_an_empty_schema_is_refused(
    tmp_path: Path, postgres_database: PostgresTestDatabase, schema: str
) -> None:
    settings = server_settings(tmp_path, postgres_database.url, schema, migrate_on_start=False)
    with pytest.raises(StorageError, match="arbx db upgrade"):
        await runtime.start(build_container(settings))


def test_a_logout_on_one_server_ends_the_access_token_on_another_within_the_cache_ttl(
    tmp_path: Path, postgres_database: PostgresTestDatabase, schema: str
) -> None:
    """Two arbx processes on one PostgreSQL schema: a session ended through one is refused
    at once there, and by the other once its principal cache entry expires."""

    def settings_for(name: str) -> Settings:
        return load_settings(
            profile="test",
            environ={},
            overrides={
                "profile": "server",
                "storage": {"data_dir": str(tmp_path / name)},
                "database": {"url": postgres_database.url, "schema": schema, "pool_max_size": 2},
                "auth": {**AUTH_SECRETS, "principal_cache_s": 0.5},
            },
        )

    one, two = build_container(settings_for("a")), build_container(settings_for("b"))
    with TestClient(create_app(one)) as first, TestClient(create_app(two)) as second:
        first.headers["X-API-Key"] = first.blocking_portal.call(make_admin_key, one)
        make_user(first, one, "sam", Role.VIEWER)
        pair = login(AnonymousClient(first), "sam")
        me = "/api/v1/auth/me"
        assert (
            AnonymousClient(first).get(me, headers=bearer(pair["access_token"])).status_code == 200
        )
        assert (
            AnonymousClient(second).get(me, headers=bearer(pair["access_token"])).status_code == 200
        )
        out = AnonymousClient(first).post(
            "/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}
        )
        assert out.status_code == 204
        ended = AnonymousClient(first).get(me, headers=bearer(pair["access_token"]))
        assert ended.status_code == 401
        assert "session has ended" in ended.text
        time.sleep(0.6)  # the other process's cached entry expires
        assert (
            AnonymousClient(second).get(me, headers=bearer(pair["access_token"])).status_code == 401
        )


def test_hostile_input_gives_no_5xx_on_postgres(server_client: TestClient) -> None:
    """The generated hostile-input sweep (tests/e2e/test_hostile_input.py) on the server
    profile, where NUL characters and 64-bit overflow are PostgreSQL errors of their own."""
    from tests.e2e.test_hostile_input import (
        test_every_route_answers_hostile_parameters_and_bodies_without_a_5xx as sweep,
    )

    sweep(server_client)


def test_ready_answers_in_bounded_time_when_the_database_stops_answering(
    tmp_path: Path, postgres_database: PostgresTestDatabase, proxy: TcpProxy, schema: str
) -> None:
    """The connection stays open but nothing comes back: /ready says 503 within its
    per-check timeout (it used to hang for minutes), and 200 again once the database answers."""
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "profile": "server",
            "storage": {"data_dir": str(tmp_path / "var")},
            "database": {
                "url": proxied_url(postgres_database, proxy),
                "schema": schema,
                "acquire_timeout_s": 30.0,
            },
            "auth": AUTH_SECRETS,
            "http": {"ready_timeout_s": 0.5},
        },
    )
    with TestClient(create_app(build_container(settings))) as client:
        assert client.get("/ready").status_code == 200
        proxy.stall()
        started = time.monotonic()
        response = client.get("/ready")
        elapsed = time.monotonic() - started
        proxy.resume()
        assert response.status_code == 503, response.text
        assert elapsed < 3.0, elapsed
        failed = [c for c in response.json()["checks"] if not c["ok"]]
        assert any("no answer within 0.5 s" in c["detail"] for c in failed), failed
        deadline = time.monotonic() + 20
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "not ready again after the database came back"
            time.sleep(0.2)


def test_data_routes_fail_fast_once_the_database_is_known_to_be_gone(
    tmp_path: Path, postgres_database: PostgresTestDatabase, proxy: TcpProxy, schema: str
) -> None:
    """After one request has waited out the acquire timeout and a fresh connection failed
    too, the next requests answer 503 at once instead of each waiting the full timeout; the
    pool lends connections again once the database answers."""
    settings = server_settings(
        tmp_path,
        proxied_url(postgres_database, proxy),
        schema,
        acquire_timeout_s=1.5,
        connect_timeout_s=1.0,
        probe_interval_s=0.2,
    )
    container = build_container(settings)
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        assert client.get("/api/v1/series").status_code == 200
        proxy.stall()
        try:
            first = client.get("/api/v1/series")
            assert first.status_code == 503, first.text
            time.sleep(2.5)  # the probe's fresh connection times out too: known unhealthy
            timings = []
            for _ in range(5):
                started = time.monotonic()
                response = client.get("/api/v1/series")
                timings.append(time.monotonic() - started)
                assert response.status_code == 503, response.text
                assert "not answering" in response.json()["detail"]
            assert max(timings) < 0.5, timings
        finally:
            proxy.resume()
        deadline = time.monotonic() + 20
        while client.get("/api/v1/series").status_code != 200:
            assert time.monotonic() < deadline, "no recovery after the database came back"
            time.sleep(0.2)
