"""Rules that look at a bar in the context of its series or of other venues.

- Stale runs: ``N`` or more consecutive bars with open = high = low = close equal to the
  previous close and zero volume (Binance.US prints such a bar for every minute without a
  trade). One ``info`` finding per run, on its first bar; ``observed`` is the run length.
- Return outliers: the log return between consecutive bars, divided by the square root of the
  bars it spans (so a return over a 5-bar hole is compared like a 1-bar one), judged against a
  rolling window of ``2h`` returns evaluated every ``h`` bars (each bar is judged against the
  window centred on its block of ``h``: a hopping window, exact medians, O(n log w)).
  * robust z-score ``|r - median| / max(1.4826 * MAD, floor)`` above ``z`` -> ``warning``;
  * outside ``[Q1 - k * IQR, Q3 + k * IQR]`` (IQR floored the same way) -> ``info``.
  The floor keeps a market that barely moves (MAD = 0 in a stablecoin book) from turning every
  tick into an outlier.
- Cross-venue deviation: a bar whose close is more than ``bps`` away from the median close of
  the OTHER venues of the same pair at the same ts: ``warning`` when at least two other venues
  traded at that ts, ``info`` when only one did (two venues that disagree cannot tell which
  one is off: during the USDC de-peg Binance.US and Kraken priced BTC/USDC up to 10% apart,
  each consistent with its own USDC market). Only bars that traded
  (volume > 0) are compared, on both sides: a zero-volume bar repeats an old price. Moves that
  all venues make together (the USDC de-peg of March 2023) keep the median with them and are
  not flagged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from arbx.domain.market import Timeframe
from arbx.domain.quality.model import Rule, Severity, empty_issues, issues_frame

MAD_TO_SIGMA = 1.4826


def stale_mask(bars: pl.DataFrame, min_bars: int) -> np.ndarray:
    """Boolean per row: the row belongs to a stale run of at least ``min_bars`` rows."""
    if bars.is_empty():
        return np.zeros(0, dtype=bool)
    flat = bars.select(
        (
            (pl.col("open") == pl.col("close"))
            & (pl.col("high") == pl.col("close"))
            & (pl.col("low") == pl.col("close"))
            & (pl.col("volume") == 0.0)
            & (pl.col("close") == pl.col("close").shift(1))
        )
        .fill_null(False)
        .alias("s")
    )
    stale = flat.get_column("s").to_numpy()
    edges = np.flatnonzero(np.diff(stale.astype(np.int8)) != 0) + 1
    starts = np.concatenate(([0], edges))
    lengths = np.diff(np.concatenate((starts, [stale.size])))
    run_len = np.repeat(lengths, lengths)
    result: np.ndarray = stale & (run_len >= min_bars)
    return result


def stale_runs(bars: pl.DataFrame, mask: np.ndarray, timeframe: Timeframe) -> pl.DataFrame:
    """One ``info`` finding per stale run in ``mask`` (from ``stale_mask``)."""
    if not mask.any():
        return empty_issues()
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    starts, ends = edges[::2], edges[1::2]
    ts = bars.get_column("ts")
    close = bars.get_column("close")
    runs = pl.DataFrame(
        {
            "ts": ts.gather(starts),
            "last": ts.gather(ends - 1),
            "length": (ends - starts).astype(np.float64),
            "price": close.gather(starts),
        }
    )
    return issues_frame(
        pl.col("ts"),
        Rule.STALE_RUN,
        Severity.INFO,
        pl.col("length"),
        None,
        pl.format(
            "{} bars until {} repeat the close {} with zero volume (no trades on the venue)",
            pl.col("length").cast(pl.Int64),
            pl.col("last").dt.to_string("%Y-%m-%dT%H:%M:%SZ"),
            pl.col("price"),
        ),
        runs,
    )


def _hopping_stats(r: np.ndarray, hop: int) -> tuple[np.ndarray, ...]:
    """Per block of ``hop`` rows: (median, MAD, Q1, Q3) of the ``2 * hop`` rows around it."""
    n = r.size
    width = 2 * hop
    if n < width:
        ordered = np.sort(r)[None, :]
        width = n
    else:
        blocks = -(-n // hop)
        front = hop // 2
        back = max(0, (blocks - 1) * hop + width - front - n)
        padded = np.concatenate((r[:front][::-1], r, r[n - back :][::-1] if back else r[:0]))
        windows = np.lib.stride_tricks.sliding_window_view(padded, width)[::hop][:blocks]
        ordered = np.sort(windows, axis=1)
    median = ordered[:, width // 2]
    spread = np.abs(ordered - median[:, None])
    spread.sort(axis=1)
    return median, spread[:, width // 2], ordered[:, width // 4], ordered[:, (3 * width) // 4]


def _outlier_hits(
    r: np.ndarray, hop: int, z: float, iqr_k: float, min_scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows over the z limit, their z, rows outside the IQR fence, the fence they crossed)."""
    n = r.size
    median, mad, q1, q3 = _hopping_stats(r, hop)
    blocks = median.size
    step = n if n < 2 * hop else hop  # one block for a short series, else one per hop
    grid = np.full(blocks * step, np.nan)
    grid[:n] = r
    rows = grid.reshape(blocks, step)
    scale = np.maximum(MAD_TO_SIGMA * mad, min_scale)
    zscore = np.abs(rows - median[:, None]) / scale[:, None]
    mad_hits = np.flatnonzero(zscore > z)
    iqr = np.maximum(q3 - q1, min_scale)
    lower, upper = q1 - iqr_k * iqr, q3 + iqr_k * iqr
    iqr_hits = np.flatnonzero((rows < lower[:, None]) | (rows > upper[:, None]))
    block = iqr_hits // step
    fence = np.where(r[iqr_hits] < lower[block], lower[block], upper[block])
    return mad_hits, zscore.reshape(-1)[mad_hits], iqr_hits, fence


def return_outliers(
    bars: pl.DataFrame,
    timeframe: Timeframe,
    *,
    window: int,
    z: float,
    iqr_k: float,
    min_scale: float,
) -> pl.DataFrame:
    """Robust z-score (``warning``) and IQR (``info``) outliers of per-bar log returns."""
    if bars.height < 3:
        return empty_issues()
    r = np.diff(np.log(bars.get_column("close").to_numpy()))
    bars_spanned = np.diff(bars.get_column("ts").dt.epoch("ms").to_numpy()) // timeframe.ms
    if (bars_spanned != 1).any():
        r = r / np.sqrt(bars_spanned)
    mad_hits, zvalues, iqr_hits, fence = _outlier_hits(r, max(2, window // 2), z, iqr_k, min_scale)
    body = bars.slice(1).select("ts", "close")
    parts = []
    if mad_hits.size:
        hits = body[mad_hits].with_columns(pl.Series("z", zvalues), pl.Series("r", r[mad_hits]))
        parts.append(
            issues_frame(
                pl.col("ts"),
                Rule.RETURN_OUTLIER_MAD,
                Severity.WARNING,
                pl.col("z"),
                z,
                pl.format(
                    "log return {} per bar is a robust z-score of {} (limit {})",
                    pl.col("r").round(6),
                    pl.col("z").round(1),
                    pl.lit(z),
                ),
                hits,
            )
        )
    if iqr_hits.size:
        hits = body[iqr_hits].with_columns(pl.Series("r", r[iqr_hits]), pl.Series("fence", fence))
        parts.append(
            issues_frame(
                pl.col("ts"),
                Rule.RETURN_OUTLIER_IQR,
                Severity.INFO,
                pl.col("r"),
                pl.col("fence"),
                pl.format(
                    "log return {} per bar is outside the IQR fence {} (k = {})",
                    pl.col("r").round(6),
                    pl.col("fence").round(6),
                    pl.lit(iqr_k),
                ),
                hits,
            )
        )
    if not parts:
        return empty_issues()
    return pl.concat(parts)


def cross_venue_deviation(
    bars: pl.DataFrame,
    others: Sequence[tuple[str, pl.DataFrame]],
    *,
    max_bps: float,
) -> pl.DataFrame:
    """Bars whose close is more than ``max_bps`` from the other venues' median close.

    ``others`` are (name, bars) of the same pair on other venues, same timeframe.
    """
    if bars.is_empty() or not others:
        return empty_issues()
    reference = (
        pl.concat(
            [
                other.lazy()
                .filter(pl.col("volume") > 0)
                .select("ts", pl.col("close").alias("ref"), pl.lit(name).alias("venue"))
                for name, other in others
            ]
        )
        .group_by("ts")
        .agg(pl.col("ref").median(), pl.col("venue").n_unique().alias("venues"))
    )
    deviations = (
        bars.lazy()
        .filter(pl.col("volume") > 0)
        .select("ts", "close")
        .join(reference, on="ts", how="inner")
        .with_columns(((pl.col("close") / pl.col("ref") - 1.0) * 1e4).alias("bps"))
        .filter(pl.col("bps").abs() > max_bps)
        .sort("ts")
        .collect()
    )
    parts = []
    for severity, rows in (
        (Severity.WARNING, deviations.filter(pl.col("venues") >= 2)),
        (Severity.INFO, deviations.filter(pl.col("venues") < 2)),
    ):
        if rows.is_empty():
            continue
        parts.append(
            issues_frame(
                pl.col("ts"),
                Rule.CROSS_VENUE_DEVIATION,
                severity,
                pl.col("bps"),
                max_bps,
                pl.format(
                    "close {} is {} bps from the median {} of {} other venue(s)",
                    pl.col("close"),
                    pl.col("bps").round(1),
                    pl.col("ref"),
                    pl.col("venues"),
                ),
                rows,
            )
        )
    return pl.concat(parts) if parts else empty_issues()
