"""A study's check-in questionnaire and check-ins as FHIR R4 Bundles (owners and researchers)."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from app.access.scope import StudyAccess
from app.api.deps import CurrentStaff, EngineDep, ManageStudy, NowDep, SessionDep, staff_actor
from app.api.exports import FiltersDep
from app.export import service as exports
from app.fhir import service
from app.fhir.service import MEDIA_TYPE, Resource

router = APIRouter(prefix="/v1/studies/{study_id}/fhir", tags=["exports"])
_BUNDLE: dict[int | str, dict[str, Any]] = {200: {"content": {MEDIA_TYPE: {}}}}


def _bundle(
    resource: Resource,
    access: StudyAccess,
    session: SessionDep,
    engine: EngineDep,
    user: CurrentStaff,
    now: NowDep,
    filters: exports.Filters,
) -> StreamingResponse:
    job = service.fhir_export(
        session, engine, access.study, filters, staff_actor(user), now, "query"
    )
    filename = service.fhir_filename(access.study, resource)
    return StreamingResponse(
        job.bundle(resource),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/Questionnaire", response_class=StreamingResponse, responses=_BUNDLE)
def questionnaire_bundle(
    access: ManageStudy,
    session: SessionDep,
    engine: EngineDep,
    user: CurrentStaff,
    now: NowDep,
) -> StreamingResponse:
    """Every version of the check-in as a FHIR R4 Questionnaire (a collection Bundle), every
    locale in it; Kairos's codes are under https://kairos.invalid/fhir (an identifier, never
    an address that resolves)."""
    return _bundle("Questionnaire", access, session, engine, user, now, exports.Filters())


@router.get("/QuestionnaireResponse", response_class=StreamingResponse, responses=_BUNDLE)
def response_bundle(
    access: ManageStudy,
    session: SessionDep,
    engine: EngineDep,
    user: CurrentStaff,
    now: NowDep,
    filters: FiltersDep,
) -> StreamingResponse:
    """Every check-in as a FHIR R4 QuestionnaireResponse (a collection Bundle, streamed):
    the questionnaire version answered, the participant by pseudonym, authored when answered.
    Filtered as the exports are (received between start and end, participants, arms)."""
    return _bundle("QuestionnaireResponse", access, session, engine, user, now, filters)
