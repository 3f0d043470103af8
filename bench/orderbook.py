"""Order-book simulation speed on one core: L2 updates applied and orders matched.

    .venv/bin/python bench/orderbook.py [--diffs 300000] [--orders 300000] [--repeat 3]
                                        [--nautilus-python /tmp/nt/bin/python]

Prints, best of ``--repeat`` runs:

- L2: a snapshot (100 levels a side) then ``--diffs`` diffs of 1-6 level changes each
  (absolute quantities, a third of them removals) applied to ``orderbook.book.L2Book``:
  level updates/s and diffs/s. The same stream is replayed by nautilus_trader's
  ``OrderBook`` (L2_MBP, its Rust core) in its own virtualenv when ``--nautilus-python``
  names one (default ``/tmp/nt/bin/python`` when it exists; create it with
  ``python3.11 -m venv /tmp/nt && /tmp/nt/bin/pip install nautilus_trader``), and the ratio
  arbx / nautilus is printed. The stream goes to the worker as a JSON file; both sides
  build their update objects before the clock starts.
- Matching: ``--orders`` commands (limit orders around the touch, a fifth of them
  crossing, IOC and market orders, 20% cancels) through ``orderbook.engine.MatchingEngine``:
  commands/s and fills/s. (nautilus_trader's matching engine only runs inside its full
  backtest kernel, so there is no like-for-like reference for this part.)
- Recorded-book fills: the L2 stream above stamped across ``--fill-bars`` one-minute bars
  and a signal that flips every bar, run on the event engine with ``execution
  "recorded_book"`` (every market order replays the book to its instant and walks it):
  fills/s, and the time against the same run filling on bars, measured in the same run.

Times are CPU time of the process (``time.process_time``), so a machine shared with other
work inflates them less than wall time would; the load average is printed beside them.

Targets (issue 19): >= 500,000 L2 updates/s and >= 200,000 orders/s; the ratios to the
targets are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_UPDATES = 500_000
TARGET_ORDERS = 200_000
TICK = 0.01


def make_stream(diffs: int, seed: int = 1) -> dict[str, Any]:
    """A snapshot and ``diffs`` diffs; bids on 99.00..99.99, asks on 100.00..100.99 (never
    crossed), quantities on 0.001 lots; one id per diff."""
    rng = random.Random(seed)
    bids = [[round(99.99 - i * TICK, 2), rng.randint(1, 5000) / 1000] for i in range(100)]
    asks = [[round(100.00 + i * TICK, 2), rng.randint(1, 5000) / 1000] for i in range(100)]
    out = []
    for seq in range(2, diffs + 2):
        changes: list[list[list[float]]] = [[], []]
        for _ in range(rng.randint(1, 6)):
            side = rng.randrange(2)
            k = min(int(rng.expovariate(0.1)), 99)  # most changes near the touch
            price = round(99.99 - k * TICK, 2) if side == 0 else round(100.00 + k * TICK, 2)
            qty = 0.0 if rng.random() < 1 / 3 else rng.randint(1, 5000) / 1000
            changes[side].append([price, qty])
        out.append([seq, changes[0], changes[1]])
    return {"snapshot": {"sequence": 1, "bids": bids, "asks": asks}, "diffs": out}


def level_updates(stream: dict[str, Any]) -> int:
    return sum(len(b) + len(a) for _, b, a in stream["diffs"])


def bench_arbx_book(stream: dict[str, Any], repeat: int) -> float:
    from arbx.domain.orderbook.book import BookDiff, BookSnapshot, L2Book

    snap = stream["snapshot"]
    snapshot = BookSnapshot(
        "BTC/USDC",
        snap["sequence"],
        [tuple(lv) for lv in snap["bids"]],
        [tuple(lv) for lv in snap["asks"]],
    )
    diffs = [
        BookDiff("BTC/USDC", seq, [tuple(lv) for lv in b], [tuple(lv) for lv in a])
        for seq, b, a in stream["diffs"]
    ]
    best = float("inf")
    for _ in range(repeat):
        book = L2Book("BTC/USDC")
        book.apply_snapshot(snapshot)
        start = time.process_time()
        for diff in diffs:
            book.apply_diff(diff)
        best = min(best, time.process_time() - start)
        assert book.sequence == diffs[-1].sequence
    return best


def nautilus_worker(path: str, repeat: int) -> None:
    """Runs inside nautilus_trader's virtualenv: replay the stream, print seconds."""
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas
    from nautilus_trader.model.enums import BookAction, BookType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.objects import Price, Quantity

    stream = json.loads(Path(path).read_text())
    iid = InstrumentId.from_str("BTCUSDC.BINANCE")

    def delta(side: Any, price: float, qty: float, seq: int) -> Any:
        action = BookAction.DELETE if qty == 0.0 else BookAction.UPDATE
        order = BookOrder(side, Price(price, 2), Quantity(qty, 3), 0)
        return OrderBookDelta(iid, action, order, 0, seq, 0, 0)

    snap = stream["snapshot"]
    first = [delta(OrderSide.BUY, p, q, 1) for p, q in snap["bids"]]
    first += [delta(OrderSide.SELL, p, q, 1) for p, q in snap["asks"]]
    batches = [
        OrderBookDeltas(
            iid,
            [delta(OrderSide.BUY, p, q, seq) for p, q in b]
            + [delta(OrderSide.SELL, p, q, seq) for p, q in a],
        )
        for seq, b, a in stream["diffs"]
    ]
    singles = [d for batch in batches for d in batch.deltas]
    best_batches = best_singles = float("inf")
    for _ in range(repeat):
        book = OrderBook(iid, BookType.L2_MBP)
        for d in first:
            book.apply_delta(d)
        start = time.process_time()
        for batch in batches:
            book.apply_deltas(batch)
        best_batches = min(best_batches, time.process_time() - start)
        book = OrderBook(iid, BookType.L2_MBP)
        for d in first:
            book.apply_delta(d)
        start = time.process_time()
        for d in singles:
            book.apply_delta(d)
        best_singles = min(best_singles, time.process_time() - start)
    print(json.dumps({"batches": best_batches, "singles": best_singles}))


def bench_nautilus(python: str, stream: dict[str, Any], repeat: int) -> dict[str, float] | str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.json"
        path.write_text(json.dumps(stream))
        done = subprocess.run(
            [python, __file__, "--nautilus-worker", str(path), "--repeat", str(repeat)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": ""},
        )
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["failed"])[-1]
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def make_orders(n: int, seed: int = 7) -> list[Any]:
    from arbx.domain.orderbook.engine import Cancel, Submit

    rng = random.Random(seed)
    out: list[Any] = []
    live: list[int] = []
    for oid in range(n):
        r = rng.random()
        if r < 0.2 and live:
            out.append(Cancel(live.pop(rng.randrange(len(live))), "BTC/USDC"))
            continue
        side = "buy" if rng.random() < 0.5 else "sell"
        qty = rng.randint(1, 50) / 1000
        if r < 0.23:
            out.append(Submit(oid, "BTC/USDC", side, qty, kind="market"))
            continue
        off = rng.randint(-4, 20) * TICK  # negative: crosses the touch
        price = round(100.0 - off if side == "buy" else 100.0 + off, 2)
        tif = "ioc" if r < 0.28 else "gtc"
        out.append(Submit(oid, "BTC/USDC", side, qty, price, tif=tif))
        if tif == "gtc":
            live.append(oid)
    return out


def bench_matching(commands: list[Any], repeat: int) -> tuple[float, int]:
    from arbx.domain.orderbook.engine import Fill, Instrument, MatchingEngine
    from arbx.domain.orderbook.errors import UnknownOrder

    best, fills = float("inf"), 0
    for _ in range(repeat):
        engine = MatchingEngine([Instrument("BTC/USDC", TICK, 0.001)])
        handle = engine.handle
        count = 0
        start = time.process_time()
        for command in commands:
            try:
                events = handle(command)
            except UnknownOrder:  # a cancel of an order that has filled meanwhile
                continue
            for e in events:
                if type(e) is Fill:
                    count += 1
        best = min(best, time.process_time() - start)
        fills = count
    return best, fills


def bench_recorded_fills(
    stream: dict[str, Any], n_bars: int, repeat: int
) -> tuple[float, float, int]:
    """(seconds on recorded books, seconds on bars, fills) of a signal flipping every bar."""
    import numpy as np

    from arbx.domain.backtest.book_taker import RecordedTakerBooks
    from arbx.domain.backtest.costs import FeeSchedule
    from arbx.domain.backtest.events import run_events
    from arbx.domain.backtest.execution import BarArrays, Execution
    from arbx.domain.orderbook.book import BookDiff, BookSnapshot
    from arbx.domain.orderbook.tape import BookReplay

    label, minute = "bench:BTC/USDC", 60_000
    snap, diffs = stream["snapshot"], stream["diffs"]
    step = n_bars * minute / max(len(diffs), 1)
    updates: list[BookSnapshot | BookDiff] = [
        BookSnapshot(
            label,
            snap["sequence"],
            [tuple(x) for x in snap["bids"]],
            [tuple(x) for x in snap["asks"]],
            ts=0,
        )
    ]
    updates += [
        BookDiff(label, seq, [tuple(x) for x in b], [tuple(x) for x in a], ts=int(i * step))
        for i, (seq, b, a) in enumerate(diffs)
    ]
    ts = np.arange(n_bars, dtype=np.int64) * minute
    px = np.full(n_bars, 100.0)
    bars = BarArrays(ts, px, px, px, px, np.full(n_bars, 1e6), minute, "bench", "BTC/USDC")
    ex = Execution(capital=10_000.0, fees=FeeSchedule(taker_bps=10.0))
    target = (np.arange(n_bars) % 2 == 0).astype(np.float64)
    on_books = on_bars = float("inf")
    fills = 0
    for _ in range(repeat):
        books = RecordedTakerBooks(bars, BookReplay(label, updates), ex, 50, "recorded_book")
        start = time.process_time()
        result = run_events(bars, ex, target=target, books=books)
        on_books = min(on_books, time.process_time() - start)
        fills = result.fills.height
        start = time.process_time()
        run_events(bars, ex, target=target)
        on_bars = min(on_bars, time.process_time() - start)
    return on_books, on_bars, fills


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diffs", type=int, default=300_000)
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fill-bars", type=int, default=20_000)
    default_nt = "/tmp/nt/bin/python" if Path("/tmp/nt/bin/python").exists() else ""
    parser.add_argument("--nautilus-python", default=default_nt)
    parser.add_argument("--nautilus-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.nautilus_worker:
        nautilus_worker(args.nautilus_worker, args.repeat)
        return

    stream = make_stream(args.diffs)
    updates = level_updates(stream)
    secs = bench_arbx_book(stream, args.repeat)
    ups = updates / secs
    print(f"L2 book: {args.diffs:,} diffs, {updates:,} level updates")
    print(
        f"  arbx L2Book         {ups:>12,.0f} level updates/s  {args.diffs / secs:>10,.0f} diffs/s"
        f"  (target {TARGET_UPDATES:,}/s: x{ups / TARGET_UPDATES:.2f})"
    )
    if args.nautilus_python:
        nt = bench_nautilus(args.nautilus_python, stream, args.repeat)
        if isinstance(nt, str):
            print(f"  nautilus_trader      not measured: {nt}")
        else:
            for mode in ("batches", "singles"):
                rate = updates / nt[mode]
                print(
                    f"  nautilus ({mode:<7})  {rate:>12,.0f} level updates/s"
                    f"  ratio arbx/nautilus = {ups / rate:.2f}"
                )
    else:
        print("  nautilus_trader      not measured: no --nautilus-python virtualenv")

    commands = make_orders(args.orders)
    secs, fills = bench_matching(commands, args.repeat)
    rate = len(commands) / secs
    print(f"matching: {len(commands):,} commands, {fills:,} fills")
    print(
        f"  arbx MatchingEngine {rate:>12,.0f} orders/s  {fills / secs:>10,.0f} fills/s"
        f"  (target {TARGET_ORDERS:,}/s: x{rate / TARGET_ORDERS:.2f})"
    )
    on_books, on_bars, fills = bench_recorded_fills(stream, args.fill_bars, args.repeat)
    per_bar = args.diffs / args.fill_bars
    print(
        f"recorded-book fills: {args.fill_bars:,} bars, {fills:,} fills, the L2 stream"
        f" replayed under them ({per_bar:.0f} diffs a bar)"
    )
    print(
        f"  event engine on recorded books {fills / on_books:>10,.0f} fills/s"
        f"  ({on_books / on_bars:.2f}x the time of the same run on bars,"
        f" {fills / on_bars:,.0f} fills/s)"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"python {sys.version.split()[0]}, one core, CPU time, best of {args.repeat};"
        f" load average {load} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
