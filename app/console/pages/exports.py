"""Research data out of the console: a table or the bundle in a format with the exports'
filters, the FHIR bundles, and the codebook as a page. The same services, roles (owners and
researchers), streaming and audit events ("export.table", "export.bundle", "export.fhir")
as app/api/exports.py and app/api/fhir.py; downloads are GETs, like the API's, that change
nothing but leave their audit event."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import Session

from app.access.scope import StudyAccess
from app.api.deps import EngineDep, NowDep, SessionDep
from app.console.deps import ConsoleUser, ManageStudy, SignedIn
from app.console.forms import Form, submit
from app.console.pages.editing import study_page
from app.export import codebook as codebooks
from app.export import service
from app.export.formats import MEDIA_TYPES, Format
from app.export.tables import TABLES
from app.fhir import service as fhir
from app.types import Instant, Key, Pseudonym

router = APIRouter(prefix="/console/studies/{study_id}")

Dates = Literal["absolute", "relative"]
# The form's inputs: the export route's query parameters, by the same names.
INPUTS = ("table", "format", "start", "end", "participant", "arm", "dates")
_SEPARATORS = re.compile(r"[\s,;]+")


class ExportChoice(BaseModel):
    """What the export form asks for: the API's export parameters and their types."""

    model_config = ConfigDict(extra="forbid")

    table: str = "participants"
    format: Format = Format.csv
    start: Instant | None = None
    end: Instant | None = None
    participant: Annotated[list[Pseudonym], Field(max_length=1000)] = []
    arm: Annotated[list[Key], Field(max_length=20)] = []
    dates: Dates = "absolute"

    def filters(self) -> service.Filters:
        return service.Filters(
            start=self.start,
            end=self.end,
            participants=tuple(self.participant),
            arms=tuple(self.arm),
            relative=self.dates == "relative",
        )


def local_instant(value: str, zone: ZoneInfo) -> str:
    """A browser's date and time (no zone) as the UTC instant it is in the study's time zone;
    anything else is left for the model to refuse."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone).astimezone(UTC)
    return parsed.isoformat()


def _chosen(request: Request) -> tuple[Form, dict[str, Any]]:
    """The form as sent (for showing it again) and the body the model reads."""
    query = request.query_params
    form = Form(
        values={name: query[name] for name in INPUTS if name in query and name != "arm"},
        known=frozenset(INPUTS),
    )
    body: dict[str, Any] = {k: v for k, v in form.data().items() if k != "participant"}
    return form, body


def _choice(
    request: Request, access: StudyAccess, form: Form, body: dict[str, Any]
) -> ExportChoice:
    zone = ZoneInfo(access.study.default_timezone)
    for name in ("start", "end"):
        if name in body:
            body[name] = local_instant(body[name], zone)
    body["participant"] = [p for p in _SEPARATORS.split(form.value("participant")) if p]
    body["arm"] = request.query_params.getlist("arm")
    return form.parse(ExportChoice, body)


def _form_page(
    request: Request,
    access: StudyAccess,
    session: SessionDep,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = service.study_context(session, access.study)
    return study_page(
        request,
        access,
        "/exports",
        "exports/form.html",
        {
            "form": form,
            "table_options": [(name, name) for name in TABLES],
            "format_options": [(fmt.value, fmt.value.upper()) for fmt in Format],
            "arms": ctx.arms,
            "chosen_arms": request.query_params.getlist("arm"),
            "zone": access.study.default_timezone,
        },
        status_code,
    )


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def _download(body: Iterator[bytes], media_type: str, filename: str) -> StreamingResponse:
    return StreamingResponse(body, media_type=media_type, headers=_attachment(filename))


@router.get("/exports", response_class=HTMLResponse)
def export_form(request: Request, access: ManageStudy, session: SessionDep) -> HTMLResponse:
    return _form_page(request, access, session, _chosen(request)[0])


@dataclass(frozen=True)
class Exporter:
    """What every download route takes: who asks, in which study, on which database, when."""

    request: Request
    access: StudyAccess
    me: SignedIn
    session: Session
    engine: Engine
    now: datetime

    def streamed(self, work: Callable[[ExportChoice], StreamingResponse]) -> Response:
        """The chosen export streamed, or the form again with the problems the API would
        give (422, named by input)."""
        request, access, session = self.request, self.access, self.session
        form, body = _chosen(request)
        return submit(
            session,
            form,
            lambda shown, status: _form_page(request, access, session, shown, status),
            lambda: work(_choice(request, access, form, body)),
        )

    def job(self, choice: ExportChoice) -> service.ExportJob:
        return service.export_job(
            self.session,
            self.engine,
            self.access.study,
            choice.format,
            choice.filters(),
            self.me.actor,
            self.now,
            "body",
        )


def exporter(
    request: Request,
    access: ManageStudy,
    me: ConsoleUser,
    session: SessionDep,
    engine: EngineDep,
    now: NowDep,
) -> Exporter:
    return Exporter(request, access, me, session, engine, now)


ExporterDep = Annotated[Exporter, Depends(exporter)]


@router.get("/exports/file")
def export_table(exports: ExporterDep) -> Response:
    """One table, as GET /v1/studies/{id}/exports/{table} streams it."""

    def stream(choice: ExportChoice) -> StreamingResponse:
        spec = service.spec_for(choice.table, "body.table")
        job = exports.job(choice)
        filename = service.export_filename(exports.access.study, spec.name, choice.format)
        return _download(job.table(spec), MEDIA_TYPES[choice.format], filename)

    return exports.streamed(stream)


@router.get("/exports/bundle")
def export_bundle(exports: ExporterDep) -> Response:
    """Every table and the codebook in a zip, as GET /v1/studies/{id}/exports/bundle."""

    def stream(choice: ExportChoice) -> StreamingResponse:
        filename = service.export_filename(exports.access.study, "bundle", None)
        return _download(exports.job(choice).bundle(), "application/zip", filename)

    return exports.streamed(stream)


@router.get("/exports/fhir/{resource}")
def export_fhir(resource: fhir.Resource, exports: ExporterDep) -> Response:
    """The questionnaire versions, or the check-ins with the form's filters, as a FHIR R4
    Bundle (GET /v1/studies/{id}/fhir/{resource}); questionnaires take no filters."""

    def stream(choice: ExportChoice) -> StreamingResponse:
        filters = choice.filters() if resource == "QuestionnaireResponse" else service.Filters()
        study, actor = exports.access.study, exports.me.actor
        job = fhir.fhir_export(
            exports.session, exports.engine, study, filters, actor, exports.now, "body"
        )
        return _download(job.bundle(resource), fhir.MEDIA_TYPE, fhir.fhir_filename(study, resource))

    return exports.streamed(stream)


@router.get("/codebook", response_model=None)
def codebook(
    request: Request,
    access: ManageStudy,
    session: SessionDep,
    dates: Dates = "absolute",
    format: Literal["html", "json", "md"] = "html",
) -> Response:
    """What every exported column means (the API's codebook), as a page or a file."""
    ctx = service.study_context(session, access.study)
    book = codebooks.codebook(ctx, dates == "relative")
    if format == "html":
        return study_page(
            request, access, "/exports", "exports/codebook.html", {"book": book, "dates": dates}
        )
    text, media = (
        (codebooks.markdown(book), "text/markdown; charset=utf-8")
        if format == "md"
        else (codebooks.json_text(book), "application/json")
    )
    filename = f"kairos-{access.study.id}-codebook.{format}"
    return Response(text, media_type=media, headers=_attachment(filename))
