"""The PostgreSQL connection pool: built from plain values, opened with bounded retries.

At start-up the database may still be booting (containers start together), so ``open_pool``
retries with exponential backoff; after ``startup_timeout`` seconds it gives up with
``StorageUnavailable`` so the process exits with a clear message instead of hanging or crash
looping. Once open, the pool checks each connection before lending it, so a server restart
costs one failed request at most, never a stuck pool.

``GuardedPool`` fails fast once the server is known to be gone: when an acquire times out or a
connection breaks, a probe (a fresh connection, bounded by ``connect_timeout``) runs in the
background; if it fails, every request fails at once with ``StorageUnavailable`` (a 503)
instead of each waiting the full acquire timeout, and the probe repeats every
``probe_interval`` seconds until the server answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
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
    probe_interval: float = 1.0
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
        for name in (
            "connect_timeout",
            "acquire_timeout",
            "startup_timeout",
            "first_backoff",
            "probe_interval",
        ):
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
    pool: AsyncConnectionPool = GuardedPool(
        config,
        config.url,
        kwargs=config.connect_kwargs(),
        min_size=config.min_size,
        max_size=config.max_size,
        open=False,
        timeout=config.acquire_timeout,
        max_idle=config.max_idle,
        max_lifetime=config.max_lifetime,
        reconnect_timeout=max(config.startup_timeout, 1.0),
        check=_bounded_check(config.connect_timeout),
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


def _bounded_check(within: float) -> Callable[[Any], Awaitable[None]]:
    """The pool's check of a connection before lending it, bounded: on a silent server the
    plain check waits forever, so a connection that does not answer in time is closed (the
    pool then replaces it) and the acquire wait stays the bound it says it is."""

    async def check(conn: Any) -> None:
        try:
            await asyncio.wait_for(AsyncConnectionPool.check_connection(conn), timeout=within)
        except TimeoutError:
            conn.pgconn.finish()
            raise

    return check


class GuardedPool(AsyncConnectionPool):
    """A pool that knows when its server is gone and then refuses at once (see the module)."""

    def __init__(self, config: PoolConfig, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._config = config
        self._unhealthy: str | None = None  # the probe's last error while the server is gone
        self._probe_task: asyncio.Task[None] | None = None

    @property
    def unhealthy(self) -> str | None:
        """Why the pool refuses requests, or None while it lends connections."""
        return self._unhealthy

    async def getconn(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109 (psycopg_pool signature)
        if self._unhealthy is not None:
            raise StorageUnavailable(
                f"PostgreSQL at {redact(self._config.url)} is not answering ({self._unhealthy});"
                f" retrying every {self._config.probe_interval:g}s"
            )
        try:
            return await super().getconn(timeout=timeout)
        except PoolTimeout:
            # A short helper wait timing out only means "busy"; a full acquire wait is suspect.
            if timeout is None or timeout >= self.timeout:
                self._suspect()
            raise

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[Any]:  # noqa: ASYNC109
        try:
            async with super().connection(timeout=timeout) as conn:
                yield conn
        except psycopg.OperationalError as exc:
            # No SQLSTATE: the client lost the connection (refused, reset, closed), not an error
            # the server answered with.
            if exc.sqlstate is None and not isinstance(exc, PoolTimeout):
                self._suspect()
            raise

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
            self._probe_task = None
        await super().close(timeout=timeout)

    def _suspect(self) -> None:
        if self._probe_task is None or self._probe_task.done():
            self._probe_task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        """Probe until the server answers: unhealthy while it fails, healthy once it works."""
        while True:
            try:
                await _probe(self._config, within=self._config.connect_timeout)
            except (psycopg.OperationalError, TimeoutError, OSError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                reason = redact(first) or f"no answer within {self._config.connect_timeout:g}s"
                if self._unhealthy is None:
                    log.warning("PostgreSQL is not answering (%s): failing fast", reason)
                self._unhealthy = reason
                await asyncio.sleep(self._config.probe_interval)
                continue
            if self._unhealthy is not None:
                log.warning("PostgreSQL answers again: lending connections")
            self._unhealthy = None
            return


async def pool_resource(config: PoolConfig) -> AsyncIterator[AsyncConnectionPool]:
    """Open a pool, lend it, close it: fits ``providers.Resource`` and ``asynccontextmanager``."""
    pool = await open_pool(config)
    try:
        yield pool
    finally:
        await pool.close()
