"""Repair gaps with a policy the user picks per series; never overwrite an original bar.

Policies:

- ``leave``: nothing is synthesized; the gaps are marked ``accepted``.
- ``ffill``: every missing slot gets open = high = low = close = the last close before the gap
  and volume 0 (a flagged stale bar: what a venue that prints empty bars would have shown).
  Slots before the first bar cannot be filled.
- ``venue``: every missing slot where the reference venue (same pair and timeframe) has a bar
  gets that bar's open, high, low and close multiplied by the basis, and volume 0 (the other
  venue's volume is not this venue's liquidity). The basis is the rolling median, over
  ``basis_window`` common traded bars, of ``close / reference close``, taken as of the slot
  (the nearest basis when none precedes it). Scaling by a positive number keeps every OHLC
  inequality, so filled bars pass validation.

The result carries every bar with ``is_filled`` and ``source`` (null for original bars,
``"ffill"`` or the reference series for filled ones), and the gaps split into ``filled`` runs
and the runs still ``open``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import BAR_COLUMNS, BAR_SCHEMA, SeriesKey, coerce_bars, from_ms, to_ms
from arbx.domain.quality.gaps import missing_runs
from arbx.domain.quality.model import DataGap, GapStatus

FFILL_SOURCE = "ffill"
REPAIR_SCHEMA = {**BAR_SCHEMA, "is_filled": pl.Boolean(), "source": pl.String()}


class RepairPolicy(enum.Enum):
    LEAVE = "leave"
    FORWARD_FILL = "ffill"
    FROM_VENUE = "venue"

    @classmethod
    def parse(cls, text: str) -> RepairPolicy:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(
                f"repair policy {text!r} is not one of leave, ffill, venue", field="policy"
            ) from None

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RepairResult:
    """``bars``: originals and fills (``REPAIR_SCHEMA``, sorted); ``filled``: the fills only."""

    bars: pl.DataFrame
    filled: pl.DataFrame
    gaps: list[DataGap]

    @property
    def filled_bars(self) -> int:
        return self.filled.height

    @property
    def unfilled_bars(self) -> int:
        return sum(g.bars_missing for g in self.gaps if g.status is GapStatus.OPEN)


def _slots(gaps: Sequence[DataGap], step: int, present: pl.Series) -> pl.DataFrame:
    """Every missing grid slot of ``gaps`` that has no bar in ``present``, as a ``ts`` frame."""
    if not gaps:
        return pl.DataFrame(schema={"ts": BAR_SCHEMA["ts"]})
    starts = np.array([to_ms(g.start) for g in gaps], dtype=np.int64)
    ends = np.array([to_ms(g.end) for g in gaps], dtype=np.int64)
    counts = (ends - starts) // step
    offsets = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(counts) - counts, counts
    )
    slots = np.unique(np.repeat(starts, counts) + offsets * step)
    frame = pl.DataFrame({"ts": slots}).select(pl.col("ts").cast(BAR_SCHEMA["ts"]))
    return frame.join(pl.DataFrame({"ts": present}), on="ts", how="anti").sort("ts")


def _forward_fill(bars: pl.DataFrame, slots: pl.DataFrame) -> pl.DataFrame:
    prior = bars.select("ts", pl.col("close").alias("last_close"))
    joined = slots.join_asof(prior, on="ts", strategy="backward").drop_nulls("last_close")
    return joined.select(
        "ts",
        *(pl.col("last_close").alias(c) for c in ("open", "high", "low", "close")),
        pl.lit(0.0).alias("volume"),
        pl.lit(FFILL_SOURCE).alias("source"),
    )


def _from_venue(
    bars: pl.DataFrame, slots: pl.DataFrame, reference: pl.DataFrame, name: str, window: int
) -> pl.DataFrame:
    basis = (
        bars.filter(pl.col("volume") > 0)
        .select("ts", "close")
        .join(
            reference.filter(pl.col("volume") > 0).select("ts", pl.col("close").alias("ref")),
            on="ts",
        )
        .sort("ts")
        .select(
            "ts",
            (pl.col("close") / pl.col("ref")).rolling_median(window, min_samples=1).alias("basis"),
        )
    )
    if basis.is_empty():
        return pl.DataFrame(schema={**BAR_SCHEMA, "source": pl.String()})
    ref = reference.select("ts", *(pl.col(c).alias(f"ref_{c}") for c in BAR_COLUMNS[1:5]))
    joined = (
        slots.join(ref, on="ts", how="inner")
        .sort("ts")
        .join_asof(basis, on="ts", strategy="nearest")
    )
    return joined.select(
        "ts",
        *(
            (pl.col(f"ref_{c}") * pl.col("basis")).alias(c)
            for c in ("open", "high", "low", "close")
        ),
        pl.lit(0.0).alias("volume"),
        pl.lit(name).alias("source"),
    )


def _split(gaps: Sequence[DataGap], filled: pl.DataFrame, step: int, source: str) -> list[DataGap]:
    """Each gap as its filled runs (status filled) and its remaining runs (status open)."""
    filled_ms = np.unique(filled.get_column("ts").dt.epoch("ms").to_numpy().astype(np.int64))
    result: list[DataGap] = []
    for gap in gaps:
        lo, hi = to_ms(gap.start), to_ms(gap.end)
        inside = filled_ms[(filled_ms >= lo) & (filled_ms < hi)]
        open_starts, open_ends = missing_runs(inside, step, lo, hi)
        for s, e in zip(open_starts, open_ends, strict=True):
            result.append(_piece(gap, int(s), int(e), step, gap.status, gap.fill_source))
        if inside.size:
            breaks = np.flatnonzero(np.diff(inside) != step)
            run_starts = np.concatenate(([inside[0]], inside[breaks + 1]))
            run_ends = np.concatenate((inside[breaks], [inside[-1]])) + step
            for s, e in zip(run_starts, run_ends, strict=True):
                result.append(_piece(gap, int(s), int(e), step, GapStatus.FILLED, source))
    return sorted(result, key=lambda g: (g.start, g.end))


def _piece(
    gap: DataGap, start: int, end: int, step: int, status: GapStatus, source: str | None
) -> DataGap:
    return DataGap(
        gap.series, from_ms(start), from_ms(end), (end - start) // step, gap.cause, status, source
    )


def repair_gaps(
    key: SeriesKey,
    bars: pl.DataFrame,
    gaps: Sequence[DataGap],
    policy: RepairPolicy,
    *,
    reference: tuple[SeriesKey, pl.DataFrame] | None = None,
    basis_window: int = 60,
) -> RepairResult:
    """Fill ``gaps`` of ``bars`` (series ``key``) by ``policy``; the input is not modified.

    Only gaps with status ``open`` are worked on; the others are returned as they are.
    """
    if basis_window < 1:
        raise InvalidInput("basis_window must be >= 1", field="basis_window")
    original = coerce_bars(bars).sort("ts")
    step = key.timeframe.ms
    todo = [g for g in gaps if g.status is GapStatus.OPEN]
    kept = [g for g in gaps if g.status is not GapStatus.OPEN]
    for gap in todo:
        if gap.series != key:
            raise InvalidInput(f"gap {gap.span} belongs to {gap.series}, not {key}", field="gaps")
    empty_fill = pl.DataFrame(schema={**BAR_SCHEMA, "source": pl.String()})
    if policy is RepairPolicy.LEAVE:
        fills = empty_fill
        new_gaps = [
            _piece(g, to_ms(g.start), to_ms(g.end), step, GapStatus.ACCEPTED, None) for g in todo
        ]
    else:
        slots = _slots(todo, step, original.get_column("ts"))
        if policy is RepairPolicy.FORWARD_FILL:
            fills, source = _forward_fill(original, slots), FFILL_SOURCE
        else:
            if reference is None:
                raise InvalidInput(
                    "policy 'venue' needs a reference series (the same pair on another venue)",
                    field="reference",
                )
            ref_key, ref_bars = reference
            if (
                ref_key.symbol != key.symbol
                or ref_key.timeframe != key.timeframe
                or ref_key.exchange == key.exchange
            ):
                raise InvalidInput(
                    f"reference {ref_key} must be {key.symbol} on {key.timeframe} on another"
                    f" venue than {key.exchange}",
                    field="reference",
                )
            source = str(ref_key)
            fills = _from_venue(original, slots, coerce_bars(ref_bars), source, basis_window)
        new_gaps = _split(todo, fills, step, source)
    filled = fills.select(*BAR_COLUMNS, pl.lit(True).alias("is_filled"), "source")
    merged = pl.concat(
        [
            original.with_columns(
                pl.lit(False).alias("is_filled"), pl.lit(None, dtype=pl.String).alias("source")
            ),
            filled,
        ]
    ).sort("ts")
    return RepairResult(
        bars=merged,
        filled=filled,
        gaps=sorted([*kept, *new_gaps], key=lambda g: (g.start, g.end)),
    )
