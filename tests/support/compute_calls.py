"""Module-level calls for executor tests (a spawned worker imports them by name)."""

from __future__ import annotations

import os
import time
from typing import Any

from arbx.domain.errors import InvalidInput
from arbx.ports.executor import Shared


def add(a: int, b: int, *, times: int = 1) -> int:
    return (a + b) * times


def nap(seconds: float, value: str = "done") -> str:
    time.sleep(seconds)
    return value


def fail(message: str) -> None:
    raise ValueError(message)


def refuse(message: str) -> None:
    raise InvalidInput(message, field="params")


def die() -> None:
    os._exit(3)  # a worker killed mid-call (out of memory, SIGKILL)


def total(shared: Shared[list[int]], times: int = 1) -> tuple[int, int]:
    """The sum of a shared list and this worker's process id."""
    return sum(shared.get()) * times, os.getpid()


def forever() -> None:
    """A call that never returns (a plugin stuck in a loop)."""
    while True:
        pass


def spin(_: object) -> None:
    """A backtest compute that never returns (a plugin stuck in one call)."""
    while True:
        pass


def slow_result(value: object) -> object:
    """A compute that takes a while, then returns ``value``."""
    time.sleep(0.6)
    return value


def arrays_of(shared: Any) -> tuple[float, str, int, bool]:
    value = shared.get()
    arr = value["prices"]
    return float(arr.sum()), str(arr.dtype), int(value["n"]), bool(arr.flags.writeable)


def frame_of(shared: Any) -> tuple[Any, Any]:
    data = shared.get()
    key = next(iter(data.bars))
    return data.bars[key], data.arrays[key].close.copy()
