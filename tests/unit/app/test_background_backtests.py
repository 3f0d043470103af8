"""Background backtests on threads (InProcessExecutor) and the memory stores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.app.background_backtests import BackgroundBacktests, BackgroundRun
from arbx.app.run_backtest import BacktestRuns, RunBacktest
from arbx.domain.auth import Principal, PrincipalKind, Role
from arbx.domain.backtest.request import decode_request
from arbx.domain.backtest.run import BacktestRun
from arbx.domain.errors import Forbidden
from arbx.ports.clock import Clock
from arbx.ports.run_store import RunFailure
from tests.builders import key, make_bars

START = datetime(2024, 1, 1, tzinfo=UTC)
REQUEST = {
    "strategy": "sma_cross",
    "params": {"fast": 5, "slow": 20},
    "series": ["binance:BTC/USDC:1m"],
    "start": "2024-01-01",
    "end": "2024-01-02",
}


class StillClock(Clock):
    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)


def analyst(user_id: str) -> Principal:
    return Principal(
        kind=PrincipalKind.USER, user_id=user_id, username=user_id, roles=frozenset({Role.ANALYST})
    )


class Server:
    """One server process: its own background runs, the shared stores."""

    def __init__(self, bars: MemoryBarStore, runs: MemoryRunStore, inline_max_bars: int) -> None:
        self.background = BackgroundBacktests(
            runs=runs, executor=InProcessExecutor(workers=1), clock=StillClock()
        )
        self.runs = RunBacktest(
            bars,
            runs,
            StillClock(),
            background=self.background,
            inline_max_bars=inline_max_bars,
        )
        self.queries = BacktestRuns(runs, self.background)


@pytest.fixture
async def stores() -> tuple[MemoryBarStore, MemoryRunStore]:
    bars = MemoryBarStore()
    await bars.write(key("binance:BTC/USDC:1m"), make_bars(600, START, volatility=0.01))
    return bars, MemoryRunStore()


async def test_small_runs_finish_at_once_large_ones_in_the_background(stores) -> None:  # type: ignore[no-untyped-def]
    bars, runs = stores
    small = Server(bars, runs, inline_max_bars=601)
    done = await small.runs.start(decode_request(REQUEST), actor=analyst("ana"))
    assert isinstance(done, BacktestRun)
    large = Server(bars, runs, inline_max_bars=600)
    ana = analyst("ana")
    accepted = await large.runs.start(decode_request(REQUEST), actor=ana)
    assert isinstance(accepted, BackgroundRun)
    assert accepted.status in ("pending", "running")
    assert (accepted.bars, accepted.owner) == (600, "ana")
    listing = await large.queries.listing(actor=ana)
    assert accepted.id in {r.id for r in listing.in_flight} | {r.id for r in listing.backtests}
    assert accepted.task is not None
    await asyncio.wait_for(accepted.task, 30)
    finished = await large.queries.status(accepted.id, actor=ana)
    assert isinstance(finished, BacktestRun)
    assert finished.meta.metrics == done.meta.metrics
    assert (await large.queries.listing(actor=ana)).in_flight == []
    await small.background.close()
    await large.background.close()


async def test_a_failure_is_seen_by_another_server_on_the_same_store(stores) -> None:  # type: ignore[no-untyped-def]
    bars, runs = stores
    first, second = Server(bars, runs, 0), Server(bars, runs, 0)
    ana, bob = analyst("ana"), analyst("bob")
    # the first server stops while the run computes: it records the run as interrupted
    accepted = await first.runs.start(decode_request(REQUEST), actor=ana)
    assert isinstance(accepted, BackgroundRun)
    await first.background.close()
    seen = await second.queries.status(accepted.id, actor=ana)
    assert isinstance(seen, RunFailure)
    assert seen.error.startswith("interrupted")
    assert (seen.owner, seen.shared, seen.bars, seen.strategy) == ("ana", False, 600, "sma_cross")
    with pytest.raises(Forbidden):
        await second.queries.status(accepted.id, actor=bob)
    assert await second.queries.list(actor=ana) == []  # a failure is not a listed run
    await second.background.close()


async def test_runs_in_flight_are_shown_only_to_their_readers(stores) -> None:  # type: ignore[no-untyped-def]
    bars, runs = stores
    server = Server(bars, runs, 0)
    ana, bob = analyst("ana"), analyst("bob")
    private = await server.runs.start(decode_request(REQUEST), actor=ana)
    shared = await server.runs.start(decode_request(REQUEST), actor=ana, shared=True)
    assert isinstance(private, BackgroundRun)
    assert isinstance(shared, BackgroundRun)
    # nothing awaited since they started: both still in flight
    assert [r.id for r in server.background.in_flight(bob)] == [shared.id]
    assert {r.id for r in server.background.in_flight(ana)} == {private.id, shared.id}
    with pytest.raises(Forbidden):
        await server.queries.status(private.id, actor=bob)
    await server.background.close()


class _FinishedSubmission:
    """A call its worker has finished (the result is being stored)."""

    def running(self) -> bool:
        return False

    def done(self) -> bool:
        return True

    def cancel(self) -> bool:
        return False

    async def result(self) -> None:
        return None


def test_a_run_whose_worker_finished_is_running_until_stored_never_pending_again() -> None:
    run = BackgroundRun(
        id="r1", created_at=START, strategy="sma_cross", bars=600, owner=None, shared=False
    )
    assert run.status == "pending"  # not handed to a worker yet
    run.submission = _FinishedSubmission()  # type: ignore[assignment]
    assert run.status == "running"  # computed, being stored: not back to pending
    assert run.status == "running"
    run.state = "done"
    assert run.status == "done"
