"""A study's safety settings: the risk thresholds (0-100) a risk item's answer is screened
against, and the crisis resources a participant sees after a positive screen, per locale
(text, phone, link). Every member reads them; owners and researchers change them, in any
status (the API's GET/PUT /v1/studies/{id}/safety, through app/safety/service.py)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.access.scope import MANAGE, StudyAccess
from app.api.deps import NowDep, SessionDep
from app.console.deps import CheckedForm, ConsoleUser, ManageStudy, ReadStudy
from app.console.forms import Form, submit
from app.console.pages.editing import study_page
from app.console.templating import redirect
from app.errors import Invalid, Problem
from app.safety import service
from app.safety.schemas import SafetyConfig
from app.safety.screen import CrisisResources, SafetySettings

router = APIRouter(prefix="/console/studies/{study_id}/safety-settings")
SECTION = "/safety-settings"
THRESHOLDS = tuple(SafetySettings.model_fields)  # high, medium, low
RESOURCE_KEYS = ("locale", *CrisisResources.model_fields)  # locale, text, phone, url
SPARE_RESOURCE_ROWS = 1  # a blank row for another locale


def _values(settings: SafetySettings, resources: dict[str, CrisisResources]) -> dict[str, str]:
    values = {f"settings.{name}": f"{getattr(settings, name):g}" for name in THRESHOLDS}
    for index, (locale, resource) in enumerate(resources.items()):
        values[f"resources[{index}].locale"] = locale
        for name, value in resource.model_dump().items():
            values[f"resources[{index}].{name}"] = value or ""
    return values


def _page(
    request: Request,
    access: StudyAccess,
    session: Session,
    form: Form | None = None,
    status: int = 200,
) -> HTMLResponse:
    settings, resources = service.safety_of(session, access.study.id)
    shown = form or Form(values=_values(settings, resources))
    return study_page(
        request,
        access,
        SECTION,
        "safety/settings.html",
        {
            "settings": settings,
            "resources": resources,
            "form": shown,
            "resource_rows": shown.rows("resources", RESOURCE_KEYS) + SPARE_RESOURCE_ROWS,
            "thresholds": THRESHOLDS,
            "may_edit": access.role in MANAGE,
        },
        status,
    )


@router.get("", response_class=HTMLResponse)
def safety_settings(request: Request, access: ReadStudy, session: SessionDep) -> HTMLResponse:
    return _page(request, access, session)


@contextmanager
def _problems_at_rows(locales: list[str]) -> Iterator[None]:
    """The API names a resource by its locale (`body.resources.es.url`); the form by its
    row (`body.resources[1].url`), a bad locale at the row's locale input."""
    try:
        yield
    except Problem as problem:
        for error in problem.errors:
            field = str(error.get("field", ""))
            for index, locale in enumerate(locales):
                named = f"body.resources.{locale}"
                if field == named:
                    error["field"] = f"body.resources[{index}].locale"
                elif field.startswith(f"{named}."):
                    error["field"] = f"body.resources[{index}]" + field.removeprefix(named)
        raise


def _config(form: Form) -> SafetyConfig:
    rows = form.data().get("resources", [])
    locales = [str(row.get("locale", "")).strip() for row in rows]
    for index, locale in enumerate(locales):
        if locale in locales[:index]:
            raise Invalid(f"body.resources[{index}].locale", f"'{locale}' appears twice")
    body: dict[str, Any] = {
        "settings": form.data().get("settings", {}),
        "resources": {
            locale: {name: value for name, value in row.items() if name != "locale"}
            for locale, row in zip(locales, rows, strict=True)
        },
    }
    with _problems_at_rows(locales):
        return form.parse(SafetyConfig, body)


@router.post("")
def save_safety_settings(
    access: ManageStudy,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    # "settings": the order of the thresholds is a problem of all three, at their fieldset.
    form = Form.posted(posted, known=["settings", *(f"settings.{name}" for name in THRESHOLDS)])
    form.rows("resources", RESOURCE_KEYS)

    def save() -> None:
        config = _config(form)
        service.save_safety(
            session, access.study.id, me.actor, config.settings, config.resources, now
        )

    submit(
        session,
        form,
        lambda shown, status: _page(request, access, session, shown, status),
        save,
    )
    return redirect(f"/console/studies/{access.study.id}{SECTION}")
