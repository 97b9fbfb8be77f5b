"""The questionnaire editor: the study's current questionnaire (a draft until activation,
then each save is a new frozen version), its items in each locale, its versions, the
item packs to add (built in, a custom pack's JSON, a FHIR Questionnaire), and the locales
its texts cover. Through app/checkins/service.py and app/fhir/service.py with the roles of
app/api/questionnaires.py: owners and researchers edit."""

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from app.access.scope import MANAGE, StudyAccess
from app.api.deps import NowDep, SessionDep
from app.checkins import service
from app.checkins.models import Questionnaire
from app.console.deps import CheckedForm, ConsoleUser, ManageStudy, ReadStudy
from app.console.forms import Form, submit
from app.console.pages.editing import (
    OFFERED_LOCALES,
    POLE_LABELS,
    POLE_ORDER,
    adopt_new_locale,
    locales_typed,
    position_of,
    problems_within,
    study_page,
)
from app.console.templating import gettext, redirect
from app.errors import Invalid, NotFound, Problem
from app.fhir import service as fhir
from app.pagination import PageDep
from app.rules.items import Item, ItemPack
from app.rules.packs import built_in_packs
from app.types import Key
from app.vocabulary import StudyStatus

router = APIRouter(prefix="/console/studies/{study_id}/questionnaire")
CURRENT = "/questionnaire"
ITEM_TYPES = ("slider", "likert", "choice", "boolean", "text")
TYPE_LABELS = {
    "slider": "Slider (0-100)",
    "likert": "Likert scale",
    "choice": "Choice",
    "boolean": "Yes or no",
    "text": "Free text",
}
# Inputs of several values whose problems show on their fieldset.
FIELDSETS = ("text", "anchors", "choices")
BLANK_CHOICE_ROWS = 2  # empty choice rows a form offers for adding choices


def _url(access: StudyAccess, path: str = "") -> str:
    return f"/console/studies/{access.study.id}/questionnaire{path}"


def _locales_of(items: Sequence[Item], default_locale: str) -> list[str]:
    found = {locale for item in items for locale in item.text}
    return sorted(found | set(OFFERED_LOCALES) | {default_locale})


def _coverage(items: Sequence[Item], locales: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Per locale, the items with no text in it (they fall back to the default locale)."""
    return [(locale, [item.key for item in items if locale not in item.text]) for locale in locales]


def _may_edit(access: StudyAccess) -> bool:
    return access.role in MANAGE and access.study.status != StudyStatus.closed


def _questionnaire_page(
    request: Request,
    access: StudyAccess,
    current: Questionnaire,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    items = service.items_of(current)
    present = sorted({locale for item in items for locale in item.text})
    return study_page(
        request,
        access,
        CURRENT,
        "questionnaire/current.html",
        {
            "questionnaire": current,
            "items": items,
            "coverage": _coverage(items, present),
            "packs": built_in_packs(),
            "loaded": {pack["name"] for pack in current.packs},
            "form": form,
            "may_edit": _may_edit(access),
            "type_labels": TYPE_LABELS,
            "pole_labels": POLE_LABELS,
            "default_locale": access.study.default_locale,
        },
        status_code,
    )


@router.get("", response_class=HTMLResponse)
def questionnaire(request: Request, access: ReadStudy, session: SessionDep) -> HTMLResponse:
    current = service.current_questionnaire(session, access.study.id)
    return _questionnaire_page(request, access, current, Form())


@router.get("/versions", response_class=HTMLResponse)
def versions(
    request: Request, access: ReadStudy, session: SessionDep, page: PageDep
) -> HTMLResponse:
    found = service.questionnaire_version_page(session, access.study.id, page)
    return study_page(
        request,
        access,
        CURRENT,
        "questionnaire/versions.html",
        {
            "versions": found,
            "items_of": service.items_of,
        },
    )


@router.post("/packs/{name}")
def add_pack(
    request: Request,
    name: Key,
    access: ManageStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    form = Form.posted(posted)
    current = service.current_questionnaire(session, access.study.id)
    submit(
        session,
        form,
        lambda shown, status: _questionnaire_page(request, access, current, shown, status),
        lambda: service.load_built_in_pack(
            session,
            access.study,
            me.actor,
            me.user.id,
            name,
            form.value("rules") == "true",
            now,
        ),
    )
    return redirect(_url(access))


# --- a pack of one's own: a JSON document, uploaded or pasted ---------------------------


def _document(posted: FormData, form: Form, name: str) -> Any:
    """The JSON of the file chosen in `<name>_file`, else of the text in `<name>_document`;
    a chosen file's text goes into that box, where it is corrected if it is refused."""
    box = f"{name}_document"
    upload = posted.get(f"{name}_file")
    content = upload.file.read() if isinstance(upload, UploadFile) else b""
    if content:  # an empty file input still sends a part
        try:
            form.values[box] = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Invalid(f"body.{box}", "the file is not UTF-8 text") from None
    text = form.value(box)
    if not text.strip():
        raise Invalid(f"body.{box}", "choose a JSON file or paste its text")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise Invalid(f"body.{box}", f"not JSON: {error}") from None


@contextmanager
def _problems_in_document(name: str) -> Iterator[None]:
    """A problem the API names inside the document (`body.items[2].key`) shows in the list
    at its box, named by its path there (`items[2].key: ...`)."""
    box = f"body.{name}_document"
    try:
        yield
    except Problem as problem:
        for error in problem.errors:
            if error.get("field") != box:
                path = str(error.get("field", "")).removeprefix("body.")
                error["message"] = f"{path}: {error.get('message', '')}"
                error["field"] = box
        raise


def _load_document(
    request: Request,
    access: StudyAccess,
    posted: FormData,
    session: SessionDep,
    name: str,
    load: Callable[[Any], Questionnaire],
) -> Response:
    form = Form.posted(posted, known=[f"{name}_document"])
    current = service.current_questionnaire(session, access.study.id)

    def work() -> Questionnaire:
        with _problems_in_document(name):
            return load(_document(posted, form, name))

    submit(
        session,
        form,
        lambda shown, status: _questionnaire_page(request, access, current, shown, status),
        work,
    )
    return redirect(_url(access))


@router.post("/packs")
def add_custom_pack(
    request: Request,
    access: ManageStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """The API's POST /questionnaire/packs: a pack's name, source, licence and items."""
    return _load_document(
        request,
        access,
        posted,
        session,
        "pack",
        lambda body: service.load_pack(
            session, access.study, me.actor, Form().parse(ItemPack, body), now
        ),
    )


@router.post("/fhir")
def add_fhir_questionnaire(
    request: Request,
    access: ManageStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """The API's POST /questionnaire/fhir: a FHIR R4 Questionnaire's items as a pack."""
    return _load_document(
        request,
        access,
        posted,
        session,
        "fhir",
        lambda body: fhir.load_questionnaire(session, access.study, me.actor, body, now),
    )


# --- one item ---------------------------------------------------------------------------


def _item_values(item: Item) -> dict[str, str]:
    """An item as the form's inputs."""
    values = {
        "key": item.key,
        "type": item.type,
        "min": "" if item.min is None else str(item.min),
        "max": "" if item.max is None else str(item.max),
        "required": "true" if item.required else "false",
        "risk": "true" if item.risk else "false",
        "pole": item.pole or "",
        **{f"text.{locale}": text for locale, text in item.text.items()},
    }
    for locale, (low, high) in (item.anchors or {}).items():
        values[f"anchors.{locale}[0]"], values[f"anchors.{locale}[1]"] = low, high
    for n, choice in enumerate(item.choices or []):
        values[f"choices[{n}].key"] = choice.key
        values[f"choices[{n}].risk"] = choice.risk or ""
        values |= {f"choices[{n}].label.{x}": label for x, label in choice.label.items()}
    return values


def _typed(form: Form, name: str) -> str:
    return form.value(name).strip()


def _item_body(form: Form, locales: Sequence[str], kept: Item | None) -> dict[str, Any]:
    """The typed item as the API's Item body: a locale left empty has no text, an anchor
    pair left empty no anchors, a blank choice row no choice."""
    body: dict[str, Any] = {
        "key": _typed(form, "key"),
        "type": _typed(form, "type"),
        "text": {x: _typed(form, f"text.{x}") for x in locales if _typed(form, f"text.{x}")},
        "required": form.value("required") == "true",
        "risk": form.value("risk") == "true",
    }
    for bound in ("min", "max"):
        if _typed(form, bound):
            body[bound] = _typed(form, bound)
    if _typed(form, "pole"):
        body["pole"] = _typed(form, "pole")
    anchors = {
        x: [form.value(f"anchors.{x}[0]"), form.value(f"anchors.{x}[1]")]
        for x in locales
        if _typed(form, f"anchors.{x}[0]") or _typed(form, f"anchors.{x}[1]")
    }
    if anchors:
        body["anchors"] = anchors
    rows = form.rows("choices", ["key", *(f"label.{x}" for x in locales)])
    if rows:
        body["choices"] = [
            {
                "key": _typed(form, f"choices[{n}].key"),
                "label": {
                    x: _typed(form, f"choices[{n}].label.{x}")
                    for x in locales
                    if _typed(form, f"choices[{n}].label.{x}")
                },
                **({"risk": tier} if (tier := _typed(form, f"choices[{n}].risk")) else {}),
            }
            for n in range(rows)
        ]
    if kept is not None and kept.pack is not None:
        body["pack"] = kept.pack
    return body


def _choice_rows(form: Form) -> int:
    typed = {int(name[8:].split("]")[0]) for name in form.values if name.startswith("choices[")}
    return (max(typed) + 1 if typed else 0) + BLANK_CHOICE_ROWS


def _item_page(
    request: Request,
    access: StudyAccess,
    current: Questionnaire,
    key: str,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    items = service.items_of(current)
    locales = sorted(
        set(_locales_of(items, access.study.default_locale)) | locales_typed(form, "text.")
    )
    return study_page(
        request,
        access,
        CURRENT,
        "questionnaire/item.html",
        {
            "questionnaire": current,
            "key": key,
            "form": form,
            "locales": locales,
            "choice_rows": _choice_rows(form),
            "types": [(t, gettext(request, TYPE_LABELS[t])) for t in ITEM_TYPES],
            "poles": [(str(pole), gettext(request, POLE_LABELS[pole])) for pole in POLE_ORDER],
        },
        status_code,
    )


def _item_at(
    session: SessionDep, access: StudyAccess, key: str
) -> tuple[Questionnaire, list[Item], int | None]:
    """The current questionnaire, its items and the position of `key` (None for a new one)."""
    current = service.current_questionnaire(session, access.study.id)
    items = service.items_of(current)
    missing = NotFound(f"No item '{key}' in the current questionnaire", code="item_not_found")
    return current, items, position_of([item.key for item in items], key, missing)


@router.get("/items/{key}", response_class=HTMLResponse)
def item_form(request: Request, key: str, access: ManageStudy, session: SessionDep) -> HTMLResponse:
    current, items, index = _item_at(session, access, key)
    values = {"required": "true"} if index is None else _item_values(items[index])
    return _item_page(request, access, current, key, Form(values=values))


@router.post("/items/{key}")
def save_item(
    request: Request,
    key: str,
    access: ManageStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    current, items, index = _item_at(session, access, key)
    form = Form.posted(posted)
    adopt_new_locale(form, {"new_locale_text": "text.{locale}"})
    locales = sorted(
        set(_locales_of(items, access.study.default_locale)) | locales_typed(form, "text.")
    )
    form.known = frozenset(FIELDSETS)
    position = len(items) if index is None else index

    def save() -> None:
        item = form.parse(Item, _item_body(form, locales, None if index is None else items[index]))
        with problems_within(f"body.items[{position}]"):
            service.save_questionnaire(
                session,
                access.study,
                me.actor,
                [*items[:position], item, *items[position + 1 :]],
                None,
                now,
            )

    submit(
        session,
        form,
        lambda shown, status: _item_page(request, access, current, key, shown, status),
        save,
    )
    return redirect(_url(access))


@router.post("/items/{key}/remove")
def remove_item(
    request: Request,
    key: str,
    access: ManageStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    current, items, _ = _item_at(session, access, key)
    submit(
        session,
        Form(),
        lambda shown, status: _questionnaire_page(request, access, current, shown, status),
        lambda: service.save_questionnaire(
            session, access.study, me.actor, [i for i in items if i.key != key], None, now
        ),
    )
    return redirect(_url(access))
