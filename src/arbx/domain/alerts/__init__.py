"""Alert rules, their states (firing / resolved) and the transitions between them."""

from arbx.domain.alerts.book import AlertBook, AlertState, Condition
from arbx.domain.alerts.rules import (
    AlertRule,
    AlertRuleSpec,
    AlertTransition,
    RuleKind,
    RuleOrigin,
    Severity,
    TransitionState,
)

__all__ = [
    "AlertBook",
    "AlertRule",
    "AlertRuleSpec",
    "AlertState",
    "AlertTransition",
    "Condition",
    "RuleKind",
    "RuleOrigin",
    "Severity",
    "TransitionState",
]
