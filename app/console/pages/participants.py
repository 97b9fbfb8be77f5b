"""A study's participants: the list (status, arm where the viewer may see it, last check-in,
7-day compliance), filtered and paginated; creating one, with its one-time enrollment code
and a QR code of the enrollment link."""

from typing import Annotated
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from app.access import visibility
from app.access.scope import CARE, MANAGE, StudyAccess
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.console.deps import CheckedForm, ConsoleUser, ManageStudy, ReadStudy
from app.console.forms import Form, submit
from app.console.pages.editing import study_page
from app.flows import participants as participant_flow
from app.flows.participants import RosterRow
from app.pagination import Page, PageDep
from app.studies import participants as service
from app.studies import service as studies
from app.studies.models import Participant
from app.studies.schemas import EnrollmentCodeOut, ParticipantCreate
from app.types import INPUT, Key, timezone_names
from app.vocabulary import ParticipantStatus

router = APIRouter(prefix="/console/studies/{study_id}/participants")
COMPLIANCE_DAYS = 7
# The path of the participant app's enrollment page; the code rides in the fragment, which
# browsers never send to a server (README: "Enrollment link and QR code").
ENROLL_PATH = "app/enroll"


class RosterFilter(BaseModel):
    model_config = INPUT
    status: ParticipantStatus | None = None
    arm: Key | None = None
    pseudonym: Annotated[str | None, Field(max_length=64)] = None


def enrollment_link(request: Request, code: str) -> str:
    return f"{request.base_url}{ENROLL_PATH}#code={code}"


def _list_page(
    request: Request,
    access: StudyAccess,
    session: SessionDep,
    form: Form,
    rows: Page[RosterRow] | None,
    status_code: int = 200,
) -> HTMLResponse:
    sees_arms = visibility.sees_arms(access)
    arms = [arm.key for arm in studies.arms_of(session, access.study.id)] if sees_arms else []
    query = urlencode({name: value for name, value in form.values.items() if value})
    return study_page(
        request,
        access,
        "/participants",
        "participants/list.html",
        {
            "form": form,
            "rows": rows,
            "sees_arms": sees_arms,
            "arms": arms,
            "statuses": [status.value for status in ParticipantStatus],
            "may_manage": access.role in MANAGE,
            "may_care": access.role in CARE,
            "pager_query": query,
            "days": COMPLIANCE_DAYS,
        },
        status_code,
    )


@router.get("", response_class=HTMLResponse)
def list_participants(
    request: Request, access: ReadStudy, session: SessionDep, page: PageDep, now: NowDep
) -> HTMLResponse:
    form = Form(
        values={
            name: value
            for name, value in request.query_params.items()
            if name in RosterFilter.model_fields
        }
    )

    def read() -> Page[RosterRow]:
        filters = form.parse(RosterFilter)
        return participant_flow.roster(
            session,
            access,
            page,
            now,
            status=filters.status,
            arm=filters.arm,
            pseudonym=filters.pseudonym,
            days=COMPLIANCE_DAYS,
        )

    rows = submit(
        session,
        form,
        lambda shown, status: _list_page(request, access, session, shown, None, status),
        read,
    )
    return _list_page(request, access, session, form, rows)


def _new_page(
    request: Request, access: StudyAccess, form: Form, status_code: int = 200
) -> HTMLResponse:
    return study_page(
        request,
        access,
        "/participants",
        "participants/new.html",
        {
            "form": form,
            "zones": timezone_names(),
        },
        status_code,
    )


@router.get("/new", response_class=HTMLResponse)
def new_participant(request: Request, access: ManageStudy) -> HTMLResponse:
    return _new_page(request, access, Form())


@router.post("/new", response_class=HTMLResponse)
def create_participant(
    request: Request,
    access: ManageStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> HTMLResponse:
    """The API's ParticipantCreate; the answer shows the one-time code (it is not stored,
    so this page is the only time it is seen) and its QR code."""
    form = Form.posted(posted)

    def create() -> tuple[Participant, EnrollmentCodeOut]:
        data = form.parse(ParticipantCreate)
        return service.create_participant(
            session, access, me.actor, data, settings.enrollment_code_hours, now
        )

    participant, code = submit(
        session, form, lambda shown, status: _new_page(request, access, shown, status), create
    )
    return code_page(request, access, participant, code, reissued=False)


def code_page(
    request: Request,
    access: StudyAccess,
    participant: Participant,
    code: EnrollmentCodeOut,
    reissued: bool,
) -> HTMLResponse:
    """A one-time enrollment code and the QR code of its link: the only time it is seen
    (only its digest is stored), for a new participant or a code issued again."""
    link = enrollment_link(request, code.code)
    return study_page(
        request,
        access,
        "/participants",
        "participants/created.html",
        {
            "participant": participant,
            "code": code,
            "reissued": reissued,
            "link": link,
            "qr": segno.make(link, error="m").svg_data_uri(scale=6, border=4),
        },
    )
