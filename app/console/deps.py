"""Who is signed in to the console, the CSRF check of every form, and the study access the
pages share: the same StaffUser, Actor and access layer (`study_for`, roles) as the API."""

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from app.access.scope import CARE, MANAGE, OWNER, READ, StudyAccess, StudyParticipant
from app.api.deps import NowDep, SessionDep, staff_actor, study_access, study_participant
from app.audit.service import Actor
from app.auth import sessions
from app.auth.models import ConsoleSession, StaffUser
from app.errors import Forbidden, Problem

SESSION_COOKIE = "kairos_console"
# Before sign-in there is no session to hold the CSRF token: this cookie holds it.
ANONYMOUS_CSRF_COOKIE = "kairos_csrf"
CSRF_FIELD = "csrf_token"
# htmx requests outside a form send it as this header (the layout's hx-headers).
CSRF_HEADER = "X-CSRF-Token"


class SignInRequired(Problem):
    """No live console session: pages answer with the sign-in page."""

    status, code, title = 401, "not_authenticated", "Sign in"


class FormRejected(Exception):
    """A form refused with its problems shown: raised, so the request's unit of work rolls
    back whatever the attempt wrote, and answered with the page it carries."""

    def __init__(self, response: Any) -> None:
        super().__init__("form rejected")
        self.response = response


@dataclass(frozen=True)
class SignedIn:
    """The signed-in staff member. `email` and `csrf_token` are copied out of the rows, so
    an error page can still show them after the request's unit of work rolled back."""

    user: StaffUser
    session: ConsoleSession
    email: str
    csrf_token: str

    @property
    def actor(self) -> Actor:
        return staff_actor(self.user)


def signed_in_or_none(request: Request, session: SessionDep, now: NowDep) -> SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    found = sessions.live_session(session, token, now) if token else None
    signed = (
        SignedIn(
            user=found[1], session=found[0], email=found[1].email, csrf_token=found[0].csrf_token
        )
        if found
        else None
    )
    request.state.signed_in = signed  # for the layout: who is signed in, the CSRF token
    return signed


MaybeSignedIn = Annotated[SignedIn | None, Depends(signed_in_or_none)]


def signed_in(signed: MaybeSignedIn) -> SignedIn:
    if signed is None:
        raise SignInRequired("Sign in to use the console")
    return signed


ConsoleUser = Annotated[SignedIn, Depends(signed_in)]


def csrf_token(request: Request) -> str:
    """The token this request's forms carry: the session's once signed in, else the
    anonymous cookie's (made here if the browser has none yet; render() sets it)."""
    signed: SignedIn | None = getattr(request.state, "signed_in", None)
    if signed is not None:
        return signed.csrf_token
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE) or getattr(
        request.state, "new_anonymous_csrf", None
    )
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.new_anonymous_csrf = token
    return token


async def checked_form(request: Request, signed: MaybeSignedIn) -> FormData:
    """The posted form, refused (403) unless it carries this session's CSRF token."""
    form = await request.form()
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    expected = signed.csrf_token if signed else request.cookies.get(ANONYMOUS_CSRF_COOKIE)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden(
            "The form's security token is missing or out of date; reload the page and try again",
            code="csrf_failed",
        )
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def console_staff(me: ConsoleUser) -> StaffUser:
    return me.user


# The API's access dependencies, with the console's signed-in user as the caller.
ReadStudy = Annotated[StudyAccess, study_access(READ, console_staff)]
CareStudy = Annotated[StudyAccess, study_access(CARE, console_staff)]
ManageStudy = Annotated[StudyAccess, study_access(MANAGE, console_staff)]
OwnStudy = Annotated[StudyAccess, study_access(OWNER, console_staff)]
ReadParticipant = Annotated[StudyParticipant, study_participant(READ, console_staff)]
CareParticipant = Annotated[StudyParticipant, study_participant(CARE, console_staff)]
ManageParticipant = Annotated[StudyParticipant, study_participant(MANAGE, console_staff)]
