"""AlertStore on PostgreSQL: ``alert_rules`` and ``alert_transitions`` (0010_alerts)."""

from __future__ import annotations

import builtins
from typing import Any

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import SchemaTables
from arbx.domain.alerts import AlertRule, AlertTransition
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.ports.alert_store import AlertStore

_RULE = msgspec.json.Decoder(AlertRule)
_TRANSITION = msgspec.json.Decoder(AlertTransition)
_ENCODER = msgspec.json.Encoder()


def _decode(decoder: msgspec.json.Decoder[Any], what: str, row_id: str, text: str) -> Any:
    try:
        return decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored {what} {row_id!r} cannot be read: {exc}") from exc


class PostgresAlertStore(AlertStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._t = SchemaTables(schema, "alert_rules", "alert_transitions")

    async def save_rule(self, rule: AlertRule, *, replace: bool = False) -> None:
        definition = _ENCODER.encode(rule).decode()
        with storage_errors(f"save alert rule {rule.id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._t.sql("SELECT id FROM {alert_rules} WHERE name = %s OR id = %s"),
                    (rule.name, rule.id),
                )
                for (found,) in await cur.fetchall():
                    if found != rule.id:
                        raise Conflict(f"alert rule name {rule.name!r} is taken by rule {found!r}")
                    if not replace:
                        raise Conflict(f"alert rule {rule.id!r} exists already")
                try:
                    await conn.execute(
                        self._t.sql(
                            "INSERT INTO {alert_rules} (id, name, definition, created_at)"
                            " VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT (id) DO UPDATE SET"
                            " name = EXCLUDED.name, definition = EXCLUDED.definition,"
                            " created_at = EXCLUDED.created_at"
                        ),
                        (rule.id, rule.name, definition, rule.created_at),
                    )
                except psycopg.errors.UniqueViolation as exc:
                    raise Conflict(f"alert rule name {rule.name!r} is taken") from exc

    async def get_rule(self, rule_id: str) -> AlertRule:
        rows = await self._fetch(
            f"read alert rule {rule_id!r}",
            "SELECT id, definition::text FROM {alert_rules} WHERE id = %s",
            [rule_id],
        )
        if not rows:
            raise NotFound(f"alert rule {rule_id!r} does not exist")
        rule: AlertRule = _decode(_RULE, "alert rule", *rows[0])
        return rule

    async def list_rules(self) -> builtins.list[AlertRule]:
        rows = await self._fetch(
            "list alert rules",
            "SELECT id, definition::text FROM {alert_rules} ORDER BY created_at, id",
            [],
        )
        return [_decode(_RULE, "alert rule", *row) for row in rows]

    async def delete_rule(self, rule_id: str) -> None:
        with storage_errors(f"delete alert rule {rule_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._t.sql("DELETE FROM {alert_rules} WHERE id = %s"), (rule_id,)
                )
                if cur.rowcount == 0:
                    raise NotFound(f"alert rule {rule_id!r} does not exist")

    async def record(self, transition: AlertTransition) -> None:
        t = transition
        with storage_errors(f"record alert transition {t.id!r}"):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    await conn.execute(
                        self._t.sql(
                            "INSERT INTO {alert_transitions} (id, rule_id, subject, state, at,"
                            " body) VALUES (%s, %s, %s, %s, %s, %s::jsonb)"
                        ),
                        (
                            t.id,
                            t.rule_id,
                            t.subject,
                            t.state.value,
                            t.at,
                            _ENCODER.encode(t).decode(),
                        ),
                    )
            except psycopg.errors.UniqueViolation as exc:
                raise Conflict(f"alert transition {t.id!r} exists already") from exc

    async def history(
        self, rule_id: str | None = None, *, limit: int = 100
    ) -> builtins.list[AlertTransition]:
        where, args = ("WHERE rule_id = %s", [rule_id]) if rule_id is not None else ("", [])
        rows = await self._fetch(
            "read alert history",
            "SELECT id, body::text FROM {alert_transitions} "
            + where
            + " ORDER BY at DESC, id DESC LIMIT %s",
            [*args, max(0, limit)],
        )
        return [_decode(_TRANSITION, "alert transition", *row) for row in rows]

    async def firing(self) -> builtins.list[AlertTransition]:
        rows = await self._fetch(
            "read firing alerts",
            "SELECT id, body FROM (SELECT DISTINCT ON (rule_id, subject) id, body::text AS body,"
            " state FROM {alert_transitions} ORDER BY rule_id, subject, at DESC, id DESC) latest"
            " WHERE state = 'firing' ORDER BY id",
            [],
        )
        return [_decode(_TRANSITION, "alert transition", *row) for row in rows]

    async def _fetch(self, what: str, query: str, args: list[Any]) -> list[tuple[Any, ...]]:
        with storage_errors(what):
            async with self._pool.connection() as conn:
                cur = await conn.execute(self._t.sql(query), args)
                return await cur.fetchall()
