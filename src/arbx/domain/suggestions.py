"""Name typos: "did you mean ...?" and the list of what exists, for every kind of name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_LISTED = 30


def close_matches(given: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The names of ``known`` closest to ``given`` (case-insensitive), best first."""
    names = list(dict.fromkeys(known))
    lowered = {name.lower(): name for name in names}
    found = difflib.get_close_matches(given.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[name] for name in found]


def unknown(kind: str, given: str, known: Iterable[str]) -> str:
    """``unknown venue 'krakn'; did you mean kraken? known: binance, coinbase, kraken``."""
    names = sorted(dict.fromkeys(known))
    close = close_matches(given, names)
    hint = f"; did you mean {' or '.join(close)}?" if close else ";"
    if not names:
        return f"unknown {kind} {given!r}; there is none yet"
    more = len(names) - MAX_LISTED
    listed = ", ".join(names[:MAX_LISTED]) + (f", ... ({more} more)" if more > 0 else "")
    return f"unknown {kind} {given!r}{hint} known: {listed}"
