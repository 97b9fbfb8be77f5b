"""The safety inbox: the open safety events of every study where I have a care role, newest
first, refreshed by htmx polling; acknowledging one with a note (the API's service,
audited); the open count in the header of every page."""

import uuid
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.access.scope import CARE, StudyAccess, studies_with_role
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.console.deps import CareStudy, CheckedForm, ConsoleUser, SignedIn
from app.console.forms import Form, submit
from app.console.templating import redirect, render
from app.pagination import PageDep, PageParams
from app.safety import service
from app.safety.schemas import AcknowledgeIn
from app.settings import Settings

router = APIRouter(prefix="/console")
INBOX = "/console/safety"


def _care_studies(session: Session, me: SignedIn) -> dict[uuid.UUID, StudyAccess]:
    return {access.study.id: access for access in studies_with_role(session, me.user, CARE)}


def _inbox_context(
    session: Session,
    me: SignedIn,
    settings: Settings,
    page: PageParams,
    forms: Mapping[uuid.UUID, Form] | None = None,
) -> dict[str, object]:
    studies = _care_studies(session, me)
    events = service.open_events_in(session, list(studies), page)
    return {
        "studies": studies,
        "events": events,
        "ack_forms": forms or {},
        "empty_form": Form(),
        "refresh": settings.console_refresh_seconds,
    }


@router.get("/safety", response_class=HTMLResponse)
def inbox(
    request: Request, me: ConsoleUser, session: SessionDep, settings: SettingsDep, page: PageDep
) -> HTMLResponse:
    return render(request, "safety/inbox.html", _inbox_context(session, me, settings, page))


@router.get("/safety/events", response_class=HTMLResponse)
def inbox_events(
    request: Request, me: ConsoleUser, session: SessionDep, settings: SettingsDep, page: PageDep
) -> HTMLResponse:
    """The inbox's list alone: what its polling swaps in."""
    return render(request, "safety/events.html", _inbox_context(session, me, settings, page))


@router.get("/safety/count", response_class=HTMLResponse)
def open_count(
    request: Request, me: ConsoleUser, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """The header's count of open events (polled by every page's layout)."""
    count = service.count_open_in(session, list(_care_studies(session, me)))
    return render(
        request,
        "safety/count.html",
        {"count": count, "refresh": settings.console_refresh_seconds},
    )


def _back_to(form: Form) -> str:
    """Where to go after acknowledging: the page it was done from, if it is a console page."""
    target = form.values.pop("next", INBOX)
    return target if target.startswith("/console/") and "//" not in target else INBOX


@router.post("/studies/{study_id}/safety-events/{event_id}/acknowledge")
def acknowledge(
    access: CareStudy,
    event_id: uuid.UUID,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    form = Form.posted(posted)
    target = _back_to(form)

    def page(shown: Form, status: int) -> HTMLResponse:
        context = _inbox_context(
            session, me, settings, PageParams(limit=50, offset=0), {event_id: shown}
        )
        return render(request, "safety/inbox.html", context, status)

    submit(
        session,
        form,
        page,
        lambda: service.acknowledge(
            session,
            access.study.id,
            event_id,
            me.actor,
            me.user.id,
            form.parse(AcknowledgeIn).note,
            now,
        ),
    )
    return redirect(target)
