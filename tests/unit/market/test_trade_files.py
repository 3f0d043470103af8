"""Trade-history files (Kraken time and sales, Binance dumps, ccxt JSON) into trade frames."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from arbx.domain.errors import InvalidInput
from arbx.domain.market.trade_files import TradeFormat, detect_format, parse_trade_file
from arbx.domain.market.trades import TRADE_SCHEMA

TRADES = Path(__file__).resolve().parents[2] / "fixtures" / "trades"


def read(name: str) -> bytes:
    return (TRADES / name).read_bytes()


def test_kraken_time_and_sales_real_rows() -> None:
    data = read("kraken_XBTUSD_time_and_sales_real.csv")
    assert detect_format(data, "XBTUSD.csv") is TradeFormat.KRAKEN_CSV
    frame = parse_trade_file(data, TradeFormat.AUTO, "XBTUSD.csv")
    assert dict(frame.schema) == TRADE_SCHEMA
    assert frame["price"].to_list() == [122.0, 123.61, 123.9]
    assert frame["qty"].to_list() == [0.1, 0.1, 0.9916]
    assert frame["ts"][0] == datetime(2013, 10, 6, 21, 34, 15, tzinfo=UTC)
    assert frame["side"].null_count() == 3  # Kraken's files do not say
    assert frame["trade_id"][0] == "1381095255000000-000000"


def test_kraken_trades_of_one_second_get_ids_in_file_order() -> None:
    data = b"1381095255,122.0,0.1\n1381095255,121.0,0.2\n1381095256.5,120.0,0.3\n"
    frame = parse_trade_file(data, TradeFormat.KRAKEN_CSV)
    assert frame["trade_id"].to_list() == [
        "1381095255000000-000000",
        "1381095255000000-000001",
        "1381095256500000-000000",
    ]
    assert parse_trade_file(data, TradeFormat.KRAKEN_CSV).equals(frame)  # same ids again


def test_binance_spot_trades_and_aggtrades_docs_rows() -> None:
    trades = read("binance_spot_trades_docs_example.csv")
    assert detect_format(trades) is TradeFormat.BINANCE_TRADES
    frame = parse_trade_file(trades, TradeFormat.AUTO)
    assert frame.row(0) == (
        "51175358",
        datetime(2020, 3, 8, 23, 17, 13, 583000, tzinfo=UTC),
        17.8018,
        5.69,
        "sell",  # isBuyerMaker True: the taker sold
    )
    agg = read("binance_spot_aggTrades_docs_example.csv")
    assert detect_format(agg) is TradeFormat.BINANCE_AGGTRADES
    row = parse_trade_file(agg, TradeFormat.AUTO).row(0)
    assert row == ("0", datetime(2020, 12, 25, 5, 0, tzinfo=UTC), 0.2, 50.0, "buy")


def test_binance_futures_aggtrades_with_their_header() -> None:
    data = read("binance_futures_aggTrades_docs_example.csv")
    assert detect_format(data) is TradeFormat.BINANCE_AGGTRADES
    frame = parse_trade_file(data, TradeFormat.BINANCE_AGGTRADES)
    assert frame.row(0)[0] == "26129"
    assert frame.row(0)[4] == "sell"


def test_binance_times_in_microseconds_from_2025_are_read_by_size() -> None:
    ms = b"1,100.0,1.0,100.0,1735689599999,False,True\n"
    us = b"2,100.0,1.0,100.0,1735689600000123,True,True\n"
    frame = parse_trade_file(ms + us, TradeFormat.BINANCE_TRADES)
    assert frame["ts"].to_list() == [
        datetime(2024, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 0, 0, 123, tzinfo=UTC),
    ]


def test_the_file_name_tells_binance_dumps_apart() -> None:
    row = b"1,100.0,1.0,1,1,1735689599999,False,True\n"
    assert detect_format(row, "BTCUSDT-aggTrades-2024-12-31.csv") is TradeFormat.BINANCE_AGGTRADES
    assert detect_format(row) is TradeFormat.BINANCE_AGGTRADES  # 8 fields
    trades = b"1,100.0,1.0,100.0,1735689599999,False,True\n"
    assert detect_format(trades, "BTCUSDT-trades-2024-12-31.csv") is TradeFormat.BINANCE_TRADES


def test_ccxt_fetch_trades_output_real() -> None:
    data = read("ccxt_kraken_fetch_trades_real.json")
    assert detect_format(data) is TradeFormat.CCXT_JSON
    frame = parse_trade_file(data, TradeFormat.AUTO)
    assert frame.row(0) == (
        "6324366",
        datetime(2024, 3, 13, 11, 5, 59, 173000, tzinfo=UTC),
        73324.4,
        0.010309,
        "buy",
    )


def test_ccxt_trade_without_id_gets_a_made_one() -> None:
    data = b'[{"id": null, "timestamp": 1710327959173, "price": 1.5, "amount": 2, "side": null}]'
    frame = parse_trade_file(data, TradeFormat.CCXT_JSON)
    assert frame["trade_id"].to_list() == ["1710327959173000-000000"]
    assert frame["side"].to_list() == [None]


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"1381095255,122.0,0.1\n1381095256,abc,0.1\n", "kraken-csv", "line 2, column price"),
        (b"1381095255,122.0,0.1\n1381095256,1,0.1,9\n", "kraken-csv", "line 2 has 4 fields"),
        (b"1381095255,122.0,0.1\n1381095256,-1,0.1\n", "kraken-csv", "line 2, column price"),
        (b"1381095255,122.0,0.1\n\n1381095256,1,0\n", "kraken-csv", "column volume"),
        (
            b"id,price,qty,quote_qty,time,is_buyer_maker\n1,1.0,1.0,1.0,1583709433583,maybe\n",
            "binance-trades",
            "line 2, column is_buyer_maker",
        ),
        (b"1,1.0,1.0,1.0,1583709433,True,True\n", "binance-trades", "line 1, column time"),
        (b"1,1.0,1.0,1,1,1608872400000,False\n2,x,1,1,1,1,True\n", "binance-aggtrades", "line 2"),
        (b'[{"timestamp": 1710327959173, "price": "x", "amount": 1}]', "ccxt-json", "$[0].price"),
        (b'[{"timestamp": 1710327959173, "price": 1', "ccxt-json", "not valid JSON"),
        (
            b'[{"timestamp": 1710327959173, "price": 1, "amount": 1, "side": "hold"}]',
            "ccxt-json",
            "side 'hold'",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_line_and_column(
    data: bytes, fmt: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_trade_file(data, TradeFormat(fmt), "f.csv")
    assert message in caught.value.message


def test_an_unknown_layout_asks_for_the_format() -> None:
    with pytest.raises(InvalidInput, match="--format"):
        detect_format(b"a,b,c,d,e\n")


def test_an_empty_csv_is_no_trades() -> None:
    assert parse_trade_file(b"", TradeFormat.KRAKEN_CSV).is_empty()
    assert isinstance(parse_trade_file(b"[]", TradeFormat.CCXT_JSON), pl.DataFrame)
