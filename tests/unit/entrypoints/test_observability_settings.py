"""[telemetry], [logging] format and [alerts]: bad values stop start-up naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from arbx.domain.errors import InvalidInput
from arbx.entrypoints.settings import load_settings

HOOK = {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}


def settings(**overrides: Any) -> Any:
    return load_settings(profile="test", environ={}, overrides=overrides)


def test_defaults() -> None:
    loaded = settings()
    assert loaded.telemetry.enabled
    assert loaded.telemetry.metrics_access == "permission"
    assert loaded.telemetry.otlp_endpoint == ""
    assert loaded.logging.format == "text"
    assert loaded.alerts.enabled
    assert loaded.alerts.rules == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"telemetry": {"otlp_endpoint": "127.0.0.1:4318"}}, "otlp_endpoint must start with"),
        ({"telemetry": {"sample_ratio": 1.5}}, "sample_ratio must be between 0 and 1"),
        ({"telemetry": {"metrics_access": "open"}}, "telemetry.metrics_access"),
        ({"telemetry": {"request_id_header": "X Request"}}, "request_id_header"),
        ({"logging": {"format": "xml"}}, "logging.format"),
        ({"alerts": {"channels": {"ops": {"kind": "webhook"}}}}, "needs url"),
        ({"alerts": {"channels": {"m": {"kind": "email", "host": "h"}}}}, "host, sender and to"),
        ({"alerts": {"channels": {"Ops!": HOOK}}}, "channel name 'Ops!'"),
        (
            {"alerts": {"rules": [{"name": "a", "kind": "job_failing", "channels": ["ops"]}]}},
            r"rules\[0\] \('a'\): unknown channel\(s\) ops",
        ),
        (
            {"alerts": {"rules": [{"name": "a", "kind": "breaker_open"}] * 2}},
            "rule name 'a' appears twice",
        ),
        ({"alerts": {"rules": [{"name": "a", "kind": "breaker_open", "when": 1}]}}, "when"),
    ],
)
def test_bad_values_name_the_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        settings(**overrides)


def test_secrets_stay_out_of_reprs() -> None:
    loaded = settings(
        alerts={"channels": {"ops": {**HOOK, "secret": "s3cret-value"}}},
        telemetry={"otlp_headers": {"authorization": "Bearer tok-value"}},
    )
    assert "s3cret-value" not in repr(loaded.alerts.channels)
    assert "tok-value" not in repr(loaded.telemetry)
