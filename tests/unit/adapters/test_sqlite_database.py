"""SqliteDatabase: numbered migrations applied once each, transactions, errors at the edge."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from arbx.adapters.sqlite import DEFAULT_MIGRATIONS, SqliteDatabase, load_migrations
from arbx.adapters.sqlite.schema import split_statements
from arbx.domain.errors import NotFound, StorageError, StorageUnavailable

ACCOUNTS = """
-- accounts and their entries
CREATE TABLE account (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE entry (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES account(id),
    memo TEXT NOT NULL DEFAULT 'a; b'  -- a semicolon inside a string
);
"""
AUDIT = """
CREATE TABLE audit (what TEXT NOT NULL);
/* a trigger body holds semicolons too; */
CREATE TRIGGER account_audit AFTER INSERT ON account BEGIN
    INSERT INTO audit (what) VALUES ('account ' || new.name);
END;
CREATE INDEX entry_by_account ON entry (account_id);
"""
BROKEN = """
CREATE TABLE half_done (x INTEGER);
INSERT INTO half_done VALUES (1);
CREATE TABLE account (id INTEGER);  -- already exists: fails
"""


def migrations(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / f"{name}.sql").write_text(sql)
    return folder


def tables(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        return {row[0] for row in rows}


def recorded(db_path: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall()


@pytest.fixture
def two(tmp_path: Path) -> Path:
    return migrations(tmp_path / "mig", **{"0001_accounts": ACCOUNTS, "0002_audit": AUDIT})


async def test_an_empty_database_is_migrated_to_the_newest_version(
    tmp_path: Path, two: Path
) -> None:
    db_path = tmp_path / "data" / "arbx.db"
    moment = datetime(2024, 5, 1, 12, tzinfo=UTC)

    async with SqliteDatabase(db_path, migrations=two, now=lambda: moment) as db:
        assert await db.schema_version() == 2

    assert {"account", "entry", "audit", "account_audit", "schema_migrations"} <= tables(db_path)
    assert recorded(db_path) == [
        (1, "accounts", moment.isoformat()),
        (2, "audit", moment.isoformat()),
    ]


async def test_opening_again_applies_nothing_twice_and_only_new_migrations(
    tmp_path: Path, two: Path
) -> None:
    db_path = tmp_path / "arbx.db"
    async with SqliteDatabase(db_path, migrations=two) as db:
        await db.run(lambda c: c.execute("INSERT INTO account (name) VALUES ('alice')"))
    first = recorded(db_path)

    async with SqliteDatabase(db_path, migrations=two) as db:
        assert await db.schema_version() == 2
    assert recorded(db_path) == first

    migrations(two, **{"0003_notes": "ALTER TABLE account ADD COLUMN note TEXT;"})
    async with SqliteDatabase(db_path, migrations=two) as db:
        assert await db.schema_version() == 3
        names = await db.run(lambda c: c.execute("SELECT name, note FROM account").fetchall())
    assert [tuple(row) for row in names] == [("alice", None)]
    assert recorded(db_path)[:2] == first


async def test_migrations_apply_in_version_order_whatever_the_listing_order(
    tmp_path: Path,
) -> None:
    folder = migrations(
        tmp_path / "mig",
        **{
            "0010_last": "ALTER TABLE t ADD COLUMN c INTEGER;",
            "0002_first": "CREATE TABLE t (a INTEGER);",
            "0005_middle": "ALTER TABLE t ADD COLUMN b INTEGER;",
        },
    )

    async with SqliteDatabase(":memory:", migrations=folder) as db:
        columns = await db.run(
            lambda c: c.execute("SELECT * FROM pragma_table_info('t')").fetchall()
        )
        versions = await db.run(
            lambda c: c.execute("SELECT version FROM schema_migrations").fetchall()
        )

    assert [row["name"] for row in columns] == ["a", "b", "c"]
    assert [row[0] for row in versions] == [2, 5, 10]


async def test_a_database_from_a_newer_arbx_is_refused(tmp_path: Path, two: Path) -> None:
    db_path = tmp_path / "arbx.db"
    newer = migrations(tmp_path / "newer", **{"0003_future": "CREATE TABLE future (x INTEGER);"})
    for path in two.iterdir():
        (newer / path.name).write_text(path.read_text())
    async with SqliteDatabase(db_path, migrations=newer):
        pass

    with pytest.raises(StorageError, match=r"0003_future.*newer arbx"):
        await SqliteDatabase(db_path, migrations=two).open()


async def test_a_renamed_migration_is_refused(tmp_path: Path, two: Path) -> None:
    db_path = tmp_path / "arbx.db"
    async with SqliteDatabase(db_path, migrations=two):
        pass
    (two / "0002_audit.sql").rename(two / "0002_audit_trail.sql")

    with pytest.raises(StorageError, match="never be renamed"):
        await SqliteDatabase(db_path, migrations=two).open()


async def test_a_failing_migration_leaves_no_partial_schema(tmp_path: Path, two: Path) -> None:
    db_path = tmp_path / "arbx.db"
    migrations(two, **{"0003_broken": BROKEN})

    with pytest.raises(StorageError, match="0003_broken.sql failed and was rolled back"):
        await SqliteDatabase(db_path, migrations=two).open()

    assert "half_done" not in tables(db_path)
    assert [row[0] for row in recorded(db_path)] == [1, 2]
    # Fixed, the migration applies on the next start.
    (two / "0003_broken.sql").write_text("CREATE TABLE half_done (x INTEGER);")
    async with SqliteDatabase(db_path, migrations=two) as db:
        assert await db.schema_version() == 3


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"1_short": "SELECT 1;"}, None),
        ({"0001_Upper": "SELECT 1;"}, "NNNN_name.sql"),
        ({"0001_a": "SELECT 1;", "0001_b": "SELECT 1;"}, "share version 1"),
        ({"0001_a": "BEGIN; CREATE TABLE x (a INTEGER); COMMIT;"}, "controls transactions"),
        ({"0001_a": "CREATE TABLE x (a INTEGER); CREATE TABLE y (b"}, "incomplete statement"),
    ],
)
async def test_malformed_migration_sets_are_refused(
    tmp_path: Path, files: dict[str, str], message: str | None
) -> None:
    folder = migrations(tmp_path / "mig", **files)
    if message is None:
        # Not NNNN_: named wrongly but still .sql, so it is refused rather than ignored.
        with pytest.raises(StorageError, match="NNNN_name.sql"):
            load_migrations(folder)
        return
    with pytest.raises(StorageError, match=message):
        await SqliteDatabase(":memory:", migrations=folder).open()


async def test_arbx_own_migrations_apply_cleanly() -> None:
    known = load_migrations(DEFAULT_MIGRATIONS)

    async with SqliteDatabase(":memory:") as db:
        assert await db.schema_version() == max((m.version for m in known), default=0)
        await db.ping()


async def test_a_file_database_uses_wal_and_foreign_keys(tmp_path: Path, two: Path) -> None:
    async with SqliteDatabase(tmp_path / "arbx.db", migrations=two) as db:
        mode = await db.run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])

        def orphan_entry(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO entry (account_id) VALUES (42)")

        with pytest.raises(StorageError, match="FOREIGN KEY"):
            await db.run(orphan_entry)

    assert mode == "wal"


async def test_run_commits_on_success_and_rolls_back_on_error(tmp_path: Path, two: Path) -> None:
    async with SqliteDatabase(tmp_path / "arbx.db", migrations=two) as db:
        await db.run(lambda c: c.execute("INSERT INTO account (name) VALUES ('alice')"))

        def add_then_fail(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO account (name) VALUES ('bob')")
            raise NotFound("no such thing")

        with pytest.raises(NotFound, match="no such thing"):
            await db.run(add_then_fail)

        def count(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM account").fetchone()[0])

        assert await db.run(count) == 1
        assert await db.run(lambda c: c.execute("SELECT count(*) FROM audit").fetchone()[0]) == 1

    # Committed means on disk: a fresh connection sees it.
    async with SqliteDatabase(tmp_path / "arbx.db", migrations=two) as again:
        assert await again.run(count) == 1


async def test_a_constraint_violation_can_be_handled_inside_run(two: Path) -> None:
    async with SqliteDatabase(":memory:", migrations=two) as db:
        await db.run(lambda c: c.execute("INSERT INTO account (name) VALUES ('alice')"))

        def add_alice(conn: sqlite3.Connection) -> str:
            try:
                conn.execute("INSERT INTO account (name) VALUES ('alice')")
            except sqlite3.IntegrityError:
                return "taken"
            return "added"

        assert await db.run(add_alice) == "taken"
        with pytest.raises(StorageError, match="UNIQUE"):
            await db.run(lambda c: c.execute("INSERT INTO account (name) VALUES ('alice')"))


async def test_concurrent_runs_take_turns(two: Path) -> None:
    async with SqliteDatabase(":memory:", migrations=two) as db:
        await db.run(lambda c: c.execute("INSERT INTO account (id, name) VALUES (1, '0')"))

        def increment(conn: sqlite3.Connection) -> None:
            value = int(conn.execute("SELECT name FROM account WHERE id = 1").fetchone()[0])
            time.sleep(0.001)  # widen the race window a lock must close
            conn.execute("UPDATE account SET name = ? WHERE id = 1", (str(value + 1),))

        await asyncio.gather(*(db.run(increment) for _ in range(25)))

        assert await db.run(lambda c: c.execute("SELECT name FROM account").fetchone()[0]) == "25"


async def test_a_cancelled_run_finishes_before_the_next_one_starts(two: Path) -> None:
    async with SqliteDatabase(":memory:", migrations=two) as db:

        def slow_insert(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO account (name) VALUES ('slow')")
            time.sleep(0.2)

        task = asyncio.create_task(db.run(slow_insert))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        names = await db.run(lambda c: [r[0] for r in c.execute("SELECT name FROM account")])
        assert names == ["slow"]


async def test_a_folder_that_cannot_exist_is_unavailable(tmp_path: Path, two: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    with pytest.raises(StorageUnavailable):
        await SqliteDatabase(blocker / "arbx.db", migrations=two).open()
    with pytest.raises(StorageUnavailable):
        await SqliteDatabase(tmp_path, migrations=two).open()  # a directory, not a file


async def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path, two: Path) -> None:
    garbage = tmp_path / "arbx.db"
    garbage.write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(StorageError, match="not a usable SQLite database"):
        await SqliteDatabase(garbage, migrations=two).open()


async def test_a_database_locked_by_another_writer_is_unavailable(
    tmp_path: Path, two: Path
) -> None:
    db_path = tmp_path / "arbx.db"
    async with SqliteDatabase(db_path, migrations=two, busy_timeout=0.05) as db:
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageUnavailable, match="locked"):
                await db.run(lambda c: c.execute("SELECT 1").fetchone())
        finally:
            other.execute("ROLLBACK")
            other.close()
        await db.ping()


async def test_a_closed_database_reopens_on_use(two: Path, tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "arbx.db", migrations=two)
    await db.close()  # closing an unopened database is harmless

    assert await db.schema_version() == 2
    await db.close()
    assert await db.schema_version() == 2
    await db.close()


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("CREATE TABLE a (x); CREATE TABLE b (y);", ["CREATE TABLE a (x);", "CREATE TABLE b (y);"]),
        ("INSERT INTO a VALUES ('x;y');", ["INSERT INTO a VALUES ('x;y');"]),
        ("-- only a comment; really\n", []),
        (
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2; END;",
            ["CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2; END;"],
        ),
        ("", []),
    ],
)
def test_scripts_split_into_whole_statements(script: str, expected: list[str]) -> None:
    assert split_statements(script) == expected
