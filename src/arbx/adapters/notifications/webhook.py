"""A webhook channel: POST of the transition as JSON (or a Slack-compatible ``{"text"}``),
signed with HMAC-SHA256 when a secret is set.

Signature: ``X-Arbx-Signature: sha256=<hex>`` over ``<X-Arbx-Timestamp>.<raw body>``, where
the timestamp is Unix seconds; a receiver recomputes it with the shared secret and rejects
old timestamps (replays)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import aiohttp
import msgspec

from arbx.adapters.notifications.message import body_fields, text
from arbx.domain.alerts import AlertTransition
from arbx.domain.errors import ExternalError
from arbx.ports.alert_channel import AlertChannel

SIGNATURE_HEADER = "X-Arbx-Signature"
TIMESTAMP_HEADER = "X-Arbx-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookChannel(AlertChannel):
    kind = "webhook"

    def __init__(
        self,
        name: str,
        session: aiohttp.ClientSession,
        *,
        url: str,
        secret: str,
        slack: bool,
        timeout_s: float,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._session = session
        self._url = url
        self._secret = secret
        self._slack = slack
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._now = now

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r}, secret=***)"

    async def deliver(self, transition: AlertTransition, *, test: bool = False) -> None:
        payload: object = (
            {"text": text(transition, test=test)}
            if self._slack
            else body_fields(transition, test=test)
        )
        body = msgspec.json.encode(payload)
        headers = {"Content-Type": "application/json"}
        if self._secret:
            stamp = str(int(self._now()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = signature(self._secret, stamp, body)
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, timeout=self._timeout
            ) as response:
                answer = (await response.read())[:200].decode("utf-8", "replace").strip()
                status = response.status
        except TimeoutError as exc:
            raise ExternalError(f"webhook {self.name} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise ExternalError(f"webhook {self.name} could not be reached: {exc}") from exc
        if not 200 <= status < 300:
            detail = f": {answer}" if answer else ""
            raise ExternalError(f"webhook {self.name} answered HTTP {status}{detail}")
