"""The prompt schedule: its editor, the preview as a calendar in a participant's local time
(with the days the clocks change marked and the UTC offsets shown), and one participant's
own schedule (the override), set and lifted with a reason, and their own waking hours (the
API's PUT .../waking-hours, as their app sets them)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlmodel import Session
from starlette.datastructures import FormData

from app.access.scope import CARE, MANAGE, StudyAccess, StudyParticipant
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.console.deps import (
    CareParticipant,
    CheckedForm,
    ConsoleUser,
    ManageStudy,
    ReadParticipant,
    ReadStudy,
)
from app.console.forms import Form, submit
from app.console.pages.editing import study_page
from app.console.templating import redirect
from app.scheduling import service
from app.scheduling.schedule import WEEKDAYS, Schedule, WakingHours
from app.scheduling.schemas import (
    OverrideIn,
    OverrideOut,
    PreviewIn,
    PreviewOut,
    Reason,
    ScheduleIn,
)
from app.types import INPUT

router = APIRouter(prefix="/console/studies/{study_id}")

# Inputs of the schedule that hold a list, typed comma-separated ("09:00, 13:00").
LIST_INPUTS = ("fixed_times", "reminder_minutes", "days_of_week")
SCALAR_INPUTS = (
    "min_gap_minutes",
    "max_per_day",
    "first_day",
    "last_day",
    "expiry_minutes",
    "waking_hours.wake",
    "waking_hours.sleep",
)
WINDOW_FIELDS = ("start", "end", "count")
SPARE_WINDOWS = 2  # blank window rows offered below the ones the schedule has
PREVIEW_INPUTS = ("timezone", "start_date", "days", "waking_hours.wake", "waking_hours.sleep")
CONSOLE_LOCALES = ("en", "es")
WEEKDAY_NAMES = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)


# --- the schedule form -----------------------------------------------------------------


def _hhmm(value: time) -> str:
    return f"{value:%H:%M}"


def schedule_values(schedule: Schedule) -> dict[str, str]:
    """A saved schedule as the form's inputs (`schedule.` + the API's field paths)."""
    values = {
        "schedule.min_gap_minutes": str(schedule.min_gap_minutes),
        "schedule.fixed_times": ", ".join(_hhmm(t) for t in schedule.fixed_times),
        "schedule.max_per_day": "" if schedule.max_per_day is None else str(schedule.max_per_day),
        "schedule.days_of_week": ",".join(schedule.days_of_week),
        "schedule.first_day": str(schedule.first_day),
        "schedule.last_day": str(schedule.last_day),
        "schedule.expiry_minutes": str(schedule.expiry_minutes),
        "schedule.reminder_minutes": ", ".join(str(m) for m in schedule.reminder_minutes),
    }
    for index, window in enumerate(schedule.windows):
        values[f"schedule.windows[{index}].start"] = _hhmm(window.start)
        values[f"schedule.windows[{index}].end"] = _hhmm(window.end)
        values[f"schedule.windows[{index}].count"] = str(window.count)
    if schedule.waking_hours is not None:
        values["schedule.waking_hours.wake"] = _hhmm(schedule.waking_hours.wake)
        values["schedule.waking_hours.sleep"] = _hhmm(schedule.waking_hours.sleep)
    return values


def _notification_values(notification: dict[str, Any]) -> dict[str, str]:
    return {
        f"notification.{locale}.{part}": text[part]
        for locale, text in notification.items()
        for part in ("title", "body")
    }


def window_rows(form: Form) -> int:
    typed = {
        int(name.split("[")[1].split("]")[0])
        for name in form.values
        if name.startswith("schedule.windows[")
    }
    return (max(typed) + 1 if typed else 0) + SPARE_WINDOWS


def _schedule_known(form: Form, locales: Iterable[str]) -> frozenset[str]:
    """Every input of the schedule form, typed in or not, so a problem lands next to it."""
    names = {f"schedule.{name}" for name in (*LIST_INPUTS, *SCALAR_INPUTS)} | {"schedule.windows"}
    names |= {
        f"schedule.windows[{row}].{key}"
        for row in range(window_rows(form))
        for key in WINDOW_FIELDS
    }
    names |= {f"notification.{locale}.{part}" for locale in locales for part in ("title", "body")}
    return frozenset(names)


def posted_schedule(posted: FormData, locales: Iterable[str]) -> Form:
    """The posted schedule form as typed: the day boxes as one list, blank window rows
    dropped (and the rest renumbered, as the problems will name them)."""
    form = Form.posted(posted)
    form.values["schedule.days_of_week"] = ",".join(
        str(day) for day in posted.getlist("schedule.days_of_week")
    )
    form.rows("schedule.windows", WINDOW_FIELDS)
    form.known = _schedule_known(form, locales)
    return form


def schedule_body(form: Form) -> dict[str, Any]:
    """The form as the API's body: lists split at commas, an empty list when blank."""
    body = form.data()
    schedule = body.setdefault("schedule", {})
    for name in LIST_INPUTS:
        schedule[name] = [part.strip() for part in form.value(f"schedule.{name}").split(",")]
        schedule[name] = [part for part in schedule[name] if part]
    return body


def notification_locales(access: StudyAccess, notification: Iterable[str]) -> list[str]:
    """The locales the form offers: those the schedule has, the study's, the console's."""
    return list(dict.fromkeys([*notification, access.study.default_locale, *CONSOLE_LOCALES]))


# --- the preview calendar -----------------------------------------------------------------


def utc_offset(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True)
class CalendarPrompt:
    local_time: datetime
    offset: str
    skipped: bool
    reminders: list[datetime]
    expires: datetime


@dataclass(frozen=True)
class CalendarDay:
    study_day: int
    day: date
    offset_at_start: str
    offset_at_end: str
    prompts: list[CalendarPrompt]

    @property
    def weekday(self) -> str:
        return WEEKDAYS[self.day.weekday()]

    @property
    def clock_change(self) -> bool:
        return self.offset_at_start != self.offset_at_end


def calendar(shown: PreviewOut, start: date, days: int) -> list[CalendarDay]:
    """One row per study day (days without prompts too), each prompt in local time; the
    offsets at the day's local midnights differ on the day the clocks change."""
    zone = ZoneInfo(shown.timezone)
    by_day: dict[int, list[CalendarPrompt]] = {}
    for prompt in shown.prompts:
        by_day.setdefault(prompt.study_day, []).append(
            CalendarPrompt(
                local_time=prompt.local_time,
                offset=utc_offset(prompt.local_time),
                skipped=prompt.skip_reason is not None,
                reminders=[reminder.astimezone(zone) for reminder in prompt.reminders],
                expires=prompt.expires_at.astimezone(zone),
            )
        )
    rows = []
    for number in range(1, days + 1):
        day = start + timedelta(days=number - 1)
        rows.append(
            CalendarDay(
                study_day=number,
                day=day,
                offset_at_start=utc_offset(datetime.combine(day, time(), zone)),
                offset_at_end=utc_offset(datetime.combine(day + timedelta(days=1), time(), zone)),
                prompts=by_day.get(number, []),
            )
        )
    return rows


# --- the study's schedule -----------------------------------------------------------------


@dataclass
class Preview:
    form: Form
    days: list[CalendarDay] | None = None
    timezone: str | None = None


def _fields_context(form: Form) -> dict[str, Any]:
    """What the schedule's inputs (templates/schedules/fields.html) need from a page."""
    return {"weekdays": WEEKDAYS, "weekday_names": WEEKDAY_NAMES, "window_rows": window_rows(form)}


def _schedule_page(
    request: Request,
    access: StudyAccess,
    form: Form,
    preview: Preview,
    saved: Any,
    status_code: int = 200,
) -> HTMLResponse:
    return study_page(
        request,
        access,
        "/schedule",
        "schedules/schedule.html",
        {
            "form": form,
            "preview": preview,
            "saved": saved,
            "shown_schedule": Schedule.model_validate(saved.schedule) if saved else None,
            "can_edit": access.role in MANAGE,
            **_fields_context(form),
            "locales": sorted(
                {name.split(".")[1] for name in form.known if name.startswith("notification.")}
            ),
        },
        status_code,
    )


def _saved_form(access: StudyAccess, saved: Any) -> Form:
    notification = saved.notification if saved is not None else {}
    form = Form(
        values={
            **(schedule_values(Schedule.model_validate(saved.schedule)) if saved else {}),
            **_notification_values(notification),
        }
    )
    form.known = _schedule_known(form, notification_locales(access, notification))
    return form


@router.get("/schedule", response_class=HTMLResponse)
def schedule_page(
    request: Request, access: ReadStudy, session: SessionDep, now: NowDep
) -> HTMLResponse:
    saved = service.current_schedule(session, access.study.id)
    form = _saved_form(access, saved)
    query = request.query_params
    asked = Form(
        values={name: query[name] for name in PREVIEW_INPUTS if name in query},
        known=frozenset(PREVIEW_INPUTS),
    )
    if saved is None or "timezone" not in query:
        asked.values.setdefault("timezone", access.study.default_timezone)
        asked.values.setdefault("start_date", now.date().isoformat())
        asked.values.setdefault("days", "7")
        return _schedule_page(request, access, form, Preview(asked), saved)

    def page(shown: Form, status: int) -> HTMLResponse:
        return _schedule_page(request, access, form, Preview(shown), saved, status)

    data = submit(session, asked, page, lambda: asked.parse(PreviewIn))
    shown = service.preview_schedule(session, access.study, data)
    days = calendar(shown, data.start_date, data.days)
    return _schedule_page(request, access, form, Preview(asked, days, data.timezone), saved)


@router.post("/schedule")
def save_schedule(
    request: Request,
    access: ManageStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    saved = service.current_schedule(session, access.study.id)
    form = posted_schedule(
        posted, notification_locales(access, saved.notification if saved else {})
    )
    blank_preview = Preview(Form(values={"timezone": access.study.default_timezone}))

    def save() -> None:
        data = form.parse(ScheduleIn, schedule_body(form))
        notification = {locale: text.model_dump() for locale, text in data.notification.items()}
        service.save_schedule(
            session,
            access.study,
            me.actor,
            me.user.id,
            data.schedule,
            notification,
            now,
            settings.plan_horizon,
        )

    submit(
        session,
        form,
        lambda shown, status: _schedule_page(request, access, shown, blank_preview, saved, status),
        save,
    )
    return redirect(f"/console/studies/{access.study.id}/schedule")


# --- one participant's own schedule ----------------------------------------------------


class LiftIn(BaseModel):
    model_config = INPUT
    reason: Reason


def _override_page(
    request: Request,
    scope: StudyParticipant,
    session: Session,
    overrides: OverrideOut,
    form: Form,
    status_code: int = 200,
    waking_form: Form | None = None,
) -> HTMLResponse:
    waking = service.waking_hours_of(session, scope.participant.id)
    return study_page(
        request,
        scope.access,
        "/schedule",
        "schedules/override.html",
        {
            "participant": scope.participant,
            "overrides": overrides,
            "form": form,
            "waking": waking,
            "waking_form": waking_form
            or Form(
                values={}
                if waking is None
                else {"wake": _hhmm(waking.wake), "sleep": _hhmm(waking.sleep)}
            ),
            "can_edit": scope.access.role in CARE,
            **_fields_context(form),
            "locales": [],
        },
        status_code,
    )


def _override_form(session: SessionDep, scope: StudyParticipant, overrides: OverrideOut) -> Form:
    """The participant's override as the form's inputs, else the study's schedule to start
    from."""
    if overrides.current is not None and overrides.current.schedule is not None:
        values = schedule_values(overrides.current.schedule)
    else:
        saved = service.current_schedule(session, scope.access.study.id)
        values = schedule_values(Schedule.model_validate(saved.schedule)) if saved else {}
    form = Form(values=values)
    form.known = _schedule_known(form, ()) | {"reason"}
    return form


@router.get("/participants/{participant_id}/schedule", response_class=HTMLResponse)
def override_page(request: Request, scope: ReadParticipant, session: SessionDep) -> HTMLResponse:
    overrides = service.override_out(session, scope.participant.id)
    return _override_page(
        request, scope, session, overrides, _override_form(session, scope, overrides)
    )


LIFT = "lift"  # the value of the form's "Return to the study's schedule" button


@router.post("/participants/{participant_id}/schedule")
def change_override(
    request: Request,
    scope: CareParticipant,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """Set the typed schedule as the participant's own or, with the lift button, return
    them to the study's (its reason is the same input), as a new audited version."""
    lift = posted.get("action") == LIFT
    form = posted_schedule(posted, ())
    form.values.pop("action", None)
    form.known |= {"reason"}
    overrides = service.override_out(session, scope.participant.id)

    def save() -> None:
        schedule = None
        if lift:
            reason = form.parse(LiftIn, {"reason": form.value("reason")}).reason
        else:
            # Only the schedule's inputs: an override has no notification text of its own.
            body = {"schedule": schedule_body(form)["schedule"], "reason": form.value("reason")}
            data = form.parse(OverrideIn, body)
            schedule, reason = data.schedule, data.reason
        service.set_override(
            session,
            scope.participant,
            me.actor,
            me.user.id,
            schedule,
            reason,
            now,
            settings.plan_horizon,
        )

    submit(
        session,
        form,
        lambda shown, status: _override_page(request, scope, session, overrides, shown, status),
        save,
    )
    return redirect(_own_schedule(scope))


def _own_schedule(scope: StudyParticipant) -> str:
    return f"/console/studies/{scope.access.study.id}/participants/{scope.participant.id}/schedule"


@router.post("/participants/{participant_id}/waking-hours")
def set_waking_hours(
    request: Request,
    scope: CareParticipant,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """The participant's own waking day, as their app sets it; their prompts are planned
    again within it."""
    form = Form.posted(posted, known=("wake", "sleep"))
    overrides = service.override_out(session, scope.participant.id)
    submit(
        session,
        form,
        lambda shown, status: _override_page(
            request,
            scope,
            session,
            overrides,
            _override_form(session, scope, overrides),
            status,
            waking_form=shown,
        ),
        lambda: service.set_waking_hours(
            session,
            scope.participant,
            me.actor,
            form.parse(WakingHours),
            now,
            settings.plan_horizon,
        ),
    )
    return redirect(_own_schedule(scope) + "#waking-hours")
