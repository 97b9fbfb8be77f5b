"""Skill libraries: the study's versions, forking one (or the default library), editing a
draft's skills in each locale, publishing, pinning a published version, and what changed
between two versions. Through app/skills/service.py with the roles of app/api/skills.py:
clinicians fork, edit and publish; researchers and owners pin."""

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.access.scope import CARE, MANAGE, StudyAccess
from app.api.deps import NowDep, SessionDep
from app.console.deps import CareStudy, CheckedForm, ConsoleUser, ManageStudy, ReadStudy
from app.console.forms import Form, submit
from app.console.pages.editing import (
    OFFERED_LOCALES,
    POLE_LABELS,
    POLE_ORDER,
    adopt_new_locale,
    lines,
    locales_typed,
    position_of,
    problems_within,
    study_page,
)
from app.console.templating import redirect
from app.errors import NotFound
from app.pagination import PageDep
from app.skills import service
from app.skills.content import Skill
from app.skills.diff import library_diff
from app.skills.models import SkillLibrary
from app.skills.schemas import ForkIn, LibraryUpdate

router = APIRouter(prefix="/console/studies/{study_id}/libraries")
CURRENT = "/libraries"


def _url(access: StudyAccess, path: str = "") -> str:
    return f"/console/studies/{access.study.id}/libraries{path}"


def _may(access: StudyAccess) -> dict[str, bool]:
    return {"may_edit": access.role in CARE, "may_pin": access.role in MANAGE}


def _list_page(
    request: Request,
    access: StudyAccess,
    session: SessionDep,
    page: PageDep,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    libraries = service.library_page(session, access.study.id, page)
    pinned = service.pinned_library(session, access.study.id)
    return study_page(
        request,
        access,
        CURRENT,
        "libraries/list.html",
        {
            "libraries": libraries,
            "pinned": pinned,
            "form": form,
            **_may(access),
        },
        status_code,
    )


@router.get("", response_class=HTMLResponse)
def libraries(
    request: Request, access: ReadStudy, session: SessionDep, page: PageDep
) -> HTMLResponse:
    return _list_page(request, access, session, page, Form())


@router.post("")
def fork_library(
    request: Request,
    access: CareStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
    page: PageDep,
) -> Response:
    form = Form.posted(posted)
    draft = submit(
        session,
        form,
        lambda shown, status: _list_page(request, access, session, page, shown, status),
        lambda: service.fork_library(
            session,
            access.study.id,
            me.actor,
            me.user.id,
            (fork := form.parse(ForkIn)).from_library_id,
            fork.name,
            now,
        ),
    )
    return redirect(_url(access, f"/{draft.id}"))


@router.get("/diff", response_class=HTMLResponse)
def diff(
    request: Request,
    access: ReadStudy,
    session: SessionDep,
    before: uuid.UUID,
    after: uuid.UUID,
) -> HTMLResponse:
    old = service.get_library(session, access.study.id, before)
    new = service.get_library(session, access.study.id, after)
    return study_page(
        request,
        access,
        CURRENT,
        "libraries/diff.html",
        {
            "before": old,
            "after": new,
            "diff": library_diff(service.skills_of(old), service.skills_of(new)),
        },
    )


def _library_page(
    request: Request,
    access: StudyAccess,
    session: SessionDep,
    library: SkillLibrary,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    pinned = service.pinned_library(session, access.study.id)
    return study_page(
        request,
        access,
        CURRENT,
        "libraries/library.html",
        {
            "library": library,
            "skills": service.skills_of(library),
            "pinned": pinned is not None and pinned.id == library.id,
            "form": form,
            "pole_labels": POLE_LABELS,
            **_may(access),
        },
        status_code,
    )


@router.get("/{library_id}", response_class=HTMLResponse)
def library(
    request: Request, library_id: uuid.UUID, access: ReadStudy, session: SessionDep
) -> HTMLResponse:
    found = service.get_library(session, access.study.id, library_id)
    return _library_page(request, access, session, found, Form())


def _library_action(
    request: Request,
    access: StudyAccess,
    session: SessionDep,
    library_id: uuid.UUID,
    action: Callable[[SkillLibrary], object],
) -> Response:
    found = service.get_library(session, access.study.id, library_id)
    submit(
        session,
        Form(),
        lambda shown, status: _library_page(request, access, session, found, shown, status),
        lambda: action(found),
    )
    return redirect(_url(access, f"/{found.id}"))


@router.post("/{library_id}/publish")
def publish_library(
    request: Request,
    library_id: uuid.UUID,
    access: CareStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    return _library_action(
        request,
        access,
        session,
        library_id,
        lambda found: service.publish_library(session, found, me.actor, now),
    )


@router.post("/{library_id}/pin")
def pin_library(
    request: Request,
    library_id: uuid.UUID,
    access: ManageStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    return _library_action(
        request,
        access,
        session,
        library_id,
        lambda found: service.pin_library(session, found, me.actor, now),
    )


@router.post("/{library_id}/name")
def rename_library(
    request: Request,
    library_id: uuid.UUID,
    access: CareStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """A draft's new name, validated as the API's PUT takes it (with the skills it has)."""
    found = service.get_library(session, access.study.id, library_id)
    form = Form.posted(posted)

    def rename() -> None:
        body = {"name": form.value("name"), "skills": service.skills_of(found)}
        data = form.parse(LibraryUpdate, body)
        service.update_library(session, found, me.actor, data.name, data.skills, now)

    submit(
        session,
        form,
        lambda shown, status: _library_page(request, access, session, found, shown, status),
        rename,
    )
    return redirect(_url(access, f"/{found.id}"))


@router.post("/{library_id}/skills/{key}/remove")
def remove_skill(
    request: Request,
    library_id: uuid.UUID,
    key: str,
    access: CareStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    return _library_action(
        request,
        access,
        session,
        library_id,
        lambda found: service.remove_skill(session, found, me.actor, key, now),
    )


# --- a skill of a draft ---------------------------------------------------------------


def _locales(skills: Sequence[Skill], form: Form) -> list[str]:
    """The translations the form shows: the library's, the offered ones, and any typed."""
    found = {locale for skill in skills for locale in skill.translations}
    found |= locales_typed(form, "translations.")
    return sorted(found | set(OFFERED_LOCALES))


def _skill_values(skill: Skill) -> dict[str, str]:
    """A skill as the form's inputs: steps one per line, poles as boxes, modalities by comma."""
    values = {
        "key": skill.key,
        "title": skill.title,
        "steps": "\n".join(skill.steps),
        "duration_seconds": str(skill.duration_seconds),
        "modalities": ", ".join(skill.modalities),
        "media_url": skill.media_url or "",
        **{f"target.{pole}": "true" for pole in skill.targets},
    }
    for locale, text in skill.translations.items():
        values[f"translations.{locale}.title"] = text.title
        values[f"translations.{locale}.steps"] = "\n".join(text.steps)
    return values


def _skill_body(form: Form, kept: Skill | None) -> dict[str, Any]:
    """The typed skill as the API's Skill body. A locale whose title and steps are both
    blank has no translation; what the form does not show (fallbacks) is kept."""
    body: dict[str, Any] = {
        "key": form.value("key"),
        "title": form.value("title"),
        "steps": lines(form.value("steps")),
        "duration_seconds": form.value("duration_seconds"),
        "targets": [pole for pole in POLE_ORDER if form.value(f"target.{pole}") == "true"],
        "modalities": [m.strip() for m in form.value("modalities").split(",") if m.strip()],
        "media_url": form.value("media_url").strip() or None,
        "fallbacks": kept.fallbacks if kept else {},
        "translations": {},
    }
    for locale in sorted(locales_typed(form, "translations.")):
        title = form.value(f"translations.{locale}.title")
        steps = lines(form.value(f"translations.{locale}.steps"))
        if title.strip() or steps:
            earlier = kept.translations.get(locale) if kept else None
            body["translations"][locale] = {
                "title": title,
                "steps": steps,
                "fallbacks": earlier.fallbacks if earlier else {},
            }
    return body


def _skill_page(
    request: Request,
    access: StudyAccess,
    library: SkillLibrary,
    key: str,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    return study_page(
        request,
        access,
        CURRENT,
        "libraries/skill.html",
        {
            "library": library,
            "key": key,
            "form": form,
            "locales": _locales(service.skills_of(library), form),
            "poles": POLE_ORDER,
            "pole_labels": POLE_LABELS,
        },
        status_code,
    )


def _skill_at(
    session: SessionDep, access: StudyAccess, library_id: uuid.UUID, key: str
) -> tuple[SkillLibrary, list[Skill], int | None]:
    """The library version, its skills and the position of `key` (None for a new one)."""
    found = service.get_library(session, access.study.id, library_id)
    skills = service.skills_of(found)
    missing = NotFound(f"No skill '{key}' in this version", code="skill_not_found")
    return found, skills, position_of([skill.key for skill in skills], key, missing)


@router.get("/{library_id}/skills/{key}", response_class=HTMLResponse)
def skill_form(
    request: Request, library_id: uuid.UUID, key: str, access: CareStudy, session: SessionDep
) -> HTMLResponse:
    found, skills, index = _skill_at(session, access, library_id, key)
    values = _skill_values(skills[index]) if index is not None else {}
    return _skill_page(request, access, found, key, Form(values=values))


@router.post("/{library_id}/skills/{key}")
def save_skill(
    request: Request,
    library_id: uuid.UUID,
    key: str,
    access: CareStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    found, skills, index = _skill_at(session, access, library_id, key)
    form = Form.posted(posted)
    adopt_new_locale(
        form,
        {
            "new_locale_title": "translations.{locale}.title",
            "new_locale_steps": "translations.{locale}.steps",
        },
    )
    form.known = frozenset({"targets"})  # its boxes' problems show on their fieldset
    kept = skills[index] if index is not None else None
    position = len(skills) if index is None else index

    def save() -> None:
        skill = form.parse(Skill, _skill_body(form, kept))
        with problems_within(f"body.skills[{position}]"):
            service.update_library(
                session,
                found,
                me.actor,
                None,
                [*skills[:position], skill, *skills[position + 1 :]],
                now,
            )

    submit(
        session,
        form,
        lambda shown, status: _skill_page(request, access, found, key, shown, status),
        save,
    )
    return redirect(_url(access, f"/{found.id}"))
