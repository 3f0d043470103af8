"""JobScheduler on APScheduler 3's AsyncIOScheduler, in the serving process's event loop.

Every job is an APScheduler job with ``max_instances=1`` and ``coalesce=True`` (misfires
inside ``misfire_grace_s`` run once; older ones are skipped). APScheduler only decides WHEN;
each firing goes through ``fire(job_id)``, which starts the run as a task of its own unless
a run of that job is in flight (manual or scheduled): a job never runs twice at once.
Tests drive ``fire`` directly with a fake clock; APScheduler itself reads the wall clock.

Jobs changed in the store by another process (the CLI) are picked up by ``sync_from_store``,
which the runner also calls every ``reconcile_s`` seconds while it runs.

Shutdown (``stop``): no new firings; in-flight runs get ``grace_s`` to finish, then are
cancelled (the run use case records them as cancelled; each page is written atomically, so
no partial write remains); finally any run still marked running is marked interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from arbx.adapters.scheduling.triggers import trigger_for
from arbx.domain.jobs import JobDefinition, RunTrigger
from arbx.ports.clock import Clock
from arbx.ports.job_store import JobScheduler, JobStore

log = logging.getLogger(__name__)

_SYNC_JOB_ID = "__arbx_sync_from_store__"

JobExecutor = Callable[[str, RunTrigger], Awaitable[object]]
"""Runs one job now (``RunJob.execute``): ``await execute(job_id, trigger)``."""


class ApschedulerJobRunner(JobScheduler):
    def __init__(
        self,
        *,
        jobs: JobStore,
        execute: JobExecutor,
        clock: Clock,
        misfire_grace_s: float,
        shutdown_grace_s: float,
        reconcile_s: float | None,
    ) -> None:
        self._jobs = jobs
        self._execute = execute
        self._clock = clock
        self._misfire_grace_s = misfire_grace_s
        self._shutdown_grace_s = shutdown_grace_s
        self._reconcile_s = reconcile_s
        self._known: dict[str, JobDefinition] = {}
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._started = False
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> int:
        """Mark runs left running by a previous process as interrupted, schedule every stored
        job (paused ones never fire) and start firing. Returns how many jobs are active."""
        if self._started:
            return self._active_count()
        interrupted = await self._jobs.mark_interrupted_runs(self._clock.now())
        if interrupted:
            log.warning("%d job run(s) were left running by the previous process", interrupted)
        await self.sync_from_store()
        if self._reconcile_s:
            self._scheduler.add_job(
                self._sync_quietly,
                IntervalTrigger(seconds=self._reconcile_s, timezone=UTC),
                id=_SYNC_JOB_ID,
                max_instances=1,
                coalesce=True,
                replace_existing=True,
            )
        self._scheduler.start()
        self._started = True
        active = self._active_count()
        log.info("scheduler started with %d active job(s)", active)
        return active

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop firing, let in-flight runs finish for ``grace_s`` (default: the configured
        shutdown grace), cancel the rest and leave no run marked running."""
        grace = self._shutdown_grace_s if grace_s is None else grace_s
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        tasks = list(self._running.values())
        if tasks:
            log.info("waiting up to %.1f s for %d running job(s)", grace, len(tasks))
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("cancelled %d job run(s) at shutdown", len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        marked = await self._jobs.mark_interrupted_runs(self._clock.now())
        if marked:
            log.warning("%d job run(s) were marked interrupted at shutdown", marked)
        self._started = False

    async def sync_from_store(self) -> int:
        """Schedule what the store holds: new and changed jobs (re)scheduled, deleted ones
        forgotten, unchanged ones left alone (their next fire time stays). Returns how many
        jobs changed."""
        stored = {job.id: job for job in await self._jobs.list()}
        changed = 0
        for job_id in [known for known in self._known if known not in stored]:
            self.unschedule(job_id)
            changed += 1
        for job in stored.values():
            if self._known.get(job.id) != job:
                self.schedule(job)
                changed += 1
        return changed

    async def _sync_quietly(self) -> None:
        try:
            await self.sync_from_store()
        except Exception:  # the store may be briefly unavailable; try again next time
            log.exception("could not read the job store to refresh schedules")

    @property
    def running(self) -> bool:
        return self._started and not self._stopping

    # -- JobScheduler ------------------------------------------------------------------------

    def schedule(self, job: JobDefinition) -> None:
        options: dict[str, Any] = {
            "trigger": trigger_for(job.schedule, start=datetime.now(UTC)),
            "args": (job.id,),
            "id": job.id,
            "name": job.name,
            "max_instances": 1,
            "coalesce": True,
            # APScheduler 3 takes whole seconds only
            "misfire_grace_time": max(1, math.ceil(self._misfire_grace_s)),
            "replace_existing": True,
        }
        if job.paused:
            options["next_run_time"] = None  # APScheduler keeps it, paused
        self._scheduler.add_job(self._fire_scheduled, **options)
        self._known[job.id] = job

    def unschedule(self, job_id: str) -> None:
        self._known.pop(job_id, None)
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(job_id)

    def trigger(self, job_id: str) -> bool:
        return self._start_run(job_id, RunTrigger.MANUAL) is not None

    def is_running(self, job_id: str) -> bool:
        return job_id in self._running

    def next_run_at(self, job_id: str) -> datetime | None:
        job: Job | None = self._scheduler.get_job(job_id)
        if job is None or not self.running:
            return None
        moment: datetime | None = getattr(job, "next_run_time", None)
        return None if moment is None else moment.astimezone(UTC)

    async def join(self, job_id: str) -> None:
        """Wait until the job's run in flight (if any) has ended."""
        task = self._running.get(job_id)
        if task is not None:
            await asyncio.wait({task})

    # -- firing ------------------------------------------------------------------------------

    async def fire(self, job_id: str, trigger: RunTrigger = RunTrigger.SCHEDULE) -> bool:
        """Run the job now and wait for the run; False (and nothing run) when one is in
        flight or the runner is stopping. APScheduler calls this on every firing."""
        task = self._start_run(job_id, trigger)
        if task is None:
            return False
        # Shielded: APScheduler cancels its own tasks at shutdown; the run's fate is
        # decided by stop(), which gives it the grace period first.
        await asyncio.shield(task)
        return True

    async def _fire_scheduled(self, job_id: str) -> None:
        # Cancelled when APScheduler shuts down; the run itself is handled by stop().
        with contextlib.suppress(asyncio.CancelledError):
            await self.fire(job_id)

    def _start_run(self, job_id: str, trigger: RunTrigger) -> asyncio.Task[None] | None:
        if self._stopping:
            log.info("job %s not started: the scheduler is stopping", job_id)
            return None
        if job_id in self._running:
            log.info("job %s is still running; this firing is skipped", job_id)
            return None
        task = asyncio.create_task(self._run(job_id, trigger), name=f"arbx-job:{job_id}")
        self._running[job_id] = task
        task.add_done_callback(lambda done: self._forget(job_id, done))
        return task

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._running.get(job_id) is task:
            del self._running[job_id]

    async def _run(self, job_id: str, trigger: RunTrigger) -> None:
        try:
            await self._execute(job_id, trigger)
        except asyncio.CancelledError:
            raise
        except Exception:  # recorded by the use case when it can be; never kills the loop
            log.exception("job %s could not run", job_id)

    def _active_count(self) -> int:
        return sum(1 for job in self._known.values() if not job.paused)
