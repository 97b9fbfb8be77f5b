"""A study's settings: a draft's name, description, time zone, locale, arms with their
policies and weights, block size, strata and concealment, edited in one form through the
API's study update (PATCH /v1/studies/{id}) and its arms' routes; once the study is active
or closed the page shows them and says why they are fixed. Its own form, in a draft or an
active study, sets the Firebase web app the participant web app gets pushes through (the
API's /v1/studies/{id}/web-push): typed per value or pasted as the Firebase console shows
it."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field
from sqlmodel import Session

from app.access.scope import StudyAccess
from app.api.deps import NowDep, SessionDep
from app.console.deps import CheckedForm, ConsoleUser, ManageStudy
from app.console.forms import Form, submit
from app.console.js_object import NotAnObject, object_of
from app.console.pages.editing import study_page
from app.console.pages.studies import ARM_ROW_KEYS, POLICIES, SPARE_ARM_ROWS
from app.console.templating import redirect
from app.errors import Invalid
from app.studies import service
from app.studies.schemas import ArmIn, FirebaseWebConfig, StudyOut, StudyUpdate, WebPushConfig
from app.types import timezone_names
from app.vocabulary import StudyStatus

router = APIRouter(prefix="/console/studies/{study_id}/settings")
# The study update's fields, each an input of the form.
_STUDY_INPUTS = tuple(StudyUpdate.model_fields)
# The Firebase config object's keys as the Firebase console writes them, required first.
FIREBASE_KEYS = tuple(
    str(field.alias)
    for field in sorted(FirebaseWebConfig.model_fields.values(), key=lambda f: not f.is_required())
)
REQUIRED_FIREBASE_KEYS = frozenset(
    str(field.alias) for field in FirebaseWebConfig.model_fields.values() if field.is_required()
)
PASTED = "pasted_config"  # the textarea a config object is pasted into
_WEB_PUSH_INPUTS = (*(f"firebase_config.{key}" for key in FIREBASE_KEYS), "vapid_key", PASTED)


class DraftSettings(StudyUpdate):
    """The form: the study update and the arms as rows, as the API's StudyCreate has them."""

    arms: list[ArmIn] = Field(default_factory=list, max_length=20)


def _values(study: StudyOut) -> dict[str, str]:
    values = {
        "name": study.name,
        "description": study.description,
        "default_timezone": study.default_timezone,
        "default_locale": study.default_locale,
        "block_size": "" if study.block_size is None else str(study.block_size),
        "stratify_by": ", ".join(study.stratify_by),
        "clinicians_see_arm": str(study.clinicians_see_arm).lower(),
        "blind_participant_download": str(study.blind_participant_download).lower(),
    }
    for index, arm in enumerate(study.arms):
        values |= {
            f"arms[{index}].key": arm.key,
            f"arms[{index}].policy": arm.policy,
            f"arms[{index}].weight": str(arm.weight),
            f"arms[{index}].description": arm.description,
        }
    return values


def _parse(form: Form) -> tuple[StudyUpdate, list[ArmIn]]:
    """Every field as typed, so every problem shows at once: the form shows them all, so a
    blank block size clears it and a blank name is refused (a PATCH body leaves out only
    what it does not change)."""
    body: dict[str, Any] = {name: form.value(name) for name in _STUDY_INPUTS}
    body["block_size"] = body["block_size"].strip() or None
    body["stratify_by"] = [name.strip() for name in body["stratify_by"].split(",") if name.strip()]
    body["arms"] = form.data().get("arms", [])
    parsed = form.parse(DraftSettings, body)
    return StudyUpdate(**parsed.model_dump(exclude={"arms"})), parsed.arms


def _web_push_values(config: WebPushConfig | None) -> dict[str, str]:
    if config is None:
        return {}
    given = config.firebase_config.model_dump(by_alias=True)
    return {f"firebase_config.{key}": value for key, value in given.items()} | {
        "vapid_key": config.vapid_key
    }


def _web_push(form: Form) -> WebPushConfig:
    """The typed config; a pasted object replaces every typed value of the config (a key
    it leaves out is blank), and stays in its textarea only when it cannot be read."""
    pasted = form.values.pop(PASTED, "")
    if pasted.strip():
        try:
            found = object_of(pasted)
            if unknown := sorted(found.keys() - set(FIREBASE_KEYS)):
                raise NotAnObject(f"not a key of a Firebase web app's config: {', '.join(unknown)}")
        except NotAnObject as problem:
            form.values[PASTED] = pasted
            raise Invalid(f"body.{PASTED}", str(problem)) from None
        form.values |= {f"firebase_config.{key}": found.get(key, "") for key in FIREBASE_KEYS}
    body = form.data()
    body.setdefault("firebase_config", {})  # all blank: each required key is named missing
    return form.parse(WebPushConfig, body)


def _page(
    request: Request,
    access: StudyAccess,
    session: Session,
    form: Form | None = None,
    status_code: int = 200,
    push_form: Form | None = None,
) -> HTMLResponse:
    study = service.study_out(session, access)
    shown = form or Form(values=_values(study))
    web_push = service.web_push_of(access.study)
    arm_rows = shown.rows("arms", ARM_ROW_KEYS) + SPARE_ARM_ROWS
    return study_page(
        request,
        access,
        "/settings",
        "studies/settings.html",
        {
            "study": study,
            "draft": study.status == StudyStatus.draft,
            "form": shown,
            "arm_rows": arm_rows,
            "policies": [(policy.value, label) for policy, label in POLICIES.items()],
            "policy_labels": POLICIES,
            "zones": timezone_names(),
            "web_push": web_push,
            "push_form": push_form or Form(values=_web_push_values(web_push)),
            "firebase_keys": FIREBASE_KEYS,
            "required_firebase_keys": REQUIRED_FIREBASE_KEYS,
        },
        status_code,
    )


@router.get("", response_class=HTMLResponse)
def settings(request: Request, access: ManageStudy, session: SessionDep) -> HTMLResponse:
    return _page(request, access, session)


@router.post("")
def save_settings(
    access: ManageStudy,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    form = Form.posted(posted)
    form.rows("arms", ARM_ROW_KEYS)
    submit(
        session,
        form,
        lambda shown, status: _page(request, access, session, shown, status),
        lambda: service.update_draft(session, access, me.actor, *_parse(form), now),
    )
    return redirect(f"/console/studies/{access.study.id}")


def _web_push_saved(access: StudyAccess) -> Response:
    return redirect(f"/console/studies/{access.study.id}/settings#web-push")


@router.post("/web-push")
def save_web_push(
    access: ManageStudy,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    form = Form.posted(posted, known=_WEB_PUSH_INPUTS)
    submit(
        session,
        form,
        lambda shown, status: _page(request, access, session, None, status, push_form=shown),
        lambda: service.save_web_push(session, access, me.actor, _web_push(form), now),
    )
    return _web_push_saved(access)


@router.post("/web-push/remove")
def remove_web_push(
    access: ManageStudy, posted: CheckedForm, me: ConsoleUser, session: SessionDep, now: NowDep
) -> Response:
    service.save_web_push(session, access, me.actor, None, now)
    return _web_push_saved(access)
