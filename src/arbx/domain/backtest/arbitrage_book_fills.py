"""Arbitrage legs filled by walking each venue's book (every ``execution`` but "bars").

Where the bar execution fills a leg at the bar's reference price plus a slippage model,
here each leg is a taker order that walks a book: the buy leg the asks of the cheap venue,
the sell leg the bids of the dear one, both sent at once at the fill bar (plus the
latency, see ``arbitrage._fill_bar``). The book is ``orderbook.synthetic.SyntheticBook``
around the fill bar's reference price, its depth from the volume known at the decision,
or, given ``RecordedBooks``, the venue's recorded book at the fill instant.

- A round trip is sized as with bars (balances, risk limits, lot size, minimum notional),
  at the average price of walking the requested quantity.
- Each leg fills what its book holds, rounded down to the lot size. The matched part
  (the smaller of the two fills) is the round trip. What one leg filled beyond the other
  is a failed leg: the base it bought (or sold) stays as inventory on that venue, its
  rows carry trade id ``FAILED_LEG`` (-3) and purpose ``failed_leg`` with the price and
  fee actually paid, and its cost (fees and walk cost against the mid, common currency)
  is summed in the notes. When nothing matches the decision counts as ``no_market``.
- Attribution stays exact: the spread is the matched quantity times the gap between the
  two mids, slippage each leg's walk cost against its mid, and the unhedged part's move
  from its fill to the venue's mark is inventory revaluation.
"""

from __future__ import annotations

from collections.abc import Mapping

from arbx.domain.backtest.arbitrage_books import NO_MARKET, TAKEN, Books
from arbx.domain.backtest.costs import round_lot
from arbx.domain.errors import InvalidInput
from arbx.domain.orderbook.book import L2Book, Walk
from arbx.domain.orderbook.tape import BookReplay

FAILED_LEG = -3


class RecordedBooks:
    """Recorded books per venue (``BookReplay`` by venue label, "venue:BASE/QUOTE") in
    place of the synthetic ones: a leg meets its venue's book as recorded at the fill
    instant (the fill bar's open, or the deciding bar's end with ``fill="close"``) plus
    ``book.latency_ms``, and its reference price is that book's mid (the bar price when
    one side is empty). ``kind`` says what was recorded: "recorded_book" (L2 snapshots
    and diffs) or "recorded_quotes" (the best bid and ask alone, a one-level book)."""

    def __init__(self, replays: Mapping[str, BookReplay], kind: str = "recorded_book") -> None:
        self.replays = dict(replays)
        self.kind = kind

    def check(self, labels: list[str]) -> None:
        missing = [label for label in labels if label not in self.replays]
        if missing:
            raise InvalidInput(f"no recorded book for {', '.join(missing)}", field="books")


def _instant(books: Books, bar: int, decided: int) -> int:
    m, cfg = books.market, books.config
    if cfg.fill == "close" and bar == decided:
        return int(m.ts[decided]) + m.bar_ms
    if bar > decided and decided + 1 < m.n:  # a round trip: the next bar's open + latency
        return max(int(m.ts[decided + 1]) + cfg.book.latency_ms, int(m.ts[bar]))
    return int(m.ts[bar]) + cfg.book.latency_ms


def _book(books: Books, v: int, bar: int, decided: int) -> tuple[L2Book, float]:
    """The book a leg on venue ``v`` meets and its reference (mid) price."""
    source = books.book_source
    if source is not None:
        book = source.replays[books.market.labels[v]].at(_instant(books, bar, decided))
        mid = book.mid()
        return book, books._ref(v, bar) if mid is None else mid
    assert books.volume is not None  # synthetic_book needs the known volume
    mid = books._ref(v, bar)
    label = books.market.labels[v]
    return books.config.book.book(label, mid, float(books.volume[v, decided])), mid


def _take(book: L2Book, side: str, qty: float, lot: float) -> Walk:
    """Walk ``qty`` and round what fills down to the lot size."""
    walk = book.walk("buy" if side == "buy" else "sell", qty)
    if lot > 0 and walk.filled > 0:
        q = round_lot(walk.filled, lot)
        if q <= 0:
            return Walk(walk.side, qty, 0.0, 0.0, float("nan"), float("nan"), 0)
        if q < walk.filled:
            return book.walk(walk.side, q)
    return walk


def book_round_trip(
    books: Books,
    trade_id: int,
    decided: int,
    bar: int,
    buy: int,
    sell: int,
    qty: float,
    purpose: str,
    delay: int,
    limits: bool,
) -> tuple[float, int]:
    """Like ``Books.round_trip`` with both legs walking their books; returns the matched
    quantity and TAKEN, or (0, the skip reason)."""
    cfg, m = books.config, books.market
    (asks, ob), (bids, os_) = _book(books, buy, bar, decided), _book(books, sell, bar, decided)
    phib, phis = m.fees[buy].rate(True), m.fees[sell].rate(True)
    rb, rs = float(m.rate[buy, bar]), float(m.rate[sell, bar])
    probe = asks.walk("buy", qty)
    if probe.filled <= 0.0 and bids.walk("sell", qty).filled <= 0.0:
        return 0.0, NO_MARKET
    touch = asks.best_ask()
    pb_est = probe.average_price if probe.filled > 0 else (touch[0] if touch else ob)
    q, code = books.size(decided, buy, sell, qty, pb_est, phib, rb, limits)
    if code != TAKEN:
        return 0.0, code
    wb, ws = _take(asks, "buy", q, cfg.lot_size), _take(bids, "sell", q, cfg.lot_size)
    qb, qs = wb.filled, ws.filled
    matched = min(qb, qs)
    pb = wb.average_price if qb > 0 else ob
    ps = ws.average_price if qs > 0 else os_
    fee_b, fee_s = qb * pb * phib, qs * ps * phis
    books.quote[buy] -= qb * pb + fee_b
    books.base[buy] += qb
    books.base[sell] -= qs
    books.quote[sell] += qs * ps - fee_s
    mb, ms = float(books.value_mark[buy, bar]), float(books.value_mark[sell, bar])
    xb, xs = qb - matched, qs - matched
    books.spread += matched * (os_ * rs - ob * rb)
    books.fees += fee_b * rb + fee_s * rs
    books.slippage += qb * (pb - ob) * rb + qs * (os_ - ps) * rs
    books.event_revaluation += matched * (mb - ms) + xb * (mb - ob * rb) + xs * (os_ * rs - ms)
    books.notional += qb * pb * rb + qs * ps * rs
    if matched > 0:
        books.leg(trade_id, bar, buy, "buy", matched, pb, matched * pb * phib, purpose, delay)
        books.leg(trade_id, bar, sell, "sell", matched, ps, matched * ps * phis, purpose, delay)
    if xb > 0:
        books.leg(FAILED_LEG, bar, buy, "buy", xb, pb, xb * pb * phib, "failed_leg", delay)
        books.failed_legs += 1
        books.failed_qty += xb
        books.failed_cost += xb * (pb - ob) * rb + xb * pb * phib * rb
    if xs > 0:
        books.leg(FAILED_LEG, bar, sell, "sell", xs, ps, xs * ps * phis, "failed_leg", delay)
        books.failed_legs += 1
        books.failed_qty += xs
        books.failed_cost += xs * (os_ - ps) * rs + xs * ps * phis * rs
    books.snap(bar)
    return (matched, TAKEN) if matched > 0 else (0.0, NO_MARKET)


def book_liquidate(books: Books, v: int, decided: int, bar: int) -> None:
    """The kill switch's sale of venue ``v``'s base into its bids; what the book cannot
    take stays held (``Books.unsold``, in the notes)."""
    m = books.market
    want = books.base[v]
    book, ref = _book(books, v, bar, decided)
    walk = _take(book, "sell", want, books.config.lot_size)
    q = walk.filled
    books.unsold += want - q
    if q <= 0.0:
        return
    price = walk.average_price
    rate = float(m.rate[v, bar])
    fee = q * price * m.fees[v].rate(True)
    books.base[v] -= q
    books.quote[v] += q * price - fee
    books.fees += fee * rate
    books.slippage += q * (ref - price) * rate
    books.event_revaluation += q * (ref * rate - float(books.value_mark[v, bar]))
    books.notional += q * price * rate
    books.leg(-2, bar, v, "sell", q, price, fee, "kill_switch")
    books.snap(bar)


def execution_notes(books: Books) -> list[str]:
    """The result's notes on how it was filled ([] for bar execution)."""
    cfg = books.config
    if cfg.execution == "bars":
        return []
    if books.book_source is not None:
        resyncs = sum(r.resyncs for r in books.book_source.replays.values())
        what = (
            "recorded quotes (the best bid and ask, one level deep)"
            if books.book_source.kind == "recorded_quotes"
            else "recorded order books"
        )
        notes = [
            f"legs filled by walking {what}"
            f" (latency {cfg.book.latency_ms} ms; {resyncs} resync(s) of the recorded streams)"
        ]
    else:
        notes = [
            "SYNTHETIC order books: legs filled by walking books built from bars ("
            + cfg.book.describe()
            + "), not from recorded quotes or books"
        ]
    if books.failed_legs:
        notes.append(
            f"{books.failed_legs} leg(s) could not fill in full on the book: {books.failed_qty:g}"
            " base left as inventory (legs with purpose failed_leg), costing"
            f" {books.failed_cost:.6g} {books.market.common_currency} in fees and book walk"
        )
    if books.unsold > 0:
        notes.append(
            f"the kill switch could not sell {books.unsold:g} base into the books; it stays held"
        )
    return notes
