"""SpreadStore in memory (tests, and a process without a database)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from arbx.domain.streams.spreads import SpreadOpportunity
from arbx.ports.spread_store import SpreadStore


class MemorySpreadStore(SpreadStore):
    def __init__(self) -> None:
        self._rows: dict[str, SpreadOpportunity] = {}

    async def record(self, opportunities: Sequence[SpreadOpportunity]) -> int:
        new = {o.id: o for o in opportunities if o.id not in self._rows}
        self._rows.update(new)
        return len(new)

    async def history(
        self,
        *,
        pair: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        limit: int = 100,
    ) -> builtins.list[SpreadOpportunity]:
        rows = [
            o
            for o in self._rows.values()
            if (pair is None or o.pair == pair)
            and (start_us is None or o.start_us >= start_us)
            and (end_us is None or o.start_us < end_us)
        ]
        rows.sort(key=lambda o: (o.start_us, o.id), reverse=True)
        return rows[: max(0, limit)]
