"""Who runs a long piece of research work (a study, a walk-forward), and when it is orphaned.

A process that starts running a study records itself as the study's ``Holder``: its host, its
pid, the host's boot id and the process's start time (so a pid reused after a reboot or by a
later process is not taken for it), a token unique to that process, and a heartbeat it
renews while it runs. Another process (a second server on the same PostgreSQL, the CLI, the
same server after a crash) decides from those facts whether the holder is gone:

- the holder is this very process (same token): not orphaned;
- same host, same boot: the pid is asked (alive with the same start time, or not);
- same host, another boot: the host restarted since, so the holder is gone;
- another host: its heartbeat is older than the lease (a live holder renews it several
  times per lease), so it is taken for gone.

Work stored ``running`` without a holder (by an arbx before holders existed) is orphaned when
it was not updated for a lease.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec

DEFAULT_LEASE = timedelta(seconds=60)


class Holder(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    pid: int
    boot_id: str = ""  # /proc/sys/kernel/random/boot_id where known, else ""
    started: int = 0  # the process's start time (clock ticks since boot; 0 when unknown)
    token: str
    heartbeat_at: datetime

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"


def orphaned(
    holder: Holder | None,
    *,
    here: Holder,
    now: datetime,
    updated_at: datetime,
    alive: Callable[[int, int], bool],
    lease: timedelta = DEFAULT_LEASE,
) -> str | None:
    """Why work held by ``holder`` is orphaned (its process is gone), or None while it may
    still run. ``here`` is the asking process; ``alive(pid, started)`` asks this host."""
    if holder is None:
        if now - updated_at > lease:
            return f"no process has claimed it and it was not updated since {updated_at:%Y-%m-%d %H:%M:%S} UTC"
        return None
    if holder.token == here.token:
        return None
    if holder.host == here.host and holder.boot_id and holder.boot_id == here.boot_id:
        if alive(holder.pid, holder.started):
            return None
        return f"{holder.describe()} is gone"
    if holder.host == here.host and holder.boot_id and here.boot_id:
        return f"{holder.host} restarted since {holder.describe()} ran it"
    if now - holder.heartbeat_at > lease:
        return (
            f"{holder.describe()} sent no heartbeat since"
            f" {holder.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC (lease {lease.total_seconds():g} s)"
        )
    return None
