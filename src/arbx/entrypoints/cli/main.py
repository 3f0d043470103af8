"""``arbx``: the command line. Exit codes: 0 done, 1 failed (store, exchange...), 2 bad usage or input.

Each command group lives in its own module with ``register(subparsers)``; a command is an
async function ``run(args, container) -> int``. Only the module of the command being run is
imported (``GROUPS`` lists the others by name and help), and the commands of
``services.LIGHT_COMMANDS`` run on the local stores they need instead of the container, so
``arbx --help`` or ``arbx data list`` does not load the web framework, the HTTP client, the
PostgreSQL driver or the scheduler.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from arbx import __version__
from arbx.domain.errors import ArbxError, InvalidInput
from arbx.entrypoints.cli.lazy import Commands, add_commands, command_words

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CLI = "arbx.entrypoints.cli"
# the command groups in the order of --help, with the help their modules give them
GROUPS: tuple[Commands, ...] = (
    Commands(
        f"{CLI}.alerts", "register", {"alerts": "alert rules, their history, a test notification"}
    ),
    Commands(
        f"{CLI}.backtest",
        "register",
        {"backtest": "backtests: run, list, show, export, rerun, delete, cancel; strategy types"},
    ),
    Commands(
        f"{CLI}.backup",
        "register",
        {"backup": "backups of everything arbx keeps: create, verify, restore"},
    ),
    Commands(
        f"{CLI}.data",
        "register",
        {
            "data": "market data: import, export, list, stats, retain, load-samples, fetch,"
            " import-trades, fetch-trades, validate, gaps, repair, resample"
        },
        nested=True,
    ),
    Commands(
        f"{CLI}.db",
        "register",
        {"db": "PostgreSQL schema of the server profile: upgrade, info, status"},
    ),
    Commands(
        f"{CLI}.fetch",
        "register_exchange_commands",
        {"exchanges": "configured exchanges: status (reachability, latency, clock skew)"},
    ),
    Commands(
        f"{CLI}.jobs",
        "register",
        {"jobs": "scheduled jobs: collect, validate and repair series on a schedule"},
    ),
    Commands(
        f"{CLI}.optimize",
        "register",
        {"optimize": "optimization studies: run, status, list, show, resume, promote, report"},
    ),
    Commands(f"{CLI}.serve", "register", {"serve": "serve the HTTP API (OpenAPI at /schema)"}),
    Commands(
        f"{CLI}.strategies",
        "register",
        {"strategies": "your own strategies: check plugins; the catalog of versioned definitions"},
    ),
    Commands(
        f"{CLI}.stream",
        "register",
        {"stream": "live trades over WebSocket: run a stream, show stored trades, status"},
    ),
    Commands(
        f"{CLI}.users", "register", {"users": "create the first admin; create API keys for scripts"}
    ),
)
GLOBAL_OPTIONS_WITH_VALUE = frozenset({"--profile", "--data-dir"})
# command groups that run strategies: they load the [strategies] plugins first
PLUGIN_GROUPS = frozenset({"backtest", "optimize", "strategies", "serve", "jobs"})


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: only the chosen command's module is loaded (every module when
    ``argv`` is None, e.g. to document the whole CLI)."""
    parser = argparse.ArgumentParser(
        prog="arbx",
        description="arbx: market data and backtesting for crypto strategies.",
        epilog="Exit codes: 0 success (also when a reader such as '| head' stops early), 1"
        " failure (storage, exchange, internal, a port in use, a data dir another arbx serve"
        " holds), 2 bad usage or input (a data dir that is a file, or missing for a read),"
        " 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"arbx {__version__}")
    parser.add_argument(
        "--profile",
        help="settings profile: local (Parquet + SQLite, default), server (PostgreSQL) or test;"
        " ARBX_PROFILE does the same",
    )
    parser.add_argument(
        "--data-dir", help="where the local profile keeps its data (default: ./var; ARBX_DATA_DIR)"
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    words = None if argv is None else command_words(argv, GLOBAL_OPTIONS_WITH_VALUE)
    add_commands(groups, GROUPS, words)
    return parser


async def _run(args: argparse.Namespace) -> int:
    from arbx.entrypoints import runtime
    from arbx.entrypoints.cli import services
    from arbx.entrypoints.settings import load_settings

    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["storage"] = {"data_dir": args.data_dir}
    settings = load_settings(profile=args.profile, overrides=overrides)
    services.check_data_dir(args, settings)
    runtime.configure_logging(settings.logging.level, settings.logging.format)
    if args.group in PLUGIN_GROUPS:
        from arbx.entrypoints.plugins import load_plugins

        load_plugins(settings, server=args.group == "serve")
    if services.light_command(args, settings):
        stores = services.LocalStores(settings)
        try:
            light: int = await args.run(args, stores)
        finally:
            await stores.aclose()
        return light
    from arbx.entrypoints.container import build_container

    container = build_container(settings)
    if getattr(args, "manages_runtime", False):
        result: int = await args.run(args, container)
        return result
    await runtime.start(container)
    try:
        result = await args.run(args, container)
    finally:
        await runtime.stop(container)
    return result


def _use_uvloop() -> None:
    import asyncio

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but optional at run time
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: Sequence[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(given).parse_args(given)
    import asyncio  # after parsing: --help and usage errors never need the event loop

    try:
        if getattr(args, "manages_runtime", False):
            _use_uvloop()  # the server's loop: uvloop when installed (uvicorn[standard])
        return asyncio.run(_run(args))
    except InvalidInput as exc:
        print(f"arbx: error: {exc.message}", file=sys.stderr)
        for detail in exc.details[:20]:
            print(f"  {detail}", file=sys.stderr)
        return EXIT_USAGE
    except ArbxError as exc:
        print(f"arbx: failed: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("arbx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (| head): not an error
        _drop_stdout()
        return EXIT_OK


def _drop_stdout() -> None:
    """Send what is still buffered for a closed pipe nowhere (no second error at exit)."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    raise SystemExit(main())
