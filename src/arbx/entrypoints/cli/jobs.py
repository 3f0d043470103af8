"""``arbx jobs``: list, show, create, change, pause, resume, run and delete scheduled jobs.

The commands act on the job store directly (the SQLite file of the local profile), without a
scheduler: a running ``arbx serve`` picks the changes up within ``[scheduler] reconcile_s``,
and ``arbx jobs run`` runs the job here and now and prints the run. ``--json`` prints what
the HTTP API answers for the same thing.
"""

from __future__ import annotations

import argparse
import functools
import re
from typing import TYPE_CHECKING, Any

import msgspec

from arbx.app.manage_jobs import JobView, ListJobs
from arbx.domain.errors import InvalidInput, NotFound
from arbx.domain.jobs import JobPatch, JobRun, JobSpec, MarketSpecInput, RunStatus
from arbx.entrypoints.runtime import resolve
from arbx.entrypoints.schemas.jobs import JobOut, JobsOut, RunOut, RunsOut

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container

EXIT_OK, EXIT_FAILED = 0, 1
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
JOB_HELP = "the job's id or name (see 'arbx jobs list')"
SCHEDULE_EPILOG = (
    "Schedules are UTC. --every takes seconds or a number with s, m, h or d (90, 5m, 1h);"
    " --cron takes five crontab fields ('*/5 * * * *': minute hour day month day_of_week,"
    " where day_of_week 0 is Monday). Targets: --series EXCHANGE:BASE/QUOTE:TF (repeat it)"
    " and/or --exchanges, --symbols and --timeframes together (every combination)."
)


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "jobs",
        help="scheduled jobs: collect, validate and repair series on a schedule",
        description="Manage the jobs 'arbx serve' runs on a schedule. Changes are stored at"
        " once; a running server picks them up within [scheduler] reconcile_s.",
    )
    commands = parser.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    listing = commands.add_parser(
        "list", help="list the jobs", description="List every job with its state and last run."
    )
    _json_flag(listing)
    listing.set_defaults(run=list_jobs)

    show = commands.add_parser(
        "show", help="show one job", description="Show a job's definition and its last run."
    )
    show.add_argument("job", metavar="JOB", help=JOB_HELP)
    _json_flag(show)
    show.set_defaults(run=show_job)

    create = commands.add_parser(
        "create",
        help="create a job",
        description="Create a job. Give a name, a kind, one schedule and at least one target.",
        epilog=SCHEDULE_EPILOG
        + " Example: arbx jobs create --name collect-btc --kind collect --every 1m"
        " --exchanges binance,kraken --symbols BTC/USDC --timeframes 1m",
    )
    create.add_argument("--name", required=True, help="1-64 of a-z 0-9 . _ -, e.g. collect-btc")
    create.add_argument(
        "--kind",
        required=True,
        help="collect (fetch the closed bars since the newest stored one), validate (run the"
        " quality rules on the last --lookback-bars bars), repair (fill their gaps),"
        " evaluate (re-run --strategy's approved catalog version on its last --lookback-bars"
        " bars) or retain (delete what the [[retention]] rules no longer keep)",
    )
    _definition_flags(create)
    create.add_argument("--paused", action="store_true", help="create it paused")
    _json_flag(create)
    create.set_defaults(run=create_job)

    update = commands.add_parser(
        "update",
        help="change a job",
        description="Change a job: options left out stay as they are. --every replaces a cron"
        " schedule and --cron an interval; --series or --exchanges/--symbols/--timeframes"
        " replace all targets. Jobs from the configuration are changed in config/*.toml.",
        epilog=SCHEDULE_EPILOG,
    )
    update.add_argument("job", metavar="JOB", help=JOB_HELP)
    update.add_argument("--name", help="a new name")
    update.add_argument("--kind", help="collect, validate, repair, evaluate or retain")
    _definition_flags(update)
    _json_flag(update)
    update.set_defaults(run=update_job)

    for action, text, handler in (
        ("delete", "delete a job and its run history", delete_job),
        ("pause", "stop scheduling a job (a run in flight finishes)", pause_job),
        ("resume", "schedule a paused job again", resume_job),
    ):
        command = commands.add_parser(action, help=text, description=text[0].upper() + text[1:])
        command.add_argument("job", metavar="JOB", help=JOB_HELP)
        command.set_defaults(run=handler)

    run = commands.add_parser(
        "run",
        help="run a job now, here, and print the run",
        description="Run a job now in this process (paused jobs too), retrying failed"
        " attempts by its policy, and print the last attempt. Exit code 1 when it failed."
        " Refused while a run of the job is in progress elsewhere (e.g. in the server).",
    )
    run.add_argument("job", metavar="JOB", help=JOB_HELP)
    _json_flag(run)
    run.set_defaults(run=run_job)

    runs = commands.add_parser(
        "runs",
        help="list a job's runs, newest first",
        description="List a job's runs (each retry attempt is one), newest first.",
    )
    runs.add_argument("job", metavar="JOB", help=JOB_HELP)
    runs.add_argument("--limit", type=int, default=20, help="runs to show (default 20)")
    _json_flag(runs)
    runs.set_defaults(run=list_runs)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (as the HTTP API)")


def _definition_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--series",
        action="append",
        metavar="SERIES",
        help="a target series EXCHANGE:BASE/QUOTE:TF, e.g. binance:BTC/USDC:1m (repeatable)",
    )
    parser.add_argument("--exchanges", help="comma-separated venues, e.g. binance,kraken")
    parser.add_argument("--symbols", help="comma-separated pairs, e.g. BTC/USDC,ETH/USDC")
    parser.add_argument("--timeframes", help="comma-separated timeframes, e.g. 1m,1h")
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument("--every", metavar="DURATION", help="interval: 90, 30s, 5m, 1h, 1d")
    schedule.add_argument("--cron", metavar="EXPR", help="crontab fields, e.g. '*/5 * * * *'")
    parser.add_argument("--max-attempts", type=int, help="attempts per run (1-10; default 3)")
    parser.add_argument(
        "--backoff", type=float, help="seconds before the first retry (doubles each time)"
    )
    parser.add_argument(
        "--lookback-bars", type=int, help="how far back a run reaches, in bars (default 1440)"
    )
    parser.add_argument("--repair-policy", help="repair jobs: ffill (default), leave or venue")
    parser.add_argument(
        "--reference-exchange", help="repair policy venue: the venue whose bars fill the gaps"
    )
    parser.add_argument(
        "--strategy", help="evaluate jobs: the catalog strategy whose approved version re-runs"
    )


# -- plumbing ------------------------------------------------------------------------------------


async def _use_case(container: Container, name: str) -> Any:
    """A job use case without a scheduler: the store is the only place changes go."""
    return await resolve(functools.partial(getattr(container, name), scheduler=None))


async def _job_id(container: Container, text: str) -> str:
    """The id of the job whose id or name is ``text``."""
    views: list[JobView] = await (await _use_case(container, "list_jobs")).execute()
    for view in views:
        if text == view.job.id:
            return text
    for view in views:
        if text == view.job.name:
            return view.job.id
    names = ", ".join(v.job.name for v in views[:20]) or "none yet"
    raise NotFound(f"no job with id or name {text!r}; jobs: {names}")


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.lower())
    if not match:
        raise InvalidInput(
            f"--every {text!r} is not a duration; use seconds or a number with s, m, h or d,"
            " e.g. 90, 5m, 1h",
            field="every",
        )
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _markets(args: argparse.Namespace) -> MarketSpecInput | None:
    given = {name: _split(getattr(args, name)) for name in ("exchanges", "symbols", "timeframes")}
    if not any(given.values()):
        return None
    missing = [f"--{name}" for name, values in given.items() if not values]
    if missing:
        raise InvalidInput(
            f"--exchanges, --symbols and --timeframes go together; add {', '.join(missing)}",
            field="markets",
        )
    return MarketSpecInput(**given)


def _definition(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line, as JobSpec/JobPatch fields."""
    fields: dict[str, Any] = {
        "series": args.series,
        "markets": _markets(args),
        "interval_s": parse_duration(args.every) if args.every else None,
        "cron": args.cron,
        "max_attempts": args.max_attempts,
        "backoff_s": args.backoff,
        "lookback_bars": args.lookback_bars,
        "repair_policy": args.repair_policy,
        "reference_exchange": args.reference_exchange,
        "strategy": args.strategy,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _print_json(value: msgspec.Struct) -> None:
    print(msgspec.json.format(msgspec.json.encode(value).decode(), indent=2))


def _when(moment: Any) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}Z"


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _run_line(run: JobRun) -> str:
    text = (
        f"{run.status.value} (attempt {run.attempt}, {run.trigger.value}) started"
        f" {_when(run.started_at)}, finished {_when(run.finished_at)},"
        f" {run.bars_written} bar(s) written"
    )
    return text + (f"; error: {run.error}" if run.error else "")


def _show(out: JobOut) -> None:
    lines = [
        ("id", out.id),
        ("name", out.name),
        ("kind", out.kind),
        ("origin", out.origin),
        ("schedule", out.schedule.description),
        ("state", "paused" if out.paused else "active"),
        ("targets", ", ".join(out.targets)),
        ("lookback", f"{out.lookback_bars} bars"),
        ("retries", f"{out.max_attempts} attempt(s), first backoff {out.backoff_s:g} s"),
    ]
    if out.repair_policy is not None:
        policy = out.repair_policy
        if out.reference_exchange:
            policy += f" from {out.reference_exchange}"
        lines.append(("repair", policy))
    if out.strategy is not None:
        lines.append(("strategy", out.strategy))
    lines.append(("updated", _when(out.updated_at)))
    if out.last_run is not None:
        last = out.last_run
        lines.append(
            (
                "last run",
                f"{last.status} at {_when(last.started_at)}, {last.bars_written} bar(s)"
                + (f"; error: {last.error}" if last.error else ""),
            )
        )
    for label, value in lines:
        print(f"{label + ':':<10} {value}")


# -- commands ------------------------------------------------------------------------------------


async def list_jobs(args: argparse.Namespace, container: Container) -> int:
    use_case: ListJobs = await _use_case(container, "list_jobs")
    outs = [JobOut.of_view(view) for view in await use_case.execute()]
    if args.json:
        _print_json(JobsOut(count=len(outs), jobs=outs))
        return EXIT_OK
    if not outs:
        print("no jobs; create one with 'arbx jobs create' or in config/*.toml")
        return EXIT_OK
    rows = [["ID", "NAME", "KIND", "SCHEDULE", "STATE", "TARGETS", "LAST RUN"]]
    for out in outs:
        last = out.last_run
        rows.append(
            [
                out.id,
                out.name,
                out.kind,
                out.schedule.description,
                "paused" if out.paused else "active",
                str(len(out.targets)),
                "-" if last is None else f"{last.status} {_when(last.started_at)}",
            ]
        )
    _table(rows)
    return EXIT_OK


async def show_job(args: argparse.Namespace, container: Container) -> int:
    await _print_job(container, await _job_id(container, args.job), args.json)
    return EXIT_OK


async def _print_job(container: Container, job_id: str, as_json: bool) -> None:
    out = JobOut.of_view(await (await _use_case(container, "get_job")).execute(job_id))
    if as_json:
        _print_json(out)
    else:
        _show(out)


async def create_job(args: argparse.Namespace, container: Container) -> int:
    spec = JobSpec(name=args.name, kind=args.kind, paused=args.paused, **_definition(args))
    job = await (await _use_case(container, "create_job")).execute(spec)
    await _print_job(container, job.id, args.json)
    return EXIT_OK


async def update_job(args: argparse.Namespace, container: Container) -> int:
    job_id = await _job_id(container, args.job)
    changes = _definition(args)
    if args.name is not None:
        changes["name"] = args.name
    if args.kind is not None:
        changes["kind"] = args.kind
    if not changes:
        raise InvalidInput("nothing to change; give at least one option", field="job")
    await (await _use_case(container, "update_job")).execute(job_id, JobPatch(**changes))
    await _print_job(container, job_id, args.json)
    return EXIT_OK


async def delete_job(args: argparse.Namespace, container: Container) -> int:
    job_id = await _job_id(container, args.job)
    await (await _use_case(container, "delete_job")).execute(job_id)
    print(f"deleted job {args.job} ({job_id}) and its runs")
    return EXIT_OK


async def pause_job(args: argparse.Namespace, container: Container) -> int:
    job_id = await _job_id(container, args.job)
    job = await (await _use_case(container, "pause_job")).execute(job_id)
    print(f"paused job {job.name} ({job.id})")
    return EXIT_OK


async def resume_job(args: argparse.Namespace, container: Container) -> int:
    job_id = await _job_id(container, args.job)
    job = await (await _use_case(container, "resume_job")).execute(job_id)
    print(f"resumed job {job.name} ({job.id}): {job.schedule.describe()}")
    return EXIT_OK


async def run_job(args: argparse.Namespace, container: Container) -> int:
    job_id = await _job_id(container, args.job)
    run: JobRun | None = await (await _use_case(container, "run_job_now")).execute(job_id)
    if run is None:  # only with a scheduler, which the CLI never passes
        raise RuntimeError("the run was handed to a scheduler; the CLI runs jobs inline")
    if args.json:
        _print_json(RunOut.of(run))
    else:
        print(f"run {run.id} of job {args.job}: {_run_line(run)}")
    return EXIT_OK if run.status is RunStatus.SUCCEEDED else EXIT_FAILED


async def list_runs(args: argparse.Namespace, container: Container) -> int:
    job_id = await _job_id(container, args.job)
    runs: list[JobRun] = await (await _use_case(container, "list_job_runs")).execute(
        job_id, limit=args.limit
    )
    if args.json:
        _print_json(RunsOut(job_id=job_id, count=len(runs), runs=[RunOut.of(r) for r in runs]))
        return EXIT_OK
    if not runs:
        print(f"job {args.job} has not run yet")
        return EXIT_OK
    rows = [["STARTED", "STATUS", "ATTEMPT", "TRIGGER", "BARS", "FINISHED", "ERROR"]]
    for run in runs:
        rows.append(
            [
                _when(run.started_at),
                run.status.value,
                str(run.attempt),
                run.trigger.value,
                str(run.bars_written),
                _when(run.finished_at),
                (run.error or "")[:120],
            ]
        )
    _table(rows)
    return EXIT_OK
