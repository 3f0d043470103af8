"""The spread store: closed opportunities of the live spread monitor, its history."""

from __future__ import annotations

import builtins
from abc import abstractmethod
from collections.abc import Sequence
from typing import Protocol

from arbx.domain.streams.spreads import SpreadOpportunity


class SpreadStore(Protocol):
    """Contract (tests/contract/test_spread_store.py holds every adapter to it):

    - ``record`` stores the opportunities it does not hold yet (by id) and returns how many
      were new; all or nothing per call.
    - ``history`` returns stored opportunities newest first (by start, then id descending):
      of one pair or of all (``pair`` None), with ``start_us <= start < end_us`` when given,
      at most ``limit``.
    """

    @abstractmethod
    async def record(self, opportunities: Sequence[SpreadOpportunity]) -> int: ...

    @abstractmethod
    async def history(
        self,
        *,
        pair: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        limit: int = 100,
    ) -> builtins.list[SpreadOpportunity]: ...
