"""The candle channels' wire formats on real payloads: Binance klines (only the closed one of
the Binance.US capture is a candle), Kraken v2 ohlc (the docs' snapshot; updates close a
candle when the next interval begins), and Coinbase refused with the reason."""

from __future__ import annotations

import json

import pytest

from arbx.adapters.streams.candles import BinanceKlines, KrakenOhlc, candle_codec
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol, Timeframe
from arbx.ports.trade_stream import StreamRejected
from tests.integration.streams.fake_venue import FIXTURES, lines

OMG = Symbol("OMG", "BUSD")
ALGO = Symbol("ALGO", "USD")


def test_binance_yields_only_closed_klines() -> None:
    codec = BinanceKlines((Timeframe.M1,))
    assert codec.url("ws://h:1", [OMG]) == "ws://h:1/stream?streams=omgbusd@kline_1m"
    out = [
        c
        for line in lines("binance/binanceus_ws_kline_1m_real.jsonl")
        for c in codec.parse(line, {"OMGBUSD": OMG})
    ]
    assert len(out) == 1
    candle = out[0]
    assert str(candle.key) == "binance:OMG/BUSD:1m"
    assert candle.ts_ms == 1633998240000
    assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == (
        13.7212,
        13.8076,
        13.7212,
        13.7664,
        536.51,
    )


def test_binance_refusal_stops_the_stream() -> None:
    with pytest.raises(StreamRejected, match="Invalid request"):
        BinanceKlines((Timeframe.M1,)).parse('{"code": 2, "msg": "Invalid request"}', {})


def kraken_snapshot() -> str:
    return (FIXTURES / "kraken" / "ws_v2_ohlc_snapshot_docs_example.json").read_text()


def test_kraken_snapshot_candles_that_ended_before_the_message_are_closed() -> None:
    codec = KrakenOhlc((Timeframe.M5,))
    assert codec.subscribe([ALGO]) == [
        {
            "method": "subscribe",
            "params": {"channel": "ohlc", "symbol": ["ALGO/USD"], "interval": 5},
        }
    ]
    out = codec.parse(kraken_snapshot(), {"ALGO/USD": ALGO})
    assert [(c.ts_ms, c.high, c.volume) for c in out] == [
        (1696433100000, 0.09875, 201.86015),
        (1696433400000, 0.0988, 16255.46368),
    ]
    assert str(out[0].key) == "kraken:ALGO/USD:5m"
    assert codec.parse(kraken_snapshot(), {"ALGO/USD": ALGO}) == []  # a repeat: once each


def update(begin: str, close: float, sent: str) -> str:
    snapshot = json.loads(kraken_snapshot())
    row = {
        **snapshot["data"][1],
        "interval_begin": begin,
        "close": close,
        "high": max(close, 0.0988),
        "low": min(close, 0.09875),
    }
    return json.dumps({"channel": "ohlc", "type": "update", "timestamp": sent, "data": [row]})


def test_kraken_running_candles_close_when_the_next_interval_begins() -> None:
    codec = KrakenOhlc((Timeframe.M5,))
    pairs = {"ALGO/USD": ALGO}
    assert (
        codec.parse(
            update("2023-10-04T16:25:00.000000000Z", 0.0987, "2023-10-04T16:26:01.1Z"), pairs
        )
        == []
    )
    assert (
        codec.parse(
            update("2023-10-04T16:25:00.000000000Z", 0.0988, "2023-10-04T16:28:00.5Z"), pairs
        )
        == []
    )
    out = codec.parse(
        update("2023-10-04T16:30:00.000000000Z", 0.0986, "2023-10-04T16:30:02Z"), pairs
    )
    assert [(c.ts_ms, c.close) for c in out] == [(1696436700000, 0.0988)]  # its last state


def test_coinbase_has_no_candle_channel() -> None:
    with pytest.raises(InvalidInput, match="Coinbase Exchange serves candles over REST only"):
        candle_codec("coinbase", [Timeframe.M1])
    with pytest.raises(InvalidInput, match="not 3m"):
        candle_codec("kraken", [Timeframe.M3])
