"""The CLI's parser loads only the chosen command's module, and says the same as the parser
with every module loaded: same commands, same help, same errors."""

from __future__ import annotations

import argparse

import pytest

from arbx.entrypoints.cli.lazy import command_words
from arbx.entrypoints.cli.main import GLOBAL_OPTIONS_WITH_VALUE, build_parser


def _said(parser: argparse.ArgumentParser, argv: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as done:
        parser.parse_args(argv)
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["data", "--help"],
        ["data", "list", "--help"],
        ["data", "repair", "--help"],
        ["data", "fetch", "--help"],
        ["backtest", "--help"],
        ["backtest", "show", "--help"],
        ["--profile", "test", "jobs", "--help"],
        ["exchanges", "--help"],
        ["nonsense"],
        ["data", "nonsense"],
        [],
    ],
)
def test_the_lazy_parser_says_what_the_full_parser_says(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The placeholders carry the help their modules give (a changed help text fails here)."""
    assert _said(build_parser(argv), argv, capsys) == _said(build_parser(), argv, capsys)


def test_the_lazy_parser_parses_the_chosen_command() -> None:
    argv = ["--profile", "test", "data", "export", "--series", "kraken:BTC/USD:1m", "--out", "x"]
    args = build_parser(argv).parse_args(argv)
    assert (args.group, args.command, args.series, args.profile) == (
        "data",
        "export",
        "kraken:BTC/USD:1m",
        "test",
    )
    assert args.run.__module__ == "arbx.entrypoints.cli.data"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--help"], []),
        (["data", "list"], ["data", "list"]),
        (["--profile", "test", "--data-dir", "/x", "data", "list"], ["data", "list"]),
        (["--profile=test", "data", "list", "--json"], ["data", "list"]),
        (["--prof", "data", "backtest", "show", "ID"], ["backtest", "show", "ID"]),
        (["data", "import", "--exchange", "kraken", "f.csv"], ["data", "import"]),
        (["--version"], []),
        (["--", "data"], []),
    ],
)
def test_command_words(argv: list[str], words: list[str]) -> None:
    assert command_words(argv, GLOBAL_OPTIONS_WITH_VALUE) == words
