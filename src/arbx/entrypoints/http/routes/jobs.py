"""Scheduled jobs: define, change, pause, resume and run them; read their run history.

A job collects (keeps series current), validates or repairs its target series on an interval
or a cron schedule (UTC). Jobs declared in the configuration (``[[scheduler.jobs]]``, id
``config-<name>``) can be paused, resumed and run here, but changed only in the config.
``POST /api/v1/jobs/{id}/run`` answers 202 when the scheduler runs it in the background
(follow it at ``/runs``), or 200 with the finished run when the server runs no scheduler.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from arbx.app.manage_jobs import (
    MAX_RUNS_PAGE,
    CreateJob,
    DeleteJob,
    GetJob,
    ListJobRuns,
    ListJobs,
    PauseJob,
    ResumeJob,
    RunJobNow,
    UpdateJob,
)
from arbx.domain.auth import Permission
from arbx.domain.jobs import JobDefinition, JobPatch, JobSpec
from arbx.entrypoints.http.security import requires
from arbx.entrypoints.schemas.jobs import JobOut, JobsOut, RunOut, RunsOut

READ = requires(Permission.JOBS_READ)
MANAGE = requires(Permission.JOBS_MANAGE)
JobId = FromPath[str]


class RunStartedOut(msgspec.Struct):
    """``started``: the run goes on in the background (202; see ``runs_url``). ``finished``:
    it ran before this answer (200; no scheduler in this server) and ``run`` is its last
    attempt."""

    job_id: str
    status: str
    runs_url: str
    run: RunOut | None


async def _shown(get_job: GetJob, job: JobDefinition) -> JobOut:
    return JobOut.of_view(await get_job.execute(job.id))


@get(
    "/",
    summary="List the scheduled jobs with their state and last run",
    guards=[READ],
)
async def list_jobs(list_jobs: NamedDependency[ListJobs]) -> JobsOut:
    views = await list_jobs.execute()
    return JobsOut(count=len(views), jobs=[JobOut.of_view(v) for v in views])


@post(
    "/",
    summary="Create a job: collect, validate or repair series on a schedule",
    description=(
        "Give exactly one of `interval_s` (seconds) and `cron` (five crontab fields such as"
        " `*/5 * * * *`, or an object of APScheduler cron fields; UTC, day_of_week 0 = Monday)."
        " Targets are `series` (`binance:BTC/USDC:1m`) and/or `markets` (every combination of"
        " `exchanges`, `symbols`, `timeframes`). A collect run fetches the closed bars since the"
        " newest stored one (at most `lookback_bars`); validate and repair work on the last"
        " `lookback_bars` closed bars. Repair jobs take `repair_policy` (`ffill` by default,"
        " `leave`, or `venue` with `reference_exchange`)."
    ),
    status_code=201,
    guards=[MANAGE],
)
async def create_job(
    data: JSONBody[JobSpec],
    create_job: NamedDependency[CreateJob],
    get_job: NamedDependency[GetJob],
) -> JobOut:
    return await _shown(get_job, await create_job.execute(data))


@get("/{job_id:str}", summary="One job", guards=[READ])
async def get_job(job_id: JobId, get_job: NamedDependency[GetJob]) -> JobOut:
    return JobOut.of_view(await get_job.execute(job_id))


@patch(
    "/{job_id:str}",
    summary="Change a job (fields left out stay as they are)",
    description=(
        "Giving `interval_s` replaces a cron schedule and the other way round; giving `series`"
        " or `markets` replaces both target lists. Jobs from the configuration accept only"
        " `paused` here (409 otherwise)."
    ),
    guards=[MANAGE],
)
async def update_job(
    job_id: JobId,
    data: JSONBody[JobPatch],
    update_job: NamedDependency[UpdateJob],
    get_job: NamedDependency[GetJob],
) -> JobOut:
    return await _shown(get_job, await update_job.execute(job_id, data))


@delete(
    "/{job_id:str}",
    summary="Delete a job and its run history (409 while it runs or for config jobs)",
    status_code=204,
    guards=[MANAGE],
)
async def delete_job(job_id: JobId, delete_job: NamedDependency[DeleteJob]) -> None:
    await delete_job.execute(job_id)


@post(
    "/{job_id:str}/pause",
    summary="Stop scheduling a job (a run in flight finishes)",
    status_code=200,
    guards=[MANAGE],
)
async def pause_job(
    job_id: JobId, pause_job: NamedDependency[PauseJob], get_job: NamedDependency[GetJob]
) -> JobOut:
    return await _shown(get_job, await pause_job.execute(job_id))


@post(
    "/{job_id:str}/resume",
    summary="Schedule a paused job again from now on",
    status_code=200,
    guards=[MANAGE],
)
async def resume_job(
    job_id: JobId, resume_job: NamedDependency[ResumeJob], get_job: NamedDependency[GetJob]
) -> JobOut:
    return await _shown(get_job, await resume_job.execute(job_id))


@post(
    "/{job_id:str}/run",
    summary="Run a job now (paused jobs too); 409 while a run of it is in flight",
    description=(
        "202 when the scheduler runs it in the background: follow it at"
        " `GET /api/v1/jobs/{job_id}/runs`. 200 with the finished run when this server runs"
        " no scheduler (`[scheduler] enabled = false`)."
    ),
    status_code=202,
    guards=[MANAGE],
)
async def run_job(
    job_id: JobId, run_job_now: NamedDependency[RunJobNow]
) -> Response[RunStartedOut]:
    run = await run_job_now.execute(job_id)
    body = RunStartedOut(
        job_id=job_id,
        status="started" if run is None else "finished",
        runs_url=f"/api/v1/jobs/{job_id}/runs",
        run=None if run is None else RunOut.of(run),
    )
    return Response(body, status_code=202 if run is None else 200)


@get(
    "/{job_id:str}/runs",
    summary="A job's runs, newest first (each retry attempt is a run)",
    guards=[READ],
)
async def list_job_runs(
    job_id: JobId,
    list_job_runs: NamedDependency[ListJobRuns],
    limit: Annotated[
        int, QueryParameter(description=f"runs to return, newest first (1..{MAX_RUNS_PAGE})")
    ] = 100,
) -> RunsOut:
    runs = await list_job_runs.execute(job_id, limit=limit)
    return RunsOut(job_id=job_id, count=len(runs), runs=[RunOut.of(r) for r in runs])


ROUTES = [
    list_jobs,
    create_job,
    get_job,
    update_job,
    delete_job,
    pause_job,
    resume_job,
    run_job,
    list_job_runs,
]
