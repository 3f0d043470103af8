"""Errors of the order-book core: all ``InvalidInput`` or ``NotFound``, so every face maps
them to a clear 4xx; each says what was wrong and what to do."""

from __future__ import annotations

from arbx.domain.errors import Conflict, InvalidInput, NotFound


class BookNotReady(InvalidInput):
    """A diff arrived before the book had a snapshot (or while it awaits a resync)."""


class SequenceGap(InvalidInput):
    """A diff does not follow the book's sequence number: updates were lost."""

    def __init__(self, message: str, *, expected: int, got: int) -> None:
        super().__init__(message, field="sequence")
        self.expected = expected
        self.got = got


class CrossedBook(InvalidInput):
    """Applying an update would leave the best bid at or above the best ask."""


class InvalidOrder(InvalidInput):
    """An order breaks a rule of its instrument (quantity, tick, lot) or of its type."""


class UnknownInstrument(NotFound):
    """The engine has no such instrument."""


class UnknownOrder(NotFound):
    """No resting order with that id (never placed, already filled or cancelled)."""


class DuplicateOrder(Conflict):
    """An order id is already live."""
