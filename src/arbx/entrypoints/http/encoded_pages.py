"""A memo of encoded bar pages: the wire bytes of a page already sent, reused when the same
page is asked for again and its bars are still exactly the same.

Encoding 1,000 bars as JSON costs about twice the (cached) query that produced them, so a
busy server that serves the same pages again (charts polling the latest page, many clients
reading one series) spends most of a bars request encoding what it encoded before. A memo
entry is keyed by what the body is made of besides the bars (series, span, limit, format)
and holds the bars it was encoded from: a hit needs ``DataFrame.equals`` on the fresh page
(microseconds), so a changed bar, a new bar or a repaired one is never answered with the old
body, whatever wrote it. Entries are evicted least recently used, bounded by body bytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import polars as pl


class EncodedPages:
    def __init__(self, max_bytes: int = 32 * 1024 * 1024, max_body: int = 4 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.max_body = max_body
        self._entries: OrderedDict[Hashable, tuple[pl.DataFrame, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def body(self, key: Hashable, bars: pl.DataFrame, encode: Callable[[], bytes]) -> bytes:
        """The body for ``key`` and ``bars``: the memo's when it was encoded from equal bars,
        else ``encode()`` (remembered when it is not larger than ``max_body``)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None and entry[0].schema == bars.schema and entry[0].equals(bars):
            self.hits += 1
            return entry[1]
        self.misses += 1
        body = encode()
        if self.max_bytes and len(body) <= self.max_body:
            # keep our own copy of the bars: the page may be a slice a caller changes later
            self._remember(key, bars.clone(), body)
        return body

    def _remember(self, key: Hashable, bars: pl.DataFrame, body: bytes) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._entries[key] = (bars, body)
            self._bytes += len(body)
            while self._bytes > self.max_bytes and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= len(dropped)
