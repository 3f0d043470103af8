"""In-process rate limits: token buckets per route group and key, and sign-in throttling.

State lives in this process (arbx is one process); buckets that refilled completely are
forgotten, so memory stays bounded by the callers active in the last few minutes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from arbx.domain.auth.limits import (
    Bucket,
    BucketPolicy,
    FailurePolicy,
    FailureRecord,
    RateDecision,
    current,
    is_full,
    record_failure,
    take,
    wait_before_attempt,
)
from arbx.domain.errors import InvalidInput
from arbx.ports.clock import Clock
from arbx.ports.rate_limiter import LoginThrottle, RateLimiter


class TokenBucketRateLimiter(RateLimiter):
    """One bucket per (group, key); ``policies`` maps route groups to their bucket policy.

    Suggested groups: ``auth`` (strict), ``read``, ``write``, ``compute`` (backtests). The
    HTTP layer calls ``hit`` twice per request: with ``principal:<id>`` and ``address:<ip>``.
    """

    def __init__(
        self, policies: Mapping[str, BucketPolicy], *, clock: Clock, sweep_every: int = 1024
    ) -> None:
        if not policies:
            raise InvalidInput("at least one rate limit group is needed", field="rate_limits")
        self._policies = dict(policies)
        self._clock = clock
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._lock = threading.Lock()
        self._sweep_every = sweep_every
        self._hits = 0

    def hit(self, group: str, key: str) -> RateDecision:
        policy = self._policies.get(group)
        if policy is None:
            names = ", ".join(sorted(self._policies))
            raise InvalidInput(
                f"rate limit group {group!r} is not configured; use one of {names}",
                field="group",
            )
        now = self._clock.now()
        with self._lock:
            bucket, decision = take(self._buckets.get((group, key)), policy, now)
            self._buckets[(group, key)] = bucket
            self._hits += 1
            if self._hits % self._sweep_every == 0:
                self._sweep()
        return decision

    def _sweep(self) -> None:
        now = self._clock.now()
        full = [
            slot
            for slot, bucket in self._buckets.items()
            if is_full(bucket, self._policies[slot[0]], now)
        ]
        for slot in full:
            del self._buckets[slot]

    @property
    def tracked(self) -> int:
        """How many buckets are held (for tests and metrics)."""
        return len(self._buckets)


class InMemoryLoginThrottle(LoginThrottle):
    """Progressive delay per username (strict) and per client address (looser).

    A username is throttled whether or not the account exists, and the wait is the same, so
    the throttle reveals nothing about which accounts exist. The address policy stops one
    client from spraying passwords over many usernames.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        per_username: FailurePolicy | None = None,
        per_address: FailurePolicy | None = None,
        max_tracked: int = 100_000,
    ) -> None:
        self._clock = clock
        self._user_policy = per_username or FailurePolicy()
        self._address_policy = per_address or FailurePolicy(free=20)
        self._records: dict[tuple[str, str], FailureRecord] = {}
        self._lock = threading.Lock()
        self._max_tracked = max_tracked

    def _slots(
        self, username: str, address: str | None
    ) -> list[tuple[tuple[str, str], FailurePolicy]]:
        slots = [(("user", username.strip().lower()), self._user_policy)]
        if address:
            slots.append((("address", address), self._address_policy))
        return slots

    def wait(self, username: str, address: str | None) -> float:
        now = self._clock.now()
        with self._lock:
            return max(
                wait_before_attempt(self._records.get(slot), policy, now)
                for slot, policy in self._slots(username, address)
            )

    def failed(self, username: str, address: str | None) -> None:
        now = self._clock.now()
        with self._lock:
            for slot, policy in self._slots(username, address):
                self._records[slot] = record_failure(self._records.get(slot), policy, now)
            if len(self._records) > self._max_tracked:
                self._forget_stale()

    def succeeded(self, username: str, address: str | None) -> None:
        with self._lock:
            self._records.pop(("user", username.strip().lower()), None)

    @property
    def tracked(self) -> int:
        """How many failure records are held (for tests and metrics)."""
        return len(self._records)

    def _forget_stale(self) -> None:
        now = self._clock.now()
        for slot in list(self._records):
            policy = self._user_policy if slot[0] == "user" else self._address_policy
            if current(self._records[slot], policy, now) is None:
                del self._records[slot]
