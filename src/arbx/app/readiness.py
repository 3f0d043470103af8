"""Is arbx ready to serve? Every store and upstream reports one check."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

import msgspec

from arbx.domain.errors import ArbxError
from arbx.domain.market import Exchange
from arbx.ports.bar_store import BarStore
from arbx.ports.exchange import BreakerState, ExchangeClient, ExchangeStatus


class Check(msgspec.Struct, frozen=True):
    """One dependency's state. A failing non-critical check (one exchange's open circuit
    breaker) degrades the service; a failing critical one (a store) makes it not ready."""

    name: str
    ok: bool
    detail: str
    critical: bool = True


class Readiness(msgspec.Struct, frozen=True):
    ready: bool
    degraded: bool
    checks: list[Check]


Probe = Callable[[], Awaitable[Check]]
"""An extra check (a database pool, an exchange's circuit breaker...)."""


# probes given up on but still winding down: held so they finish, then dropped
_ABANDONED: set[asyncio.Future[Check]] = set()


class CheckReadiness:
    """Runs every check at once, each bounded by ``timeout_s``: a dependency that stops
    answering (a database whose connection stays open but silent) fails its check after that
    long instead of hanging the probe."""

    def __init__(
        self, bar_store: BarStore, probes: Sequence[Probe] = (), *, timeout_s: float = 2.0
    ) -> None:
        if not timeout_s > 0:
            raise ValueError("the readiness timeout must be > 0 seconds")
        self._bar_store = bar_store
        self._probes = list(probes)
        self._timeout_s = timeout_s

    async def execute(self) -> Readiness:
        named: list[tuple[str, Probe]] = [("bar_store", self._bar_store_check)]
        named += [(getattr(p, "__name__", "probe"), p) for p in self._probes]
        checks = list(await asyncio.gather(*(self._bounded(n, p) for n, p in named)))
        ready = all(c.ok for c in checks if c.critical)
        degraded = ready and not all(c.ok for c in checks)
        return Readiness(ready, degraded, checks)

    async def _bar_store_check(self) -> Check:
        await self._bar_store.ping()
        return Check("bar_store", True, "ok")

    async def _bounded(self, name: str, probe: Probe) -> Check:
        task = asyncio.ensure_future(probe())
        done, _ = await asyncio.wait({task}, timeout=self._timeout_s)
        if not done:
            # cancel without waiting: a driver's own cancellation (PostgreSQL's cancel request
            # to a silent server) can take longer than the probe may
            task.cancel()
            _ABANDONED.add(task)
            task.add_done_callback(self._forget)
            return Check(name, False, f"no answer within {self._timeout_s:g} s")
        try:
            return task.result()
        except ArbxError as exc:
            return Check(name, False, exc.message)

    @staticmethod
    def _forget(task: asyncio.Future[Check]) -> None:
        _ABANDONED.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned probe's failure is not "never seen"


def exchanges_probe(clients: Mapping[Exchange, ExchangeClient]) -> Probe:
    """Readiness of the venues: failing (not critical) while a venue's circuit is open."""

    async def exchanges() -> Check:
        states = [client.status() for client in clients.values()]
        detail = "; ".join(_breaker_text(s) for s in states) or "no exchange enabled"
        healthy = all(s.breaker is not BreakerState.OPEN for s in states)
        return Check("exchanges", healthy, detail, critical=False)

    return exchanges


def _breaker_text(status: ExchangeStatus) -> str:
    if status.breaker is BreakerState.CLOSED:
        return f"{status.venue}: closed"
    until = f" until {status.retry_at:%H:%M:%S}Z" if status.retry_at is not None else ""
    last = f" (last error: {status.last_error})" if status.last_error else ""
    return f"{status.venue}: {status.breaker.value}{until}{last}"
