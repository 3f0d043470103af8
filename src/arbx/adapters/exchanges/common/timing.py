"""Time as a dependency of the resilience machinery, so tests never really wait."""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from datetime import UTC, datetime
from typing import Protocol


class Timer(Protocol):
    """Wall clock (for 'is this bar closed?'), a monotonic clock and sleep."""

    @abstractmethod
    def now(self) -> datetime: ...

    @abstractmethod
    def monotonic(self) -> float: ...

    @abstractmethod
    async def sleep(self, seconds: float) -> None: ...


class SystemTimer(Timer):
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
