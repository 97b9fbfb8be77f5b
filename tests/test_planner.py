"""Schedules (validation) and the pure planner: properties over random schedules, zones
and dates (daylight-saving transitions included), plus examples for clock-change days."""

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.scheduling.planner import (
    PlannedPrompt,
    PlanParticipant,
    Pushed,
    awake_at,
    fit_beside,
    next_awake,
    plan,
    preview,
    spills_over,
)
from app.scheduling.schedule import (
    WEEKDAYS,
    Schedule,
    ScheduleOverride,
    WakingHours,
    effective_schedule,
)

ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "UTC",
]
NEW_YORK = ZoneInfo("America/New_York")


def hm(minute: int) -> time:
    return time(minute // 60, minute % 60)


@cache
def transition_dates(zone_name: str) -> tuple[date, ...]:
    """Local dates in 2025-2030 on which the zone's UTC offset changes."""
    zone = ZoneInfo(zone_name)
    dates: list[date] = []
    day = date(2025, 1, 1)
    while day < date(2031, 1, 1):
        before = datetime.combine(day, time(0), tzinfo=zone).utcoffset()
        after = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).utcoffset()
        midday = datetime.combine(day, time(12), tzinfo=zone).utcoffset()
        if len({before, after, midday}) > 1:
            dates.append(day)
        day += timedelta(days=1)
    return tuple(dates)


@st.composite
def schedules(draw: st.DrawFn, ordinary: bool = False) -> Schedule:
    """Valid schedules; `ordinary` ones prompt every day and have no waking hours."""
    gap = draw(st.integers(5, 120))
    cursor = draw(st.integers(0, 700))
    fixed: list[time] = []
    windows: list[dict[str, object]] = []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            if cursor > 1439:
                break
            fixed.append(hm(cursor))
            cursor += gap + draw(st.integers(0, 180))
        else:
            count = draw(st.integers(1, 4))
            end = cursor + (count - 1) * gap + 1 + draw(st.integers(0, 300))
            if end > 1439:
                break
            windows.append({"start": hm(cursor), "end": hm(end), "count": count})
            cursor = end + gap + draw(st.integers(0, 180))
    assume(fixed or windows)
    expiry = draw(st.integers(5, 240))
    reminders = sorted(set(draw(st.lists(st.integers(1, expiry - 1), max_size=2))))
    per_day = len(fixed) + sum(int(w["count"]) for w in windows)  # type: ignore[call-overload]
    cap = draw(st.none() | st.integers(per_day, per_day * 3))
    days = list(WEEKDAYS)
    waking = None
    if not ordinary:
        days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
        waking = draw(st.none() | waking_hours())
    first = draw(st.integers(1, 5))
    try:
        return Schedule(
            min_gap_minutes=gap,
            fixed_times=fixed,
            windows=windows,
            max_per_day=cap,
            days_of_week=days,
            first_day=first,
            last_day=first + draw(st.integers(0, 30)),
            expiry_minutes=expiry,
            reminder_minutes=reminders,
            waking_hours=waking,
        )
    except ValidationError:
        assume(False)
        raise


@st.composite
def waking_hours(draw: st.DrawFn) -> WakingHours:
    wake = draw(st.integers(0, 1439))
    sleep = draw(st.integers(0, 1439).filter(lambda m: m != wake))
    return WakingHours(wake=hm(wake), sleep=hm(sleep))


@st.composite
def plan_dates(draw: st.DrawFn, zone: str) -> date:
    if draw(st.booleans()) and transition_dates(zone):
        return draw(st.sampled_from(transition_dates(zone))) + timedelta(
            days=draw(st.integers(-1, 1))
        )
    return draw(st.dates(date(2025, 1, 1), date(2028, 12, 31)))


def naive_local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def check_plan(
    schedule: Schedule,
    participant: PlanParticipant,
    start: date,
    end: date,
    prompts: list[PlannedPrompt],
) -> None:
    zone = ZoneInfo(participant.timezone)
    waking = participant.waking_hours or schedule.waking_hours
    gap = timedelta(minutes=schedule.min_gap_minutes)
    # A window prompt's slot names the window by its bounds.
    windows = {f"{w.start:%H:%M}-{w.end:%H:%M}": w for w in schedule.windows}
    assert len({p.slot for p in prompts}) == len(prompts)
    assert [p.scheduled_at for p in prompts] == sorted(p.scheduled_at for p in prompts)
    # A skipped decision point is a fixed time outside waking hours, never pushed.
    skipped = [p for p in prompts if p.skip_reason is not None]
    for p in skipped:
        assert (p.source, p.skip_reason, p.reminders) == ("fixed", "outside_waking_hours", ())
        assert waking is not None and not awake_at(waking, participant.timezone, p.scheduled_at)
    prompts = [p for p in prompts if p.skip_reason is None]
    by_day: dict[date, list[PlannedPrompt]] = defaultdict(list)
    for p in prompts:
        by_day[p.local_date].append(p)
        assert start <= p.local_date <= end
        assert p.study_day == (p.local_date - participant.enrollment_date).days + 1
        assert schedule.first_day <= p.study_day <= schedule.last_day
        assert WEEKDAYS[p.local_date.weekday()] in schedule.days_of_week
        assert p.slot.startswith(f"{p.local_date}/")
        assert p.scheduled_at.utcoffset() == timedelta(0)
        assert p.expires_at == p.scheduled_at + timedelta(minutes=schedule.expiry_minutes)
        offsets = [r - p.scheduled_at for r in p.reminders]
        allowed = [timedelta(minutes=m) for m in schedule.reminder_minutes]
        assert offsets == [o for o in allowed if o in offsets]
        assert all(r < p.expires_at for r in p.reminders)
        day_start = datetime.combine(p.local_date, time(0))
        local = naive_local(p.scheduled_at, zone)
        # With sleep after midnight, the waking day's last hours are on the next date.
        after_midnight = waking is not None and waking.overnight and local.date() > p.local_date
        clock_date = p.local_date + timedelta(days=after_midnight)
        if p.source == "window":
            window = windows[p.slot.split("/")[2]]
            clock_start = datetime.combine(clock_date, time(0))
            assert clock_start + _td(window.start) <= local < clock_start + _td(window.end)
            assert p.window_start <= p.scheduled_at < p.window_end
        else:
            nominal = time.fromisoformat(p.slot.split("/")[2])
            assert nominal in schedule.fixed_times
            resolved = datetime.combine(clock_date, nominal, tzinfo=zone)
            assert p.scheduled_at >= resolved  # later only to keep the gap after a clock change
            assert p.window_start == p.window_end == p.scheduled_at
        if waking is not None:
            wake = day_start + _td(waking.wake)
            sleep = day_start + timedelta(days=waking.overnight) + _td(waking.sleep)
            for instant in (p.scheduled_at, *p.reminders):
                assert wake <= naive_local(instant, zone) < sleep, "sent outside waking hours"
    for day_prompts in by_day.values():
        times = sorted(p.scheduled_at for p in day_prompts)
        assert all(later - earlier >= gap for earlier, later in itertools.pairwise(times))
        if schedule.max_per_day is not None:
            sends = len(day_prompts) + sum(len(p.reminders) for p in day_prompts)
            assert sends <= schedule.max_per_day
        per_window: dict[str, int] = defaultdict(int)
        for p in day_prompts:
            if p.source == "window":
                per_window[p.slot.split("/")[2]] += 1
        for bounds, count in per_window.items():
            assert count <= windows[bounds].count


def _td(at: time) -> timedelta:
    return timedelta(hours=at.hour, minutes=at.minute)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), schedule=schedules(), zone=st.sampled_from(ZONES))
def test_plans_keep_every_rule(data: st.DataObject, schedule: Schedule, zone: str) -> None:
    start = data.draw(plan_dates(zone))
    days = data.draw(st.integers(1, 6))
    end = start + timedelta(days=days - 1)
    enrolled = start - timedelta(days=data.draw(st.integers(0, 4)))
    waking = data.draw(st.none() | waking_hours())
    participant = PlanParticipant(zone, enrolled, waking)
    seed = data.draw(st.text(max_size=12))

    prompts = plan(schedule, participant, start, end, seed)

    check_plan(schedule, participant, start, end, prompts)
    assert plan(schedule, participant, start, end, seed) == prompts
    middle = start + timedelta(days=days // 2)
    assert plan(schedule, participant, middle, middle, seed) == [
        p for p in prompts if p.local_date == middle
    ]
    # Bounds at, just before and just after prompt times, as the planning job's `now` is.
    near = [datetime.combine(start, time(), UTC), *(p.scheduled_at for p in prompts)]
    first, last = sorted(
        data.draw(st.sampled_from(near))
        + data.draw(
            st.sampled_from([timedelta(0), timedelta(microseconds=1), timedelta(seconds=-30)])
        )
        for _ in range(2)
    )
    assert plan(schedule, participant, start, end, seed, between=(first, last)) == [
        p for p in prompts if first <= p.scheduled_at <= last
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), schedule=schedules(), zone=st.sampled_from(ZONES))
def test_a_date_spills_into_the_next_only_when_spills_over_says_so(
    data: st.DataObject, schedule: Schedule, zone: str
) -> None:
    """The planning job plans the date before its window only when `spills_over`: every
    other date's prompts fall on that local date."""
    start = data.draw(plan_dates(zone))
    waking = data.draw(st.none() | waking_hours())
    participant = PlanParticipant(zone, start - timedelta(days=2), waking)
    prompts = plan(schedule, participant, start, start + timedelta(days=2), "seed")
    spilled = [
        p for p in prompts if p.scheduled_at.astimezone(ZoneInfo(zone)).date() != p.local_date
    ]
    if spilled:
        assert spills_over(schedule, waking or schedule.waking_hours)


@settings(max_examples=100, deadline=None)
@given(
    schedule=schedules(ordinary=True),
    zone=st.sampled_from(ZONES),
    day=st.dates(date(2025, 1, 1), date(2030, 12, 31)),
)
def test_an_ordinary_day_holds_every_prompt(schedule: Schedule, zone: str, day: date) -> None:
    """Validation promises the counts fit; on a day without a clock change, fully awake,
    the planner must deliver exactly them."""
    assume(day not in transition_dates(zone))
    enrolled = day - timedelta(days=schedule.first_day - 1)
    prompts = plan(schedule, PlanParticipant(zone, enrolled), day, day, "s")
    assert len(prompts) == schedule.prompts_per_day
    fixed = [naive_local(p.scheduled_at, ZoneInfo(zone)).time() for p in prompts]
    assert set(schedule.fixed_times) <= set(fixed)


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    waking=waking_hours(),
    at=st.integers(0, 1439),
    day=st.dates(date(2025, 1, 1), date(2030, 12, 31)),
)
def test_a_fixed_time_inside_waking_hours_is_always_planned_once(
    zone: str, waking: WakingHours, at: int, day: date
) -> None:
    """Completeness: on an active day, a fixed time the participant is awake at yields
    exactly one prompt, whichever waking day it belongs to (also after midnight with a
    late sleep), and one they are asleep at exactly one skipped slot. Clock-change days
    are left out: there a time in the gap moves and a repeated one is sent once (see the
    planner's docstring)."""
    assume(all(day + timedelta(days=d) not in transition_dates(zone) for d in (-1, 0, 1)))
    schedule = Schedule(fixed_times=[hm(at)], last_day=3650)
    participant = PlanParticipant(zone, day - timedelta(days=10), waking)
    instant = datetime.combine(day, hm(at), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    wake, sleep = (
        waking.wake.hour * 60 + waking.wake.minute,
        waking.sleep.hour * 60 + waking.sleep.minute,
    )
    awake = (at >= wake or at < sleep) if waking.overnight else wake <= at < sleep

    prompts = plan(schedule, participant, day - timedelta(days=1), day + timedelta(days=1), "s")

    assert len({p.scheduled_at for p in prompts}) == len(prompts)
    # Every decision point has a row: pushed when awake, else skipped with its reason.
    [decision] = [p for p in prompts if p.scheduled_at == instant]
    assert decision.skip_reason == (None if awake else "outside_waking_hours")


def test_late_sleep_plans_fixed_times_and_windows_after_midnight() -> None:
    schedule = Schedule(
        fixed_times=["00:30", "09:00"],
        windows=[{"start": "01:00", "end": "01:50", "count": 1}],
        min_gap_minutes=20,
        last_day=5,
    )
    waking = WakingHours(wake="07:00", sleep="02:00")
    prompts = plan(schedule, PlanParticipant("UTC", date(2026, 6, 1), waking),
                   date(2026, 6, 1), date(2026, 6, 2), "seed")  # fmt: skip
    first_day = [p for p in prompts if p.local_date == date(2026, 6, 1)]
    assert [(p.slot, p.scheduled_at.date()) for p in first_day] == [
        ("2026-06-01/fixed/09:00", date(2026, 6, 1)),
        ("2026-06-01/fixed/00:30", date(2026, 6, 2)),
        ("2026-06-01/window/01:00-01:50/0", date(2026, 6, 2)),
    ]
    assert first_day[1].scheduled_at == datetime(2026, 6, 2, 0, 30, tzinfo=UTC)
    assert time(1) <= first_day[2].scheduled_at.time() < time(1, 50)
    # 00:30 on June 1 itself belongs to the waking day of May 31, outside the study.
    assert all(p.scheduled_at >= datetime(2026, 6, 1, 7, tzinfo=UTC) for p in prompts)


# --- examples: clock-change days -------------------------------------------------------


def only_day(schedule: Schedule, zone: str, day: date, waking: WakingHours | None = None):
    return plan(schedule, PlanParticipant(zone, day, waking), day, day, "seed")


def test_spring_forward_gap_shifts_a_fixed_time_forward_by_the_gap() -> None:
    schedule = Schedule(fixed_times=["01:30", "02:30"], last_day=1)
    first, second = only_day(schedule, "America/New_York", date(2026, 3, 8))
    assert first.scheduled_at == datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert second.scheduled_at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert second.slot == "2026-03-08/fixed/02:30"


def test_fall_back_repeat_uses_the_first_occurrence() -> None:
    (prompt,) = only_day(Schedule(fixed_times=["01:30"], last_day=1), "America/New_York",
                         date(2026, 11, 1))  # fmt: skip
    assert prompt.scheduled_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT


def test_half_hour_dst_and_midnight_transitions() -> None:
    schedule = Schedule(fixed_times=["00:30", "02:15"], last_day=1)
    # Lord Howe springs forward 30 minutes at 02:00: 02:15 does not exist, becomes 02:45.
    _, gap_day = only_day(schedule, "Australia/Lord_Howe", date(2026, 10, 4))
    assert naive_local(gap_day.scheduled_at, ZoneInfo("Australia/Lord_Howe")).time() == time(2, 45)
    # Lord Howe falls back 02:00 -> 01:30; 01:45 happens twice: the first (+11:00) is used.
    (repeat,) = only_day(Schedule(fixed_times=["01:45"], last_day=1), "Australia/Lord_Howe",
                         date(2026, 4, 5))  # fmt: skip
    assert repeat.scheduled_at == datetime(2026, 4, 4, 14, 45, tzinfo=UTC)
    # Santiago springs forward at midnight: 00:30 does not exist and becomes 01:30 (-03:00).
    midnight, _ = only_day(schedule, "America/Santiago", date(2026, 9, 6))
    assert midnight.scheduled_at == datetime(2026, 9, 6, 4, 30, tzinfo=UTC)


def test_a_clock_change_never_squeezes_fixed_prompts_below_the_gap() -> None:
    schedule = Schedule(fixed_times=["01:45", "03:00"], min_gap_minutes=30, last_day=1)
    first, second = only_day(schedule, "America/New_York", date(2026, 3, 8))
    assert first.scheduled_at == datetime(2026, 3, 8, 6, 45, tzinfo=UTC)
    assert second.scheduled_at == first.scheduled_at + timedelta(minutes=30)


def test_a_window_inside_the_gap_is_empty_that_day_only() -> None:
    schedule = Schedule(windows=[{"start": "02:05", "end": "02:55", "count": 1}], last_day=3)
    participant = PlanParticipant("America/New_York", date(2026, 3, 7))
    prompts = plan(schedule, participant, date(2026, 3, 7), date(2026, 3, 9), "seed")
    assert [p.local_date for p in prompts] == [date(2026, 3, 7), date(2026, 3, 9)]


def test_a_window_over_the_repeated_hour_covers_both_passes() -> None:
    schedule = Schedule(
        windows=[{"start": "01:00", "end": "01:59", "count": 2}], min_gap_minutes=30, last_day=1
    )
    seen: set[timedelta | None] = set()
    for seed in range(40):
        participant = PlanParticipant("America/New_York", date(2026, 11, 1))
        prompts = plan(schedule, participant, date(2026, 11, 1), date(2026, 11, 1), str(seed))
        assert len(prompts) == 2
        for p in prompts:
            local = p.scheduled_at.astimezone(NEW_YORK)
            assert time(1, 0) <= local.time() < time(1, 59)
            seen.add(local.utcoffset())
    assert seen == {timedelta(hours=-4), timedelta(hours=-5)}


def test_waking_hours_after_midnight_cut_windows_and_reminders() -> None:
    schedule = Schedule(
        fixed_times=["06:00", "23:50"],
        windows=[{"start": "06:30", "end": "08:00", "count": 3}],
        min_gap_minutes=30,
        expiry_minutes=120,
        reminder_minutes=[30, 80],
        last_day=1,
    )
    waking = WakingHours(wake="07:00", sleep="01:00")
    prompts = only_day(schedule, "Europe/London", date(2026, 6, 1), waking)
    # 06:00 is asleep: a skipped decision point, not a push.
    assert [(p.source, p.skip_reason) for p in prompts] == [
        ("fixed", "outside_waking_hours"),
        ("window", None),
        ("window", None),
        ("fixed", None),
    ]
    assert prompts[0].slot == "2026-06-01/fixed/06:00" and prompts[0].reminders == ()
    late = prompts[-1]
    assert late.slot == "2026-06-01/fixed/23:50"
    assert late.reminders == (late.scheduled_at + timedelta(minutes=30),)  # 01:10 is asleep


def test_the_daily_cap_drops_second_reminders_then_late_first_reminders() -> None:
    schedule = Schedule(
        fixed_times=["09:00", "12:00", "15:00"],
        reminder_minutes=[10, 20],
        expiry_minutes=30,
        max_per_day=5,
        last_day=1,
    )
    prompts = only_day(schedule, "Asia/Kolkata", date(2026, 1, 5))
    assert [len(p.reminders) for p in prompts] == [1, 1, 0]


def test_a_slot_names_the_time_or_window_not_its_place_in_the_schedule() -> None:
    before = Schedule(
        fixed_times=["09:00", "18:00"],
        windows=[{"start": "10:00", "end": "12:00", "count": 2}],
        last_day=1,
    )
    after = before.model_copy(update={"fixed_times": [time(8), time(13), time(18)]})
    participant = PlanParticipant("Europe/Berlin", date(2026, 3, 2))
    slots = [{p.slot for p in plan(s, participant, date(2026, 3, 2), date(2026, 3, 2), "s")}
             for s in (before, after)]  # fmt: skip
    assert slots[0] & slots[1] == {
        "2026-03-02/fixed/18:00",
        "2026-03-02/window/10:00-12:00/0",
        "2026-03-02/window/10:00-12:00/1",
    }
    assert slots[1] - slots[0] == {"2026-03-02/fixed/08:00", "2026-03-02/fixed/13:00"}


def test_same_seed_same_plan_other_seed_other_times() -> None:
    schedule = Schedule(windows=[{"start": "09:00", "end": "21:00", "count": 5}], last_day=28)
    participant = PlanParticipant("Pacific/Chatham", date(2026, 1, 1))
    one = plan(schedule, participant, date(2026, 1, 1), date(2026, 1, 28), "a")
    assert one == plan(schedule, participant, date(2026, 1, 1), date(2026, 1, 28), "a")
    other = plan(schedule, participant, date(2026, 1, 1), date(2026, 1, 28), "b")
    assert [p.slot for p in one] == [p.slot for p in other]
    assert [p.scheduled_at for p in one] != [p.scheduled_at for p in other]


def test_study_days_and_weekdays_bound_the_plan() -> None:
    schedule = Schedule(fixed_times=["10:00"], first_day=2, last_day=4, days_of_week=["mon"])
    participant = PlanParticipant("Asia/Kathmandu", date(2026, 11, 22))  # a Sunday
    prompts = plan(schedule, participant, date(2026, 11, 1), date(2026, 12, 31), "s")
    assert [(p.local_date, p.study_day) for p in prompts] == [(date(2026, 11, 23), 2)]
    assert prompts[0].scheduled_at == datetime(2026, 11, 23, 4, 15, tzinfo=UTC)  # +05:45


def test_preview_plans_from_day_one() -> None:
    schedule = Schedule(fixed_times=["08:00"], last_day=28)
    prompts = preview(schedule, "Europe/London", None, date(2026, 3, 28), 3, "s")
    assert [p.study_day for p in prompts] == [1, 2, 3]
    assert [p.scheduled_at.hour for p in prompts] == [8, 7, 7]  # BST from March 29
    with pytest.raises(ValueError, match="days"):
        preview(schedule, "Europe/London", None, date(2026, 3, 28), 0, "s")


def test_override_replaces_the_study_schedule() -> None:
    study = Schedule(fixed_times=["09:00"], last_day=28)
    own = Schedule(fixed_times=["11:00", "20:00"], last_day=28)
    assert effective_schedule(study, None) is study
    assert effective_schedule(study, ScheduleOverride(schedule=own, reason="shift work")) is own


# --- validation ------------------------------------------------------------------------


def error_locations(**fields: object) -> dict[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as caught:
        Schedule.model_validate({"last_day": 28, **fields})
    return {tuple(e["loc"]): e["msg"] for e in caught.value.errors()}


@pytest.mark.parametrize(
    ("fields", "location", "words"),
    [
        ({"fixed_times": ["09:00", "09:10"]}, ("fixed_times",), "closer than min_gap"),
        ({"fixed_times": ["09:00", "09:00"]}, ("fixed_times",), "twice"),
        ({"fixed_times": ["09:00:30"]}, ("fixed_times", 0), "whole minutes"),
        ({"fixed_times": ["09:00+02:00"]}, ("fixed_times", 0), "without a UTC offset"),
        ({"windows": [{"start": "22:00", "end": "02:00"}]}, ("windows", 0, "end"), "midnight"),
        (
            {"windows": [{"start": "09:00", "end": "10:00", "count": 3}]},
            ("windows",),
            "cannot hold 3",
        ),
        (
            {"windows": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]},
            ("windows",),
            "overlaps",
        ),
        (
            {"fixed_times": ["10:00"], "windows": [{"start": "09:45", "end": "10:15"}]},
            ("windows",),
            "cannot hold",
        ),
        ({"windows": []}, ("windows",), "at least one"),
        ({"fixed_times": ["09:00", "12:00"], "max_per_day": 1}, ("max_per_day",), "cap of 1"),
        ({"fixed_times": ["09:00"], "first_day": 5, "last_day": 3}, ("last_day",), "before"),
        ({"fixed_times": ["09:00"], "reminder_minutes": [60]}, ("reminder_minutes",), "expires"),
        ({"fixed_times": ["09:00"], "reminder_minutes": [20, 10]}, ("reminder_minutes",), "order"),
        (
            {"fixed_times": ["09:00"], "reminder_minutes": [5, 10, 15]},
            ("reminder_minutes",),
            "at most 2",
        ),
        ({"fixed_times": ["09:00"], "days_of_week": ["mon", "mon"]}, ("days_of_week",), "once"),
        ({"fixed_times": ["09:00"], "surprise": 1}, ("surprise",), "Extra inputs"),
        (
            {"fixed_times": ["09:00"], "waking_hours": {"wake": "07:00", "sleep": "07:00"}},
            ("waking_hours", "sleep"),
            "differ",
        ),
    ],
)
def test_validation_names_the_field(
    fields: dict[str, object], location: tuple[str | int, ...], words: str
) -> None:
    errors = error_locations(**fields)
    assert location in errors, errors
    assert words in errors[location]


def test_adjacent_windows_keep_the_gap_across_their_boundary() -> None:
    schedule = Schedule(
        windows=[
            {"start": "09:00", "end": "10:00", "count": 2},
            {"start": "10:00", "end": "11:30", "count": 2},
        ],
        min_gap_minutes=30,
        last_day=1,
    )
    assert schedule.windows[1].start == time(10)
    for seed in range(30):
        participant = PlanParticipant("UTC", date(2026, 5, 5))
        prompts = plan(schedule, participant, date(2026, 5, 5), date(2026, 5, 5), str(seed))
        assert len(prompts) == 4
        times = [p.scheduled_at for p in prompts]
        assert all(b - a >= timedelta(minutes=30) for a, b in itertools.pairwise(times))


def test_awake_at_and_next_awake_follow_the_waking_day_in_the_zone() -> None:
    late = WakingHours(wake="07:00", sleep="02:00")
    berlin = "Europe/Berlin"  # UTC+2 in June
    at = datetime(2026, 6, 2, 23, 30, tzinfo=UTC)  # 01:30 local: the day before is awake
    assert awake_at(late, berlin, at) and next_awake(late, berlin, at) == at
    asleep = datetime(2026, 6, 3, 0, 30, tzinfo=UTC)  # 02:30 local
    assert not awake_at(late, berlin, asleep)
    assert next_awake(late, berlin, asleep) == datetime(2026, 6, 3, 5, 0, tzinfo=UTC)
    assert awake_at(None, berlin, asleep)


def test_fit_beside_keeps_the_gap_and_the_cap_of_a_day_that_had_pushes() -> None:
    schedule = Schedule(
        fixed_times=["09:00", "12:00", "15:00"], reminder_minutes=[10], max_per_day=4, last_day=2
    )
    day = date(2026, 6, 1)
    planned = plan(schedule, PlanParticipant("UTC", day), day, day + timedelta(days=1), "s")
    pushed = [Pushed(day, datetime(2026, 6, 1, 8, 40, tzinfo=UTC), sends=2)]
    fitted = fit_beside(planned, pushed, gap_minutes=30, cap=4)
    # 09:00 is 20 minutes after the push; 12:00 and 15:00 share the two sends left, so
    # their reminders go; the next day is untouched.
    assert [(p.scheduled_at.hour, len(p.reminders)) for p in fitted if p.local_date == day] == [
        (12, 0),
        (15, 0),
    ]
    assert [p for p in fitted if p.local_date != day] == [p for p in planned if p.local_date != day]
