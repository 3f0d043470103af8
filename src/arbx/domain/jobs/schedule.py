"""When a job fires: a fixed interval, or cron-like fields (UTC).

Cron fields follow APScheduler 3's ``CronTrigger`` (the scheduler adapter hands them over
unchanged), restricted to a strict subset so that every schedule accepted here is accepted
there: per field a comma-separated list of ``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n``, ``a/n``;
``month`` also takes names (``jan``, ``jan-mar``); ``day_of_week`` takes names (``mon``,
``mon-fri``) or numbers where **0 is Monday** (APScheduler's convention, not crontab's);
``day`` also takes ``last`` and ``<1st..5th|last> <weekday>``.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from arbx.domain.errors import InvalidInput

MIN_INTERVAL_S: Final = 0.1
MAX_INTERVAL_S: Final = 366 * 86_400.0

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CRON_FIELDS: Final = ("second", "minute", "hour", "day", "month", "day_of_week")
_BOUNDS: Final = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day": (1, 31),
    "month": (1, 12),
    "day_of_week": (0, 6),
}
_ALL = re.compile(r"^\*(?:/(\d+))?$")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?(?:/(\d+))?$")
_NAMES = re.compile(r"^([a-z]+)(?:-([a-z]+))?$")
_POSITION = re.compile(r"^(1st|2nd|3rd|4th|5th|last) +([a-z]+)$")


class IntervalSchedule(msgspec.Struct, frozen=True, tag="interval"):
    """Fire every ``seconds`` (at least 0.1 s, at most 366 days)."""

    seconds: float

    def __post_init__(self) -> None:
        seconds = self.seconds
        if isinstance(seconds, bool) or not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
            raise InvalidInput(
                f"interval {seconds!r} s is out of range; use {MIN_INTERVAL_S} s to"
                f" {int(MAX_INTERVAL_S)} s (366 days), e.g. 60 for every minute",
                field="interval_s",
            )

    def describe(self) -> str:
        return f"every {self.seconds:g} s"


class CronSchedule(msgspec.Struct, frozen=True, tag="cron"):
    """Fire at the UTC instants matching every field (see the module docstring)."""

    second: str = "0"
    minute: str = "*"
    hour: str = "*"
    day: str = "*"
    month: str = "*"
    day_of_week: str = "*"

    def __post_init__(self) -> None:
        for name in CRON_FIELDS:
            check_cron_field(name, getattr(self, name))

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> CronSchedule:
        unknown = sorted(set(fields) - set(CRON_FIELDS))
        if unknown:
            raise InvalidInput(
                f"unknown cron field(s) {', '.join(unknown)}; use {', '.join(CRON_FIELDS)}",
                field="cron",
            )
        values = {name: str(value).strip().lower() for name, value in fields.items()}
        return cls(**values)

    @classmethod
    def from_crontab(cls, text: str) -> CronSchedule:
        """Parse five crontab fields "minute hour day month day_of_week" (second is 0).

        Numbers in day_of_week are refused: crontab counts Sunday as 0, the scheduler counts
        Monday as 0; write names ("mon-fri") so there is no doubt.
        """
        parts = text.strip().lower().split()
        if len(parts) != 5:
            raise InvalidInput(
                f"cron {text!r} needs five fields 'minute hour day month day_of_week',"
                " e.g. '*/5 * * * *'",
                field="cron",
            )
        minute, hour, day, month, day_of_week = parts
        if any(ch.isdigit() for ch in day_of_week):
            raise InvalidInput(
                f"cron day_of_week {day_of_week!r}: write day names (mon-fri, sun), not numbers"
                " (crontab and the scheduler number weekdays differently)",
                field="cron",
            )
        return cls(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week)

    def fields(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in CRON_FIELDS}

    def describe(self) -> str:
        return "cron " + " ".join(f"{name}={getattr(self, name)}" for name in CRON_FIELDS)


Schedule = IntervalSchedule | CronSchedule


def check_cron_field(name: str, expression: str) -> None:
    """Raise ``InvalidInput(field="cron")`` unless ``expression`` is valid for cron field
    ``name``."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInput(f"cron field {name} is empty; use '*' for any", field="cron")
    for item in expression.strip().lower().split(","):
        problem = _item_problem(name, item.strip())
        if problem:
            raise InvalidInput(f"cron field {name}={expression!r}: {problem}", field="cron")


def _item_problem(name: str, item: str) -> str | None:
    low, high = _BOUNDS[name]
    if match := _ALL.match(item):
        return _step_problem(match.group(1), high - low)
    if match := _RANGE.match(item):
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else None
        step = match.group(3)
        if first < low or (last if last is not None else first) > high or first > high:
            return f"{item!r} is outside {low}-{high}"
        if last is not None and first > last:
            return f"{item!r} runs backwards; write the smaller value first"
        if step is not None and last is None:
            last = high
        return _step_problem(step, (last if last is not None else first) - first)
    if name in ("month", "day_of_week") and (match := _NAMES.match(item)):
        names = MONTHS if name == "month" else WEEKDAYS
        first_name, last_name = match.group(1), match.group(2)
        for word in (first_name, last_name):
            if word is not None and word not in names:
                return f"{word!r} is not one of {', '.join(names)}"
        if last_name is not None and names.index(first_name) > names.index(last_name):
            return f"{item!r} runs backwards; write the earlier name first"
        return None
    if name == "day" and (item == "last" or _position_ok(item)):
        return None
    return f"{item!r} is not understood; use *, */n, a, a-b, a-b/n" + (
        ", names" if name in ("month", "day_of_week") else ""
    )


def _position_ok(item: str) -> bool:
    match = _POSITION.match(item)
    return match is not None and match.group(2) in WEEKDAYS


def _step_problem(step: str | None, span: int) -> str | None:
    if step is None:
        return None
    value = int(step)
    if value == 0:
        return "a step of 0 never advances; use 1 or more"
    if value > span:
        return f"the step {value} is larger than the range it divides ({span})"
    return None
