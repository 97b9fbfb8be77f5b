"""A study's members: everyone in it sees the list; owners add a staff account by email with a
role, change a role, remove a member (the last owner stays, as in the API)."""

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.access.scope import OWNER, StudyAccess
from app.api.deps import NowDep, SessionDep
from app.console.deps import CheckedForm, ConsoleUser, OwnStudy, ReadStudy
from app.console.forms import Form, submit
from app.console.pages.editing import study_page
from app.console.templating import redirect
from app.pagination import PageDep, PageParams
from app.studies import service
from app.studies.schemas import MemberIn
from app.vocabulary import Role

router = APIRouter(prefix="/console/studies/{study_id}/members")
ROLES = {
    Role.owner: "Owner: everything, members and activation",
    Role.researcher: "Researcher: design, participants, data",
    Role.clinician: "Clinician: follows participants",
    Role.viewer: "Viewer: reads only",
}


def _page(
    request: Request,
    access: StudyAccess,
    session: SessionDep,
    page: PageParams,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    return study_page(
        request,
        access,
        "/members",
        "members/list.html",
        {
            "members": service.list_members(session, access.study.id, page),
            "may_own": access.role in OWNER,
            "roles": [(role.value, label) for role, label in ROLES.items()],
            "form": form,
        },
        status_code,
    )


@router.get("", response_class=HTMLResponse)
def list_members(
    request: Request, access: ReadStudy, session: SessionDep, page: PageDep
) -> HTMLResponse:
    return _page(request, access, session, page, Form())


@router.post("/{change}")
def change_member(
    request: Request,
    access: OwnStudy,
    change: Literal["set", "remove"],
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    page: PageDep,
    now: NowDep,
) -> Response:
    """Owners: `set` adds a staff account by email with a role or changes a member's role;
    `remove` removes a member (the last owner stays)."""
    form = Form.posted(posted)

    def work() -> None:
        if change == "set":
            service.add_member(session, access, me.actor, form.parse(MemberIn), now)
        else:
            service.remove_member(session, access, me.actor, form.value("email"), now)

    submit(
        session,
        # A refused removal says why above an empty add form.
        form if change == "set" else Form(),
        lambda shown, status: _page(request, access, session, page, shown, status),
        work,
    )
    return redirect(f"/console/studies/{access.study.id}/members")
