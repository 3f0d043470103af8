"""Reading trade-history files (plain, gzip or zip) as bytes, for ``import-trades``."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TradeFileData:
    """A file's content, decompressed, and the name of what was read (a zip's member)."""

    name: str
    data: bytes


class TradeFileReader(Protocol):
    """``read`` returns the content of ``path``: as is, gunzipped (``.gz``) or the one member
    of a zip (``member`` names it when the zip holds several). A missing or unreadable file,
    a broken archive or an unknown member raises ``InvalidInput`` naming it."""

    @abstractmethod
    def read(self, path: Path, member: str | None = None) -> TradeFileData: ...
