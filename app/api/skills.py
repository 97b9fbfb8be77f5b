"""A study's skill library versions and the pinned one; a participant's personalization and
the deliveries decided for them."""

import uuid

from fastapi import APIRouter, status
from sqlmodel import Session

from app.access import visibility
from app.access.scope import StudyAccess
from app.api.deps import (
    CareParticipant,
    CareStudy,
    CurrentStaff,
    ManageStudy,
    NowDep,
    ReadStudy,
    SessionDep,
    staff_actor,
)
from app.pagination import Page, PageDep, map_page
from app.skills import service
from app.skills.models import Delivery, SkillLibrary
from app.skills.schemas import (
    DeliveryOut,
    ForkIn,
    LibraryOut,
    LibraryUpdate,
    PersonalizationIn,
    PersonalizationOut,
    PinIn,
)

router = APIRouter(prefix="/v1/studies/{study_id}", tags=["tailoring"])


def _library_out(library: SkillLibrary, pinned: SkillLibrary | None) -> LibraryOut:
    return LibraryOut(
        id=library.id,
        version=library.version,
        name=library.name,
        published=library.published_at is not None,
        pinned=pinned is not None and pinned.id == library.id,
        forked_from=library.forked_from,
        skills=service.skills_of(library),
        created_at=library.created_at,
        published_at=library.published_at,
    )


@router.get("/libraries", response_model=Page[LibraryOut])
def list_libraries(access: ReadStudy, session: SessionDep, page: PageDep) -> Page[LibraryOut]:
    """Every version of the study's skill library, newest first."""
    pinned = service.pinned_library(session, access.study.id)
    libraries = service.library_page(session, access.study.id, page)
    return map_page(libraries, lambda library: _library_out(library, pinned))


@router.post("/libraries", status_code=status.HTTP_201_CREATED, response_model=LibraryOut)
def fork_library(
    data: ForkIn, access: CareStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> LibraryOut:
    """A new draft, forked from a version of this study's library or from the default."""
    draft = service.fork_library(
        session, access.study.id, staff_actor(user), user.id, data.from_library_id, data.name, now
    )
    return _library_out(draft, service.pinned_library(session, access.study.id))


@router.get("/libraries/{library_id}", response_model=LibraryOut)
def read_library(library_id: uuid.UUID, access: ReadStudy, session: SessionDep) -> LibraryOut:
    library = service.get_library(session, access.study.id, library_id)
    return _library_out(library, service.pinned_library(session, access.study.id))


@router.put("/libraries/{library_id}", response_model=LibraryOut)
def update_library(
    library_id: uuid.UUID,
    data: LibraryUpdate,
    access: CareStudy,
    session: SessionDep,
    user: CurrentStaff,
    now: NowDep,
) -> LibraryOut:
    """Replace a draft's skills (a published version is immutable: 409)."""
    library = service.get_library(session, access.study.id, library_id)
    library = service.update_library(
        session, library, staff_actor(user), data.name, data.skills, now
    )
    return _library_out(library, service.pinned_library(session, access.study.id))


@router.post("/libraries/{library_id}/publish", response_model=LibraryOut)
def publish_library(
    library_id: uuid.UUID, access: CareStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> LibraryOut:
    library = service.get_library(session, access.study.id, library_id)
    library = service.publish_library(session, library, staff_actor(user), now)
    return _library_out(library, service.pinned_library(session, access.study.id))


@router.put("/library", response_model=LibraryOut)
def pin_library(
    data: PinIn, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> LibraryOut:
    """Pin a published version: deliveries from now on draw from it and record it."""
    library = service.get_library(session, access.study.id, data.library_id)
    service.pin_library(session, library, staff_actor(user), now)
    return _library_out(library, library)


def _personalization_out(session: Session, participant_id: uuid.UUID) -> PersonalizationOut:
    record = service.personalization_record(session, participant_id)
    if record is None:
        return PersonalizationOut(
            disabled_skills=[], threshold_overrides={}, extra_skills=[], updated_at=None
        )
    return PersonalizationOut.model_validate(record.model_dump())


@router.get("/participants/{participant_id}/personalization", response_model=PersonalizationOut)
def read_personalization(scope: CareParticipant, session: SessionDep) -> PersonalizationOut:
    return _personalization_out(session, scope.participant.id)


@router.put("/participants/{participant_id}/personalization", response_model=PersonalizationOut)
def save_personalization(
    data: PersonalizationIn,
    scope: CareParticipant,
    session: SessionDep,
    user: CurrentStaff,
    now: NowDep,
) -> PersonalizationOut:
    """Disabled skills, threshold overrides per dimension, and skills written for this client."""
    service.save_personalization(
        session,
        scope.participant,
        staff_actor(user),
        user.id,
        data.disabled_skills,
        data.threshold_overrides,
        data.extra_skills,
        now,
    )
    return _personalization_out(session, scope.participant.id)


def _delivery_out(access: StudyAccess, delivery: Delivery) -> DeliveryOut:
    return DeliveryOut.model_validate(visibility.shown_delivery(access, delivery.model_dump()))


@router.get("/participants/{participant_id}/deliveries", response_model=Page[DeliveryOut])
def list_deliveries(
    scope: CareParticipant, session: SessionDep, page: PageDep
) -> Page[DeliveryOut]:
    return map_page(
        service.list_deliveries(session, scope.participant.id, page),
        lambda delivery: _delivery_out(scope.access, delivery),
    )
