"""Signing in and out of the console, and the language switch."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from app.api.deps import NowDep, SessionDep, SettingsDep, client_address
from app.auth import service, sessions
from app.console import i18n
from app.console.deps import SESSION_COOKIE, CheckedForm, ConsoleUser, MaybeSignedIn
from app.console.forms import Form
from app.console.templating import redirect, render, secure_cookies
from app.errors import Problem
from app.types import INPUT

router = APIRouter(prefix="/console")
HOME = "/console/studies"


class SignIn(BaseModel):
    """The API's sign-in form's fields and bounds (`/v1/auth/token`)."""

    model_config = INPUT
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


def safe_next(target: str | None) -> str:
    """Only a console path of this site: a sign-in never sends anyone elsewhere."""
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return HOME


def _page(request: Request, form: Form, target: str, status_code: int = 200) -> HTMLResponse:
    return render(request, "sign_in.html", {"form": form, "next": target}, status_code)


@router.get("", include_in_schema=False)
def console_home(signed: MaybeSignedIn) -> Response:
    return redirect(HOME if signed else "/console/sign-in")


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, signed: MaybeSignedIn, next: str | None = None) -> Response:
    if signed is not None:
        return redirect(safe_next(next))
    return _page(request, Form(), safe_next(next))


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    posted: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """The same checks and limits as /v1/auth/token (service.authenticate), then a session."""
    form = Form.posted(posted)
    target = safe_next(form.values.pop("next", None))
    try:
        data = form.parse(SignIn)
    except Problem as problem:
        return _page(request, form.with_problem(problem), target, problem.status)
    outcome = service.authenticate(
        session,
        settings,
        email=data.email,
        password=data.password,
        client_address=client_address(request),
        now=now,
    )
    if isinstance(outcome, Problem):
        # Returned, not raised: the failed attempt counts toward the limits, so it commits.
        form.values.pop("password", None)
        response = _page(request, form.with_problem(outcome), target, outcome.status)
        if "Retry-After" in outcome.headers:
            response.headers["Retry-After"] = outcome.headers["Retry-After"]
        return response
    lifetime = timedelta(hours=settings.console_session_hours)
    token, _ = sessions.open_session(session, outcome, lifetime, now)
    signed_in = redirect(target)
    signed_in.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/console",
    )
    return signed_in


@router.post("/sign-out")
def sign_out(
    request: Request, me: ConsoleUser, posted: CheckedForm, session: SessionDep, now: NowDep
) -> Response:
    sessions.close_session(session, me.session, now)
    response = redirect("/console/sign-in")
    response.delete_cookie(
        SESSION_COOKIE,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@router.post("/language")
def switch_language(request: Request, posted: CheckedForm) -> Response:
    form = Form.posted(posted)
    response = redirect(safe_next(form.value("next")))
    chosen = form.value("language")
    if chosen in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request),
            path="/console",
        )
    return response
