"""Research data exports, the codebook and the trial replay (owners and researchers)."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse

from app.api.deps import CurrentStaff, EngineDep, ManageStudy, NowDep, SessionDep, staff_actor
from app.export import codebook as codebooks
from app.export import service
from app.export.formats import MEDIA_TYPES, Format
from app.flows import replay
from app.types import Instant, Key, Pseudonym

router = APIRouter(prefix="/v1/studies/{study_id}", tags=["exports"])

Dates = Literal["absolute", "relative"]
_STREAMED: dict[int | str, dict[str, Any]] = {
    200: {"content": {media: {} for media in (*MEDIA_TYPES.values(), "application/zip")}}
}


def export_filters(
    start: Annotated[
        Instant | None, Query(description="Rows from this instant on (inclusive)")
    ] = None,
    end: Annotated[Instant | None, Query(description="Rows before this instant")] = None,
    participant: Annotated[
        list[Pseudonym], Query(max_length=1000, description="Only these pseudonyms")
    ] = [],  # noqa: B006  (FastAPI copies query defaults)
    arm: Annotated[list[Key], Query(max_length=20, description="Only these arms")] = [],  # noqa: B006
    dates: Annotated[
        Dates, Query(description="relative: study day and local time of day, no dates")
    ] = "absolute",
) -> service.Filters:
    return service.Filters(
        start=start,
        end=end,
        participants=tuple(participant),
        arms=tuple(arm),
        relative=dates == "relative",
    )


FiltersDep = Annotated[service.Filters, Depends(export_filters)]


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


@router.get("/exports/bundle", response_class=StreamingResponse, responses=_STREAMED)
def export_bundle(
    access: ManageStudy,
    session: SessionDep,
    engine: EngineDep,
    user: CurrentStaff,
    now: NowDep,
    filters: FiltersDep,
    format: Format = Format.csv,
) -> StreamingResponse:
    """A zip of every table in one format, with codebook.json and codebook.md (streamed)."""
    job = service.export_job(
        session, engine, access.study, format, filters, staff_actor(user), now, "query"
    )
    return StreamingResponse(
        job.bundle(),
        media_type="application/zip",
        headers=_attachment(service.export_filename(access.study, "bundle", None)),
    )


@router.get("/exports/{table}", response_class=StreamingResponse, responses=_STREAMED)
def export_table(
    table: str,
    access: ManageStudy,
    session: SessionDep,
    engine: EngineDep,
    user: CurrentStaff,
    now: NowDep,
    filters: FiltersDep,
    format: Format = Format.csv,
) -> StreamingResponse:
    """One table (participants, allocations, prompts, …) as CSV, NDJSON or Parquet, streamed.

    Participants appear by pseudonym; device and contact data are never exported.
    """
    spec = service.spec_for(table, "path.table")
    job = service.export_job(
        session, engine, access.study, format, filters, staff_actor(user), now, "query"
    )
    return StreamingResponse(
        job.table(spec),
        media_type=MEDIA_TYPES[format],
        headers=_attachment(service.export_filename(access.study, spec.name, format)),
    )


@router.get(
    "/codebook",
    responses={200: {"content": {"application/json": {}, "text/markdown": {}}}},
)
def read_codebook(
    access: ManageStudy,
    session: SessionDep,
    format: Literal["json", "md"] = "json",
    dates: Dates = "absolute",
) -> Response:
    """What every exported column means, generated from the study (JSON or Markdown)."""
    ctx = service.study_context(session, access.study)
    book = codebooks.codebook(ctx, dates == "relative")
    if format == "md":
        return Response(codebooks.markdown(book), media_type="text/markdown; charset=utf-8")
    return Response(codebooks.json_text(book), media_type="application/json")


@router.get("/replay", response_model=replay.ReplayReport)
def replay_study(access: ManageStudy, session: SessionDep) -> replay.ReplayReport:
    """Recompute the allocation sequence from the recorded seed and report every mismatch."""
    return replay.replay(session, access.study)
