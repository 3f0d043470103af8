"""A WalkForwardStore in dicts: the reference adapter for the contract suite and use-case tests."""

from __future__ import annotations

import asyncio
import builtins
from datetime import datetime

import msgspec

from arbx.domain.errors import Conflict, NotFound
from arbx.domain.research.study import guard
from arbx.domain.research.walk_forward import WalkForwardFold, WalkForwardStatus, WalkForwardStudy
from arbx.ports.walk_forward_store import WalkForwardStore


def _missing(wf_id: str) -> NotFound:
    return NotFound(f"walk-forward {wf_id!r} does not exist")


class MemoryWalkForwardStore(WalkForwardStore):
    def __init__(self) -> None:
        self._wfs: dict[str, WalkForwardStudy] = {}
        self._folds: dict[str, dict[int, WalkForwardFold]] = {}
        self._lock = asyncio.Lock()

    async def create(self, wf: WalkForwardStudy) -> None:
        async with self._lock:
            if wf.id in self._wfs:
                raise Conflict(f"walk-forward {wf.id!r} is stored already")
            self._wfs[wf.id] = wf
            self._folds[wf.id] = {}

    async def get(self, wf_id: str) -> WalkForwardStudy:
        try:
            return self._wfs[wf_id]
        except KeyError:
            raise _missing(wf_id) from None

    async def update(self, wf: WalkForwardStudy) -> None:
        async with self._lock:
            if wf.id not in self._wfs:
                raise _missing(wf.id)
            self._wfs[wf.id] = wf

    async def list(
        self,
        *,
        limit: int = 100,
        readable_by: str | None = None,
        status: WalkForwardStatus | None = None,
    ) -> builtins.list[WalkForwardStudy]:
        found = [
            w
            for w in self._wfs.values()
            if (readable_by is None or w.owner in (None, readable_by))
            and (status is None or w.status == status)
        ]
        found.sort(key=lambda w: (w.created_at, w.id), reverse=True)
        return found[: max(limit, 0)]

    async def add_fold(self, fold: WalkForwardFold) -> None:
        async with self._lock:
            folds = self._folds.get(fold.walk_forward_id)
            if folds is None:
                raise _missing(fold.walk_forward_id)
            if fold.fold.index in folds:
                raise Conflict(
                    f"fold {fold.fold.index} of walk-forward {fold.walk_forward_id!r} is stored"
                    " already"
                )
            folds[fold.fold.index] = fold

    async def folds(self, wf_id: str) -> builtins.list[WalkForwardFold]:
        folds = self._folds.get(wf_id)
        if folds is None:
            raise _missing(wf_id)
        return [folds[i] for i in sorted(folds)]

    async def heartbeat(self, wf_id: str, token: str, at: datetime) -> bool:
        async with self._lock:
            wf = await self.get(wf_id)
            if wf.status != "running" or wf.holder is None or wf.holder.token != token:
                return False
            holder = msgspec.structs.replace(wf.holder, heartbeat_at=at)
            self._wfs[wf_id] = msgspec.structs.replace(wf, holder=holder)
            return True

    async def interrupt(self, seen: WalkForwardStudy, at: datetime, error: str) -> bool:
        async with self._lock:
            wf = await self.get(seen.id)
            now = guard(wf.holder, wf.updated_at)
            if wf.status != "running" or now != guard(seen.holder, seen.updated_at):
                return False
            self._wfs[seen.id] = msgspec.structs.replace(
                wf, status="interrupted", error=error, updated_at=at
            )
            return True

    async def delete(self, wf_id: str) -> None:
        async with self._lock:
            if self._wfs.pop(wf_id, None) is None:
                raise _missing(wf_id)
            self._folds.pop(wf_id, None)
