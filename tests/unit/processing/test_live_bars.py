"""Bars built live from trades, on recorded data: Binance.US OMGBUSD aggTrades and the 1m
klines of the same minutes from the same recording (tests/fixtures/exchanges/binance/
binanceus_ws_*_real.jsonl, provenance beside them).

The recording started in the middle of minute 1633998240000: its first kline (E=...288469,
trade ids 439572..439577) already held 6 trades, the aggTrades begin at trade 439577. So:
- that minute is exactly the first kline's state plus the bar of the aggTrades after it
  (trades 439578..439585) -- the closed kline (x=true) says so, field by field;
- the live builder does NOT write that minute (it began before the stream);
- minute 1633998300000 is the bar of its two aggTrades, equal to its kline (n=2).
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from arbx.adapters.streams.venues import Binance
from arbx.domain.market import Symbol, Timeframe
from arbx.domain.market.trades import Trade
from arbx.domain.processing.live_bars import LiveBars
from arbx.domain.processing.ticks import ticks_to_bars
from tests.integration.streams.fake_venue import lines

OMG = Symbol("OMG", "BUSD")
PAIRS = {"OMGBUSD": OMG}
M1 = Timeframe.M1
MINUTE_A, MINUTE_B = 1633998240000, 1633998300000


def recorded_trades() -> list[Trade]:
    trades: list[Trade] = []
    for line in lines("binance/binanceus_ws_aggTrade_real.jsonl"):
        trades.extend(Binance().parse(line, PAIRS))
    return trades


def klines() -> list[dict[str, object]]:
    return [
        json.loads(line)["data"]["k"] for line in lines("binance/binanceus_ws_kline_1m_real.jsonl")
    ]


def aggregate_ids() -> dict[str, tuple[int, int]]:
    """aggTrade id -> (first, last) trade id it aggregates."""
    out = {}
    for line in lines("binance/binanceus_ws_aggTrade_real.jsonl"):
        data = json.loads(line)["data"]
        out[str(data["a"])] = (data["f"], data["l"])
    return out


def bar_of(trades: list[Trade]) -> dict[str, float]:
    frame = pl.DataFrame(
        {
            "ts": [t.ts_us // 1000 for t in trades],
            "price": [t.price for t in trades],
            "qty": [t.qty for t in trades],
            "side": [t.side for t in trades],
        }
    )
    bars = ticks_to_bars(frame, M1, with_flow=True)
    assert bars.height == 1
    return bars.row(0, named=True)


def test_the_recorded_minute_is_the_first_kline_plus_the_bar_of_the_later_trades() -> None:
    first, closed = klines()[0], klines()[3]
    assert closed["x"] is True
    assert first["t"] == closed["t"] == MINUTE_A
    ids = aggregate_ids()
    later = [
        t for t in recorded_trades() if ids[t.trade_id][0] > int(str(first["L"]))
        and t.ts_us // 1000 < MINUTE_B
    ]  # fmt: skip
    # the later aggTrades cover exactly the trade ids the first kline lacked
    assert ids[later[0].trade_id][0] == int(str(first["L"])) + 1
    assert ids[later[-1].trade_id][1] == int(str(closed["L"]))
    bar = bar_of(later)
    assert max(float(str(first["h"])), bar["high"]) == float(str(closed["h"]))
    assert min(float(str(first["l"])), bar["low"]) == float(str(closed["l"]))
    assert bar["close"] == float(str(closed["c"]))
    assert float(str(first["v"])) + bar["volume"] == pytest.approx(
        float(str(closed["v"])), abs=1e-9
    )
    assert int(str(first["n"])) + bar["trades"] == closed["n"]
    # taker buys: the kline's V is the buy-side volume
    assert float(str(first["V"])) + bar["buy_volume"] == pytest.approx(float(str(closed["V"])))


def test_a_minute_wholly_seen_is_the_venues_candle() -> None:
    last = klines()[4]
    assert last["t"] == MINUTE_B
    trades = [t for t in recorded_trades() if t.ts_us // 1000 >= MINUTE_B]
    bar = bar_of(trades)
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == tuple(
        float(str(last[k])) for k in ("o", "h", "l", "c")
    )
    assert bar["volume"] == pytest.approx(float(str(last["v"])))
    assert bar["trades"] == last["n"]


def test_live_bars_write_closed_complete_minutes_only() -> None:
    """Fed the stream as it came: the first minute (the stream began inside it) is never
    written; the second is written once its end (plus the grace) has passed, equal to the
    kline; nothing is written while it is still open."""
    live = LiveBars([M1], grace_ms=2_000)
    trades = recorded_trades()
    live.add(trades)
    assert live.close(MINUTE_B + 30_000) == []  # minute B still open; minute A skipped
    written = live.close(MINUTE_B + 60_000 + 2_000)
    assert len(written) == 1
    key, bars = written[0]
    assert str(key) == "binance:OMG/BUSD:1m"
    last = klines()[4]
    row = bars.row(0, named=True)
    assert row["ts"].timestamp() * 1000 == MINUTE_B
    assert (row["open"], row["close"], row["volume"]) == (13.7604, 13.7604, pytest.approx(28.25))
    assert row["volume"] == pytest.approx(float(str(last["v"])))
    assert live.close(MINUTE_B + 600_000) == []  # each bar once


def test_a_trade_of_a_later_minute_closes_the_earlier_and_replays_count_once() -> None:
    live = LiveBars([M1])
    key_trades = recorded_trades()
    head = [t for t in key_trades if t.ts_us // 1000 < MINUTE_B]
    tail = [t for t in key_trades if t.ts_us // 1000 >= MINUTE_B]
    live.add(head[:1])  # the first trade: minute A began before it
    live.add(tail)
    live.add(tail)  # a replay after a reconnect: the same ids
    nxt = Trade(tail[0].key, "999999", (MINUTE_B + 60_000) * 1000, 13.7, 1.0, "buy")
    live.add([nxt])
    written = live.close(0)  # closed by the later trade, not the clock
    # minute A: skipped (partial); minute B: its two trades, once
    assert [(str(k), b.height, b["volume"].to_list()) for k, b in written] == [
        ("binance:OMG/BUSD:1m", 1, [pytest.approx(28.25)])
    ]


def test_the_minutes_open_across_a_reconnect_are_not_written() -> None:
    live = LiveBars([M1], grace_ms=0)
    trades = recorded_trades()
    first = Trade(trades[0].key, "1", (MINUTE_A - 60_000) * 1000 + 5, 13.0, 1.0, "buy")
    live.add([first, *[t for t in trades if t.ts_us // 1000 < MINUTE_B]])  # minute A full
    live.reconnected()  # lost during minute A: what was pending may lack trades
    live.add([t for t in trades if t.ts_us // 1000 >= MINUTE_B])  # first after reconnect
    assert live.close(MINUTE_B + 120_000) == []  # A dropped, B is a first interval again
    late = Trade(trades[0].key, "2", MINUTE_A * 1000 + 1, 13.0, 1.0, "buy")
    live.add([late])
    assert live.late == 1
