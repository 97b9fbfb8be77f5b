"""A study's check-in questionnaire: the draft, its versions and item packs."""

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from app.api.deps import CurrentStaff, ManageStudy, NowDep, ReadStudy, SessionDep, staff_actor
from app.checkins import service
from app.checkins.models import Questionnaire
from app.checkins.schemas import ItemPackRecord, QuestionnaireIn, QuestionnaireOut
from app.fhir import service as fhir
from app.pagination import Page, PageDep, map_page
from app.rules.items import ItemPack
from app.rules.packs import BuiltInPack, built_in_packs
from app.types import INPUT, Key

router = APIRouter(prefix="/v1/studies/{study_id}", tags=["tailoring"])
packs_router = APIRouter(prefix="/v1", tags=["tailoring"])


class BuiltInPackIn(BaseModel):
    model_config = INPUT
    rules: bool = Field(
        default=False, description="Also load the pack's rules (before the study's own)"
    )


def _questionnaire_out(saved: Questionnaire) -> QuestionnaireOut:
    return QuestionnaireOut(
        version=saved.version,
        frozen=saved.frozen_at is not None,
        items=service.items_of(saved),
        packs=[ItemPackRecord.model_validate(pack) for pack in saved.packs],
        created_at=saved.created_at,
    )


@router.get("/questionnaire", response_model=QuestionnaireOut)
def read_questionnaire(access: ReadStudy, session: SessionDep) -> QuestionnaireOut:
    return _questionnaire_out(service.current_questionnaire(session, access.study.id))


@router.put("/questionnaire", response_model=QuestionnaireOut)
def save_questionnaire(
    data: QuestionnaireIn, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> QuestionnaireOut:
    """Edit the draft; once the study is active this saves a new version."""
    saved = service.save_questionnaire(
        session, access.study, staff_actor(user), data.items, None, now
    )
    return _questionnaire_out(saved)


@router.post("/questionnaire/packs", response_model=QuestionnaireOut)
def load_item_pack(
    pack: ItemPack, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> QuestionnaireOut:
    """Add a validated instrument's items, recording its source and licence."""
    return _questionnaire_out(
        service.load_pack(session, access.study, staff_actor(user), pack, now)
    )


@router.post("/questionnaire/fhir", response_model=QuestionnaireOut)
def load_fhir_questionnaire(
    body: Annotated[
        dict[str, Any], Body(description="A FHIR R4 Questionnaire (application/fhir+json)")
    ],
    access: ManageStudy,
    session: SessionDep,
    user: CurrentStaff,
    now: NowDep,
) -> QuestionnaireOut:
    """Add a FHIR Questionnaire's items as an item pack: its name, its url (or derivedFrom)
    as the source, its copyright as the licence. Integer sliders (0-100), choice items (as
    likert when every option has consecutive whole ordinal values), boolean, string and text
    items load; any other item is refused, naming it."""
    saved = fhir.load_questionnaire(session, access.study, staff_actor(user), body, now)
    return _questionnaire_out(saved)


@router.get("/questionnaire/versions", response_model=Page[QuestionnaireOut])
def questionnaire_versions(
    access: ReadStudy, session: SessionDep, page: PageDep
) -> Page[QuestionnaireOut]:
    """Every version, newest first."""
    versions = service.questionnaire_version_page(session, access.study.id, page)
    return map_page(versions, _questionnaire_out)


@packs_router.get("/item-packs", response_model=list[BuiltInPack])
def list_built_in_packs(user: CurrentStaff) -> list[BuiltInPack]:
    """The built-in whole-person packs (sleep, pain or illness, social context, where,
    craving or use), their items in English and Spanish, and their optional rules."""
    return list(built_in_packs().values())


@router.post("/questionnaire/packs/{name}", response_model=QuestionnaireOut)
def load_built_in_pack(
    name: Key,
    access: ManageStudy,
    session: SessionDep,
    user: CurrentStaff,
    now: NowDep,
    data: BuiltInPackIn | None = None,
) -> QuestionnaireOut:
    """Add a built-in pack's items by name, and with `rules: true` its rules."""
    saved = service.load_built_in_pack(
        session,
        access.study,
        staff_actor(user),
        user.id,
        name,
        data is not None and data.rules,
        now,
    )
    return _questionnaire_out(saved)
