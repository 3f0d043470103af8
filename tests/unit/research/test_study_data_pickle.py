"""StudyData crosses to worker processes as numpy columns (out-of-band buffers), and comes
back equal: frames, schema, arrays over the same memory as the frames."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import numpy as np
import polars as pl

from arbx.domain.backtest.request import decode_request
from arbx.domain.research.evaluate import StudyData
from arbx.domain.research.objective import Objective
from tests.builders import key, make_bars

REQUEST = decode_request(
    {"strategy": "sma_cross", "series": ["binance:BTC/USDC:1m"], "start": "2024-01-01",
     "end": "2024-01-05"}
)  # fmt: skip


def test_canonical_bars_travel_as_out_of_band_arrays() -> None:
    bars = make_bars(3000, datetime(2024, 1, 1, tzinfo=UTC))
    k = key("binance:BTC/USDC:1m")
    data = StudyData("s", REQUEST, {k: bars}, Objective(), {"benchmark": 1.5})
    buffers: list[pickle.PickleBuffer] = []
    body = pickle.dumps(data, protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == 6  # ts, open, high, low, close, volume
    assert len(body) < 5_000  # the bars are not in the pickle itself
    back = pickle.loads(body, buffers=buffers)
    assert back.bars[k].equals(bars)
    assert back.bars[k].schema == bars.schema
    assert back.extra == {"benchmark": 1.5}
    assert (back.objective, back.request, back.study_id) == (data.objective, data.request, "s")
    # the rebuilt frame and the arrays share memory: no copy in the worker
    assert np.shares_memory(back.bars[k]["close"].to_numpy(), back.arrays[k].close)


def test_other_frames_travel_as_they_are() -> None:
    bars = make_bars(100, datetime(2024, 1, 1, tzinfo=UTC)).with_columns(pl.lit("x").alias("note"))
    k = key("binance:BTC/USDC:1m")
    back = pickle.loads(pickle.dumps(StudyData("s", REQUEST, {k: bars}, Objective()), protocol=5))
    assert back.bars[k].equals(bars)
