"""Alert rules: what to watch, past which threshold, how loud, how often.

Each kind reads one kind of fact; ``threshold`` is in the kind's own unit:

| kind | subject | fires when | threshold |
| --- | --- | --- | --- |
| collector_stale | a series exchange:symbol:timeframe | its newest bar is older than N minutes | minutes (required) |
| quality_below | a series | its latest quality score is below X | score 0-1 (required) |
| outage_gap | a series | a new outage gap of at least N bars was recorded | bars (default 1) |
| job_failing | a job id | it failed K times in a row | K (default 3) |
| breaker_open | a venue | its circuit breaker is open | none |
| backtest_failed | a strategy | one of its backtests failed | none |
| stream_disconnected | a stream | it has been disconnected for N seconds | seconds (required) |
| spread_above | a venue pair | the live net spread is above Y bps | bps (required) |
| strategy_rolled_back | a strategy | an approved version was rolled back | none |

The last three read signals that the streams and the strategy catalog report (see
``app/observations.py``); until those report, such rules never fire. ``match`` narrows a
rule to subjects matching a shell-style pattern ("binance:*", "config-collect-*").
"""

from __future__ import annotations

import enum
import fnmatch
import re
from datetime import datetime

import msgspec

from arbx.domain.errors import InvalidInput


class RuleKind(enum.Enum):
    COLLECTOR_STALE = "collector_stale"
    QUALITY_BELOW = "quality_below"
    OUTAGE_GAP = "outage_gap"
    JOB_FAILING = "job_failing"
    BREAKER_OPEN = "breaker_open"
    BACKTEST_FAILED = "backtest_failed"
    STREAM_DISCONNECTED = "stream_disconnected"
    SPREAD_ABOVE = "spread_above"
    STRATEGY_ROLLED_BACK = "strategy_rolled_back"


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class RuleOrigin(enum.Enum):
    API = "api"
    CONFIG = "config"


class TransitionState(enum.Enum):
    FIRING = "firing"
    RESOLVED = "resolved"


# kind -> (default threshold or None when required, lowest, highest); absent: no threshold
_THRESHOLDS: dict[RuleKind, tuple[float | None, float, float]] = {
    RuleKind.COLLECTOR_STALE: (None, 1e-3, 1e7),
    RuleKind.QUALITY_BELOW: (None, 0.0, 1.0),
    RuleKind.OUTAGE_GAP: (1.0, 1.0, 1e9),
    RuleKind.JOB_FAILING: (3.0, 1.0, 1e6),
    RuleKind.STREAM_DISCONNECTED: (None, 1e-3, 1e7),
    RuleKind.SPREAD_ABOVE: (None, -1e5, 1e5),
}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_COOLDOWN_S = 7 * 86400.0


class AlertRuleSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A rule as written in the config (``[[alerts.rules]]``) or sent to the API."""

    name: str
    kind: str
    threshold: float | None = None
    match: str | None = None
    severity: str = "warning"
    cooldown_s: float = 300.0
    channels: list[str] = msgspec.field(default_factory=list)  # empty: every channel
    enabled: bool = True


class AlertRule(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: RuleKind
    threshold: float | None
    match: str | None
    severity: Severity
    cooldown_s: float
    channels: list[str]
    enabled: bool
    origin: RuleOrigin
    created_at: datetime

    @classmethod
    def from_spec(
        cls,
        spec: AlertRuleSpec,
        *,
        id: str,
        origin: RuleOrigin,
        created_at: datetime,
        known_channels: frozenset[str] | None = None,
    ) -> AlertRule:
        """Check every field; ``InvalidInput`` names the field and what it accepts."""
        if not _NAME.fullmatch(spec.name):
            raise InvalidInput(
                f"rule name {spec.name!r}: use 1-64 lowercase letters, digits, '.', '_' or '-'",
                field="name",
            )
        try:
            kind = RuleKind(spec.kind)
        except ValueError:
            raise InvalidInput(
                f"rule kind {spec.kind!r} does not exist; use one of "
                + ", ".join(k.value for k in RuleKind),
                field="kind",
            ) from None
        try:
            severity = Severity(spec.severity)
        except ValueError:
            raise InvalidInput(
                f"severity {spec.severity!r}: use info, warning or critical", field="severity"
            ) from None
        threshold = _threshold(kind, spec.threshold)
        if not 0 <= spec.cooldown_s <= MAX_COOLDOWN_S:
            raise InvalidInput(
                f"cooldown_s must be between 0 and {MAX_COOLDOWN_S:g} seconds", field="cooldown_s"
            )
        if spec.match is not None and not 0 < len(spec.match) <= 200:
            raise InvalidInput("match must be 1-200 characters", field="match")
        unknown = sorted(set(spec.channels) - known_channels) if known_channels is not None else []
        if unknown:
            raise InvalidInput(
                f"unknown channel(s) {', '.join(unknown)}; configured: "
                + (", ".join(sorted(known_channels or ())) or "none ([alerts.channels.NAME])"),
                field="channels",
            )
        return cls(
            id=id,
            name=spec.name,
            kind=kind,
            threshold=threshold,
            match=spec.match,
            severity=severity,
            cooldown_s=float(spec.cooldown_s),
            channels=list(dict.fromkeys(spec.channels)),
            enabled=spec.enabled,
            origin=origin,
            created_at=created_at,
        )

    def applies_to(self, subject: str) -> bool:
        return self.match is None or fnmatch.fnmatchcase(subject, self.match)


def _threshold(kind: RuleKind, given: float | None) -> float | None:
    bounds = _THRESHOLDS.get(kind)
    if bounds is None:
        if given is not None:
            raise InvalidInput(f"rules of kind {kind.value} take no threshold", field="threshold")
        return None
    default, low, high = bounds
    value = default if given is None else given
    if value is None:
        raise InvalidInput(f"rules of kind {kind.value} need a threshold", field="threshold")
    if not low <= value <= high or value != value:
        raise InvalidInput(
            f"threshold of a {kind.value} rule must be between {low:g} and {high:g}",
            field="threshold",
        )
    return float(value)


class AlertTransition(msgspec.Struct, frozen=True, kw_only=True):
    """One change of an alert's state, stored in the history of its rule."""

    id: str
    rule_id: str
    rule_name: str
    kind: RuleKind
    severity: Severity
    subject: str
    state: TransitionState
    at: datetime
    value: float | None
    summary: str
