"""QualityStore on SQLite (tables from migration 0002_quality)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from arbx.adapters.issue_filter import IssueFilter
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan, from_ms, to_ms
from arbx.domain.quality import DataGap, GapCause, GapStatus, Severity, ValidationIssue
from arbx.domain.quality.records import normalize_gaps, normalize_issues
from arbx.ports.quality_store import QualityStore

_ISSUE_COLUMNS = "ts, rule, severity, observed, expected, detail"
_GAP_COLUMNS = "start_ms, end_ms, bars_missing, cause, status, fill_source"


def _issue(key: SeriesKey, row: sqlite3.Row) -> ValidationIssue:
    return ValidationIssue(
        series=key,
        ts=from_ms(row["ts"]),
        rule=row["rule"],
        severity=Severity(row["severity"]),
        observed=row["observed"],
        expected=row["expected"],
        detail=row["detail"],
    )


def _gap(key: SeriesKey, row: sqlite3.Row) -> DataGap:
    return DataGap(
        series=key,
        start=from_ms(row["start_ms"]),
        end=from_ms(row["end_ms"]),
        bars_missing=row["bars_missing"],
        cause=GapCause(row["cause"]),
        status=GapStatus(row["status"]),
        fill_source=row["fill_source"],
    )


class SqliteQualityStore(QualityStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def replace_issues(
        self, key: SeriesKey, span: TimeSpan, issues: Sequence[ValidationIssue]
    ) -> int:
        incoming = normalize_issues(key, span, issues)
        series = str(key)
        rows = [
            (series, to_ms(i.ts), i.rule, i.severity.value, i.observed, i.expected, i.detail)
            for i in incoming
        ]

        def replace(conn: sqlite3.Connection) -> int:
            conn.execute(
                "DELETE FROM quality_issues WHERE series = ? AND ts >= ? AND ts < ?",
                (series, span.start_ms, span.end_ms),
            )
            conn.executemany(
                f"INSERT INTO quality_issues (series, {_ISSUE_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return len(rows)

        return await self._db.run(replace)

    @staticmethod
    def _where(key: SeriesKey, chosen: IssueFilter) -> tuple[str, list[object]]:
        span, equalities = chosen.span, chosen.equalities()
        clauses = ["series = ?", "ts >= ?", "ts < ?", *(f"{c} = ?" for c, _ in equalities)]
        params: list[object] = [str(key), span.start_ms, span.end_ms]
        return " AND ".join(clauses), params + [value for _, value in equalities]

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
        sql = (
            f"SELECT {_ISSUE_COLUMNS} FROM quality_issues WHERE {where}"
            " ORDER BY ts, rule, detail, id LIMIT ? OFFSET ?"
        )
        params += [-1 if limit is None else limit, offset]
        rows = await self._db.run(lambda conn: conn.execute(sql, params).fetchall())
        return [_issue(key, row) for row in rows]

    async def count_issues(self, key: SeriesKey, span: TimeSpan) -> dict[tuple[str, Severity], int]:
        where, params = self._where(key, IssueFilter(span))
        sql = (
            f"SELECT rule, severity, count(*) AS n FROM quality_issues WHERE {where}"
            " GROUP BY rule, severity"
        )
        rows = await self._db.run(lambda conn: conn.execute(sql, params).fetchall())
        return {(row["rule"], Severity(row["severity"])): int(row["n"]) for row in rows}

    async def replace_gaps(self, key: SeriesKey, span: TimeSpan, gaps: Sequence[DataGap]) -> int:
        incoming = normalize_gaps(key, span, gaps)
        series = str(key)
        rows = [
            (
                series,
                to_ms(g.start),
                to_ms(g.end),
                g.bars_missing,
                g.cause.value,
                g.status.value,
                g.fill_source,
            )
            for g in incoming
        ]

        def replace(conn: sqlite3.Connection) -> int:
            conn.execute(
                "DELETE FROM data_gaps WHERE series = ? AND start_ms < ? AND end_ms > ?",
                (series, span.end_ms, span.start_ms),
            )
            try:
                conn.executemany(
                    f"INSERT INTO data_gaps (series, {_GAP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except sqlite3.IntegrityError as exc:
                raise InvalidInput(
                    f"a stored gap outside {span} already starts where a new one does ({exc})",
                    field="gaps",
                ) from exc
            return len(rows)

        return await self._db.run(replace)

    async def gaps(
        self, key: SeriesKey, span: TimeSpan, *, status: GapStatus | None = None
    ) -> list[DataGap]:
        sql = (
            f"SELECT {_GAP_COLUMNS} FROM data_gaps WHERE series = ? AND start_ms < ? AND end_ms > ?"
        )
        params: list[object] = [str(key), span.end_ms, span.start_ms]
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        sql += " ORDER BY start_ms"
        rows = await self._db.run(lambda conn: conn.execute(sql, params).fetchall())
        return [_gap(key, row) for row in rows]

    async def series(self) -> list[SeriesKey]:
        rows = await self._db.run(
            lambda conn: conn.execute(
                "SELECT series FROM quality_issues UNION SELECT series FROM data_gaps"
            ).fetchall()
        )
        return sorted(SeriesKey.parse(row[0]) for row in rows)
