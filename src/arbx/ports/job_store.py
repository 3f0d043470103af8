"""The jobs ports: where job definitions and their run history live (``JobStore``), and the
scheduler that fires them in the serving process (``JobScheduler``)."""

from __future__ import annotations

import builtins
from abc import abstractmethod
from datetime import datetime
from typing import Protocol

from arbx.domain.jobs import JobDefinition, JobRun


class JobStore(Protocol):
    """Job definitions, unique on id and on name, and their runs.

    Contract (tests/contract/test_job_store.py holds every adapter to it):
    - ``save`` stores a new definition; a taken id or name raises ``Conflict`` and stores
      nothing. ``get`` returns it or raises ``NotFound``. ``list`` returns every definition,
      oldest first (created_at, then id).
    - ``update`` replaces a stored definition (same id); ``NotFound`` for an unknown id,
      ``Conflict`` when the new name belongs to another job (nothing changes then).
    - ``delete`` removes a definition and its runs; ``NotFound`` for an unknown id.
    - ``start_run`` records a new run in status running; ``NotFound`` when its job does not
      exist, ``Conflict`` when its id is taken.
    - ``finish_run`` records the outcome of a running run (the finished ``JobRun``);
      ``NotFound`` for an unknown run, ``Conflict`` when the stored run is not running any more
      (a finished run is never rewritten). It returns the stored run.
    - ``get_run`` returns a run or raises ``NotFound``. ``list_runs`` returns the runs of one
      job (every job when None), newest first (started_at, then id, descending), at most
      ``limit`` of them.
    - ``mark_interrupted_runs`` finishes every run still marked running as cancelled at ``at``
      (with an error saying it was interrupted) and returns how many it marked. The serving
      process calls it at start-up and after shutdown so nothing stays running after a crash.
    """

    @abstractmethod
    async def save(self, job: JobDefinition) -> None: ...

    @abstractmethod
    async def get(self, job_id: str) -> JobDefinition: ...

    @abstractmethod
    async def list(self) -> list[JobDefinition]: ...

    @abstractmethod
    async def update(self, job: JobDefinition) -> None: ...

    @abstractmethod
    async def delete(self, job_id: str) -> None: ...

    @abstractmethod
    async def start_run(self, run: JobRun) -> None: ...

    @abstractmethod
    async def finish_run(self, run: JobRun) -> JobRun: ...

    @abstractmethod
    async def get_run(self, run_id: str) -> JobRun: ...

    @abstractmethod
    async def list_runs(
        self, job_id: str | None = None, *, limit: int = 100
    ) -> builtins.list[JobRun]: ...

    @abstractmethod
    async def mark_interrupted_runs(self, at: datetime) -> int: ...


INTERRUPTED = "interrupted: the process stopped while the run was in progress"


class JobScheduler(Protocol):
    """The in-process scheduler that fires stored jobs.

    Contract:
    - ``schedule`` adds a job or replaces its schedule (a paused job is kept but never fires).
    - ``unschedule`` forgets a job (unknown ids are ignored); a run in flight is not stopped.
    - ``trigger`` starts one run now in the background, unless one is in flight (then it
      returns False and starts nothing): a job never runs twice at once.
    - ``is_running`` says whether a run of the job is in flight.
    - ``next_run_at`` is the next scheduled fire time (None: paused, unknown or stopped).
    """

    @abstractmethod
    def schedule(self, job: JobDefinition) -> None: ...

    @abstractmethod
    def unschedule(self, job_id: str) -> None: ...

    @abstractmethod
    def trigger(self, job_id: str) -> bool: ...

    @abstractmethod
    def is_running(self, job_id: str) -> bool: ...

    @abstractmethod
    def next_run_at(self, job_id: str) -> datetime | None: ...
