"""A study's prompt schedule, validated when it is saved (pure: no database, no clock).

All times here are local wall-clock times in the participant's time zone; the planner
(`app.scheduling.planner`) turns them into UTC instants.

Rules a saved schedule guarantees (each error names its field):

- Fixed times are whole minutes, distinct, sorted, and at least `min_gap_minutes` apart.
- A window runs from `start` to `end` on one local date (`start < end`; a window cannot
  cross midnight: split it in two). Windows are sorted and do not overlap, and on an
  ordinary day each can hold its `count` prompts `min_gap_minutes` apart from each other,
  from the fixed prompts and from the prompts of the window before it.
- The minimum gap holds between any two prompts of a day (fixed and random alike).
- `max_per_day` caps prompts and reminders together: the prompts a day plans must fit
  under it, and the planner drops reminders to fit (second reminders first, latest prompt
  first), so the cap holds even if no prompt is ever answered.
- Reminders come `reminder_minutes` after an unanswered prompt, at most two, each before
  the prompt expires (`expiry_minutes`).
- Study days count from enrollment: day 1 is the participant's local enrollment date.
"""

import itertools
from collections.abc import Sequence
from datetime import time
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_MODEL = ConfigDict(extra="forbid", frozen=True)


def _check_local_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("give a local wall-clock time without a UTC offset")
    if value.second or value.microsecond:
        raise ValueError("times are whole minutes (HH:MM)")
    return value


# Declared as the string it is on the wire: JSON Schema's `format: time` requires an offset.
LocalTime = Annotated[
    time,
    AfterValidator(_check_local_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:00)?$",
            "description": "Local wall-clock time, HH:MM, no UTC offset",
            "examples": ["08:30"],
        }
    ),
]


def minute_of_day(value: time) -> int:
    return value.hour * 60 + value.minute


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class WakingHours(BaseModel):
    """When a participant is awake; `sleep` before `wake` means sleep is after midnight."""

    model_config = _MODEL
    wake: LocalTime
    sleep: LocalTime

    @field_validator("sleep")
    @classmethod
    def _differs_from_wake(cls, sleep: time, info: ValidationInfo) -> time:
        if info.data.get("wake") == sleep:
            raise ValueError("sleep must differ from wake")
        return sleep

    @property
    def overnight(self) -> bool:
        """True when the waking day ends after midnight (for example wake 07:00, sleep 01:00)."""
        return self.sleep < self.wake


class Window(BaseModel):
    """Signal-contingent prompts at random times between `start` and `end` (local)."""

    model_config = _MODEL
    start: LocalTime
    end: LocalTime
    count: int = Field(default=1, ge=1, le=24)

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: time, info: ValidationInfo) -> time:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError(
                "end must be after start; a window cannot cross midnight, so split it into two"
            )
        return end


class Schedule(BaseModel):
    """When a study prompts its participants. Field order matters: validators of later
    fields check them against the earlier ones."""

    model_config = _MODEL
    min_gap_minutes: int = Field(
        default=30, ge=1, le=720, description="Minimum time between any two prompts of a day"
    )
    fixed_times: list[LocalTime] = Field(default_factory=list, max_length=24)
    # Validated even when left out: a schedule needs a window or a fixed time.
    windows: list[Window] = Field(default_factory=list, max_length=24, validate_default=True)
    max_per_day: int | None = Field(
        default=None, ge=1, le=100, description="Cap on prompts plus reminders per local day"
    )
    days_of_week: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    first_day: int = Field(default=1, ge=1, le=3650)
    last_day: int = Field(ge=1, le=3650, description="Last study day; day 1 = enrollment date")
    expiry_minutes: int = Field(default=60, ge=1, le=24 * 60)
    reminder_minutes: list[Annotated[int, Field(ge=1, le=24 * 60)]] = Field(
        default_factory=list, max_length=2
    )
    waking_hours: WakingHours | None = Field(
        default=None, description="The study's default waking day; a participant's own wins"
    )

    @field_validator("fixed_times")
    @classmethod
    def _fixed_apart(cls, times: list[time], info: ValidationInfo) -> list[time]:
        ordered = sorted(times)
        gap = info.data.get("min_gap_minutes")
        for earlier, later in itertools.pairwise(ordered):
            if earlier == later:
                raise ValueError(f"{earlier:%H:%M} appears twice")
            if gap is not None and minute_of_day(later) - minute_of_day(earlier) < gap:
                raise ValueError(
                    f"{earlier:%H:%M} and {later:%H:%M} are closer than min_gap_minutes ({gap})"
                )
        return ordered

    @field_validator("windows")
    @classmethod
    def _windows_fit(cls, windows: list[Window], info: ValidationInfo) -> list[Window]:
        if "fixed_times" not in info.data or "min_gap_minutes" not in info.data:
            return windows  # those fields failed; their own errors are reported
        fixed = [minute_of_day(t) for t in info.data["fixed_times"]]
        if not windows and not fixed:
            raise ValueError("a schedule needs at least one window or fixed time")
        ordered = sorted(windows, key=lambda window: window.start)
        problem = _window_problem(ordered, fixed, info.data["min_gap_minutes"])
        if problem:
            raise ValueError(problem)
        return ordered

    @field_validator("max_per_day")
    @classmethod
    def _cap_holds_prompts(cls, cap: int | None, info: ValidationInfo) -> int | None:
        if cap is None or "windows" not in info.data or "fixed_times" not in info.data:
            return cap
        planned = len(info.data["fixed_times"]) + sum(w.count for w in info.data["windows"])
        if planned > cap:
            raise ValueError(
                f"the schedule plans {planned} prompts a day, more than the cap of {cap} "
                "(reminders count toward the cap too)"
            )
        return cap

    @field_validator("days_of_week")
    @classmethod
    def _distinct_days(cls, days: list[Weekday]) -> list[Weekday]:
        if len(set(days)) != len(days):
            raise ValueError("each day may appear once")
        return sorted(days, key=WEEKDAYS.index)

    @field_validator("last_day")
    @classmethod
    def _not_before_first(cls, last: int, info: ValidationInfo) -> int:
        first = info.data.get("first_day")
        if first is not None and last < first:
            raise ValueError(f"last_day ({last}) is before first_day ({first})")
        return last

    @field_validator("reminder_minutes")
    @classmethod
    def _reminders_before_expiry(cls, minutes: list[int], info: ValidationInfo) -> list[int]:
        expiry = info.data.get("expiry_minutes")
        previous = 0
        for value in minutes:
            if value <= previous:
                raise ValueError("reminders are positive minutes, in increasing order")
            if expiry is not None and value >= expiry:
                raise ValueError(
                    f"a reminder {value} minutes after the prompt is not before it expires "
                    f"(expiry_minutes={expiry})"
                )
            previous = value
        return minutes

    @property
    def prompts_per_day(self) -> int:
        """Prompts an ordinary day holds (the planner may hold fewer on a clock-change day
        or when a participant's waking hours cut a window short)."""
        return len(self.fixed_times) + sum(window.count for window in self.windows)


def _window_problem(windows: Sequence[Window], fixed: Sequence[int], gap: int) -> str | None:
    """Why sorted windows cannot hold their counts on an ordinary day, or None.

    Mirrors the planner: a window's prompts keep `gap` minutes from the fixed prompts and,
    at worst, from a prompt of the window before it placed at that window's last minute.
    """
    previous_end: int | None = None
    for index, window in enumerate(windows):
        start, end = minute_of_day(window.start), minute_of_day(window.end)
        if previous_end is not None and start < previous_end:
            return f"windows[{index}] ({window.start:%H:%M}) overlaps the window before it"
        free = [(start, end)]
        if previous_end is not None:
            free = without(free, previous_end - gap, previous_end - 1 + gap)
        for minute in fixed:
            free = without(free, minute - gap + 1, minute + gap)
        usable = sum(b - a for a, b in free)
        needed = 1 + (window.count - 1) * gap
        if usable < needed:
            return (
                f"windows[{index}] ({_hhmm(start)}-{_hhmm(end)}) cannot hold {window.count} "
                f"prompts {gap} minutes apart from each other and from nearby prompts: "
                f"{usable} usable minutes, {needed} needed"
            )
        previous_end = end
    return None


def without(spans: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """Sorted half-open integer spans minus [lo, hi) (shared with the planner)."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if a < lo:
            out.append((a, min(b, lo)))
        if b > hi:
            out.append((max(a, hi), b))
    return [(a, b) for a, b in out if a < b]


class ScheduleOverride(BaseModel):
    """A clinician's schedule for one participant: replaces the study's schedule whole."""

    model_config = _MODEL
    schedule: Schedule
    reason: str = Field(min_length=1, max_length=2000)


def effective_schedule(study: Schedule, override: ScheduleOverride | None) -> Schedule:
    """The schedule a participant is planned with: their override if any, else the study's."""
    return study if override is None else override.schedule


# The notification text when a study has set none.
DEFAULT_NOTIFICATION = {"en": {"title": "Time for a check-in", "body": "How are you right now?"}}
