"""``arbx``: the command line. Exit codes: 0 done, 1 failed (store, exchange...), 2 bad usage or input.

Each command group lives in its own module with ``register(subparsers)``; a command is an
async function ``run(args, container) -> int``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from arbx import __version__
from arbx.domain.errors import ArbxError, InvalidInput
from arbx.entrypoints import runtime
from arbx.entrypoints.cli import backtest, data, db, fetch, jobs, serve, users
from arbx.entrypoints.container import build_container
from arbx.entrypoints.settings import load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arbx",
        description="arbx: market data and backtesting for crypto strategies.",
        epilog="Exit codes: 0 success, 1 failure (storage, exchange, internal), 2 bad usage or input.",
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
    backtest.register(groups)
    data.register(groups)
    db.register(groups)
    fetch.register_exchange_commands(groups)
    jobs.register(groups)
    serve.register(groups)
    users.register(groups)
    return parser


async def _run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["storage"] = {"data_dir": args.data_dir}
    settings = load_settings(profile=args.profile, overrides=overrides)
    runtime.configure_logging(settings.logging.level)
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
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but optional at run time
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())
