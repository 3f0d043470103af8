"""Every schedule the domain accepts is one APScheduler 3 accepts, with the same meaning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from hypothesis import event, given, settings
from hypothesis import strategies as st

from arbx.adapters.scheduling import trigger_for
from arbx.domain.errors import InvalidInput
from arbx.domain.jobs import CRON_FIELDS, CronSchedule, IntervalSchedule, check_cron_field

WORDS = ["mon", "fri", "sun", "jan", "dec", "last", "1st", "last fri", "2nd tue", "monday"]


@st.composite
def cron_items(draw: st.DrawFn) -> str:
    number = st.integers(0, 70).map(str)
    kind = draw(st.sampled_from(["star", "num", "range", "word", "words"]))
    if kind == "star":
        text = "*"
    elif kind == "num":
        text = draw(number)
    elif kind == "range":
        text = f"{draw(number)}-{draw(number)}"
    elif kind == "word":
        text = draw(st.sampled_from(WORDS))
    else:
        text = f"{draw(st.sampled_from(WORDS))}-{draw(st.sampled_from(WORDS))}"
    if draw(st.booleans()):
        text += f"/{draw(st.integers(0, 70))}"
    return text


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(CRON_FIELDS),
    items=st.lists(cron_items(), min_size=1, max_size=3),
)
def test_what_the_domain_accepts_apscheduler_accepts(field: str, items: list[str]) -> None:
    expression = ",".join(items)
    try:
        check_cron_field(field, expression)
    except InvalidInput:
        event("refused")
        return
    event("accepted")
    CronTrigger(timezone=UTC, **{field: expression})  # must not raise


def test_cron_fires_on_the_given_utc_fields() -> None:
    schedule = CronSchedule.from_crontab("*/15 2 * * mon-fri")
    trigger = trigger_for(schedule)
    start = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)  # a Saturday
    fire = trigger.get_next_fire_time(None, start)
    assert fire == datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(fire, fire + timedelta(seconds=1)) == datetime(
        2025, 3, 3, 2, 15, tzinfo=UTC
    )


def test_intervals_start_one_interval_after_now_and_allow_sub_seconds() -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    trigger = trigger_for(IntervalSchedule(0.25), start=start)
    assert isinstance(trigger, IntervalTrigger)
    first = trigger.get_next_fire_time(None, start)
    assert first == start + timedelta(seconds=0.25)
    assert trigger.get_next_fire_time(first, first) == start + timedelta(seconds=0.5)
