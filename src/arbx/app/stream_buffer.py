"""A bounded buffer between a stream's socket reader and its writer, cheaper per item than
``asyncio.Queue`` (a whole message's items go in at once; the writer takes a batch at once).

The reader waits while ``size`` items or more are held, so the buffer holds at most ``size``
plus one message's items; nothing is ever dropped. ``close`` lets the writer drain what is
left and then see the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class BoundedBuffer(Generic[T]):
    def __init__(self, size: int) -> None:
        self._items: deque[T] = deque()
        self._size = size
        self._room = asyncio.Event()
        self._room.set()
        self._ready = asyncio.Event()
        self._closed = False
        self._want = 1  # the writer wakes once this many items are held
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._items)

    async def put_many(self, items: list[T]) -> None:
        while len(self._items) >= self._size:
            self._room.clear()
            await self._room.wait()
        self._items.extend(items)
        held = len(self._items)
        if held > self.high_water:
            self.high_water = held
        if held >= self._want:
            self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def take(self, most: int, within_s: float) -> list[T]:
        """Up to ``most`` items: waits for the first, then at most ``within_s`` for more; an
        empty list once closed and drained."""
        self._want = 1
        while not self._items:
            if self._closed:
                return []
            self._ready.clear()
            await self._ready.wait()
        if len(self._items) < most and not self._closed:
            self._want = min(most, self._size)  # sleep until a full batch or the deadline
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), within_s)
            self._want = 1
        count = min(most, len(self._items))
        batch = [self._items.popleft() for _ in range(count)]
        if len(self._items) < self._size:
            self._room.set()
        return batch
