"""Validate a bar series: integrity, series rules, scores; and the split ingest relies on.

``validate_series`` never mutates its input: it works on a sorted, de-duplicated copy and
returns the findings (``ValidationResult.issues``, one row per finding in ``ISSUE_SCHEMA``),
the per-bar ``quality_score`` and the per-series ``SeriesScore`` (formula in ``scoring``).
``validate_for_ingest`` splits a frame into the bars to store and the rows to reject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import msgspec
import numpy as np
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import BAR_COLUMNS, SeriesKey, TimeSpan, coerce_bars
from arbx.domain.quality.integrity import ROW, integrity_findings, prepare_bars
from arbx.domain.quality.model import (
    SeriesScore,
    Severity,
    ValidationIssue,
    concat_issues,
    frame_to_issues,
)
from arbx.domain.quality.scoring import bar_scores, series_score
from arbx.domain.quality.series_rules import (
    cross_venue_deviation,
    return_outliers,
    stale_mask,
    stale_runs,
)


class ValidationConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds of the series rules (the integrity rules have none)."""

    stale_min_bars: int = 5
    outlier_window: int = 240
    outlier_z: float = 12.0
    iqr_k: float = 6.0
    min_return_scale: float = 2e-4
    cross_venue_bps: float = 150.0

    def __post_init__(self) -> None:
        checks = (
            ("stale_min_bars", self.stale_min_bars >= 1, "at least 1"),
            ("outlier_window", self.outlier_window >= 4, "at least 4"),
            ("outlier_z", self.outlier_z > 0, "> 0"),
            ("iqr_k", self.iqr_k > 0, "> 0"),
            ("min_return_scale", self.min_return_scale > 0, "> 0"),
            ("cross_venue_bps", self.cross_venue_bps > 0, "> 0"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise InvalidInput(f"{name} must be {rule}", field=name)


@dataclass(frozen=True)
class ValidationResult:
    """Findings and scores of one series.

    ``bars``: the checked copy (sorted, unique ts, canonical columns) plus ``quality_score``;
    ``issues``: one row per finding (``ISSUE_SCHEMA``); ``dropped``: input rows removed before
    the checks (duplicates, missing ts) as (``row``, ``ts``, ``reason``).
    """

    series: SeriesKey
    bars: pl.DataFrame
    issues: pl.DataFrame
    dropped: pl.DataFrame
    score: SeriesScore
    error_rows: pl.Series  # aligned with ``bars``: True where an integrity rule failed
    source_rows: pl.Series  # aligned with ``bars``: the row in the caller's frame

    def issue_list(self) -> list[ValidationIssue]:
        return frame_to_issues(self.series, self.issues)


@dataclass(frozen=True)
class IngestSplit:
    """What ingest stores (``accepted``: canonical bars + ``quality_score``) and rejects.

    ``rejected`` has one row per rejected input row: ``row`` (0-based in the caller's frame),
    ``ts`` and ``reasons`` (the broken rules, "; "-separated).
    """

    accepted: pl.DataFrame
    rejected: pl.DataFrame
    issues: pl.DataFrame
    score: SeriesScore


def expected_slots(key: SeriesKey, ts: pl.Series, span: TimeSpan | None) -> int:
    """Grid slots in ``span`` (or from the first to the last bar when no span is given)."""
    tf = key.timeframe.ms
    if span is not None:
        first = -(-span.start_ms // tf) * tf
        return max(0, -(-(span.end_ms - first) // tf))
    if ts.is_empty():
        return 0
    epoch = ts.dt.epoch("ms")
    return int((int(epoch.max()) - int(epoch.min())) // tf) + 1  # type: ignore[arg-type]


def _peers(
    key: SeriesKey, others: Mapping[SeriesKey, pl.DataFrame]
) -> list[tuple[str, pl.DataFrame]]:
    peers = []
    for other_key, frame in others.items():
        if other_key == key:
            continue
        if other_key.symbol != key.symbol or other_key.timeframe != key.timeframe:
            raise InvalidInput(
                f"cross-venue reference {other_key} is not {key.symbol} on {key.timeframe};"
                " compare a series only with the same pair and timeframe on other venues",
                field="others",
            )
        peers.append((str(other_key.exchange), coerce_bars(frame)))
    return peers


def validate_series(
    key: SeriesKey,
    bars: pl.DataFrame,
    *,
    now: datetime,
    others: Mapping[SeriesKey, pl.DataFrame] | None = None,
    config: ValidationConfig | None = None,
    span: TimeSpan | None = None,
) -> ValidationResult:
    """All findings on ``bars`` of series ``key``; ``others``: the same pair on other venues."""
    cfg = config or ValidationConfig()
    peers = _peers(key, others or {})
    prepared = prepare_bars(bars)
    checked = prepared.bars
    integrity, bad = integrity_findings(checked, key.timeframe, now)
    bad_np = bad.to_numpy()
    good = checked.filter(~bad) if bad_np.any() else checked
    stale_good = stale_mask(good, cfg.stale_min_bars)
    parts = [
        prepared.issues,
        integrity,
        stale_runs(good, stale_good, key.timeframe),
        return_outliers(
            good,
            key.timeframe,
            window=cfg.outlier_window,
            z=cfg.outlier_z,
            iqr_k=cfg.iqr_k,
            min_scale=cfg.min_return_scale,
        ),
        cross_venue_deviation(good, peers, max_bps=cfg.cross_venue_bps),
    ]
    issues = concat_issues(parts)
    stale_all = np.zeros(checked.height, dtype=bool)
    stale_all[~bad_np] = stale_good
    scores = bar_scores(checked.get_column("ts"), issues, stale_all)
    score = series_score(
        issues,
        present_bars=checked.height,
        expected_bars=expected_slots(key, checked.get_column("ts"), span),
    )
    return ValidationResult(
        series=key,
        bars=checked.drop(ROW).with_columns(scores),
        issues=issues,
        dropped=prepared.dropped.rename({ROW: "row"}),
        score=score,
        error_rows=bad,
        source_rows=checked.get_column(ROW).alias("row"),
    )


def validate_for_ingest(
    key: SeriesKey,
    bars: pl.DataFrame,
    *,
    now: datetime,
    others: Mapping[SeriesKey, pl.DataFrame] | None = None,
    config: ValidationConfig | None = None,
) -> IngestSplit:
    """Split ``bars`` into rows to store (no integrity error) and rows to reject with reasons.

    Accepted rows are canonical bars sorted by ts with a ``quality_score`` column; a
    conflicting duplicate keeps its last row and rejects the others (reason "duplicate_ts").
    """
    result = validate_series(key, bars, now=now, others=others, config=config)
    checked = result.bars
    accepted = checked.filter(~result.error_rows).select([*BAR_COLUMNS, "quality_score"])
    errors = (
        result.issues.filter(pl.col("severity") == Severity.ERROR.value)
        .group_by("ts")
        .agg(pl.col("rule").unique().sort().str.join("; ").alias("reasons"))
    )
    failed = (
        checked.with_columns(result.source_rows)
        .filter(result.error_rows)
        .select("row", "ts")
        .join(errors, on="ts", how="left")
    )
    dropped = result.dropped.select("row", "ts", pl.col("reason").alias("reasons"))
    rejected = pl.concat([failed, dropped]).sort("row")
    return IngestSplit(
        accepted=accepted,
        rejected=rejected,
        issues=result.issues,
        score=result.score,
    )
