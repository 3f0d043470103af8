"""Properties of the matching engine over random command streams: never crossed,
quantity conserved, price-time priority as a naive reference engine computes it, and
replaying a stream (also through JSON) gives the same events."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.orderbook.engine import (
    Accepted,
    Cancel,
    Cancelled,
    Command,
    Fill,
    Instrument,
    MatchingEngine,
    Replace,
    Replaced,
    Submit,
)
from arbx.domain.orderbook.errors import UnknownOrder

INST = Instrument("X", tick_size=1.0, lot_size=1.0)


@st.composite
def commands(draw: st.DrawFn, *, simple: bool = False) -> list[Command]:
    """Orders around a price of 100 (ticks 95..105, 1..5 lots); with ``simple`` only
    limit gtc/ioc and market orders and cancels, without owners (what the reference
    engine models)."""
    out: list[Command] = []
    n = draw(st.integers(1, 60))
    for oid in range(n):
        action = draw(st.sampled_from(["submit"] * 5 + ["cancel", "replace"]))
        if action == "cancel" and oid:
            out.append(Cancel(draw(st.integers(0, oid - 1)), "X"))
            continue
        if action == "replace" and oid and not simple:
            out.append(
                Replace(
                    draw(st.integers(0, oid - 1)),
                    "X",
                    draw(st.none() | st.integers(95, 105).map(float)),
                    draw(st.none() | st.integers(1, 5).map(float)),
                )
            )
            continue
        side = draw(st.sampled_from(["buy", "sell"]))
        qty = float(draw(st.integers(1, 5)))
        kind = draw(st.sampled_from(["limit"] * 4 + ["market"]))
        if kind == "market":
            out.append(Submit(oid, "X", side, qty, kind="market"))
            continue
        price = float(draw(st.integers(95, 105)))
        if simple:
            tif = draw(st.sampled_from(["gtc", "gtc", "ioc"]))
            out.append(Submit(oid, "X", side, qty, price, tif=tif))
            continue
        tif = draw(st.sampled_from(["gtc", "gtc", "ioc", "fok"]))
        post_only = tif == "gtc" and draw(st.booleans())
        owner = draw(st.sampled_from(["", "a", "b"]))
        stp = draw(st.sampled_from(["cancel_taker", "cancel_maker", "cancel_both"]))
        out.append(
            Submit(oid, "X", side, qty, price, tif=tif, post_only=post_only, owner=owner, stp=stp)
        )
    return out


def run(stream: list[Command]) -> tuple[MatchingEngine, list[list[object]]]:
    """Apply ``stream``; a cancel or replace of a finished order is refused (UnknownOrder)
    and recorded as such."""
    e = MatchingEngine([INST])
    out: list[list[object]] = []
    for command in stream:
        try:
            out.append(list(e.handle(command)))
        except UnknownOrder:
            out.append(["unknown"])
    return e, out


@settings(max_examples=120, deadline=None)
@given(commands())
def test_never_crossed_and_quantity_conserved(stream: list[Command]) -> None:
    e = MatchingEngine([INST])
    live: dict[int, float] = {}
    for command in stream:
        try:
            events = e.handle(command)
        except UnknownOrder:
            assert command.order_id not in live or live[command.order_id] == 0
            continue
        for ev in events:
            if isinstance(ev, Accepted):
                live[ev.order_id] = ev.qty
            elif isinstance(ev, Fill):
                live[ev.taker] -= ev.qty
                live[ev.maker] -= ev.qty
                assert live[ev.maker] == ev.maker_left
            elif isinstance(ev, Cancelled):
                live[ev.order_id] -= ev.qty
            elif isinstance(ev, Replaced):
                live[ev.order_id] = ev.qty
        assert all(v >= 0 for v in live.values())
        bid, ask = e.best("X")
        assert bid is None or ask is None or bid < ask
        # what is left of every order is exactly what rests in the book
        resting = {
            oid: qty for side in e.l3("X").values() for _, queue in side for oid, qty in queue
        }
        assert resting == {oid: q for oid, q in live.items() if q > 0}
        bids, asks = e.l2("X")
        l3 = e.l3("X")
        for levels, side in ((bids, l3["buy"]), (asks, l3["sell"])):
            assert levels == [(price, sum(q for _, q in queue)) for price, queue in side]


@settings(max_examples=80, deadline=None)
@given(commands())
def test_replay_gives_the_same_events(stream: list[Command]) -> None:
    _, first = run(stream)
    wire = msgspec.json.encode(stream)
    decoded = msgspec.json.decode(wire, type=list[Command])
    _, second = run(decoded)
    assert msgspec.json.encode(first) == msgspec.json.encode(second)


def reference(stream: list[Command]) -> list[tuple[int, int, float, float]]:
    """A naive engine: every resting order in one list; a taker trades with the crossing
    orders sorted by (best price, arrival)."""
    book: list[list[float]] = []  # [arrival, order id, side (+1 buy), price, qty]
    out = []
    arrival = 0
    for c in stream:
        if isinstance(c, Cancel):
            book = [o for o in book if o[1] != c.order_id]
            continue
        assert isinstance(c, Submit)
        sign = 1 if c.side == "buy" else -1
        left = c.qty

        def crosses(o: list[float], c: Submit = c, sign: int = sign) -> bool:
            return o[2] == -sign and (c.price is None or sign * (c.price - o[3]) >= 0)

        for o in sorted(filter(crosses, book), key=lambda o: (sign * o[3], o[0])):
            if left <= 0:
                break
            take = min(left, o[4])
            out.append((c.order_id, int(o[1]), o[3], take))
            o[4] -= take
            left -= take
        book = [o for o in book if o[4] > 0]
        if left > 0 and c.price is not None and c.tif == "gtc":
            book.append([arrival, c.order_id, sign, c.price, left])
            arrival += 1
    return out


@settings(max_examples=120, deadline=None)
@given(commands(simple=True))
def test_price_time_priority_matches_the_reference(stream: list[Command]) -> None:
    _, events = run(stream)
    got = [
        (ev.taker, ev.maker, ev.price, ev.qty)
        for batch in events
        for ev in batch
        if isinstance(ev, Fill)
    ]
    assert got == reference(stream)
