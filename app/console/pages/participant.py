"""A participant's page for those who care for them: the process timeline of a chosen
period (the six dimensions' need per check-in and per day, the flexible and inflexible
scores, the skills delivered with their helpfulness), check-ins, deliveries with feedback and
safety events a page at a time, compliance in the period, status changes with their reasons,
personalization, and the API's other staff routes of one participant: the time zone, locale
and reference (its PATCH), a new enrollment code, a test push, erasure. Everything through
the services the API's routes use, the arm and skill fields through
app/access/visibility.py. Every read is bounded (a period or a page), so the page costs the
same whatever the length of the participant's history."""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.access import visibility
from app.access.scope import MANAGE, StudyParticipant
from app.api.deps import NowDep, SenderDep, SessionDep, SettingsDep
from app.audit import service as audit
from app.checkins import service as checkins
from app.console.deps import CareParticipant, CheckedForm, ConsoleUser, ManageParticipant
from app.console.forms import Form, submit
from app.console.pages.compliance import compliance_chart
from app.console.pages.editing import study_page
from app.console.pages.participants import code_page
from app.console.templating import redirect
from app.errors import Invalid
from app.flows import participants as participant_flow
from app.pagination import PageParams
from app.rules.process import DIMENSION_ORDER, POLES
from app.safety import service as safety
from app.scheduling import dispatch
from app.scheduling import service as scheduling
from app.scheduling.schemas import PushTestOut
from app.skills import service as skills
from app.skills.schemas import PersonalizationIn
from app.studies import participants
from app.studies.schemas import ErasureIn, ParticipantOut, ParticipantUpdate, StatusChange
from app.types import timezone_names
from app.vocabulary import ParticipantStatus

router = APIRouter(prefix="/console/studies/{study_id}/participants/{participant_id}")
LIST_PAGE = 20
# The timeline's periods: the last so many local days, or the whole history.
Period = Literal["7", "28", "90", "all"]
PERIODS: tuple[tuple[Period, str], ...] = (
    ("7", "Last 7 days"),
    ("28", "Last 28 days"),
    ("90", "Last 90 days"),
    ("all", "All"),
)
DEFAULT_PERIOD: Period = "28"
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
STATUS_CHOICES = (
    (ParticipantStatus.active, "Resume (active)"),
    (ParticipantStatus.paused, "Pause"),
    (ParticipantStatus.withdrawn, "Withdraw"),
    (ParticipantStatus.completed, "Complete"),
)
THRESHOLD_INPUTS = tuple(f"threshold_overrides.{dimension}" for dimension in DIMENSION_ORDER)
DETAILS = ("timezone", "locale", "external_ref")  # the PATCH's fields, each an input


@dataclass(frozen=True)
class View:
    """What the page shows: the timeline's period and where each list starts."""

    period: Period = DEFAULT_PERIOD
    checkins_offset: int = 0
    deliveries_offset: int = 0
    safety_offset: int = 0
    status_offset: int = 0


def page_view(
    period: Period = DEFAULT_PERIOD,
    checkins_offset: Offset = 0,
    deliveries_offset: Offset = 0,
    safety_offset: Offset = 0,
    status_offset: Offset = 0,
) -> View:
    return View(period, checkins_offset, deliveries_offset, safety_offset, status_offset)


def period_start(period: Period, timezone: str, now: datetime) -> datetime | None:
    """The first instant of the period: midnight in the participant's zone so many days
    ago (today is the last of them), so each day's mean is of the whole day."""
    if period == "all":
        return None
    zone = ZoneInfo(timezone)
    first = now.astimezone(zone).date() - timedelta(days=int(period) - 1)
    return datetime.combine(first, time(), zone).astimezone(UTC)


def _timeline(raw: list[Any], daily: list[Any], deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    """The chart's data: per check-in the need and both scores per dimension, the daily
    means, and the skills delivered with their helpfulness (as this role may see them)."""
    return {
        "dimensions": list(DIMENSION_ORDER),
        "raw": [
            {
                "at": point.at.isoformat(),
                "need": point.needs,
                "inflexible": {str(d): point.scores.get(POLES[d][0]) for d in DIMENSION_ORDER},
                "flexible": {str(d): point.scores.get(POLES[d][1]) for d in DIMENSION_ORDER},
            }
            for point in raw
        ],
        "daily": [{"date": day.local_date.isoformat(), "need": day.needs} for day in daily],
        "deliveries": [
            {
                "at": delivery["created_at"].isoformat(),
                "skill": delivery["skill_key"],
                "target": delivery["target"],
                "helpfulness": delivery["helpfulness"],
            }
            for delivery in deliveries
        ],
    }


def _personalization_form(session: Session, scope: StudyParticipant) -> Form:
    record = skills.personalization_record(session, scope.participant.id)
    if record is None:
        return Form()
    values = {f"disabled.{key}": "true" for key in record.disabled_skills}
    values |= {f"threshold_overrides.{k}": f"{v:g}" for k, v in record.threshold_overrides.items()}
    if record.extra_skills:
        values["extra_skills"] = json.dumps(record.extra_skills, indent=2, ensure_ascii=False)
    return Form(values=values)


def _here(scope: StudyParticipant) -> str:
    return f"/console/studies/{scope.access.study.id}/participants/{scope.participant.id}"


def _details_form(participant: ParticipantOut) -> Form:
    return Form(values={name: getattr(participant, name) or "" for name in DETAILS})


def _page(
    request: Request,
    scope: StudyParticipant,
    session: Session,
    now: datetime,
    view: View = View(),
    shown: Mapping[str, Form] | None = None,
    status_code: int = 200,
    test_push: PushTestOut | None = None,
) -> HTMLResponse:
    """The page, with `shown` forms (by section: status, personalization, details,
    test_push, erase) as posted, with their problems."""
    shown = shown or {}
    access, participant = scope.access, scope.participant
    out = participants.participant_outs(session, access, [participant])[0]
    start = period_start(view.period, participant.timezone, now)
    raw, daily = checkins.score_history(session, participant, start, None)
    marks = [
        visibility.shown_delivery(access, delivery)
        for delivery in skills.delivery_marks(session, participant.id, start)
    ]
    deliveries = skills.list_deliveries(
        session, participant.id, PageParams(limit=LIST_PAGE, offset=view.deliveries_offset)
    )
    library = skills.pinned_library(session, access.study.id)
    compliance = scheduling.compliance(
        scheduling.study_prompts(session, access.study.id, start, None, participant.id), now
    )
    context = {
        "participant": out,
        "periods": PERIODS,
        "period": view.period,
        "first_day": None
        if start is None
        else start.astimezone(ZoneInfo(participant.timezone)).date(),
        "timeline": _timeline(raw, daily, marks),
        "daily": daily,
        "dimensions": DIMENSION_ORDER,
        "poles": POLES,
        "checkins": checkins.list_checkins(
            session, participant.id, PageParams(limit=LIST_PAGE, offset=view.checkins_offset)
        ),
        "deliveries": deliveries.with_items(
            [visibility.shown_delivery(access, d.model_dump()) for d in deliveries.items]
        ),
        "sees_arms": visibility.sees_arms(access),
        "safety_events": safety.list_events(
            session,
            access.study.id,
            False,
            PageParams(limit=LIST_PAGE, offset=view.safety_offset),
            participant_id=participant.id,
        ),
        "compliance_rows": compliance.days,
        "compliance_chart": compliance_chart(compliance.days),
        "status_choices": STATUS_CHOICES,
        "status_form": shown.get("status", Form()),
        "status_changes": audit.resource_events(
            session,
            access.study.id,
            "participant.status",
            "participant",
            participant.id,
            PageParams(limit=LIST_PAGE, offset=view.status_offset),
        ),
        "library_skills": skills.skills_of(library) if library else [],
        "personalization_form": shown.get("personalization")
        or _personalization_form(session, scope),
        "details_form": shown.get("details") or _details_form(out),
        "zones": timezone_names(),
        "test_push_form": shown.get("test_push", Form()),
        "test_push": test_push,
        "erase_form": shown.get("erase", Form()),
        "may_manage": access.role in MANAGE,
        "empty_form": Form(),
        "here": _here(scope),
    }
    return study_page(
        request, access, "/participants", "care/participant.html", context, status_code
    )


def _page_showing(
    request: Request, scope: StudyParticipant, session: Session, now: datetime, section: str
) -> Callable[[Form, int], HTMLResponse]:
    """The page as `submit` shows a refused form: that section's form with its problems."""
    return lambda shown, status: _page(
        request, scope, session, now, shown={section: shown}, status_code=status
    )


@router.get("", response_class=HTMLResponse)
def participant_page(
    request: Request,
    scope: CareParticipant,
    session: SessionDep,
    now: NowDep,
    view: Annotated[View, Depends(page_view)],
) -> HTMLResponse:
    return _page(request, scope, session, now, view)


@router.post("/status")
def change_status(
    scope: CareParticipant,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """Pause, resume, withdraw or complete, with the reason recorded in the audit trail."""
    form = Form.posted(posted)
    submit(
        session,
        form,
        _page_showing(request, scope, session, now, "status"),
        lambda: participant_flow.change_status(
            session,
            me.actor,
            scope.participant,
            form.parse(StatusChange),
            now,
            settings.plan_horizon,
        ),
    )
    return redirect(request.url.path.removesuffix("/status"))


def _personalization_in(form: Form) -> PersonalizationIn:
    """The API's body from the form: the boxes ticked, the thresholds typed, the own skills
    as the JSON the API takes."""
    text = form.value("extra_skills").strip()
    try:
        extra = json.loads(text) if text else []
    except json.JSONDecodeError as exc:
        raise Invalid(
            "body.extra_skills", f"Not valid JSON: {exc.msg} (line {exc.lineno})"
        ) from exc
    body = {
        "disabled_skills": [
            name.removeprefix("disabled.")
            for name, value in form.values.items()
            if name.startswith("disabled.") and value == "true"
        ],
        "threshold_overrides": {
            name.removeprefix("threshold_overrides."): value
            for name, value in form.values.items()
            if name in THRESHOLD_INPUTS and value.strip()
        },
        "extra_skills": extra,
    }
    return form.parse(PersonalizationIn, body)


@router.post("/personalization")
def save_personalization(
    scope: CareParticipant,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    form = Form.posted(posted, known=(*THRESHOLD_INPUTS, "extra_skills", "disabled_skills"))

    def save() -> None:
        data = _personalization_in(form)
        skills.save_personalization(
            session,
            scope.participant,
            me.actor,
            me.user.id,
            data.disabled_skills,
            data.threshold_overrides,
            data.extra_skills,
            now,
        )

    submit(
        session,
        form,
        _page_showing(request, scope, session, now, "personalization"),
        save,
    )
    return redirect(request.url.path.removesuffix("/personalization") + "#personalization")


@router.post("/details")
def change_details(
    scope: CareParticipant,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """The API's PATCH with the fields that differ from the participant's: a blank locale
    or reference clears it; a new time zone moves the prompts' local times."""
    form = Form.posted(posted, known=DETAILS)
    before = _details_form(
        participants.participant_outs(session, scope.access, [scope.participant])[0]
    )
    changed = {
        name: form.value(name).strip() or None
        for name in DETAILS
        if form.value(name).strip() != before.value(name)
    }
    submit(
        session,
        form,
        _page_showing(request, scope, session, now, "details"),
        lambda: participant_flow.update_participant(
            session,
            me.actor,
            scope.participant,
            form.parse(ParticipantUpdate, changed),
            now,
            settings.plan_horizon,
        ),
    )
    return redirect(_here(scope) + "#details")


@router.post("/enrollment-code", response_class=HTMLResponse)
def reissue_enrollment_code(
    scope: ManageParticipant,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> HTMLResponse:
    """A fresh one-time code for an invited participant (earlier ones stop working), shown
    once as a new participant's is."""
    code = submit(
        session,
        Form(),
        _page_showing(request, scope, session, now, "details"),
        lambda: participants.reissue_code(
            session,
            scope.access,
            me.actor,
            scope.participant,
            settings.enrollment_code_hours,
            now,
        ),
    )
    return code_page(request, scope.access, scope.participant, code, reissued=True)


@router.post("/test-push", response_class=HTMLResponse)
def send_test_push(
    scope: CareParticipant,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    sender: SenderDep,
    now: NowDep,
) -> HTMLResponse:
    """One notification now to the participant's active device through the real sender;
    the page says what the push service answered (sending it again sends another)."""
    result = submit(
        session,
        Form(),
        _page_showing(request, scope, session, now, "test_push"),
        lambda: dispatch.send_test_push(
            session, sender, scope.participant, me.actor, "console", now
        ),
    )
    return _page(request, scope, session, now, test_push=result)


@router.post("/erase")
def erase_participant(
    scope: ManageParticipant,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """Erase the person's data from every table, the pseudonym typed to confirm; the row
    stays as a tombstone and the allocation as the trial's record."""
    form = Form.posted(posted, known=["pseudonym"])
    submit(
        session,
        form,
        _page_showing(request, scope, session, now, "erase"),
        lambda: participant_flow.erase(
            session, me.actor, scope.participant, form.parse(ErasureIn).pseudonym, now
        ),
    )
    return redirect(_here(scope))
