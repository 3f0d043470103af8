"""``arbx data validate|gaps|repair|resample`` in-process on the local profile."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from arbx.entrypoints.cli.main import main
from tests.builders import make_bars

TARGET = "binanceus:BTC/USDC:1m"
MISSING = [*range(50, 53), *range(100, 130)]


def arbx(tmp_path: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(tmp_path / "var"), *args])


def csv_file(path: Path, bars: pl.DataFrame) -> Path:
    bars.rename({"ts": "timestamp"}).with_columns(pl.col("timestamp").dt.epoch("ms")).write_csv(
        path
    )
    return path


@pytest.fixture
def stored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Kraken complete; Binance.US with two holes (33 bars) and a 6% spike at row 200."""
    full = make_bars(300)
    spiked = full.with_columns(
        pl.when(pl.int_range(pl.len()) == 200).then(pl.col(c) * 1.06).otherwise(pl.col(c))
        for c in ("open", "high", "low", "close")
    ).filter(~pl.int_range(pl.len()).is_in(MISSING))
    kraken = csv_file(tmp_path / "kraken_BTC-USDC_1m.csv", full)
    binance = csv_file(tmp_path / "binanceus_BTC-USDC_1m.csv", spiked)
    assert arbx(tmp_path, "data", "import", str(kraken), str(binance)) == 0
    capsys.readouterr()
    return tmp_path


def test_help_explains_the_quality_commands(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("validate", "gaps", "repair", "resample"):
        with pytest.raises(SystemExit) as done:
            main(["data", command, "--help"])
        assert done.value.code == 0
    out = capsys.readouterr().out
    for option in ("--fail-on", "--no-cross-venue", "--quiet-limit", "--policy", "--reference"):
        assert option in out
    assert "--dry-run" in out
    assert "--incomplete {drop,flag,keep}" in out
    assert "leave: accept the gaps" in out


def test_validate_prints_score_and_findings(
    stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(stored, "data", "validate", "--series", TARGET) == 0
    out = capsys.readouterr().out
    assert "binanceus:BTC/USDC:1m: score 0." in out
    assert "267/300 bars" in out
    assert "cross_venue_deviation 1" in out
    assert "compared with kraken:BTC/USDC:1m" in out
    assert "2024-01-01 03:20 info    cross_venue_deviation" in out  # one other venue
    # every stored series when none is named; the clean one fails nothing
    assert arbx(stored, "data", "validate", "--fail-on", "error") == 0
    assert "kraken:BTC/USDC:1m: score" in capsys.readouterr().out


def test_validate_fail_on_warning_exits_1(stored: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert arbx(stored, "data", "validate", "--series", TARGET, "--fail-on", "warning") == 1
    assert "exit 1" in capsys.readouterr().out
    assert (
        arbx(stored, "data", "validate", "--series", TARGET, "--no-cross-venue", "--show", "0") == 0
    )


def test_gaps_then_repair_from_another_venue(
    stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(stored, "data", "gaps", "--series", TARGET) == 0
    out = capsys.readouterr().out
    assert "2 gaps, 33 bars missing" in out
    assert "causes: outage 2" in out
    assert "2024-01-01 01:40 -> 2024-01-01 02:10       30 bars  outage    open" in out

    assert arbx(stored, "data", "repair", "--series", TARGET, "--policy", "ffill", "--dry-run") == 0
    assert "dry run: would fill 33 bars, wrote 0" in capsys.readouterr().out
    assert (
        arbx(
            stored,
            "data",
            "repair",
            "--series",
            TARGET,
            "--policy",
            "venue",
            "--reference",
            "kraken",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "(venue from kraken:BTC/USDC:1m): filled 33 bars, wrote 33, 0 bars still open" in out
    assert (
        arbx(stored, "data", "gaps", "--series", TARGET, "--no-detect", "--status", "filled") == 0
    )
    out = capsys.readouterr().out
    assert "2 recorded gaps, 33 bars" in out
    assert "filled from kraken:BTC/USDC:1m" in out
    out_file = stored / "repaired.csv"
    assert arbx(stored, "data", "export", "--series", TARGET, "--out", str(out_file)) == 0
    assert pl.read_csv(out_file).height == 300


def test_resample_prints_stores_and_writes(
    stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = stored / "h.parquet"
    args = ["data", "resample", "--series", "kraken:BTC/USDC:1m", "--to", "1h"]
    assert arbx(stored, *args, "--store", "--out", str(out_file)) == 0
    out = capsys.readouterr().out
    assert "kraken:BTC/USDC:1m -> kraken:BTC/USDC:1h: 5 bars" in out
    assert "stored 5 new or changed bars" in out
    hourly = pl.read_parquet(out_file)
    full = make_bars(300)
    assert hourly["volume"].sum() == pytest.approx(full["volume"].sum())
    assert hourly["high"][0] == pytest.approx(full["high"][:60].max())
    assert arbx(stored, "data", "list") == 0
    assert "kraken:BTC/USDC:1h" in capsys.readouterr().out
    # a half-hour span flags its bucket as incomplete when asked
    assert arbx(stored, *args[:-2], "--to", "4h", "--incomplete", "flag") == 0
    assert "incomplete buckets: 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "--series", "kraken:BTC/USDC:7m"], "timeframe '7m'"),
        (["validate", "--series", TARGET, "--stale-min-bars", "0"], "stale_min_bars"),
        (["validate", "--series", TARGET, "--start", "2024-01-01"], "both --start and --end"),
        (["repair", "--series", TARGET, "--policy", "venue"], "needs a reference"),
        (
            ["repair", "--series", TARGET, "--policy", "venue", "--reference", "binanceus"],
            "another venue",
        ),
        (
            ["repair", "--series", TARGET, "--policy", "ffill", "--reference", "kraken"],
            "--policy venue only",
        ),
        (["resample", "--series", TARGET, "--to", "45m"], "timeframe '45m'"),
        (["resample", "--series", TARGET, "--to", "1h", "--incomplete", "flag", "--store"], "drop"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    stored: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = arbx(stored, "data", *args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert arbx(stored, "data", "gaps", "--series", TARGET, "--no-detect") == 0
    assert "0 recorded gaps" in capsys.readouterr().out  # nothing was detected or stored


def test_unknown_policy_is_a_usage_error(stored: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        arbx(stored, "data", "repair", "--series", TARGET, "--policy", "magic")
    assert done.value.code == 2
    assert "invalid choice: 'magic'" in capsys.readouterr().err


def test_an_unknown_series_fails_with_exit_1(
    stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(stored, "data", "gaps", "--series", "bitstamp:BTC/USDC:1m") == 1
    assert "no bars are stored for bitstamp:BTC/USDC:1m" in capsys.readouterr().err
