"""The process probe port: who this process is, and whether another one on this host lives.

Used to tell whether the process recorded as running a study (``domain.research.holder``)
is gone, so a study left ``running`` by a killed process is shown ``interrupted``.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Protocol

from arbx.domain.research.holder import Holder


class ProcessProbe(Protocol):
    @abstractmethod
    def holder(self, at: datetime) -> Holder:
        """This process as a holder (host, pid, boot id, start time, a token fixed for the
        life of the process), its heartbeat at ``at``."""

    @abstractmethod
    def alive(self, pid: int, started: int) -> bool:
        """Whether process ``pid`` of this host runs and (when ``started`` is not 0) is the
        one that started at ``started`` clock ticks after boot."""
