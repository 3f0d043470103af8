"""Turning a report into a document a person opens."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from arbx.domain.reports.model import Report


class ReportRenderer(Protocol):
    """Renders a ``Report`` as ONE self-contained document: every script, style and datum
    inside it, nothing loaded from the network when it is opened (from disk or a server)."""

    media_type: str

    @abstractmethod
    def render(self, report: Report) -> str: ...
