"""The PostgreSQL connection pool: built from plain values, opened with bounded retries.

At start-up the database may still be booting (containers start together), so ``open_pool``
retries with exponential backoff; after ``startup_timeout`` seconds it gives up with
``StorageUnavailable`` so the process exits with a clear message instead of hanging or crash
looping. Once open, the pool checks each connection before lending it, so a server restart
costs one failed request at most, never a stuck pool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from arbx.adapters.postgres.urls import redact
from arbx.domain.errors import InvalidInput, StorageUnavailable

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """Everything needed to open a pool; the container fills it from the settings.

    Times are seconds. ``statement_timeout`` is enforced by the server on every statement
    (``None`` leaves the server's default); ``acquire_timeout`` bounds the wait for a free
    connection; ``startup_timeout`` bounds the whole start-up, retries included.
    """

    url: str
    min_size: int = 1
    max_size: int = 10
    connect_timeout: float = 5.0
    acquire_timeout: float = 10.0
    statement_timeout: float | None = None
    startup_timeout: float = 30.0
    first_backoff: float = 0.25
    max_backoff: float = 5.0
    max_idle: float = 300.0
    max_lifetime: float = 3600.0
    application_name: str = "arbx"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.url.strip():
            raise InvalidInput(
                "database URL is empty; set ARBX_DATABASE_URL, e.g."
                " postgresql://arbx@127.0.0.1:5432/arbx",
                field="database_url",
            )
        try:
            params = conninfo_to_dict(self.url)
        except psycopg.ProgrammingError as exc:
            raise InvalidInput(
                f"database URL {redact(self.url)} is not valid: {exc}", field="database_url"
            ) from exc
        ports = str(params.get("port") or "5432").split(",")
        if not all(port.strip().isdigit() for port in ports):
            raise InvalidInput(
                f"database URL {redact(self.url)} has port {params.get('port')!r}; a port is a"
                " number, e.g. 5432",
                field="database_url",
            )
        if not 0 <= self.min_size <= self.max_size or self.max_size < 1:
            raise InvalidInput(
                f"pool sizes must satisfy 0 <= min_size <= max_size and max_size >= 1;"
                f" got min_size={self.min_size}, max_size={self.max_size}",
                field="pool_max_size",
            )
        for name in ("connect_timeout", "acquire_timeout", "startup_timeout", "first_backoff"):
            if getattr(self, name) <= 0:
                raise InvalidInput(f"{name} must be > 0 seconds", field=name)
        if self.statement_timeout is not None and self.statement_timeout <= 0:
            raise InvalidInput(
                "statement_timeout must be > 0 seconds or unset", field="statement_timeout"
            )

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.AsyncConnection.connect`` (besides the URL)."""
        kwargs: dict[str, Any] = {
            # libpq rounds connect_timeout to whole seconds and treats values < 2 as 2.
            "connect_timeout": max(2, round(self.connect_timeout)),
            "application_name": self.application_name,
        }
        if self.statement_timeout is not None:
            kwargs["options"] = f"-c statement_timeout={int(self.statement_timeout * 1000)}"
        kwargs.update(self.extra)
        return kwargs


async def wait_until_reachable(
    config: PoolConfig,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Try to connect until it works or ``startup_timeout`` is spent; return the attempts made.

    Delays double from ``first_backoff`` up to ``max_backoff``. Raises ``StorageUnavailable``
    naming the server (password masked), the attempts and the last error; ``InvalidInput`` when
    the URL itself is malformed (no retry can fix that).
    """
    deadline = clock() + config.startup_timeout
    delay = config.first_backoff
    attempts = 0
    while True:
        attempts += 1
        remaining = deadline - clock()
        try:
            await _probe(config, within=max(0.1, min(config.connect_timeout, remaining)))
            return attempts
        except psycopg.ProgrammingError as exc:
            raise InvalidInput(
                f"database URL {redact(config.url)} is not valid: {exc}", field="database_url"
            ) from exc
        except (psycopg.OperationalError, TimeoutError, OSError) as exc:
            last = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            remaining = deadline - clock()
            if remaining <= 0:
                raise StorageUnavailable(
                    f"PostgreSQL at {redact(config.url)} is unreachable after {attempts}"
                    f" attempt(s) over {config.startup_timeout:g}s: {redact(last)}"
                ) from exc
            wait = min(delay, remaining)
            log.warning(
                "PostgreSQL at %s unreachable (attempt %d): %s; retrying in %.2fs",
                redact(config.url),
                attempts,
                redact(last),
                wait,
            )
            await sleep(wait)
            delay = min(delay * 2, config.max_backoff)


async def _probe(config: PoolConfig, *, within: float) -> None:
    async def connect_and_close() -> None:
        conn = await psycopg.AsyncConnection.connect(config.url, **config.connect_kwargs())
        await conn.close()

    # libpq's own time-out is in whole seconds and only covers the connect phase; the outer
    # bound makes sure a black-holed address can never stall start-up past the deadline.
    await asyncio.wait_for(connect_and_close(), timeout=within)


async def open_pool(
    config: PoolConfig,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncConnectionPool:
    """Wait for the server (bounded, with backoff), then open a pool holding ``min_size``
    connections. Raises ``StorageUnavailable`` when the server stays out of reach."""
    started = clock()
    await wait_until_reachable(config, sleep=sleep, clock=clock)
    pool: AsyncConnectionPool = AsyncConnectionPool(
        config.url,
        kwargs=config.connect_kwargs(),
        min_size=config.min_size,
        max_size=config.max_size,
        open=False,
        timeout=config.acquire_timeout,
        max_idle=config.max_idle,
        max_lifetime=config.max_lifetime,
        reconnect_timeout=max(config.startup_timeout, 1.0),
        check=AsyncConnectionPool.check_connection,
        name="arbx",
    )
    remaining = max(1.0, config.startup_timeout - (clock() - started))
    try:
        await pool.open(wait=True, timeout=remaining)
    except PoolTimeout as exc:
        await pool.close()
        raise StorageUnavailable(
            f"PostgreSQL at {redact(config.url)} accepted a probe but the pool could not open"
            f" {config.min_size} connection(s) within {remaining:.1f}s"
        ) from exc
    return pool


async def pool_resource(config: PoolConfig) -> AsyncIterator[AsyncConnectionPool]:
    """Open a pool, lend it, close it: fits ``providers.Resource`` and ``asynccontextmanager``."""
    pool = await open_pool(config)
    try:
        yield pool
    finally:
        await pool.close()
