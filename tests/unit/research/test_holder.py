"""When work stored ``running`` is orphaned: the holder rule, case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from arbx.domain.research.holder import Holder, orphaned

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def holder(**change: object) -> Holder:
    fields: dict[str, object] = {
        "host": "box",
        "pid": 100,
        "boot_id": "boot-1",
        "started": 555,
        "token": "t-other",
        "heartbeat_at": NOW,
    }
    fields.update(change)
    return Holder(**fields)  # type: ignore[arg-type]


HERE = holder(pid=200, started=777, token="t-here")


def check(h: Holder | None, *, alive: bool = True, updated: datetime = NOW) -> str | None:
    return orphaned(
        h, here=HERE, now=NOW, updated_at=updated, alive=lambda pid, started: alive, lease=LEASE
    )


def test_this_process_never_orphans_its_own_work() -> None:
    assert check(holder(token="t-here"), alive=False) is None


def test_same_host_and_boot_asks_the_pid() -> None:
    assert check(holder()) is None
    assert check(holder(), alive=False) == "process 100 on box is gone"
    # an old heartbeat does not matter when the process can be asked
    assert check(holder(heartbeat_at=NOW - timedelta(days=1))) is None


def test_same_host_after_a_reboot_is_gone_whatever_the_pid() -> None:
    reason = check(holder(boot_id="boot-0"))
    assert reason is not None
    assert "restarted" in reason


def test_another_host_is_judged_by_its_heartbeat() -> None:
    fresh = holder(host="other", heartbeat_at=NOW - timedelta(seconds=59))
    stale = holder(host="other", heartbeat_at=NOW - timedelta(seconds=61))
    assert check(fresh, alive=False) is None  # its pid means nothing here
    reason = check(stale, alive=True)
    assert reason is not None
    assert "no heartbeat" in reason
    assert "lease 60 s" in reason


def test_an_unknown_boot_id_falls_back_to_the_heartbeat() -> None:
    assert check(holder(boot_id=""), alive=False) is None
    assert check(holder(boot_id="", heartbeat_at=NOW - timedelta(minutes=5))) is not None


def test_work_without_a_holder_is_orphaned_after_a_lease_without_update() -> None:
    assert check(None, updated=NOW - timedelta(seconds=30)) is None
    reason = check(None, updated=NOW - timedelta(minutes=2))
    assert reason is not None
    assert "not updated since" in reason
