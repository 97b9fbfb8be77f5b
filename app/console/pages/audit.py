"""A study's audit log (owners only): the events GET /v1/studies/{id}/audit-events lists,
newest first, filtered by action, actor and a range of days in the study's time zone."""

from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from app.access.scope import StudyAccess
from app.api.deps import SessionDep
from app.audit import service as audit
from app.console.deps import OwnStudy
from app.console.forms import Form, submit
from app.console.pages.editing import study_page
from app.pagination import MAX_PAGE_SIZE, PageParams
from app.studies import service as studies
from app.types import CalendarDate

router = APIRouter(prefix="/console/studies/{study_id}/audit")

PAGE_SIZE = 50
INPUTS = ("action", "actor", "start", "end", "offset")


class AuditChoice(BaseModel):
    """The log's filters: the API's, with days for instants and one choice for the actor."""

    model_config = ConfigDict(extra="forbid")

    action: str | None = Field(default=None, max_length=64)
    actor: str | None = Field(default=None, pattern=r"^(staff:[0-9a-f-]{36}|participant|system)$")
    start: CalendarDate | None = None  # from this day on
    end: CalendarDate | None = None  # up to and including this day
    offset: int = Field(default=0, ge=0, le=10_000_000)

    def filters(self, zone: ZoneInfo) -> audit.EventFilters:
        def midnight(day: date) -> datetime:
            return datetime.combine(day, time(), zone)

        kind, _, actor_id = (self.actor or "").partition(":")
        return audit.EventFilters(
            action=self.action,
            actor_type=kind or None,
            actor_id=actor_id or None,
            start=midnight(self.start) if self.start else None,
            end=midnight(self.end + timedelta(days=1)) if self.end else None,
        )


def _page(
    request: Request,
    access: StudyAccess,
    form: Form,
    members: dict[str, str],
    events: list[dict[str, Any]],
    pages: dict[str, str | None],
    status_code: int = 200,
) -> HTMLResponse:
    return study_page(
        request,
        access,
        "/audit",
        "audit/list.html",
        {
            "form": form,
            "members": members,
            "events": events,
            "pages": pages,
            "zone": access.study.default_timezone,
        },
        status_code,
    )


def _link(form: Form, offset: int) -> str:
    query = {name: value for name, value in form.values.items() if value and name != "offset"}
    query["offset"] = str(offset)
    return "?" + urlencode(query)


@router.get("", response_class=HTMLResponse)
def audit_log(request: Request, access: OwnStudy, session: SessionDep) -> HTMLResponse:
    query = request.query_params
    form = Form(values={name: query[name] for name in INPUTS if name in query})
    # Every member who could have acted, by the id the events carry.
    members = {
        f"staff:{member.user_id}": member.email
        for member in studies.list_members(
            session, access.study.id, PageParams(limit=MAX_PAGE_SIZE, offset=0)
        ).items
    }

    def page(shown: Form, status_code: int) -> HTMLResponse:
        return _page(
            request, access, shown, members, [], {"newer": None, "older": None}, status_code
        )

    choice = submit(session, form, page, lambda: form.parse(AuditChoice))
    zone = ZoneInfo(access.study.default_timezone)
    found = audit.list_study_events(
        session,
        access.study.id,
        PageParams(limit=PAGE_SIZE, offset=choice.offset),
        choice.filters(zone),
    )
    events = [
        {
            "at": event.at.astimezone(zone),
            "actor": f"{event.actor_type}:{event.actor_id}" if event.actor_id else event.actor_type,
            "actor_type": event.actor_type,
            "action": event.action,
            "resource": f"{event.resource_type} {event.resource_id or ''}".strip(),
            "details": event.details,
        }
        for event in found.items
    ]
    pages = {
        "newer": _link(form, max(choice.offset - PAGE_SIZE, 0)) if choice.offset else None,
        "older": _link(form, found.next_offset) if found.next_offset is not None else None,
    }
    return _page(request, access, form, members, events, pages)
