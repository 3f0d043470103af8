"""PolarsTableFiles: banners above a CSV header, arbx's own words for unreadable files, gzip
when the name says so."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from arbx.adapters.files.polars_table_files import PolarsTableFiles, banner_lines
from arbx.domain.errors import InvalidInput

HEADER = "Unix Timestamp,Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USD"
ROW = "1499076000.0,2017-07-03 10-AM,BTCUSD,2489.09,2496.13,2480.11,2482.09,186.78,464571.99"
CDD_BANNER = "Timestamps are UTC timezone,https://www.CryptoDataDownload.com"


@pytest.mark.parametrize("banner", [CDD_BANNER, "https://www.CryptoDataDownload.com"])
def test_a_banner_line_above_the_header_is_skipped(tmp_path: Path, banner: str) -> None:
    path = tmp_path / "cdd.csv"
    path.write_text(f"{banner}\n{HEADER}\n{ROW}\n")
    assert banner_lines(path) == 1
    frame = PolarsTableFiles().read(path)
    assert frame.columns == HEADER.split(",")
    assert frame.height == 1


def test_a_gzipped_banner_is_skipped_too(tmp_path: Path) -> None:
    path = tmp_path / "cdd.csv.gz"
    path.write_bytes(gzip.compress(f"{CDD_BANNER}\n{HEADER}\n{ROW}\n".encode()))
    assert PolarsTableFiles().read(path).columns[0] == "Unix Timestamp"


def test_a_plain_csv_is_read_from_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text(f"{HEADER}\n{ROW}\n")
    assert banner_lines(path) == 0
    assert PolarsTableFiles().read(path).height == 1


def test_ragged_lines_say_use_skip_rows_and_no_reader_words(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\nnot,a,banner,but,ragged,rows\n")
    with pytest.raises(InvalidInput) as caught:
        PolarsTableFiles().read(path)
    message = caught.value.message
    assert "--skip-rows 1" in message
    assert "truncate_ragged_lines" not in message
    assert "Schema" not in message


def test_a_damaged_parquet_file_is_said_so_in_arbx_words(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    path.write_bytes(b"\x00\x01garbage")
    with pytest.raises(InvalidInput, match="damaged or not in that format") as caught:
        PolarsTableFiles().read(path)
    assert "out of specification" not in caught.value.message


def test_a_csv_gz_name_writes_gzip(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, 2], "b": [3.0, 4.0]})
    path = tmp_path / "out.csv.gz"
    PolarsTableFiles().write(frame, path)
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # the gzip magic number
    assert gzip.decompress(path.read_bytes()).decode().splitlines()[0] == "a,b"
    assert PolarsTableFiles().read(path).equals(frame)
