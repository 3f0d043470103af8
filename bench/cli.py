"""Start-up and end-to-end time of ``arbx`` commands against bare Python, in the same run.

    .venv/bin/python bench/cli.py [--rows 1000000] [--repeat 7] [--dir /tmp/x]

References: ``python -c pass`` (the interpreter and site start-up every command pays) and
``python -c "import polars"`` (the data library the data commands need anyway). Commands:
``arbx --help``, ``arbx data list``, ``arbx backtest show ID`` and ``arbx backtest run`` over
``--rows`` stored 1m bars (an SMA cross on the whole series). Every command is a fresh
process with bytecode compiled (``compileall`` over src first; PYTHONDONTWRITEBYTECODE is
removed from the children's environment) run from the repository root on a temp data folder
with the local profile; the cases are interleaved, round after round, so load on the machine
hits all of them alike. Prints best and median seconds, the deltas to the references and
the targets: ``--help`` within 0.15 s of ``pass``; ``data list`` and ``backtest show`` under
0.6 s; ``backtest run`` on 1M bars under 1.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from storage import KEY, START, make_bars  # bench/storage.py, beside this script

from arbx.adapters.parquet import ParquetBarStore

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    target: str  # how the figure is judged, for the table
    limit: float | None = None  # seconds, absolute
    within_pass: float | None = None  # seconds over `python -c pass`


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("ARBX_PROFILE", None)
    env.pop("ARBX_DATA_DIR", None)
    return env


def arbx_command() -> list[str]:
    """The installed console script beside this interpreter (what users run), else ``-m``."""
    script = Path(sys.executable).with_name("arbx")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "arbx.entrypoints.cli.main"]


def timed_run(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.decode()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="stored 1m bars to backtest")
    parser.add_argument("--repeat", type=int, default=7, help="rounds (each case once a round)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp)")
    parser.add_argument("--no-run", action="store_true", help="skip the backtest run case")
    args = parser.parse_args()

    compileall.compile_dir(str(REPO / "src"), quiet=1)
    scratch = Path(tempfile.mkdtemp(prefix="arbx-bench-cli-", dir=args.dir))
    data = scratch / "var"
    env = child_env()
    arbx = [*arbx_command(), "--data-dir", str(data)]
    try:
        bars = make_bars(args.rows)
        written = asyncio.run(ParquetBarStore(data / "bars").write(KEY, bars))
        assert written == args.rows, written
        last = bars["ts"][-1]
        run = [*arbx, "backtest", "run", "--strategy", "sma_cross", "--series", str(KEY)]
        run += ["--param", "fast=10", "--param", "slow=50"]
        run += ["--start", START.isoformat(), "--end", f"{last:%Y-%m-%dT%H:%M:%S}Z"]
        stored = subprocess.run(
            [*run, "--json"], cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
        if stored.returncode != 0:
            raise SystemExit(f"the first backtest run failed:\n{stored.stderr}")
        run_id = json.loads(stored.stdout)["id"]

        cases = [
            Case("python -c pass", [sys.executable, "-c", "pass"], "reference"),
            Case("python -c 'import polars'", [sys.executable, "-c", "import polars"], "reference"),
            Case("arbx --help", [*arbx, "--help"], "within 0.15 s of pass", within_pass=0.15),
            Case("arbx data list", [*arbx, "data", "list"], "< 0.6 s", limit=0.6),
            Case("arbx backtest show ID", [*arbx, "backtest", "show", run_id], "< 0.6 s", 0.6),
        ]
        if not args.no_run:
            label = f"arbx backtest run ({args.rows / 1e6:g}M bars)"
            cases.append(Case(label, run, "< 1.5 s (1M bars)", limit=1.5))
        for case in cases:  # warm the OS caches; not counted
            timed_run(case.argv, env)
        times: dict[str, list[float]] = {case.name: [] for case in cases}
        for _ in range(args.repeat):
            for case in cases:
                times[case.name].append(timed_run(case.argv, env))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    bare, polars = best["python -c pass"], best["python -c 'import polars'"]
    print(
        f"{args.rows:,} stored 1m bars; {args.repeat} interleaved rounds; seconds; deltas of"
        " the best against the references' best"
    )
    header = f"{'command':34} {'best':>7} {'median':>7} {'-pass':>7} {'-polars':>8}  target"
    print(header)
    print("-" * (len(header) + 24))
    for case in cases:
        b, m = best[case.name], median[case.name]
        verdict = ""
        if case.limit is not None:
            verdict = "met" if b < case.limit else "MISSED"
        elif case.within_pass is not None:
            verdict = "met" if b - bare <= case.within_pass else "MISSED"
        print(
            f"{case.name:34} {b:7.3f} {m:7.3f} {b - bare:+7.3f} {b - polars:+8.3f}"
            f"  {case.target} {verdict}".rstrip()
        )


if __name__ == "__main__":
    main()
