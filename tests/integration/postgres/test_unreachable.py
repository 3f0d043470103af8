"""An unreachable database: bounded start-up with backoff, then StorageUnavailable, fast."""

from __future__ import annotations

import socket
import time

import pytest
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.bar_store import PostgresBarStore
from arbx.adapters.postgres.info import database_info
from arbx.adapters.postgres.pool import PoolConfig, open_pool, wait_until_reachable
from arbx.adapters.postgres.urls import redact
from arbx.domain.errors import InvalidInput, StorageUnavailable
from arbx.domain.market import TimeSpan
from tests.builders import key, make_bars

pytestmark = pytest.mark.postgres


@pytest.fixture
def closed_port_url() -> str:
    """A URL whose port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://arbx:s3cret@127.0.0.1:{port}/arbx"


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_start_up_retries_with_doubling_backoff_then_gives_up(closed_port_url: str) -> None:
    fake = FakeTime()
    config = PoolConfig(closed_port_url, startup_timeout=10.0, first_backoff=0.25, max_backoff=2.0)

    with pytest.raises(StorageUnavailable) as caught:
        await wait_until_reachable(config, sleep=fake.sleep, clock=fake.clock)

    assert fake.sleeps[:4] == [0.25, 0.5, 1.0, 2.0]
    assert all(delay <= 2.0 for delay in fake.sleeps)
    assert sum(fake.sleeps) == pytest.approx(10.0)
    message = str(caught.value)
    assert f"{len(fake.sleeps) + 1} attempt(s) over 10s" in message
    assert "127.0.0.1" in message
    assert "s3cret" not in message


async def test_opening_a_pool_on_a_closed_port_fails_quickly(closed_port_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="unreachable after"):
        await open_pool(PoolConfig(closed_port_url, startup_timeout=1.0, first_backoff=0.1))
    assert time.monotonic() - started < 5.0


async def test_a_black_holed_address_cannot_stall_start_up_past_the_deadline() -> None:
    # 10.255.255.1 is unroutable here: connect attempts hang until a time-out fires.
    config = PoolConfig(
        "postgresql://arbx@10.255.255.1:5432/arbx",
        connect_timeout=0.5,
        startup_timeout=1.5,
        first_backoff=0.1,
    )
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await open_pool(config)
    assert time.monotonic() - started < 5.0


async def test_a_store_whose_database_is_gone_raises_storage_unavailable(
    closed_port_url: str,
) -> None:
    pool = AsyncConnectionPool(closed_port_url, min_size=0, max_size=1, timeout=0.2, open=False)
    await pool.open(wait=False)
    store = PostgresBarStore(pool, "arbx")
    series = key()
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="PostgreSQL is unreachable"):
            await store.ping()
        with pytest.raises(StorageUnavailable):
            await store.read(series, TimeSpan.everything())
        with pytest.raises(StorageUnavailable):
            await store.write(series, make_bars(3))
        with pytest.raises(StorageUnavailable):
            await store.list_series()
        with pytest.raises(StorageUnavailable):
            await database_info(pool, "arbx")
        assert time.monotonic() - started < 10.0
    finally:
        await pool.close()


@pytest.mark.parametrize(
    "url", ["postgresql://host:notaport/db", "postgresql://host/db?no_such_option=1"]
)
def test_a_malformed_url_is_invalid_input_not_a_retry_loop(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        PoolConfig(url, startup_timeout=30.0)
    assert caught.value.field == "database_url"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://arbx:s3cret@db:5432/arbx", "postgresql://arbx:***@db:5432/arbx"),
        ("postgresql://db:5432/arbx", "postgresql://db:5432/arbx"),
        ("host=db password=s3cret user=arbx", "host=db password=*** user=arbx"),
    ],
)
def test_passwords_are_masked_in_messages(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"url": " "}, "database_url"),
        ({"min_size": 5, "max_size": 2}, "pool_max_size"),
        ({"max_size": 0, "min_size": 0}, "pool_max_size"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"startup_timeout": -1}, "startup_timeout"),
        ({"statement_timeout": 0}, "statement_timeout"),
    ],
)
def test_bad_pool_settings_are_refused(values: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"url": "postgresql://localhost/arbx", **values}
    with pytest.raises(InvalidInput) as caught:
        PoolConfig(**arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_statement_timeout_reaches_the_server_as_an_option() -> None:
    config = PoolConfig("postgresql://localhost/arbx", statement_timeout=2.5)
    assert config.connect_kwargs()["options"] == "-c statement_timeout=2500"
    assert "options" not in PoolConfig("postgresql://localhost/arbx").connect_kwargs()
