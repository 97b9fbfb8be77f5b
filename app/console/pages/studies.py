"""Studies: the list of mine with status and counts, creating one, a study's overview with
its activation checklist, activating and closing (owners)."""

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.access import visibility
from app.access.scope import OWNER, StudyAccess, study_for
from app.api.deps import NowDep, SessionDep
from app.console.deps import CheckedForm, ConsoleUser, OwnStudy, ReadStudy, SignedIn
from app.console.forms import Form, submit
from app.console.pages.editing import study_page
from app.console.templating import redirect, render
from app.flows import studies as study_flow
from app.pagination import PageDep
from app.studies import participants, service
from app.studies.schemas import MAX_STRATA, StudyCreate
from app.types import timezone_names
from app.vocabulary import Policy, StudyStatus

router = APIRouter(prefix="/console/studies")
# Rows of arms the create form offers beyond those typed (the API takes up to 20).
SPARE_ARM_ROWS = 2
FIRST_ARM_ROWS = 3
# A row of arms counts once either of these is typed (its weight comes filled in).
ARM_ROW_KEYS = ("key", "policy")
POLICIES = {
    Policy.tailored: "Tailored skills",
    Policy.random: "Randomly chosen skills",
    Policy.assessment_only: "Assessment only",
}


@router.get("", response_class=HTMLResponse)
def list_studies(
    request: Request, me: ConsoleUser, session: SessionDep, page: PageDep
) -> HTMLResponse:
    studies = service.list_studies(session, me.user, page)
    counts = participants.count_by_status(session, [study.id for study in studies.items])
    return render(request, "studies/list.html", {"studies": studies, "counts": counts})


def _new_page(request: Request, form: Form, status_code: int = 200) -> HTMLResponse:
    arm_rows = max(FIRST_ARM_ROWS, form.rows("arms", ARM_ROW_KEYS) + SPARE_ARM_ROWS)
    return render(
        request,
        "studies/new.html",
        {
            "form": form,
            "arm_rows": arm_rows,
            "policies": [(policy.value, label) for policy, label in POLICIES.items()],
            "zones": timezone_names(),
            "max_strata": MAX_STRATA,
        },
        status_code,
    )


@router.get("/new", response_class=HTMLResponse)
def new_study(request: Request, me: ConsoleUser) -> HTMLResponse:
    return _new_page(request, Form())


@router.post("/new")
def create_study(
    request: Request, me: ConsoleUser, posted: CheckedForm, session: SessionDep, now: NowDep
) -> Response:
    """The API's StudyCreate, from the form: arms as rows, strata as a comma-separated list."""
    form = Form.posted(posted)
    form.rows("arms", ARM_ROW_KEYS)
    body = form.data()
    if "stratify_by" in body:
        body["stratify_by"] = [name.strip() for name in body["stratify_by"].split(",")]

    def create() -> StudyAccess:
        study = study_flow.create_study(session, me.user, form.parse(StudyCreate, body), now)
        return study_for(session, me.user, study.id)

    access = submit(session, form, lambda shown, status: _new_page(request, shown, status), create)
    return redirect(f"/console/studies/{access.study.id}")


def _overview(
    request: Request, access: StudyAccess, session: SessionDep, form: Form, status_code: int = 200
) -> HTMLResponse:
    study = access.study
    counts = participants.count_by_status(session, [study.id]).get(study.id, {})
    return study_page(
        request,
        access,
        "",
        "studies/overview.html",
        {
            "study": service.study_out(session, access),
            "sees_arms": visibility.sees_arms(access),
            "may_own": access.role in OWNER,
            "policies": POLICIES,
            "missing": (
                service.activation_problems(session, study)
                if study.status == StudyStatus.draft
                else []
            ),
            "counts": counts,
            "form": form,
        },
        status_code,
    )


@router.get("/{study_id}", response_class=HTMLResponse)
def study_overview(request: Request, access: ReadStudy, session: SessionDep) -> HTMLResponse:
    return _overview(request, access, session, Form())


# What the overview's buttons do (owners), each the API's flow of the same name. One path
# each, not "/{study_id}/{transition}": that would catch every other page's POST under a study.
_TRANSITIONS = {"activate": study_flow.activate_study, "close": study_flow.close_study}


def _change_status(
    transition: Literal["activate", "close"],
    request: Request,
    access: StudyAccess,
    me: SignedIn,
    session: Session,
    now: datetime,
) -> Response:
    """Activate a complete draft (the overview says what is missing otherwise), or close."""
    submit(
        session,
        Form(),
        lambda shown, status: _overview(request, access, session, shown, status),
        lambda: _TRANSITIONS[transition](session, access, me.actor, now),
    )
    return redirect(f"/console/studies/{access.study.id}")


@router.post("/{study_id}/activate")
def activate_study(
    request: Request,
    access: OwnStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    return _change_status("activate", request, access, me, session, now)


@router.post("/{study_id}/close")
def close_study(
    request: Request,
    access: OwnStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    return _change_status("close", request, access, me, session, now)
