"""Rate limits as pure arithmetic: token buckets and the sign-in failure schedule.

Adapters hold the state (one bucket per key) and the clock; these functions decide.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import msgspec

from arbx.domain.errors import InvalidInput


class BucketPolicy(msgspec.Struct, frozen=True):
    """``capacity`` requests at once, refilled at ``per_second`` (burst, then steady rate)."""

    capacity: int
    per_second: float

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise InvalidInput("rate limit capacity must be at least 1", field="capacity")
        if not (self.per_second > 0 and math.isfinite(self.per_second)):
            raise InvalidInput("rate limit refill must be a positive rate", field="per_second")

    @classmethod
    def per_minute(cls, requests: int, *, burst: int | None = None) -> BucketPolicy:
        return cls(capacity=burst or requests, per_second=requests / 60.0)


class Bucket(msgspec.Struct, frozen=True):
    tokens: float
    updated_at: datetime


class RateDecision(msgspec.Struct, frozen=True):
    """What the HTTP layer needs for 429 and the RateLimit headers."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: float  # seconds until one request is allowed (0 when allowed)
    reset_after: float  # seconds until the bucket is full again


def take(bucket: Bucket | None, policy: BucketPolicy, now: datetime) -> tuple[Bucket, RateDecision]:
    """Refill ``bucket`` up to ``now`` and try to take one token from it."""
    if bucket is None:
        tokens = float(policy.capacity)
    else:
        elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
        tokens = min(float(policy.capacity), bucket.tokens + elapsed * policy.per_second)
    allowed = tokens >= 1.0
    if allowed:
        tokens -= 1.0
    retry_after = 0.0 if allowed else (1.0 - tokens) / policy.per_second
    reset_after = (policy.capacity - tokens) / policy.per_second
    decision = RateDecision(
        allowed=allowed,
        limit=policy.capacity,
        remaining=math.floor(tokens),
        retry_after=retry_after,
        reset_after=reset_after,
    )
    return Bucket(tokens, now), decision


def is_full(bucket: Bucket, policy: BucketPolicy, now: datetime) -> bool:
    """A full bucket behaves exactly like an absent one, so adapters may forget it."""
    elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
    return bucket.tokens + elapsed * policy.per_second >= policy.capacity


class FailurePolicy(msgspec.Struct, frozen=True):
    """Sign-in failures: ``free`` failures cost nothing, then each one doubles the wait
    (``base_delay``, 2x, 4x ... up to ``max_delay``: the lockout). Failures are forgotten
    after ``forget_after`` without one, and on a successful sign-in."""

    free: int = 5
    base_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.free < 0:
            raise InvalidInput("free failures must not be negative", field="free")
        if self.base_delay <= timedelta(0) or self.max_delay < self.base_delay:
            raise InvalidInput(
                "delays must be positive and max_delay at least base_delay", field="max_delay"
            )
        if self.forget_after < self.max_delay:
            raise InvalidInput("forget_after must be at least max_delay", field="forget_after")

    def delay(self, failures: int) -> timedelta:
        """The wait imposed after ``failures`` consecutive failures."""
        if failures <= self.free:
            return timedelta(0)
        exponent = min(failures - self.free - 1, 40)
        grown: timedelta = self.base_delay * (2**exponent)
        return min(grown, self.max_delay)


class FailureRecord(msgspec.Struct, frozen=True):
    failures: int
    last_failure_at: datetime


def current(
    record: FailureRecord | None, policy: FailurePolicy, now: datetime
) -> FailureRecord | None:
    """``record`` unless it is old enough to be forgotten."""
    if record is None or now - record.last_failure_at >= policy.forget_after:
        return None
    return record


def wait_before_attempt(
    record: FailureRecord | None, policy: FailurePolicy, now: datetime
) -> float:
    """Seconds to wait before another attempt is accepted (0 when it may go ahead)."""
    live = current(record, policy, now)
    if live is None:
        return 0.0
    allowed_at = live.last_failure_at + policy.delay(live.failures)
    return max(0.0, (allowed_at - now).total_seconds())


def record_failure(
    record: FailureRecord | None, policy: FailurePolicy, now: datetime
) -> FailureRecord:
    live = current(record, policy, now)
    return FailureRecord(failures=(live.failures if live else 0) + 1, last_failure_at=now)
