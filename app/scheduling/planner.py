"""Pure planner: schedule + participant time zone + local dates -> prompt instants in UTC.

No database and no clock: the same inputs always give the same plan, so planning twice
creates nothing new (prompts are keyed by `slot`) and any day can be replayed.

A slot names one decision point by what the schedule says, not by its position in it:
`{waking day}/fixed/{HH:MM}` for a fixed time and `{waking day}/window/{HH:MM}-{HH:MM}/{k}`
for the k-th prompt of a window. A time or window that survives a schedule change keeps
its slot (so it is not planned twice), and a new time or window gets a new one.

Local time and clock changes (computed with `zoneinfo`):

- A fixed time that does not exist that day (spring-forward gap) is sent at the instant
  fold=0 gives: shifted forward by the gap length (02:30 becomes 03:30 in New York). A
  fixed time that happens twice (fall-back) is sent at its first occurrence (fold=0).
  If a clock change brings a fixed prompt closer than `min_gap_minutes` to the previous
  one, it moves later to keep the gap.
- A window, and a waking day, is the exact set of instants whose local wall-clock time
  lies in it: on a spring-forward day a window loses the skipped stretch (a window inside
  the gap is empty that day); on a fall-back day it covers both passes of the repeated
  stretch. So a random prompt's local time is always inside its window, and no prompt or
  reminder is ever outside waking hours.

Waking hours (the participant's, else the schedule's, else the whole day): date D's waking
day runs from `wake` on D to `sleep` (on D+1 when sleep is after midnight). Each local time
belongs to exactly one waking day: with sleep after midnight, a fixed time or the part of a
window between midnight and sleep is planned for the waking day before, on D+1's clock.
Windows are cut to the waking day, and a window that then cannot hold its count holds as
many prompts as fit; reminders outside it are not planned. A fixed time outside it is still
a decision point: it comes back with `skip_reason` set (`outside_waking_hours`), is never
pushed, and takes nothing from the day's cap or gap. `awake_at` and
`next_awake` answer the same question for any instant, for dispatch.

Daily cap: see `app.scheduling.schedule`; reminders are dropped to fit, second reminders
first, latest prompt first. Random times are drawn from SHA-256 of (seed, local date,
window index), so a day's plan never depends on which range it was planned in.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from app.scheduling.schedule import WEEKDAYS, Schedule, WakingHours, minute_of_day, without

# Instants are whole minutes since the Unix epoch; local wall-clock times are the same
# count taken as if the wall clock were UTC. Spans are half-open [start, end).
Span = tuple[int, int]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
_DAY = 24 * 60
_ONE_MINUTE = timedelta(minutes=1)
MAX_PREVIEW_DAYS = 366
OUTSIDE_WAKING_HOURS = "outside_waking_hours"
_MORE_THAN_ANY_CLOCK_CHANGE = 3 * 60


def study_day(enrollment_date: date, day: date) -> int:
    """The participant's study day of a local date: day 1 is the day of enrollment."""
    return (day - enrollment_date).days + 1


@dataclass(frozen=True, slots=True)
class PlanParticipant:
    timezone: str
    enrollment_date: date
    waking_hours: WakingHours | None = None


@dataclass(frozen=True, slots=True)
class PlannedPrompt:
    """One planned slot (a plain dataclass: planning builds millions of them)."""

    slot: str
    source: Literal["fixed", "window"]
    local_date: date
    study_day: int
    scheduled_at: datetime
    window_start: datetime
    window_end: datetime
    expires_at: datetime
    reminders: tuple[datetime, ...] = ()
    # Set when the slot is a decision point that is not pushed (it is stored as skipped).
    skip_reason: str | None = None


def waking_hours_held_to(own: WakingHours | None, schedule: Schedule | None) -> WakingHours | None:
    """The waking hours a participant is held to: their own, else their schedule's, else none."""
    return own or (schedule.waking_hours if schedule is not None else None)


def spills_over(schedule: Schedule, waking: WakingHours | None) -> bool:
    """Whether a local date's prompts can fall on the next date: its waking day runs past
    midnight, or its last fixed time is so late that keeping the gap after the one before
    across a clock change may push it past midnight (never later than the clock moved)."""
    if waking is not None and waking.overnight:
        return True
    last = max((minute_of_day(at) for at in schedule.fixed_times), default=0)
    return last + _MORE_THAN_ANY_CLOCK_CHANGE >= _DAY


def plan(
    schedule: Schedule,
    participant: PlanParticipant,
    start: date,
    end: date,
    seed: str,
    *,
    between: tuple[datetime, datetime] | None = None,
) -> list[PlannedPrompt]:
    """Prompts for the participant's local dates `start` to `end` (both included), by time;
    with `between`, only those scheduled in that closed interval of instants."""
    if end < start:
        raise ValueError("end is before start")
    zone = ZoneInfo(participant.timezone)
    waking = waking_hours_held_to(participant.waking_hours, schedule)
    # Bounds in minutes, rounded inwards: prompts are planned on whole minutes.
    kept = (
        (-((_EPOCH - between[0]) // _ONE_MINUTE), (between[1] - _EPOCH) // _ONE_MINUTE)
        if between is not None
        else None
    )
    prompts: list[PlannedPrompt] = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        prompts.extend(_plan_day(schedule, participant, zone, waking, day, seed, kept))
    return sorted(prompts, key=lambda prompt: prompt.scheduled_at)


def preview(
    schedule: Schedule,
    tz: str,
    waking_hours: WakingHours | None,
    start_date: date,
    days: int,
    seed: str,
) -> list[PlannedPrompt]:
    """The plan of a participant enrolled on `start_date` (study day 1), for `days` days."""
    if not 1 <= days <= MAX_PREVIEW_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_PREVIEW_DAYS}")
    participant = PlanParticipant(tz, start_date, waking_hours)
    return plan(schedule, participant, start_date, start_date + timedelta(days=days - 1), seed)


@dataclass(slots=True)
class _Draft:
    slot: str
    source: Literal["fixed", "window"]
    at: int
    window: Span
    reminders: list[int]
    skip_reason: str | None = None


def _plan_day(
    schedule: Schedule,
    participant: PlanParticipant,
    zone: ZoneInfo,
    waking: WakingHours | None,
    day: date,
    seed: str,
    kept: Span | None,
) -> list[PlannedPrompt]:
    """The prompts of one local date; with `kept`, only those whose minute lies in that
    closed interval (the slots and draws do not depend on it)."""
    day_number = study_day(participant.enrollment_date, day)
    if not schedule.first_day <= day_number <= schedule.last_day:
        return []
    if WEEKDAYS[day.weekday()] not in schedule.days_of_week:
        return []
    segments = _offsets(zone.key, day)
    midnight = (day - _EPOCH_DATE).days * _DAY
    awake = _awake(segments, day, waking)
    gap = schedule.min_gap_minutes
    drafts: list[_Draft] = []

    # In waking-day order: times after midnight (before sleep) fall on the next date.
    fixed = sorted(
        (_resolve(_date_of(day, at_time, waking), at_time, zone), at_time)
        for at_time in schedule.fixed_times
    )
    previous: int | None = None
    skipped: list[_Draft] = []
    for at, at_time in fixed:
        if previous is not None:
            at = max(at, previous + gap)
        slot = f"{day}/fixed/{at_time:%H:%M}"
        if awake is not None and not _contains(awake, at):
            skipped.append(_Draft(slot, "fixed", at, (at, at), [], OUTSIDE_WAKING_HOURS))
            continue
        drafts.append(_Draft(slot, "fixed", at, (at, at), []))
        previous = at

    for index, window in enumerate(schedule.windows):
        start, end = minute_of_day(window.start), minute_of_day(window.end)
        spans = _local_span(segments, midnight + start, midnight + end)
        if awake is not None:
            spans = _intersect(spans, awake)
            if waking is not None and waking.overnight:
                # The part of the window after midnight belongs to this waking day too.
                later = _local_span(segments, midnight + _DAY + start, midnight + _DAY + end)
                spans += _intersect(later, awake)
        if not spans:
            continue
        free = spans
        for draft in drafts:
            free = without(free, draft.at - gap + 1, draft.at + gap)
        picked = _sample(free, window.count, gap, f"{seed}\x1f{day}\x1fwindow\x1f{index}")
        bounds = (spans[0][0], spans[-1][1])
        slot = f"{day}/window/{window.start:%H:%M}-{window.end:%H:%M}"
        drafts.extend(
            _Draft(f"{slot}/{k}", "window", at, bounds, []) for k, at in enumerate(picked)
        )

    for draft in drafts:
        draft.reminders = [
            draft.at + minutes
            for minutes in schedule.reminder_minutes
            if awake is None or _contains(awake, draft.at + minutes)
        ]
    if schedule.max_per_day is not None:
        _fit_cap(drafts, schedule.max_per_day)

    expiry = schedule.expiry_minutes
    return [
        PlannedPrompt(
            slot=draft.slot,
            source=draft.source,
            local_date=day,
            study_day=day_number,
            scheduled_at=_instant(draft.at),
            window_start=_instant(draft.window[0]),
            window_end=_instant(draft.window[1]),
            expires_at=_instant(draft.at + expiry),
            reminders=tuple(_instant(at) for at in draft.reminders),
            skip_reason=draft.skip_reason,
        )
        for draft in [*drafts, *skipped]
        if kept is None or kept[0] <= draft.at <= kept[1]
    ]


def _awake(
    segments: Iterable[tuple[int, int, int]], day: date, waking: WakingHours | None
) -> list[Span] | None:
    """The UTC spans of date `day`'s waking day (from `wake` on `day` to `sleep`, on the
    next date when sleep is after midnight); None when the whole day is awake."""
    if waking is None:
        return None
    midnight = (day - _EPOCH_DATE).days * _DAY
    sleep_day = midnight + (_DAY if waking.overnight else 0)
    return _local_span(
        segments, midnight + minute_of_day(waking.wake), sleep_day + minute_of_day(waking.sleep)
    )


def _date_of(day: date, at: time, waking: WakingHours | None) -> date:
    """The local date on which local time `at` of `day`'s waking day falls: the next date
    for a time after midnight and before an after-midnight sleep."""
    if waking is not None and waking.overnight and at < waking.sleep:
        return day + timedelta(days=1)
    return day


def awake_at(waking: WakingHours | None, timezone: str, instant: datetime) -> bool:
    """Whether `instant` lies in the participant's waking hours (None: always awake)."""
    return next_awake(waking, timezone, instant) <= instant


def next_awake(waking: WakingHours | None, timezone: str, instant: datetime) -> datetime:
    """The first instant at or after `instant` inside the waking hours: `instant` itself
    when awake, else the next wake-up (the instant is taken to the minute)."""
    if waking is None:
        return instant
    minute = _minute(instant)
    local = instant.astimezone(ZoneInfo(timezone)).date()
    # The waking day of the date before may run past midnight into this one.
    for offset in range(-1, 3):
        day = local + timedelta(days=offset)
        for start, end in _awake(_offsets(timezone, day), day, waking) or []:
            if minute < end:
                return instant if start <= minute else _instant(start)
    raise AssertionError("every waking day has waking minutes")


def _fit_cap(drafts: list[_Draft], cap: int) -> None:
    """Drop reminders until prompts plus reminders fit under the cap (prompts always fit:
    the schedule is validated so)."""
    kept = _reminders_under(cap, [(draft.at, len(draft.reminders)) for draft in drafts])
    for draft, count in zip(drafts, kept, strict=True):
        del draft.reminders[count:]


def _reminders_under(cap: int, prompts: list[tuple[int, int]]) -> list[int]:
    """How many of its reminders each (time order, reminder count) prompt keeps so that prompts
    plus reminders fit under `cap`. Lowest priority first: later reminders of a prompt,
    then reminders of later prompts."""
    kept = [count for _, count in prompts]
    excess = len(prompts) + sum(kept) - cap
    ranked = sorted(
        (
            (position, index)
            for index, (_, count) in enumerate(prompts)
            for position in range(count)
        ),
        key=lambda item: (-item[0], -prompts[item[1]][0]),
    )
    for position, index in ranked[: max(excess, 0)]:
        kept[index] = min(kept[index], position)
    return kept


@dataclass(frozen=True, slots=True)
class Pushed:
    """A prompt of a local day that already went out: its time and how many pushes (the
    prompt and its reminders) it takes from the day's cap."""

    local_date: date
    scheduled_at: datetime
    sends: int


def fit_beside(
    planned: Iterable[PlannedPrompt], pushed: Iterable[Pushed], gap_minutes: int, cap: int | None
) -> list[PlannedPrompt]:
    """The planned prompts that still fit in days that already had pushes (the schedule
    changed mid-day): each at least the gap from the day's pushed prompts, and together with
    them under the daily cap; earliest prompts first, reminders dropped before prompts."""
    gap = timedelta(minutes=gap_minutes)
    by_day: dict[date, list[Pushed]] = {}
    for item in pushed:
        by_day.setdefault(item.local_date, []).append(item)
    days: dict[date, list[PlannedPrompt]] = {}
    for prompt in sorted(planned, key=lambda prompt: prompt.scheduled_at):
        before = by_day.get(prompt.local_date, [])
        if all(abs(prompt.scheduled_at - item.scheduled_at) >= gap for item in before):
            days.setdefault(prompt.local_date, []).append(prompt)
    fitted: list[PlannedPrompt] = []
    for day, prompts in days.items():
        if cap is not None:
            budget = cap - sum(item.sends for item in by_day.get(day, []))
            prompts = prompts[: max(budget, 0)]
            kept = _reminders_under(
                budget, [(order, len(prompt.reminders)) for order, prompt in enumerate(prompts)]
            )
            prompts = [
                replace(prompt, reminders=prompt.reminders[:count])
                for prompt, count in zip(prompts, kept, strict=True)
            ]
        fitted.extend(prompts)
    return fitted


def _resolve(day: date, at: time, zone: ZoneInfo) -> int:
    """A fixed local time as a UTC minute, by PEP 495 fold=0 (see the module docstring)."""
    return _minute(datetime.combine(day, at, tzinfo=zone))


def _minute(instant: datetime) -> int:
    return int((instant - _EPOCH).total_seconds()) // 60


# Participants of one zone share most instants (fixed times, window bounds, expiries);
# small, as a long-running server keeps it (about 1 MiB).
@lru_cache(maxsize=8192)
def _instant(minute: int) -> datetime:
    return _EPOCH + timedelta(minutes=minute)


@lru_cache(maxsize=16384)
def _offsets(zone_key: str, day: date) -> tuple[tuple[int, int, int], ...]:
    """(start, end, UTC offset) in minutes for each stretch of constant offset, covering
    every instant whose local date is `day` or the next one (offsets span -12h..+14h).

    Probes hourly and bisects to the minute: zones change offset at most once an hour.
    """
    zone = ZoneInfo(zone_key)

    def offset_at(minute: int) -> int:
        shift = datetime.fromtimestamp(minute * 60, zone).utcoffset()
        assert shift is not None
        return int(shift.total_seconds()) // 60

    lo = (day - _EPOCH_DATE).days * _DAY - _DAY
    hi = lo + 4 * _DAY
    segments: list[tuple[int, int, int]] = []
    start, current = lo, offset_at(lo)
    for probe in range(lo, hi, 60):
        if offset_at(probe + 60) == current:
            continue
        before, after = probe, probe + 60
        while after - before > 1:
            middle = (before + after) // 2
            if offset_at(middle) == current:
                before = middle
            else:
                after = middle
        segments.append((start, after, current))
        start, current = after, offset_at(after)
    segments.append((start, hi, current))
    return tuple(segments)


def _local_span(segments: Iterable[tuple[int, int, int]], lo: int, hi: int) -> list[Span]:
    """The UTC spans of all instants whose local wall-clock minute is in [lo, hi)."""
    spans: list[Span] = []
    for seg_start, seg_end, offset in segments:
        a, b = max(seg_start, lo - offset), min(seg_end, hi - offset)
        if a >= b:
            continue
        if spans and spans[-1][1] == a:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans


def _intersect(left: list[Span], right: list[Span]) -> list[Span]:
    out: list[Span] = []
    i = j = 0
    while i < len(left) and j < len(right):
        a, b = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if a < b:
            out.append((a, b))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def _contains(spans: list[Span], minute: int) -> bool:
    return any(a <= minute < b for a, b in spans)


def _sample(free: list[Span], count: int, gap: int, material: str) -> list[int]:
    """Up to `count` minutes in `free`, at least `gap` apart, uniformly at random.

    The spans are laid end to end on one line (holes removed, which only widens real
    distances); sorted draws from [0, slack] plus i*gap are then `gap` apart on it.
    """
    length = sum(b - a for a, b in free)
    if length == 0:
        return []
    count = min(count, (length - 1) // gap + 1)
    slack = length - 1 - (count - 1) * gap
    draws = sorted(_draw(material, i, slack) for i in range(count))
    return [_on_line(free, draw + i * gap) for i, draw in enumerate(draws)]


def _draw(material: str, index: int, upper: int) -> int:
    """An integer in [0, upper] from SHA-256: stable across Python versions and machines."""
    digest = hashlib.sha256(f"{material}\x1f{index}".encode()).digest()
    return int.from_bytes(digest[:16], "big") % (upper + 1)


def _on_line(spans: list[Span], position: int) -> int:
    for a, b in spans:
        if position < b - a:
            return a + position
        position -= b - a
    raise ValueError("position beyond the spans")
