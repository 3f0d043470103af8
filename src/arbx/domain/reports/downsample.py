"""Downsampling curves for display: a few thousand points per trace, extremes kept.

A report of a 1M-bar run cannot ship a million points per line (megabytes of JSON, seconds
of drawing) and needs none: a chart is a few thousand pixels wide. ``minmax_indices`` cuts
the index range into equal buckets and keeps, per bucket, the first and last point and the
points holding the bucket's minimum and maximum (the M4 rule), so every peak, trough and
both ends survive and the drawn line covers the same pixels as the full one. The exact
values stay in the run's tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arbx.domain.backtest.kernels import FloatArray, IntArray

DEFAULT_POINTS = 4000  # points per trace in a report (before markers are added)


def minmax_indices(values: FloatArray, target: int = DEFAULT_POINTS) -> IntArray:
    """Sorted unique indices into ``values`` to draw instead of all of them.

    At most ``target`` indices (``target`` >= 4), always ``0`` and ``n - 1``, the index of
    the global minimum and maximum (NaN ignored), and per bucket of about ``4 n / target``
    points its first, last, lowest and highest. ``n <= target`` keeps every index.
    """
    if target < 4:
        raise ValueError("target must be at least 4 points")
    y = np.asarray(values, dtype=np.float64)
    n = y.size
    if n <= target:
        return np.arange(n, dtype=np.int64)
    buckets = target // 4
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    starts, ends = edges[:-1], edges[1:]
    starts, ends = starts[ends > starts], ends[ends > starts]
    # per bucket argmin/argmax via a reshaped view where the buckets are equal, else a loop
    finite = np.isfinite(y)
    low = np.where(finite, y, np.inf)
    high = np.where(finite, y, -np.inf)
    mins = np.minimum.reduceat(low, starts)
    maxs = np.maximum.reduceat(high, starts)
    bucket_of = np.repeat(np.arange(starts.size), ends - starts)
    idx = np.arange(n, dtype=np.int64)
    # first index in each bucket where the bucket's extreme is reached
    at_min = np.flatnonzero(low == mins[bucket_of])
    at_max = np.flatnonzero(high == maxs[bucket_of])
    first_min = at_min[np.unique(bucket_of[at_min], return_index=True)[1]]
    first_max = at_max[np.unique(bucket_of[at_max], return_index=True)[1]]
    keep = np.concatenate((starts, ends - 1, first_min, first_max, idx[[0, n - 1]]))
    return np.unique(keep)


def union_indices(traces: Sequence[FloatArray], target: int = DEFAULT_POINTS) -> IntArray:
    """Indices to draw several traces sharing one x axis: the union of each trace's
    ``minmax_indices`` with the target split between them (each keeps its own extremes)."""
    if not traces:
        return np.zeros(0, dtype=np.int64)
    n = np.asarray(traces[0]).size
    if n <= target:
        return np.arange(n, dtype=np.int64)
    share = max(4, target // len(traces))
    kept = [minmax_indices(np.asarray(t, dtype=np.float64), share) for t in traces]
    return np.unique(np.concatenate(kept))
