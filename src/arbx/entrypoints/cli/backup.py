"""``arbx backup``: create, verify and restore backups of everything arbx keeps."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    from arbx.app.backup import CreateBackup, RestoreBackup, VerifyBackup
    from arbx.app.backup.format import Manifest
    from arbx.entrypoints.container import Container

HELP = "backups of everything arbx keeps: create, verify, restore"


def register(groups: Any) -> None:
    parser = groups.add_parser("backup", help=HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = commands.add_parser(
        "create",
        help="write a snapshot of bars, quality findings, runs, jobs, users, keys, audit log",
        description=(
            "Write a backup into a new directory: one Parquet file per series and year, JSON"
            " lines per table, each run's tables as Parquet, and manifest.json with counts and"
            " SHA-256 checksums. The directory appears only once the backup is complete; when"
            " something was written to the store meanwhile, the backup is discarded (run it"
            " again with no job or backtest writing). Sign-in sessions are not backed up."
        ),
    )
    p.add_argument("--to", required=True, metavar="DIR", help="a new (or empty) directory")
    p.set_defaults(run=run_create)
    p = commands.add_parser("verify", help="check a backup's manifest, checksums and record counts")
    p.add_argument("location", metavar="DIR", help="the backup directory")
    p.set_defaults(run=run_verify)
    p = commands.add_parser(
        "restore",
        help="restore a backup into an EMPTY store (of either profile)",
        description=(
            "Check the whole backup first (a checksum mismatch restores nothing), refuse a"
            " store that holds anything, then write everything back through the stores. A"
            " backup of the local profile restores into PostgreSQL (--profile server) and back."
            " API keys work after a restore when auth.secret_hash_key is the same."
        ),
    )
    p.add_argument("location", metavar="DIR", help="the backup directory")
    p.set_defaults(run=run_restore)


def _print_sections(manifest: Manifest, counts: dict[str, int] | None = None) -> None:
    for name, entry in manifest.sections.items():
        done = "" if counts is None else f", restored {counts.get(name, 0):,}"
        print(f"  {name:10} {entry.records:>12,} records in {entry.files:,} files{done}")


async def run_create(args: argparse.Namespace, container: Container) -> int:
    create: CreateBackup = await resolve(container.create_backup)
    report = await create.execute(args.to)
    m = report.manifest
    print(f"backup of the {m.profile} profile written to {args.to} ({len(m.files):,} files)")
    _print_sections(m)
    return 0


async def run_verify(args: argparse.Namespace, container: Container) -> int:
    verify: VerifyBackup = await resolve(container.verify_backup)
    m = await verify.execute(args.location)
    print(
        f"backup {args.location} is intact: format {m.format_version}, arbx {m.arbx_version},"
        f" {m.profile} profile, taken {m.created_at:%Y-%m-%d %H:%M:%S} UTC,"
        f" {len(m.files):,} files checked"
    )
    _print_sections(m)
    return 0


async def run_restore(args: argparse.Namespace, container: Container) -> int:
    restore: RestoreBackup = await resolve(container.restore_backup)
    report = await restore.execute(args.location)
    print(f"restored {args.location} ({report.manifest.profile} profile backup)")
    _print_sections(report.manifest, report.restored)
    return 0
