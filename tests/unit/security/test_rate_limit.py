"""Rate limits and sign-in throttling with a fake clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from arbx.adapters.security.rate_limit import InMemoryLoginThrottle, TokenBucketRateLimiter
from arbx.domain.auth.limits import BucketPolicy, FailurePolicy
from arbx.domain.errors import InvalidInput
from tests.unit.auth.fakes import FakeClock

POLICIES = {"auth": BucketPolicy(capacity=2, per_second=0.5), "read": BucketPolicy(10, 10.0)}


def test_buckets_are_per_group_and_key() -> None:
    clock = FakeClock()
    limiter = TokenBucketRateLimiter(POLICIES, clock=clock)
    assert limiter.hit("auth", "address:1.2.3.4").allowed
    assert limiter.hit("auth", "address:1.2.3.4").allowed
    denied = limiter.hit("auth", "address:1.2.3.4")
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(2.0)
    assert denied.limit == 2
    assert denied.remaining == 0
    # another key and another group are untouched
    assert limiter.hit("auth", "address:5.6.7.8").allowed
    assert limiter.hit("read", "address:1.2.3.4").allowed
    clock.advance(2)
    assert limiter.hit("auth", "address:1.2.3.4").allowed


def test_unknown_group_is_a_configuration_error() -> None:
    limiter = TokenBucketRateLimiter(POLICIES, clock=FakeClock())
    with pytest.raises(InvalidInput, match="auth, read"):
        limiter.hit("admin", "principal:u1")
    with pytest.raises(InvalidInput):
        TokenBucketRateLimiter({}, clock=FakeClock())


def test_full_buckets_are_forgotten() -> None:
    clock = FakeClock()
    limiter = TokenBucketRateLimiter(POLICIES, clock=clock, sweep_every=10)
    for i in range(9):
        limiter.hit("read", f"address:{i}")
    assert limiter.tracked == 9
    clock.advance(5)
    limiter.hit("read", "address:last")  # 10th hit sweeps
    assert limiter.tracked == 1


POLICY = FailurePolicy(
    free=3,
    base_delay=timedelta(seconds=1),
    max_delay=timedelta(seconds=60),
    forget_after=timedelta(minutes=10),
)


def throttle(clock: FakeClock) -> InMemoryLoginThrottle:
    return InMemoryLoginThrottle(
        clock=clock,
        per_username=POLICY,
        per_address=FailurePolicy(
            free=10, max_delay=timedelta(seconds=60), forget_after=timedelta(minutes=10)
        ),
    )


def test_progressive_delay_then_lockout_then_forgotten() -> None:
    clock = FakeClock()
    guard = throttle(clock)
    waits = []
    for _ in range(10):
        waits.append(guard.wait("Alice", "10.0.0.1"))
        guard.failed("alice", "10.0.0.1")
        clock.advance(guard.wait("alice", "10.0.0.1"))
    assert waits[:4] == [0, 0, 0, 0]
    assert guard.wait("alice", "10.0.0.1") == 0  # the loop waited each delay out
    guard.failed("alice", "10.0.0.1")
    assert guard.wait("alice", "10.0.0.2") == pytest.approx(60)  # capped: the lockout
    clock.advance(minutes=10)
    assert guard.wait("alice", "10.0.0.1") == 0


def test_delays_grow_and_success_clears_the_username() -> None:
    clock = FakeClock()
    guard = throttle(clock)
    observed = []
    for _ in range(6):
        guard.failed("bob", None)
        observed.append(guard.wait("bob", None))
    assert observed == [0, 0, 0, 1, 2, 4]
    guard.succeeded("bob", None)
    assert guard.wait("bob", None) == 0


def test_unknown_and_known_usernames_are_throttled_alike() -> None:
    clock = FakeClock()
    guard = throttle(clock)
    for _ in range(5):
        guard.failed("exists", None)
        guard.failed("no-such-user", None)
    assert guard.wait("exists", None) == guard.wait("no-such-user", None) > 0


def test_address_throttle_stops_spraying_over_usernames() -> None:
    clock = FakeClock()
    guard = throttle(clock)
    for i in range(11):
        guard.failed(f"user{i}", "10.9.9.9")
    assert guard.wait("fresh-user", "10.9.9.9") > 0
    assert guard.wait("fresh-user", "10.1.1.1") == 0


def test_stale_records_are_dropped_when_the_table_is_full() -> None:
    clock = FakeClock()
    guard = InMemoryLoginThrottle(clock=clock, per_username=POLICY, max_tracked=4)
    guard.failed("a", None)
    guard.failed("b", None)
    clock.advance(minutes=11)
    guard.failed("c", None)
    guard.failed("d", None)
    guard.failed("e", None)  # exceeds 4: a and b are forgotten
    assert guard.tracked == 3
    assert guard.wait("c", None) == 0  # free failures only; nothing else changed
