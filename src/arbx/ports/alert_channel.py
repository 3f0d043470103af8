"""Where alert notifications go (a webhook, an e-mail address...)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from arbx.domain.alerts import AlertTransition


class AlertChannel(Protocol):
    """Delivers one notification or raises ``ExternalError`` saying why not (the caller
    retries with backoff). ``kind`` is "webhook", "email"..."""

    name: str
    kind: str

    @abstractmethod
    async def deliver(self, transition: AlertTransition, *, test: bool = False) -> None: ...
