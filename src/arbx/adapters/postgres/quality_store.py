"""QualityStore on PostgreSQL: ``data_validation_issues`` and ``data_gaps`` (migration 0002).

Each replace runs in one transaction (delete the span's findings, COPY the new ones in), so a
reader sees the old findings or the new ones, never a mix; a unique-start clash with a gap
outside the span rolls everything back as ``InvalidInput``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.issue_filter import IssueFilter
from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import check_schema_name
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan, from_ms, to_ms
from arbx.domain.quality import DataGap, GapCause, GapStatus, Severity, ValidationIssue
from arbx.domain.quality.records import normalize_gaps, normalize_issues
from arbx.ports.quality_store import QualityStore

_SERIES = "exchange = %s AND symbol = %s AND timeframe = %s"
_ISSUE_COLUMNS = ("ts", "rule", "severity", "observed", "expected", "detail")
_GAP_COLUMNS = ("gap_start", "gap_end", "bars_missing", "cause", "status", "fill_source")


def _series(key: SeriesKey) -> tuple[str, str, str]:
    return (str(key.exchange), str(key.symbol), str(key.timeframe))


def _ms(moment: Any) -> Any:
    """Times come back at the millisecond they were stored at, as aware UTC datetimes."""
    return from_ms(to_ms(moment))


class PostgresQualityStore(QualityStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._issues = sql.Identifier(check_schema_name(schema), "data_validation_issues")
        self._gaps = sql.Identifier(schema, "data_gaps")

    async def replace_issues(
        self, key: SeriesKey, span: TimeSpan, issues: Sequence[ValidationIssue]
    ) -> int:
        incoming = normalize_issues(key, span, issues)
        series = _series(key)
        copy = sql.SQL("COPY {} (exchange, symbol, timeframe, {}) FROM STDIN").format(
            self._issues, sql.SQL(", ").join(map(sql.Identifier, _ISSUE_COLUMNS))
        )
        with storage_errors(f"replace quality issues of {key}"):
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE " + _SERIES + " AND ts >= %s AND ts < %s").format(
                        self._issues
                    ),
                    (*series, span.start, span.end),
                )
                async with conn.cursor() as cur, cur.copy(copy) as writer:
                    for i in incoming:
                        await writer.write_row(
                            (
                                *series,
                                i.ts,
                                i.rule,
                                i.severity.value,
                                i.observed,
                                i.expected,
                                i.detail,
                            )
                        )
        return len(incoming)

    def _where(self, key: SeriesKey, chosen: IssueFilter) -> tuple[sql.Composable, list[object]]:
        span, equalities = chosen.span, chosen.equalities()
        clauses: list[sql.Composable] = [sql.SQL(_SERIES + " AND ts >= %s AND ts < %s")]
        clauses += [sql.SQL("{} = %s").format(sql.Identifier(c)) for c, _ in equalities]
        params: list[object] = [*_series(key), span.start, span.end]
        return sql.SQL(" AND ").join(clauses), params + [value for _, value in equalities]

    async def issues(
        self,
        key: SeriesKey,
        span: TimeSpan,
        *,
        severity: Severity | None = None,
        rule: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ValidationIssue]:
        where, params = self._where(key, IssueFilter(span, severity, rule, limit, offset))
        query = sql.SQL(
            "SELECT {} FROM {} WHERE {} ORDER BY ts, rule, detail, id LIMIT %s OFFSET %s"
        ).format(sql.SQL(", ").join(map(sql.Identifier, _ISSUE_COLUMNS)), self._issues, where)
        rows = await self._fetch(f"read quality issues of {key}", query, [*params, limit, offset])
        return [
            ValidationIssue(key, _ms(ts), rule_, Severity(sev), observed, expected, detail)
            for ts, rule_, sev, observed, expected, detail in rows
        ]

    async def count_issues(self, key: SeriesKey, span: TimeSpan) -> dict[tuple[str, Severity], int]:
        where, params = self._where(key, IssueFilter(span))
        query = sql.SQL("SELECT rule, severity, count(*) FROM {} WHERE {} GROUP BY 1, 2").format(
            self._issues, where
        )
        rows = await self._fetch(f"count quality issues of {key}", query, params)
        return {(rule, Severity(sev)): int(n) for rule, sev, n in rows}

    async def replace_gaps(self, key: SeriesKey, span: TimeSpan, gaps: Sequence[DataGap]) -> int:
        incoming = normalize_gaps(key, span, gaps)
        series = _series(key)
        copy = sql.SQL("COPY {} (exchange, symbol, timeframe, {}) FROM STDIN").format(
            self._gaps, sql.SQL(", ").join(map(sql.Identifier, _GAP_COLUMNS))
        )
        with storage_errors(f"replace gaps of {key}"):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    await conn.execute(
                        sql.SQL(
                            "DELETE FROM {} WHERE " + _SERIES + " AND gap_start < %s"
                            " AND gap_end > %s"
                        ).format(self._gaps),
                        (*series, span.end, span.start),
                    )
                    async with conn.cursor() as cur, cur.copy(copy) as writer:
                        for g in incoming:
                            await writer.write_row(
                                (
                                    *series,
                                    g.start,
                                    g.end,
                                    g.bars_missing,
                                    g.cause.value,
                                    g.status.value,
                                    g.fill_source,
                                )
                            )
            except psycopg.errors.UniqueViolation as exc:
                raise InvalidInput(
                    f"a stored gap of {key} outside {span} already starts where a new one"
                    " does; replace a span that covers both",
                    field="gaps",
                ) from exc
        return len(incoming)

    async def gaps(
        self, key: SeriesKey, span: TimeSpan, *, status: GapStatus | None = None
    ) -> list[DataGap]:
        query = sql.SQL(
            "SELECT {} FROM {} WHERE " + _SERIES + " AND gap_start < %s AND gap_end > %s"
        ).format(sql.SQL(", ").join(map(sql.Identifier, _GAP_COLUMNS)), self._gaps)
        params: list[object] = [*_series(key), span.end, span.start]
        if status is not None:
            query += sql.SQL(" AND status = %s")
            params.append(status.value)
        query += sql.SQL(" ORDER BY gap_start")
        rows = await self._fetch(f"read gaps of {key}", query, params)
        return [
            DataGap(key, _ms(a), _ms(b), int(n), GapCause(cause), GapStatus(st), source)
            for a, b, n, cause, st, source in rows
        ]

    async def series(self) -> list[SeriesKey]:
        query = sql.SQL(
            "SELECT exchange, symbol, timeframe FROM {} UNION"
            " SELECT exchange, symbol, timeframe FROM {}"
        ).format(self._issues, self._gaps)
        rows = await self._fetch("list series with quality findings", query, [])
        return sorted(SeriesKey.of(*row) for row in rows)

    async def _fetch(
        self, action: str, query: sql.Composed, params: Sequence[object]
    ) -> list[tuple[Any, ...]]:
        with storage_errors(action):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(query, params)
                return await cur.fetchall()
