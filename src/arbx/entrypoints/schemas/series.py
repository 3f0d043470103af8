"""Series keys from request values, and the checks of a gap repair's source.

A series is written ``EXCHANGE:BASE/QUOTE:TF`` (``SeriesKey.parse``) or given as three
fields (``SeriesKey.of``); a repair's reference may also be just a venue, for the same pair
and timeframe.
"""

from __future__ import annotations

from dataclasses import dataclass

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey
from arbx.domain.quality import RepairPolicy
from arbx.entrypoints.schemas.naming import Naming, as_field


def series_from_parts(
    exchange: str | None,
    symbol: str | None,
    timeframe: str | None,
    *,
    name: Naming = as_field,
) -> SeriesKey | None:
    """All three parts, or none (``None``: the caller has another way to know the series)."""
    given = (exchange, symbol, timeframe)
    if exchange and symbol and timeframe:
        return SeriesKey.of(exchange, symbol, timeframe)
    if any(given):
        raise InvalidInput(
            f"give all of {name('exchange')}, {name('symbol')} and {name('timeframe')}, or none",
            field="series",
        )
    return None


def reference_key(key: SeriesKey, reference: str | None) -> SeriesKey | None:
    """A reference series: EXCHANGE:BASE/QUOTE:TF, or just the venue for the same pair.

    It must be the same pair and timeframe on another venue than ``key``'s.
    """
    if reference is None or not reference.strip():
        return None
    if ":" in reference:
        found = SeriesKey.parse(reference)
    else:
        found = SeriesKey.of(reference, str(key.symbol), str(key.timeframe))
    if (found.symbol, found.timeframe) != (key.symbol, key.timeframe) or found == key:
        raise InvalidInput(
            f"reference {found} must be {key.symbol} on {key.timeframe} on another venue than"
            f" {key.exchange}",
            field="reference",
        )
    return found


@dataclass(frozen=True)
class RepairSource:
    """The checked policy and source of a gap repair.

    Checked before the repair detects and stores any gap, so bad input changes nothing
    stored: the policy is one of leave, ffill, venue; ``basis_window`` is at least one bar;
    a reference goes with the ``venue`` policy only.
    """

    policy: RepairPolicy
    reference: SeriesKey | None
    basis_window: int

    @classmethod
    def parse(
        cls,
        key: SeriesKey,
        policy: str,
        reference: str | None,
        basis_window: int,
        *,
        name: Naming = as_field,
    ) -> RepairSource:
        parsed = RepairPolicy.parse(policy)
        if basis_window < 1:
            raise InvalidInput(
                f"{name('basis_window')} must be at least 1 bar", field="basis_window"
            )
        found = reference_key(key, reference)
        if found is not None and parsed is not RepairPolicy.FROM_VENUE:
            raise InvalidInput(
                f"{name('reference')} applies to {name('policy')} venue only", field="reference"
            )
        return cls(parsed, found, basis_window)
