"""A study's settings: a draft's name, description, time zone, locale, arms with their
policies and weights, block size, strata and concealment, edited in one form through the
API's study update (PATCH /v1/studies/{id}) and its arms' routes; once the study is active
or closed the page shows them and says why they are fixed."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field
from sqlmodel import Session

from app.access.scope import StudyAccess
from app.api.deps import NowDep, SessionDep
from app.console.deps import CheckedForm, ConsoleUser, ManageStudy
from app.console.forms import Form, submit
from app.console.pages.studies import ARM_ROW_KEYS, POLICIES, SPARE_ARM_ROWS
from app.console.templating import redirect, render
from app.studies import service
from app.studies.schemas import ArmIn, StudyOut, StudyUpdate
from app.types import timezone_names
from app.vocabulary import StudyStatus

router = APIRouter(prefix="/console/studies/{study_id}/settings")
# The study update's fields, each an input of the form.
_STUDY_INPUTS = tuple(StudyUpdate.model_fields)


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


def _page(
    request: Request,
    access: StudyAccess,
    session: Session,
    form: Form | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    study = service.study_out(session, access)
    shown = form or Form(values=_values(study))
    arm_rows = shown.rows("arms", ARM_ROW_KEYS) + SPARE_ARM_ROWS
    return render(
        request,
        "studies/settings.html",
        {
            "access": access,
            "current": "/settings",
            "study": study,
            "draft": study.status == StudyStatus.draft,
            "form": shown,
            "arm_rows": arm_rows,
            "policies": [(policy.value, label) for policy, label in POLICIES.items()],
            "policy_labels": POLICIES,
            "zones": timezone_names(),
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
