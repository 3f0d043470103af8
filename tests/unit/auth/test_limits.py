"""Token bucket and sign-in failure arithmetic."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.auth.limits import (
    BucketPolicy,
    FailurePolicy,
    is_full,
    record_failure,
    take,
    wait_before_attempt,
)
from arbx.domain.errors import InvalidInput
from tests.unit.auth.fakes import T0


def test_bucket_bursts_then_refills() -> None:
    policy = BucketPolicy(capacity=3, per_second=1.0)
    bucket = None
    for remaining in (2, 1, 0):
        bucket, decision = take(bucket, policy, T0)
        assert decision.allowed
        assert decision.remaining == remaining
    bucket, denied = take(bucket, policy, T0)
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(1.0)
    assert denied.reset_after == pytest.approx(3.0)
    bucket, again = take(bucket, policy, T0 + timedelta(seconds=1))
    assert again.allowed
    assert not is_full(bucket, policy, T0 + timedelta(seconds=1))
    assert is_full(bucket, policy, T0 + timedelta(seconds=4))


def test_per_minute_helper_and_validation() -> None:
    policy = BucketPolicy.per_minute(120, burst=20)
    assert policy.capacity == 20
    assert policy.per_second == pytest.approx(2.0)
    with pytest.raises(InvalidInput):
        BucketPolicy(capacity=0, per_second=1)
    with pytest.raises(InvalidInput):
        BucketPolicy(capacity=1, per_second=0)


@settings(max_examples=50)
@given(
    capacity=st.integers(1, 20),
    rate=st.floats(0.1, 10),
    gaps=st.lists(st.floats(0, 3), min_size=1, max_size=60),
)
def test_bucket_never_allows_more_than_capacity_plus_refill(
    capacity: int, rate: float, gaps: list[float]
) -> None:
    policy = BucketPolicy(capacity=capacity, per_second=rate)
    bucket, now, allowed = None, T0, 0
    for gap in gaps:
        now += timedelta(seconds=gap)
        bucket, decision = take(bucket, policy, now)
        allowed += decision.allowed
        assert decision.remaining >= 0
        assert (decision.retry_after == 0) == decision.allowed
    elapsed = (now - T0).total_seconds()
    assert allowed <= capacity + elapsed * rate + 1e-6


def test_failure_schedule_is_progressive_then_capped() -> None:
    policy = FailurePolicy(
        free=3,
        base_delay=timedelta(seconds=2),
        max_delay=timedelta(seconds=30),
        forget_after=timedelta(minutes=10),
    )
    delays = [policy.delay(n).total_seconds() for n in range(1, 10)]
    assert delays == [0, 0, 0, 2, 4, 8, 16, 30, 30]
    record = None
    for _ in range(4):
        record = record_failure(record, policy, T0)
    assert wait_before_attempt(record, policy, T0) == pytest.approx(2)
    assert wait_before_attempt(record, policy, T0 + timedelta(seconds=2)) == 0
    # forgotten after a quiet period
    assert record_failure(record, policy, T0 + timedelta(minutes=10)).failures == 1
    assert wait_before_attempt(None, policy, T0) == 0


def test_failure_policy_validation() -> None:
    with pytest.raises(InvalidInput):
        FailurePolicy(base_delay=timedelta(0))
    with pytest.raises(InvalidInput):
        FailurePolicy(max_delay=timedelta(hours=2), forget_after=timedelta(hours=1))
