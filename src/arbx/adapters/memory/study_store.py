"""A StudyStore in dicts: the reference adapter for the contract suite and use-case tests."""

from __future__ import annotations

import asyncio
import builtins
from datetime import datetime

import msgspec

from arbx.domain.errors import Conflict, NotFound
from arbx.domain.research.study import Study, StudyStatus, Trial, guard
from arbx.ports.study_store import StudyStore


def _missing(study_id: str) -> NotFound:
    return NotFound(f"study {study_id!r} does not exist")


class MemoryStudyStore(StudyStore):
    def __init__(self) -> None:
        self._studies: dict[str, Study] = {}
        self._trials: dict[str, dict[int, Trial]] = {}
        self._lock = asyncio.Lock()

    async def create(self, study: Study) -> None:
        async with self._lock:
            if study.id in self._studies:
                raise Conflict(f"study {study.id!r} is stored already")
            self._studies[study.id] = study
            self._trials[study.id] = {}

    async def get(self, study_id: str) -> Study:
        try:
            return self._studies[study_id]
        except KeyError:
            raise _missing(study_id) from None

    async def update(self, study: Study) -> None:
        async with self._lock:
            if study.id not in self._studies:
                raise _missing(study.id)
            self._studies[study.id] = study

    async def list(
        self,
        *,
        limit: int = 100,
        readable_by: str | None = None,
        status: StudyStatus | None = None,
    ) -> builtins.list[Study]:
        found = [
            s
            for s in self._studies.values()
            if (readable_by is None or s.owner in (None, readable_by))
            and (status is None or s.status == status)
        ]
        found.sort(key=lambda s: (s.created_at, s.id), reverse=True)
        return found[: max(limit, 0)]

    async def heartbeat(self, study_id: str, token: str, at: datetime) -> bool:
        async with self._lock:
            study = await self.get(study_id)
            if study.status != "running" or study.holder is None or study.holder.token != token:
                return False
            holder = msgspec.structs.replace(study.holder, heartbeat_at=at)
            self._studies[study_id] = msgspec.structs.replace(study, holder=holder)
            return True

    async def interrupt(self, seen: Study, at: datetime, error: str) -> bool:
        async with self._lock:
            study = await self.get(seen.id)
            now = guard(study.holder, study.updated_at)
            if study.status != "running" or now != guard(seen.holder, seen.updated_at):
                return False
            self._studies[seen.id] = msgspec.structs.replace(
                study, status="interrupted", error=error, updated_at=at
            )
            return True

    async def add_trial(self, trial: Trial) -> None:
        async with self._lock:
            trials = self._trials.get(trial.study_id)
            if trials is None:
                raise _missing(trial.study_id)
            if trial.number in trials:
                raise Conflict(
                    f"trial {trial.number} of study {trial.study_id!r} is stored already"
                )
            trials[trial.number] = trial

    async def trials(self, study_id: str) -> builtins.list[Trial]:
        trials = self._trials.get(study_id)
        if trials is None:
            raise _missing(study_id)
        return [trials[n] for n in sorted(trials)]

    async def set_trial_run(self, study_id: str, number: int, run_id: str) -> None:
        async with self._lock:
            trials = self._trials.get(study_id)
            if trials is None or number not in trials:
                raise NotFound(f"trial {number} of study {study_id!r} does not exist")
            trials[number] = msgspec.structs.replace(trials[number], run_id=run_id)

    async def delete(self, study_id: str) -> None:
        async with self._lock:
            if self._studies.pop(study_id, None) is None:
                raise _missing(study_id)
            self._trials.pop(study_id, None)
