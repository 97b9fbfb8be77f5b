"""Rendering a console page: Jinja2 with autoescaping, the request's language, the signed-in
user and the CSRF token in every template's context."""

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.console import i18n
from app.console.deps import ANONYMOUS_CSRF_COOKIE, csrf_token
from app.console.nav import study_nav
from app.console.static import VENDOR, static_url

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment(language: str) -> Environment:
    """One environment per language, its gettext installed (`_`, `gettext`, `ngettext`, and
    `{% trans %}`), new-style: `_("%(n)s participants", n=3)` formats and escapes."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    translator = i18n.Translator(language)
    env.install_gettext_callables(  # type: ignore[attr-defined]
        translator.gettext, translator.ngettext, newstyle=True
    )
    # Text made elsewhere (a problem's message, a status) in this language where a
    # catalogue has it; unlike `_`, no %-formatting.
    env.filters["translate"] = translator.gettext
    env.filters["local_time"] = local_time
    env.filters["pair"] = lambda value: (value, value)  # a choice whose label is its value
    env.globals.update(
        static_url=static_url, vendor=VENDOR, languages=i18n.LANGUAGES, study_nav=study_nav
    )
    return env


def local_time(at: datetime | None, zone: str) -> str:
    """An instant as the wall-clock time in a zone (`{{ at|local_time(zone) }}`)."""
    return "" if at is None else at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def language(request: Request) -> str:
    return i18n.choose_language(
        request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language")
    )


def gettext(request: Request, message: str) -> str:
    """English text in the request's language, for text made in Python (a flash, a title)."""
    return i18n.Translator(language(request)).gettext(message)


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure when the console is served over HTTPS (directly or, with
    `forwarded_allow_ips`, behind a proxy that says so)."""
    return request.url.scheme == "https"


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lang = language(request)
    token = csrf_token(request)
    html = (
        environment(lang)
        .get_template(template)
        .render(
            request=request,
            lang=lang,
            me=getattr(request.state, "signed_in", None),
            csrf_token=token,
            **(context or {}),
        )
    )
    response = HTMLResponse(html, status_code=status_code)
    if getattr(request.state, "new_anonymous_csrf", None) == token:
        response.set_cookie(
            ANONYMOUS_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request),
            path="/console",
        )
    return response


def redirect(url: str) -> RedirectResponse:
    """After a form succeeds: see the result with a GET (post/redirect/get)."""
    return RedirectResponse(url, status_code=303)
