"""Data quality: validation rules, scores, gap detection and repair of bar series."""

from arbx.domain.quality.gaps import OMITS_EMPTY_BARS, detect_gaps, merge_gap_status
from arbx.domain.quality.model import (
    ISSUE_SCHEMA,
    DataGap,
    GapCause,
    GapStatus,
    Rule,
    SeriesScore,
    Severity,
    ValidationIssue,
    empty_issues,
    frame_to_issues,
    issues_to_frame,
)
from arbx.domain.quality.repair import REPAIR_SCHEMA, RepairPolicy, RepairResult, repair_gaps
from arbx.domain.quality.scoring import bar_scores, series_score
from arbx.domain.quality.validate import (
    IngestSplit,
    ValidationConfig,
    ValidationResult,
    expected_slots,
    validate_for_ingest,
    validate_series,
)

__all__ = [
    "ISSUE_SCHEMA",
    "OMITS_EMPTY_BARS",
    "REPAIR_SCHEMA",
    "DataGap",
    "GapCause",
    "GapStatus",
    "IngestSplit",
    "RepairPolicy",
    "RepairResult",
    "Rule",
    "SeriesScore",
    "Severity",
    "ValidationConfig",
    "ValidationIssue",
    "ValidationResult",
    "bar_scores",
    "detect_gaps",
    "empty_issues",
    "expected_slots",
    "frame_to_issues",
    "issues_to_frame",
    "merge_gap_status",
    "repair_gaps",
    "series_score",
    "validate_for_ingest",
    "validate_series",
]
