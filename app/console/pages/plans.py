"""The client's own plan and the clinician's review in the console: a participant's plan
(its sections as the client wrote them, its versions, and the edit form for care roles),
the review of a participant over the study's review period with "Clear the flag", the
study's review flags, and its review settings. The API's routes in app/api/plans.py, with
the same roles, through app/plans/service.py and app/flows/plans.py; what rests on skills
is left out where arms are concealed (app/access/visibility.py), as the API does."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.access import visibility
from app.access.scope import CARE, MANAGE, StudyAccess, StudyParticipant
from app.api.deps import NowDep, SessionDep
from app.console.deps import (
    CareParticipant,
    CareStudy,
    CheckedForm,
    ConsoleUser,
    ManageStudy,
    ReadParticipant,
    ReadStudy,
)
from app.console.forms import Form, submit
from app.console.pages.editing import POLE_LABELS, POLE_ORDER, study_page
from app.console.pages.participant import PERIODS, period_start
from app.console.templating import redirect
from app.flows import plans as plan_flow
from app.pagination import PageDep
from app.plans import service
from app.plans.content import MAX_ENTRIES, PlanContent, PlanSection
from app.plans.review import ReviewSettings
from app.plans.schemas import ClearFlagIn, PlanIn
from app.rules.process import DIMENSION_ORDER

router = APIRouter(prefix="/console/studies/{study_id}")
# The review's period: the study's own (its review settings), or the last so many local
# days as on the participant's page, or everything since enrollment.
ReviewPeriod = Literal["study", "7", "28", "90", "all"]
REVIEW_PERIODS: tuple[tuple[ReviewPeriod, str], ...] = (
    ("study", "The study's review period"),
    *PERIODS,
)
PARTICIPANT = "/participants/{participant_id}"
FLAGS = "/review-flags"
SETTINGS = "/review-settings"
ENTRY_INPUTS = ("text", "pole", "item", "choice")  # an entry's inputs (its id is hidden)


def _participant_url(scope: StudyParticipant, path: str = "") -> str:
    return f"/console/studies/{scope.access.study.id}/participants/{scope.participant.id}{path}"


# --- the plan ----------------------------------------------------------------------------


def _plan_values(content: PlanContent, version: int) -> dict[str, str]:
    """The edit form of the plan as it is: every entry's inputs, and the version it edits."""
    values = {"based_on_version": str(version)}
    for section, index, entry in content.entries():
        for name in ("id", *ENTRY_INPUTS):
            values[f"sections.{section.value}[{index}].{name}"] = str(getattr(entry, name) or "")
    return values


def _entry_rows(form: Form) -> dict[str, int]:
    """Per section, the rows the form shows: those typed (blank rows dropped) and a blank
    one for a new entry while the section has room."""
    return {
        section.value: min(form.rows(f"sections.{section.value}", ENTRY_INPUTS) + 1, MAX_ENTRIES)
        for section in PlanSection
    }


def _plan_page(
    request: Request,
    scope: StudyParticipant,
    session: Session,
    page: PageDep,
    form: Form | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    current = service.plan_of(session, scope.participant.id)
    content = service.content_of(current)
    versions = service.plan_version_page(session, scope.participant.id, page)
    shown = form or Form(values=_plan_values(content, current.version if current else 0))
    context = {
        "participant": scope.participant,
        "here": _participant_url(scope, "/plan"),
        "review_url": _participant_url(scope, "/review"),
        "participant_url": _participant_url(scope),
        "plan": current,
        "content": content,
        "author": service.author_of(session, current) if current else None,
        "versions": versions.with_items(
            [
                {
                    "version": version,
                    "author": service.author_of(session, version),
                    "content": service.content_of(version),
                }
                for version in versions.items
            ]
        ),
        "sections": list(PlanSection),
        "form": shown,
        "entry_rows": _entry_rows(shown),
        "poles": [(pole.value, POLE_LABELS[pole]) for pole in POLE_ORDER],
        "pole_labels": POLE_LABELS,
        "may_review": scope.access.role in CARE,
        "may_edit": scope.access.role in CARE and scope.participant.erased_at is None,
    }
    return study_page(
        request, scope.access, "/participants", "plans/plan.html", context, status_code
    )


@router.get(PARTICIPANT + "/plan", response_class=HTMLResponse)
def plan_page(
    request: Request, scope: ReadParticipant, session: SessionDep, page: PageDep
) -> HTMLResponse:
    return _plan_page(request, scope, session, page)


@router.post(PARTICIPANT + "/plan")
def save_plan(
    scope: CareParticipant,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    page: PageDep,
    now: NowDep,
) -> Response:
    """Every section as the form has it now: a new version by this member of staff (an
    entry's id sent back keeps it; a row emptied drops it)."""
    form = Form.posted(posted)
    _entry_rows(form)  # blank rows out, so the problems name the rows as shown again

    def save() -> None:
        body = form.data()
        body.setdefault("sections", {})
        data = form.parse(PlanIn, body)
        plan_flow.save_plan(
            session,
            scope.participant,
            me.actor,
            me.user.id,
            data.sections,
            data.based_on_version,
            now,
        )

    submit(
        session,
        form,
        lambda shown, status: _plan_page(request, scope, session, page, shown, status),
        save,
    )
    return redirect(_participant_url(scope, "/plan"))


# --- the review --------------------------------------------------------------------------


def _review_page(
    request: Request,
    scope: StudyParticipant,
    session: Session,
    now: datetime,
    form: Form | None = None,
    status_code: int = 200,
    period: ReviewPeriod = "study",
) -> HTMLResponse:
    if period == "study":
        start = None  # the service's default: the study's review period up to now
    elif period == "all":
        start = scope.participant.enrolled_at
    else:
        start = period_start(period, scope.participant.timezone, now)
    review = service.review(session, scope.participant, start, None, now)
    context = {
        "periods": REVIEW_PERIODS,
        "period": period,
        "review": visibility.shown_review(scope.access, review),
        "shows_skills": visibility.shows_skill_ratings(scope.access),
        "dimensions": DIMENSION_ORDER,
        "clear_url": _participant_url(scope, "/review-flag/clear"),
        "plan_url": _participant_url(scope, "/plan"),
        "participant_url": _participant_url(scope),
        "flags_url": f"/console/studies/{scope.access.study.id}{FLAGS}",
        "form": form or Form(),
    }
    return study_page(
        request, scope.access, "/participants", "plans/review.html", context, status_code
    )


@router.get(PARTICIPANT + "/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    scope: CareParticipant,
    session: SessionDep,
    now: NowDep,
    period: ReviewPeriod = "study",
) -> HTMLResponse:
    return _review_page(request, scope, session, now, period=period)


@router.post(PARTICIPANT + "/review-flag/clear")
def clear_flag(
    scope: CareParticipant,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """Clear the open flag with what the review concluded (audited without the note)."""
    form = Form.posted(posted)
    submit(
        session,
        form,
        lambda shown, status: _review_page(request, scope, session, now, shown, status),
        lambda: service.clear_flag(
            session,
            scope.participant,
            me.actor,
            me.user.id,
            form.parse(ClearFlagIn).note,
            now,
        ),
    )
    return redirect(_participant_url(scope, "/review"))


# --- the study's flags and settings ------------------------------------------------------


@router.get(FLAGS, response_class=HTMLResponse)
def review_flags(
    request: Request,
    access: CareStudy,
    session: SessionDep,
    page: PageDep,
    open_only: Annotated[bool, Query(alias="open")] = True,
) -> HTMLResponse:
    """The study's participants flagged for review, newest first: open ones, or all."""
    flags = service.flag_page(session, access.study.id, open_only, page)
    return study_page(
        request,
        access,
        FLAGS,
        "plans/flags.html",
        {
            "flags": flags.with_items(
                [visibility.shown_flag(access, flag) for flag in flags.items]
            ),
            "open_only": open_only,
            "settings_url": f"/console/studies/{access.study.id}{SETTINGS}",
        },
    )


def _settings_values(settings: ReviewSettings) -> dict[str, str]:
    return {name: f"{value:g}" for name, value in settings.model_dump().items()}


def _settings_page(
    request: Request,
    access: StudyAccess,
    session: Session,
    form: Form | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings = service.review_settings(session, access.study.id)
    context: dict[str, Any] = {
        "form": form or Form(values=_settings_values(settings)),
        "may_edit": access.role in MANAGE,
        "settings_url": f"/console/studies/{access.study.id}{SETTINGS}",
    }
    return study_page(request, access, FLAGS, "plans/settings.html", context, status_code)


@router.get(SETTINGS, response_class=HTMLResponse)
def review_settings(request: Request, access: ReadStudy, session: SessionDep) -> HTMLResponse:
    return _settings_page(request, access, session)


@router.post(SETTINGS)
def save_review_settings(
    access: ManageStudy,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    form = Form.posted(posted)
    submit(
        session,
        form,
        lambda shown, status: _settings_page(request, access, session, shown, status),
        lambda: service.save_review_settings(
            session, access.study.id, me.actor, form.parse(ReviewSettings), now
        ),
    )
    return redirect(f"/console/studies/{access.study.id}{SETTINGS}")
