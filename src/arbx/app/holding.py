"""Holding long research work (studies, walk-forwards) while this process runs it.

``Holding`` records this process as the holder of work it starts, renews the heartbeat while
it runs (every quarter lease; losing the hold, because another process found it orphaned and
took it, stops the work here), and tells whether work stored ``running`` is orphaned
(``domain.research.holder.orphaned``), marking it ``interrupted`` with a conditional update
so two servers deciding at once mark it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from arbx.domain.research.holder import DEFAULT_LEASE, Holder, orphaned
from arbx.ports.clock import Clock
from arbx.ports.process_probe import ProcessProbe

log = logging.getLogger("arbx.research")


class HeldWork(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def holder(self) -> Holder | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime | None: ...


W = TypeVar("W", bound=HeldWork)


class Holding:
    def __init__(
        self, probe: ProcessProbe | None, clock: Clock, lease: timedelta = DEFAULT_LEASE
    ) -> None:
        self._probe = probe
        self._clock = clock
        self._lease = lease

    @property
    def lease(self) -> timedelta:
        return self._lease

    def me(self) -> Holder | None:
        """This process as a holder, heartbeat now (None without a probe: nothing held)."""
        return None if self._probe is None else self._probe.holder(self._clock.now())

    def mine(self, work: HeldWork) -> bool:
        me = self.me()
        return me is not None and work.holder is not None and work.holder.token == me.token

    def orphan_reason(self, work: HeldWork) -> str | None:
        """Why ``running`` work is orphaned (its holder is gone), or None."""
        me = self.me()
        if work.status != "running" or me is None or self._probe is None:
            return None
        return orphaned(
            work.holder,
            here=me,
            now=self._clock.now(),
            updated_at=work.updated_at or work.created_at,
            alive=self._probe.alive,
            lease=self._lease,
        )

    async def settle(
        self, work: W, interrupt: Callable[[W, datetime, str], Awaitable[bool]], what: str
    ) -> bool:
        """Mark ``work`` interrupted when its holder is gone; True when this call marked it."""
        reason = self.orphan_reason(work)
        if reason is None:
            return False
        error = f"interrupted: {reason}; resume it to continue"
        marked = await interrupt(work, self._clock.now(), error)
        if marked:
            log.warning("%s %s was left running: %s", what, work.id, reason)
        return marked

    @contextlib.asynccontextmanager
    async def heartbeat(
        self, work_id: str, beat: Callable[[str, str, datetime], Awaitable[bool]]
    ) -> AsyncIterator[None]:
        """Renew the hold of ``work_id`` while the block runs; when the hold is lost the
        block's task is cancelled."""
        me = self.me()
        if me is None:
            yield
            return
        task = asyncio.current_task()
        interval = max(self._lease.total_seconds() / 4, 0.01)

        async def renew() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    held = await beat(work_id, me.token, self._clock.now())
                except Exception as exc:  # a store hiccup: try again next time
                    log.warning("heartbeat of %s failed: %s", work_id, exc)
                    continue
                if not held:
                    log.warning("%s is no longer held by this process; stopping it here", work_id)
                    if task is not None:
                        task.cancel()
                    return

        renewing = asyncio.ensure_future(renew())
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
