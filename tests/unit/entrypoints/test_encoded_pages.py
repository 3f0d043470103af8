"""The memo of encoded bar pages answers with a remembered body only for equal bars."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from arbx.entrypoints.http.encoded_pages import EncodedPages


def bars(close: float, n: int = 3) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [datetime(2024, 1, 1, 0, i, tzinfo=UTC) for i in range(n)],
            "close": [close] * n,
        }
    )


def counting(frame: pl.DataFrame, calls: list[int]) -> bytes:
    calls.append(1)
    return frame.write_json().encode()


def test_equal_bars_reuse_the_body_and_changed_bars_are_encoded_again() -> None:
    pages = EncodedPages()
    calls: list[int] = []
    first = pages.body("k", bars(1.0), lambda: counting(bars(1.0), calls))
    again = pages.body("k", bars(1.0), lambda: counting(bars(1.0), calls))
    assert again is first
    assert len(calls) == 1
    changed = pages.body("k", bars(2.0), lambda: counting(bars(2.0), calls))
    assert b"2.0" in changed
    assert len(calls) == 2
    longer = pages.body("k", bars(2.0, n=4), lambda: counting(bars(2.0, n=4), calls))
    assert longer.count(b"close") == 4
    assert (pages.hits, pages.misses) == (1, 3)


def test_a_frame_changed_in_place_after_encoding_does_not_fool_the_memo() -> None:
    pages = EncodedPages()
    frame = bars(1.0)
    pages.body("k", frame, lambda: frame.write_json().encode())
    frame.replace_column(1, pl.Series("close", [9.0, 9.0, 9.0]))
    body = pages.body("k", frame, lambda: frame.write_json().encode())
    assert b"9.0" in body


def test_the_memo_is_bounded_by_body_bytes() -> None:
    pages = EncodedPages(max_bytes=300, max_body=200)
    for i in range(10):
        pages.body(i, bars(float(i)), lambda i=i: bars(float(i)).write_json().encode())  # type: ignore[misc]
    assert pages._bytes <= 300
    assert 0 < len(pages._entries) < 10
    big = bars(1.0, n=30)
    pages.body("big", big, lambda: big.write_json().encode())
    assert "big" not in pages._entries
