"""JobStore in memory: the reference adapter (tests, single-process runs without a file)."""

from __future__ import annotations

import builtins
from datetime import datetime

from arbx.domain.errors import Conflict, NotFound
from arbx.domain.jobs import JobDefinition, JobRun, RunStatus
from arbx.ports.job_store import INTERRUPTED, JobStore


class MemoryJobStore(JobStore):
    def __init__(self) -> None:
        self._jobs: dict[str, JobDefinition] = {}
        self._runs: dict[str, JobRun] = {}

    async def save(self, job: JobDefinition) -> None:
        if job.id in self._jobs:
            raise Conflict(f"job id {job.id!r} exists already")
        self._check_name_free(job)
        self._jobs[job.id] = job

    async def get(self, job_id: str) -> JobDefinition:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise NotFound(f"job {job_id!r} does not exist") from None

    async def list(self) -> list[JobDefinition]:
        return sorted(self._jobs.values(), key=lambda job: (job.created_at, job.id))

    async def update(self, job: JobDefinition) -> None:
        await self.get(job.id)
        self._check_name_free(job)
        self._jobs[job.id] = job

    async def delete(self, job_id: str) -> None:
        await self.get(job_id)
        del self._jobs[job_id]
        self._runs = {rid: run for rid, run in self._runs.items() if run.job_id != job_id}

    async def start_run(self, run: JobRun) -> None:
        await self.get(run.job_id)
        if run.id in self._runs:
            raise Conflict(f"run id {run.id!r} exists already")
        self._runs[run.id] = run

    async def finish_run(self, run: JobRun) -> JobRun:
        stored = await self.get_run(run.id)
        if not stored.is_running:
            raise Conflict(f"run {run.id!r} finished already ({stored.status.value})")
        finished = stored.finish(
            run.status,
            at=run.finished_at or stored.started_at,
            bars_written=run.bars_written,
            error=run.error,
        )
        self._runs[run.id] = finished
        return finished

    async def get_run(self, run_id: str) -> JobRun:
        try:
            return self._runs[run_id]
        except KeyError:
            raise NotFound(f"job run {run_id!r} does not exist") from None

    async def list_runs(
        self, job_id: str | None = None, *, limit: int = 100
    ) -> builtins.list[JobRun]:
        runs = [r for r in self._runs.values() if job_id is None or r.job_id == job_id]
        runs.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        return runs[: max(limit, 0)]

    async def mark_interrupted_runs(self, at: datetime) -> int:
        running = [run for run in self._runs.values() if run.is_running]
        for run in running:
            self._runs[run.id] = run.finish(RunStatus.CANCELLED, at=at, error=INTERRUPTED)
        return len(running)

    def _check_name_free(self, job: JobDefinition) -> None:
        for other in self._jobs.values():
            if other.name == job.name and other.id != job.id:
                raise Conflict(f"job name {job.name!r} is taken by job {other.id!r}")
