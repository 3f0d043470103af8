"""Time as a dependency, so tests can hold it still."""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    @abstractmethod
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
