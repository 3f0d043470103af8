"""AlertStore on SQLite (tables ``alert_rules`` and ``alert_transitions``, 0010_alerts)."""

from __future__ import annotations

import builtins
import sqlite3

import msgspec

from arbx.adapters.sqlite.codecs import to_micros
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.alerts import AlertRule, AlertTransition
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.ports.alert_store import AlertStore

_RULE = msgspec.json.Decoder(AlertRule)
_TRANSITION = msgspec.json.Decoder(AlertTransition)
_ENCODER = msgspec.json.Encoder()


def _rule(row: sqlite3.Row) -> AlertRule:
    try:
        return _RULE.decode(row["definition"])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored alert rule {row['id']!r} cannot be read: {exc}") from exc


def _transition(row: sqlite3.Row) -> AlertTransition:
    try:
        return _TRANSITION.decode(row["body"])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored alert transition {row['id']!r} cannot be read: {exc}") from exc


class SqliteAlertStore(AlertStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def save_rule(self, rule: AlertRule, *, replace: bool = False) -> None:
        params = (rule.id, rule.name, _ENCODER.encode(rule).decode(), to_micros(rule.created_at))

        def write(conn: sqlite3.Connection) -> None:
            named = conn.execute(
                "SELECT id FROM alert_rules WHERE name = ?", (rule.name,)
            ).fetchone()
            if named is not None and named["id"] != rule.id:
                raise Conflict(f"alert rule name {rule.name!r} is taken by rule {named['id']!r}")
            exists = conn.execute("SELECT 1 FROM alert_rules WHERE id = ?", (rule.id,)).fetchone()
            if exists is not None and not replace:
                raise Conflict(f"alert rule {rule.id!r} exists already")
            conn.execute(
                "INSERT INTO alert_rules (id, name, definition, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                " definition = excluded.definition, created_at = excluded.created_at",
                params,
            )

        await self._db.run(write)

    async def get_rule(self, rule_id: str) -> AlertRule:
        row = await self._db.run(
            lambda conn: conn.execute(
                "SELECT id, definition FROM alert_rules WHERE id = ?", (rule_id,)
            ).fetchone()
        )
        if row is None:
            raise NotFound(f"alert rule {rule_id!r} does not exist")
        return _rule(row)

    async def list_rules(self) -> builtins.list[AlertRule]:
        rows = await self._db.run(
            lambda conn: conn.execute(
                "SELECT id, definition FROM alert_rules ORDER BY created_at, id"
            ).fetchall()
        )
        return [_rule(row) for row in rows]

    async def delete_rule(self, rule_id: str) -> None:
        def remove(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM alert_rules WHERE id = ?", (rule_id,)).rowcount == 0:
                raise NotFound(f"alert rule {rule_id!r} does not exist")

        await self._db.run(remove)

    async def record(self, transition: AlertTransition) -> None:
        t = transition
        params = (
            t.id,
            t.rule_id,
            t.subject,
            t.state.value,
            to_micros(t.at),
            _ENCODER.encode(t).decode(),
        )

        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO alert_transitions (id, rule_id, subject, state, at, body)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    params,
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"alert transition {t.id!r} exists already") from exc

        await self._db.run(insert)

    async def history(
        self, rule_id: str | None = None, *, limit: int = 100
    ) -> builtins.list[AlertTransition]:
        where, args = ("WHERE rule_id = ?", [rule_id]) if rule_id is not None else ("", [])
        rows = await self._db.run(
            lambda conn: conn.execute(
                f"SELECT id, body FROM alert_transitions {where} ORDER BY at DESC, id DESC LIMIT ?",
                (*args, max(0, limit)),
            ).fetchall()
        )
        return [_transition(row) for row in rows]

    async def firing(self) -> builtins.list[AlertTransition]:
        rows = await self._db.run(
            lambda conn: conn.execute(
                "SELECT id, body, state FROM ("
                " SELECT id, body, state, ROW_NUMBER() OVER ("
                "  PARTITION BY rule_id, subject ORDER BY at DESC, id DESC) AS n"
                " FROM alert_transitions) WHERE n = 1 AND state = 'firing' ORDER BY id"
            ).fetchall()
        )
        return [_transition(row) for row in rows]
