"""Is arbx ready to serve? Every store and upstream reports one check."""

from __future__ import annotations

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


class CheckReadiness:
    def __init__(self, bar_store: BarStore, probes: Sequence[Probe] = ()) -> None:
        self._bar_store = bar_store
        self._probes = list(probes)

    async def execute(self) -> Readiness:
        checks: list[Check] = []
        try:
            await self._bar_store.ping()
            checks.append(Check("bar_store", True, "ok"))
        except ArbxError as exc:
            checks.append(Check("bar_store", False, exc.message))
        for probe in self._probes:
            try:
                checks.append(await probe())
            except ArbxError as exc:
                checks.append(Check(getattr(probe, "__name__", "probe"), False, exc.message))
        ready = all(c.ok for c in checks if c.critical)
        degraded = ready and not all(c.ok for c in checks)
        return Readiness(ready, degraded, checks)


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
