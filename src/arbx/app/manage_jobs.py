"""Job management use cases: create, list, get, update, delete, pause, resume, run now, list
runs, and bring config-declared jobs into the store at start-up.

Authorization is the caller's (HTTP guards ``jobs:read`` / ``jobs:manage``). Every change is
stored first, then handed to the scheduler when one runs in this process (``arbx serve``);
without a scheduler (the CLI) changes take effect when the server next starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import datetime

import msgspec

from arbx.app.authenticate import new_id
from arbx.app.run_job import RunJob
from arbx.domain.errors import Conflict, InvalidInput
from arbx.domain.jobs import (
    JobDefinition,
    JobKind,
    JobOrigin,
    JobPatch,
    JobRun,
    JobSpec,
    RunTrigger,
)
from arbx.ports.clock import Clock
from arbx.ports.job_store import JobScheduler, JobStore

log = logging.getLogger(__name__)

MAX_RUNS_PAGE = 1000
CONFIG_ID_PREFIX = "config-"


class JobView(msgspec.Struct, frozen=True):
    """A job as the API shows it: the definition and what the scheduler knows of it."""

    job: JobDefinition
    running: bool
    next_run_at: datetime | None
    last_run: JobRun | None


class _JobUseCase:
    def __init__(
        self, *, jobs: JobStore, clock: Clock, scheduler: JobScheduler | None = None
    ) -> None:
        self._jobs = jobs
        self._clock = clock
        self._scheduler = scheduler

    def _schedule(self, job: JobDefinition) -> None:
        if self._scheduler is not None:
            self._scheduler.schedule(job)

    def _running(self, job_id: str) -> bool:
        return self._scheduler is not None and self._scheduler.is_running(job_id)

    async def _view(self, job: JobDefinition) -> JobView:
        runs = await self._jobs.list_runs(job.id, limit=1)
        scheduler = self._scheduler
        return JobView(
            job=job,
            running=self._running(job.id),
            next_run_at=None if scheduler is None else scheduler.next_run_at(job.id),
            last_run=runs[0] if runs else None,
        )


def _refuse_config_edit(job: JobDefinition, action: str) -> None:
    if job.origin is JobOrigin.CONFIG:
        raise Conflict(
            f"job {job.name!r} is declared in the configuration; {action} it in"
            " config/*.toml ([[scheduler.jobs]]) and restart, or pause/resume it here"
        )


class CreateJob(_JobUseCase):
    def __init__(
        self,
        *,
        jobs: JobStore,
        clock: Clock,
        scheduler: JobScheduler | None = None,
        supported_kinds: Collection[JobKind] = tuple(JobKind),
        new_id: Callable[[], str] = new_id,
    ) -> None:
        super().__init__(jobs=jobs, clock=clock, scheduler=scheduler)
        self._kinds = frozenset(supported_kinds)
        self._new_id = new_id

    async def execute(self, spec: JobSpec) -> JobDefinition:
        job = JobDefinition.from_spec(
            spec, id=self._new_id(), origin=JobOrigin.API, created_at=self._clock.now()
        )
        _check_kind(job, self._kinds)
        await self._jobs.save(job)
        self._schedule(job)
        log.info("job %s (%s) created: %s", job.name, job.id, job.schedule.describe())
        return job


class ListJobs(_JobUseCase):
    async def execute(self) -> list[JobView]:
        return [await self._view(job) for job in await self._jobs.list()]


class GetJob(_JobUseCase):
    async def execute(self, job_id: str) -> JobView:
        return await self._view(await self._jobs.get(job_id))


class UpdateJob(_JobUseCase):
    def __init__(
        self,
        *,
        jobs: JobStore,
        clock: Clock,
        scheduler: JobScheduler | None = None,
        supported_kinds: Collection[JobKind] = tuple(JobKind),
    ) -> None:
        super().__init__(jobs=jobs, clock=clock, scheduler=scheduler)
        self._kinds = frozenset(supported_kinds)

    async def execute(self, job_id: str, patch: JobPatch) -> JobDefinition:
        job = await self._jobs.get(job_id)
        only_pause = patch == JobPatch(paused=patch.paused)
        if not only_pause:
            _refuse_config_edit(job, "change")
        changed = job.apply(patch, at=self._clock.now())
        _check_kind(changed, self._kinds)
        await self._jobs.update(changed)
        self._schedule(changed)
        return changed


class DeleteJob(_JobUseCase):
    async def execute(self, job_id: str) -> None:
        job = await self._jobs.get(job_id)
        _refuse_config_edit(job, "remove")
        if self._running(job_id):
            raise Conflict(
                f"job {job.name!r} is running; pause it, wait for the run to end, then delete it"
            )
        await self._jobs.delete(job_id)
        if self._scheduler is not None:
            self._scheduler.unschedule(job_id)
        log.info("job %s (%s) deleted", job.name, job.id)


class PauseJob(_JobUseCase):
    """Stop scheduling a job (a run in flight finishes). Pausing twice is harmless."""

    async def execute(self, job_id: str) -> JobDefinition:
        return await self._set_paused(job_id, True)

    async def _set_paused(self, job_id: str, paused: bool) -> JobDefinition:
        job = await self._jobs.get(job_id)
        if job.paused != paused:
            job = job.with_paused(paused, at=self._clock.now())
            await self._jobs.update(job)
        self._schedule(job)
        return job


class ResumeJob(PauseJob):
    """Schedule a paused job again from now on."""

    async def execute(self, job_id: str) -> JobDefinition:
        return await self._set_paused(job_id, False)


class RunJobNow(_JobUseCase):
    """Start a run now, paused jobs included.

    With a scheduler (``arbx serve``) the run starts in the background and ``execute``
    returns None; a run already in flight raises ``Conflict`` (a job never runs twice at
    once). Without one (the CLI) the run happens inline and its last attempt is returned;
    a run recorded as in progress (say, in the server) is a ``Conflict``.
    """

    def __init__(
        self,
        *,
        jobs: JobStore,
        clock: Clock,
        run_job: RunJob,
        scheduler: JobScheduler | None = None,
    ) -> None:
        super().__init__(jobs=jobs, clock=clock, scheduler=scheduler)
        self._run_job = run_job

    async def execute(self, job_id: str) -> JobRun | None:
        job = await self._jobs.get(job_id)
        if self._scheduler is None:
            latest = await self._jobs.list_runs(job.id, limit=1)
            if latest and latest[0].is_running:
                raise Conflict(
                    f"job {job.name!r} has a run in progress (started"
                    f" {latest[0].started_at.isoformat()}, perhaps in the server); wait for it"
                )
            return await self._run_job.execute(job.id, RunTrigger.MANUAL)
        if not self._scheduler.trigger(job.id):
            raise Conflict(f"job {job.name!r} is running already; wait for the run to end")
        return None


class ListJobRuns(_JobUseCase):
    async def execute(self, job_id: str, *, limit: int = 100) -> list[JobRun]:
        if not 1 <= limit <= MAX_RUNS_PAGE:
            raise InvalidInput(f"limit must be 1 to {MAX_RUNS_PAGE}", field="limit")
        await self._jobs.get(job_id)
        return await self._jobs.list_runs(job_id, limit=limit)


class SyncConfigJobs(_JobUseCase):
    """Make the stored config jobs match the configuration (call at start-up, before the
    scheduler starts). A config job's id is ``config-<name>``. New ones are created; changed
    ones updated, keeping their pause state (an operator's pause outlives a restart); the
    ones no longer in the configuration are deleted with their runs. A config name that an
    API job already uses is a ``Conflict``. Returns the config jobs, in config order."""

    async def execute(self, specs: Sequence[JobSpec]) -> list[JobDefinition]:
        now = self._clock.now()
        wanted: dict[str, JobDefinition] = {}
        for index, spec in enumerate(specs):
            job = _config_job(spec, index, now)
            if job.id in wanted:
                raise InvalidInput(
                    f"scheduler.jobs[{index}]: job name {spec.name!r} appears twice",
                    field="scheduler.jobs",
                )
            wanted[job.id] = job
        stored = {job.id: job for job in await self._jobs.list()}
        for job in stored.values():
            if job.origin is JobOrigin.CONFIG and job.id not in wanted:
                await self._jobs.delete(job.id)
                if self._scheduler is not None:
                    self._scheduler.unschedule(job.id)
                log.info("config job %s removed (no longer in the configuration)", job.name)
        result = []
        for job in wanted.values():
            old = stored.get(job.id)
            if old is None:
                await self._jobs.save(job)
                log.info("config job %s added", job.name)
            elif old.same_settings(job):
                job = old
            else:
                job = msgspec.structs.replace(job, created_at=old.created_at, paused=old.paused)
                await self._jobs.update(job)
                log.info("config job %s updated from the configuration", job.name)
            self._schedule(job)
            result.append(job)
        return result


def _config_job(spec: JobSpec, index: int, now: datetime) -> JobDefinition:
    try:
        return JobDefinition.from_spec(
            spec, id=CONFIG_ID_PREFIX + spec.name, origin=JobOrigin.CONFIG, created_at=now
        )
    except InvalidInput as exc:
        raise InvalidInput(
            f"scheduler.jobs[{index}] ({spec.name!r}): {exc.message}",
            field=f"scheduler.jobs.{exc.field}" if exc.field else "scheduler.jobs",
        ) from exc


def _check_kind(job: JobDefinition, kinds: frozenset[JobKind]) -> None:
    if job.kind not in kinds:
        choices = ", ".join(sorted(k.value for k in kinds)) or "none"
        raise InvalidInput(
            f"{job.kind.value} jobs are not available in this arbx; use one of {choices}",
            field="kind",
        )
