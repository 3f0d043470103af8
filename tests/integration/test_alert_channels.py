"""The alert channels against local receivers: a signed JSON webhook, a Slack-compatible
body, an SMTP e-mail; retries with backoff and a failing channel visible in its status,
while ``submit`` returns at once."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from arbx.adapters.notifications.smtp import SmtpChannel
from arbx.adapters.notifications.webhook import WebhookChannel, signature
from arbx.adapters.system_clock import SystemClock
from arbx.adapters.telemetry.noop import NoTelemetry
from arbx.app.alerts import Notifications
from arbx.domain.alerts import AlertTransition, RuleKind, Severity, TransitionState
from arbx.domain.errors import InvalidInput
from arbx.entrypoints.observability import alert_channels
from arbx.entrypoints.settings import AlertChannelSettings, AlertsSettings
from arbx.ports.alert_channel import AlertChannel
from tests.support.receivers import smtp_receiver, webhook_receiver
from tests.support.tls import make_ca

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FIRED = AlertTransition(
    id="t1",
    rule_id="config-stale",
    rule_name="stale",
    kind=RuleKind.COLLECTOR_STALE,
    severity=Severity.CRITICAL,
    subject="binance:BTC/USDC:1m",
    state=TransitionState.FIRING,
    at=T0,
    value=42.0,
    summary="no new bar for 42 min (limit 5 min)",
)


def notifications(channels: list[AlertChannel], attempts: int = 3) -> Notifications:
    return Notifications(
        channels,
        clock=SystemClock(),
        telemetry=NoTelemetry(),
        attempts=attempts,
        base_delay_s=0.01,
        max_delay_s=0.02,
    )


async def test_a_signed_json_webhook_carries_the_transition() -> None:
    with webhook_receiver() as receiver:
        async with aiohttp.ClientSession() as session:
            hook = WebhookChannel(
                "ops", session, url=receiver.url, secret="s3cret", slack=False, timeout_s=5
            )
            await hook.deliver(FIRED)
    [got] = receiver.received
    body = json.loads(got.body)
    assert body["state"] == "firing"
    assert body["rule"] == "stale"
    assert body["subject"] == "binance:BTC/USDC:1m"
    assert body["severity"] == "critical"
    assert body["value"] == 42.0
    assert body["at"] == "2025-03-01T12:00:00Z"
    stamp = got.headers["X-Arbx-Timestamp"]
    assert abs(int(stamp) - time.time()) < 60
    assert got.headers["X-Arbx-Signature"] == signature("s3cret", stamp, got.body)
    assert got.headers["X-Arbx-Signature"] != signature("other", stamp, got.body)


async def test_a_slack_body_is_one_text() -> None:
    with webhook_receiver() as receiver:
        async with aiohttp.ClientSession() as session:
            hook = WebhookChannel(
                "slack", session, url=receiver.url, secret="", slack=True, timeout_s=5
            )
            await hook.deliver(FIRED)
    [got] = receiver.received
    body = json.loads(got.body)
    assert list(body) == ["text"]
    assert body["text"].startswith("[arbx] FIRING critical: stale on binance:BTC/USDC:1m")
    assert "X-Arbx-Signature" not in got.headers


async def test_retries_then_delivers_and_a_dead_channel_is_visible() -> None:
    with (
        webhook_receiver(statuses=[500, 503]) as flaky,
        webhook_receiver(statuses=[500] * 9) as dead,
    ):
        async with aiohttp.ClientSession() as session:
            ok = WebhookChannel(
                "flaky", session, url=flaky.url, secret="", slack=False, timeout_s=5
            )
            bad = WebhookChannel("dead", session, url=dead.url, secret="", slack=False, timeout_s=5)
            sender = notifications([ok, bad], attempts=3)
            started = time.perf_counter()
            sender.submit(FIRED)
            assert time.perf_counter() - started < 0.05  # handed off, not delivered inline
            assert {s.name: s.pending for s in sender.statuses()} == {"dead": 1, "flaky": 1}
            await sender.drain()
    status = {s.name: s for s in sender.statuses()}
    assert flaky.attempts == 3
    assert len(flaky.received) == 1
    assert (status["flaky"].ok, status["flaky"].delivered, status["flaky"].failed) == (True, 1, 0)
    assert dead.attempts == 3
    assert (status["dead"].ok, status["dead"].delivered, status["dead"].failed) == (False, 0, 1)
    assert status["dead"].last_error == "webhook dead answered HTTP 500: receiver says no"
    assert status["dead"].pending == 0


async def test_an_unreachable_channel_fails_without_raising() -> None:
    async with aiohttp.ClientSession() as session:
        gone = WebhookChannel(
            "gone", session, url="http://127.0.0.1:9/hook", secret="", slack=False, timeout_s=2
        )
        sender = notifications([gone], attempts=2)
        sender.submit(FIRED)
        await sender.drain()
    [status] = sender.statuses()
    assert not status.ok
    assert status.last_error is not None
    assert "could not be reached" in status.last_error


async def test_email_over_smtp() -> None:
    with smtp_receiver() as smtp:
        mail = SmtpChannel(
            "ops-mail",
            host=smtp.host,
            port=smtp.port,
            starttls=False,
            username="",
            password="",
            sender="arbx@example.org",
            to=["ops@example.org", "oncall@example.org"],
            timeout_s=5,
        )
        sender = notifications([mail])
        statuses = await sender.test()
        sender.submit(FIRED)
        await sender.drain()
    assert [s.delivered for s in statuses] == [1]
    test, fired = smtp.messages
    assert test["Subject"] == "[arbx] TEST notification: this channel works"
    assert fired["Subject"] == "[arbx] FIRING critical: stale on binance:BTC/USDC:1m"
    assert fired["To"] == "ops@example.org, oncall@example.org"
    assert "no new bar for 42 min" in fired.get_payload()
    assert smtp.envelopes[1] == ("arbx@example.org", ["ops@example.org", "oncall@example.org"])


async def test_smtp_refusing_starttls_is_a_clear_failure() -> None:
    with smtp_receiver() as smtp:
        mail = SmtpChannel(
            "tls-mail",
            host=smtp.host,
            port=smtp.port,
            starttls=True,  # the local server offers no STARTTLS
            username="",
            password="",
            sender="arbx@example.org",
            to=["ops@example.org"],
            timeout_s=5,
        )
        [status] = await notifications([mail], attempts=1).test()
    assert not status.ok
    assert status.last_error is not None
    assert "could not send via 127.0.0.1" in status.last_error
    assert smtp.messages == []


async def test_submit_never_blocks_the_caller_on_a_slow_channel() -> None:
    class Slow(AlertChannel):
        name, kind = "slow", "webhook"

        async def deliver(self, transition: AlertTransition, *, test: bool = False) -> None:
            await asyncio.sleep(5)

    sender = notifications([Slow()])
    started = time.perf_counter()
    sender.submit(FIRED)
    assert time.perf_counter() - started < 0.05
    await sender.close()


async def test_email_over_starttls_to_a_server_with_a_private_ca(tmp_path: Path) -> None:
    """The channel as the config builds it (``ca_file`` trusted), against an SMTP server that
    requires STARTTLS with a certificate from a CA made here: the mail arrives inside TLS."""
    ca = make_ca(tmp_path / "ca")
    with smtp_receiver(tls_context=ca.server_context()) as smtp:
        settings = AlertsSettings(
            channels={
                "secure-mail": AlertChannelSettings(
                    kind="email",
                    host=smtp.host,
                    port=smtp.port,
                    starttls=True,
                    sender="arbx@example.org",
                    to=["ops@example.org"],
                    timeout_s=5,
                    ca_file=str(ca.ca_file),
                )
            }
        )
        async with aiohttp.ClientSession() as session:
            [mail] = alert_channels(settings, session)
        sender = notifications([mail], attempts=1)
        [status] = await sender.test()
        sender.submit(FIRED)
        await sender.drain()
    assert status.ok, status.last_error
    assert [m["Subject"] for m in smtp.messages] == [
        "[arbx] TEST notification: this channel works",
        "[arbx] FIRING critical: stale on binance:BTC/USDC:1m",
    ]
    assert smtp.secured == [True, True]


async def test_starttls_with_an_untrusted_certificate_sends_nothing(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    with smtp_receiver(tls_context=ca.server_context()) as smtp:
        mail = SmtpChannel(
            "untrusting",
            host=smtp.host,
            port=smtp.port,
            starttls=True,  # the system store does not know the test CA
            username="",
            password="",
            sender="arbx@example.org",
            to=["ops@example.org"],
            timeout_s=5,
        )
        [status] = await notifications([mail], attempts=1).test()
    assert not status.ok
    assert status.last_error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in status.last_error
    assert smtp.messages == []


def test_an_unreadable_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("hello")
    settings = AlertsSettings(
        channels={
            "m": AlertChannelSettings(
                kind="email", host="127.0.0.1", sender="a@b.c", to=["d@e.f"], ca_file=str(bad)
            )
        }
    )
    with pytest.raises(InvalidInput, match="ca_file .*not-a-ca.pem cannot be read"):
        alert_channels(settings, None)  # type: ignore[arg-type]  # no webhook: no session used
