"""What a notification says, the same on every channel."""

from __future__ import annotations

from typing import Any

from arbx.domain.alerts import AlertTransition, TransitionState


def headline(t: AlertTransition, *, test: bool = False) -> str:
    if test:
        return "[arbx] TEST notification: this channel works"
    state = "FIRING" if t.state is TransitionState.FIRING else "RESOLVED"
    return f"[arbx] {state} {t.severity.value}: {t.rule_name} on {t.subject}"


def body_fields(t: AlertTransition, *, test: bool = False) -> dict[str, Any]:
    return {
        "test": test,
        "rule_id": t.rule_id,
        "rule": t.rule_name,
        "kind": t.kind.value,
        "severity": t.severity.value,
        "subject": t.subject,
        "state": t.state.value,
        "at": t.at.isoformat().replace("+00:00", "Z"),
        "value": t.value,
        "summary": t.summary,
        "transition_id": t.id,
    }


def text(t: AlertTransition, *, test: bool = False) -> str:
    lines = [headline(t, test=test), "", t.summary]
    if t.value is not None:
        lines.append(f"value: {t.value:g}")
    lines.append(f"at: {t.at:%Y-%m-%d %H:%M:%S}Z (rule {t.rule_id}, kind {t.kind.value})")
    return "\n".join(lines)
