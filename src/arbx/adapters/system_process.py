"""The real process probe: hostname, pid, the kernel's boot id and the process start time
from /proc (Linux; elsewhere boot id and start time are unknown and the pid alone is asked)."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime
from pathlib import Path

from arbx.domain.research.holder import Holder
from arbx.ports.process_probe import ProcessProbe

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def start_ticks(pid: int) -> int:
    """Field 22 of /proc/PID/stat (start time in clock ticks after boot), 0 when unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    rest = text.rsplit(")", 1)[-1].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return 0


def _zombie(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    rest = text.rsplit(")", 1)[-1].split()
    return bool(rest) and rest[0] in ("Z", "X")


class OsProcessProbe(ProcessProbe):
    def __init__(self) -> None:
        self._pid = -1
        self._started = 0
        self._token = ""

    def holder(self, at: datetime) -> Holder:
        pid = os.getpid()
        if pid != self._pid:  # first use, or a forked child: another process, another token
            self._pid, self._started, self._token = pid, start_ticks(pid), uuid.uuid4().hex
        return Holder(
            host=socket.gethostname(),
            pid=pid,
            boot_id=_boot_id(),
            started=self._started,
            token=self._token,
            heartbeat_at=at,
        )

    def alive(self, pid: int, started: int) -> bool:
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # it exists, owned by another user
        if _zombie(pid):
            return False
        return not started or start_ticks(pid) in (0, started)
