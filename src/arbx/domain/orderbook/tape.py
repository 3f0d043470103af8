"""Recorded books replayed forward in time, for execution on recorded data.

``BookReplay`` holds one instrument's recorded snapshots and diffs in time order (``ts``,
epoch ms) and answers ``at(ts)``: the book as it was known at ``ts``, every update stamped
at or before ``ts`` applied and none after it (no look-ahead). Replay only moves forward
(an earlier ``ts`` than the last one asked raises ``InvalidInput``), so a whole run costs
one pass over the tape. Sequencing is the book's (``book.L2Book``): by default a gap or a
crossed update clears the book and counts a resync until the next snapshot, and a cleared
book is answered as an empty book (nothing fills) with ``resyncs`` telling how often.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from arbx.domain.errors import InvalidInput
from arbx.domain.orderbook.book import BookDiff, BookSnapshot, GapPolicy, L2Book


class BookReplay:
    def __init__(
        self,
        instrument: str,
        updates: Sequence[BookSnapshot | BookDiff],
        *,
        on_gap: GapPolicy = "resync",
    ) -> None:
        for before, after in itertools.pairwise(updates):
            if after.ts < before.ts:
                raise InvalidInput(
                    f"recorded updates of {instrument} are not in time order"
                    f" ({after.ts} after {before.ts})",
                    field="updates",
                )
        self.instrument = instrument
        self._updates = list(updates)
        self._book = L2Book(instrument, on_gap=on_gap)
        self._next = 0
        self._last: int | None = None
        self._empty = L2Book(instrument)
        self._empty.apply_snapshot(BookSnapshot(instrument, 0, (), ()))

    @property
    def resyncs(self) -> int:
        return self._book.resyncs

    def at(self, ts: int) -> L2Book:
        """The book as known at ``ts`` (an empty book before the first snapshot or while
        it awaits a resync). The returned book is only to be read."""
        if self._last is not None and ts < self._last:
            raise InvalidInput(
                f"replay of {self.instrument} moves forward only: {ts} is before {self._last}",
                field="ts",
            )
        self._last = ts
        updates, book = self._updates, self._book
        while self._next < len(updates) and updates[self._next].ts <= ts:
            update = updates[self._next]
            self._next += 1
            if isinstance(update, BookSnapshot):
                book.apply_snapshot(update)
            else:
                book.apply_diff(update)
        return book if book.ready else self._empty
