"""Component health for operators (GET /api/v1/admin/health): every component's state,
how long its check took, and the last error it reported (remembered across checks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import msgspec

from arbx.app.readiness import Check
from arbx.domain.errors import ArbxError
from arbx.ports.clock import Clock

ComponentProbe = Callable[[], Awaitable[list[Check]]]
"""Checks one component (or a family: one check per venue); may raise ``ArbxError``."""


class ComponentState(msgspec.Struct, frozen=True):
    name: str
    ok: bool
    critical: bool
    detail: str
    latency_ms: float
    last_error: str | None = None
    last_error_at: datetime | None = None


class HealthReport(msgspec.Struct, frozen=True):
    status: str  # ok, degraded (a non-critical component fails) or failing
    checked_at: datetime
    components: list[ComponentState]


# probes given up on but still winding down: held so they finish, then dropped
_ABANDONED: set[asyncio.Future[list[Check]]] = set()


class CheckHealth:
    """Runs every probe at once, each bounded by ``timeout_s``. One instance per process:
    it remembers each component's last error and when it happened."""

    def __init__(
        self, probes: Sequence[tuple[str, ComponentProbe]], *, clock: Clock, timeout_s: float
    ) -> None:
        if not timeout_s > 0:
            raise ValueError("the health timeout must be > 0 seconds")
        self._probes = list(probes)
        self._clock = clock
        self._timeout_s = timeout_s
        self._last_error: dict[str, tuple[str, datetime]] = {}

    async def execute(self) -> HealthReport:
        results = await asyncio.gather(*(self._timed(n, p) for n, p in self._probes))
        now = self._clock.now()
        components: list[ComponentState] = []
        for checks, latency in results:
            for check in checks:
                if not check.ok:
                    self._last_error[check.name] = (check.detail, now)
                last = self._last_error.get(check.name)
                components.append(
                    ComponentState(
                        name=check.name,
                        ok=check.ok,
                        critical=check.critical,
                        detail=check.detail,
                        latency_ms=round(latency * 1000, 3),
                        last_error=last[0] if last else None,
                        last_error_at=last[1] if last else None,
                    )
                )
        if all(c.ok for c in components):
            status = "ok"
        elif all(c.ok for c in components if c.critical):
            status = "degraded"
        else:
            status = "failing"
        return HealthReport(status, now, components)

    async def _timed(self, name: str, probe: ComponentProbe) -> tuple[list[Check], float]:
        started = time.perf_counter()
        task = asyncio.ensure_future(probe())
        done, _ = await asyncio.wait({task}, timeout=self._timeout_s)
        elapsed = time.perf_counter() - started
        if not done:
            task.cancel()
            _ABANDONED.add(task)
            task.add_done_callback(_forget)
            return [Check(name, False, f"no answer within {self._timeout_s:g} s")], elapsed
        try:
            return task.result(), elapsed
        except ArbxError as exc:
            return [Check(name, False, exc.message)], elapsed
        except Exception as exc:  # a probe's bug is that component's failure, not a 500
            return [Check(name, False, f"{type(exc).__name__}: {exc}")], elapsed


def _forget(task: asyncio.Future[list[Check]]) -> None:
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()
