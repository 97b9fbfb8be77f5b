"""FHIR exports of a study: its questionnaire versions, and its check-ins as responses in
a Bundle streamed as it is read (the exports' filters, snapshot and audit trail), and FHIR
questionnaires loaded as item packs."""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from fhir.resources.R4B.questionnaire import Questionnaire as FhirQuestionnaire
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.audit.service import Actor
from app.checkins import service as checkins
from app.checkins.models import CheckIn, Questionnaire
from app.errors import Invalid
from app.export import service as exports
from app.export.tables import TABLES, Column, ColumnType, StudyContext
from app.fhir import resources
from app.rules.items import Item
from app.studies.models import Participant, Study

Resource = Literal["Questionnaire", "QuestionnaireResponse"]
MEDIA_TYPE = "application/fhir+json"


def _response_columns(ctx: StudyContext) -> list[Column]:
    """What a QuestionnaireResponse is made of: the check-in as stored, by pseudonym."""
    return [
        Column(name, kind, name, expr)
        for name, kind, expr in (
            ("participant", ColumnType.string, col(Participant.pseudonym)),
            ("checkin", ColumnType.string, col(CheckIn.client_id)),
            ("answered_at", ColumnType.timestamp, col(CheckIn.answered_at)),
            ("offset", ColumnType.integer, col(CheckIn.answered_offset_minutes)),
            ("version", ColumnType.integer, col(CheckIn.questionnaire_version)),
            ("answers", ColumnType.json, col(CheckIn.answers)),
        )
    ]


# The check-ins export's rows (study scope, filters, order), read as whole check-ins.
RESPONSES = replace(TABLES["checkins"], name="fhir", columns=_response_columns, joins=())


@dataclass(frozen=True)
class StudyQuestionnaires:
    """Every version of a study's check-in, oldest first: as FHIR, and its items."""

    resources: list[FhirQuestionnaire]
    items: dict[int, list[Item]]


def study_questionnaires(session: Session, study: Study) -> StudyQuestionnaires:
    versions = session.exec(
        select(Questionnaire)
        .where(Questionnaire.study_id == study.id)
        .order_by(col(Questionnaire.version))
    ).all()
    in_use = max((q.version for q in versions if q.frozen_at is not None), default=None)
    items = {version.version: checkins.items_of(version) for version in versions}
    return StudyQuestionnaires(
        resources=[
            resources.questionnaire_resource(
                study_id=study.id,
                title=f"{study.name}: check-in",
                locale=study.default_locale,
                version=version.version,
                items=items[version.version],
                packs=version.packs,
                status=(
                    "draft"
                    if version.frozen_at is None
                    else ("active" if version.version == in_use else "retired")
                ),
                date=version.frozen_at or version.created_at,
            )
            for version in versions
        ],
        items=items,
    )


def check_absolute(filters: exports.Filters, field: str) -> None:
    if filters.relative:
        raise Invalid(field, "FHIR resources carry their dates: relative dates are not offered")


def fhir_export(
    session: Session,
    engine: Engine,
    study: Study,
    filters: exports.Filters,
    actor: Actor,
    now: datetime,
    prefix: str,
) -> "FhirExport":
    """A FHIR export of the study, its filters checked (problems name `<prefix>.<filter>`):
    what the API and the console stream."""
    check_absolute(filters, f"{prefix}.dates")
    ctx = exports.study_context(session, study)
    exports.check_filters(session, ctx, filters, prefix)
    return FhirExport(engine, ctx, filters, study_questionnaires(session, study), actor, now)


def fhir_filename(study: Study, resource: Resource) -> str:
    return f"kairos-{study.id}-{resource}.json"


@dataclass
class FhirExport:
    """One FHIR Bundle of a study (a collection), and the audit event it leaves behind."""

    engine: Engine
    ctx: StudyContext
    filters: exports.Filters
    questionnaires: StudyQuestionnaires
    actor: Actor
    now: datetime
    progress: Callable[[int], None] | None = None  # told the count of each batch of responses
    rows: dict[str, int] = field(default_factory=dict)

    def bundle(self, only: Resource | None = None) -> Iterator[bytes]:
        """The questionnaires, then the responses (or only one of them), streamed."""
        kinds: list[Resource] = [only] if only else ["Questionnaire", "QuestionnaireResponse"]
        self.rows = dict.fromkeys(kinds, 0)
        return self._audited(self._entries(kinds), kinds)

    def _entries(self, kinds: list[Resource]) -> Iterator[bytes]:
        head = {"resourceType": "Bundle", "type": "collection", "timestamp": self.now.isoformat()}
        yield json.dumps(head)[:-1].encode() + b', "entry": ['
        first = True
        for resource in self._resources(kinds):
            yield (b"" if first else b",") + b'{"resource":' + resource + b"}"
            first = False
        yield b"]}"

    def _resources(self, kinds: list[Resource]) -> Iterator[bytes]:
        if "Questionnaire" in kinds:
            for questionnaire in self.questionnaires.resources:
                self.rows["Questionnaire"] += 1
                yield questionnaire.model_dump_json(exclude_none=True).encode()
        if "QuestionnaireResponse" in kinds:
            items = self.questionnaires.items
            with exports.read_connection(self.engine) as connection:
                for batch in exports.row_batches(connection, RESPONSES, self.ctx, self.filters):
                    for pseudonym, client_id, answered_at, offset, version, answers in batch:
                        response = resources.response_resource(
                            study_id=self.ctx.study.id,
                            version=version,
                            items=items[version],
                            locale=self.ctx.study.default_locale,
                            pseudonym=pseudonym,
                            client_id=client_id,
                            answered_at=answered_at,
                            offset_minutes=offset,
                            answers=answers,
                        )
                        yield response.model_dump_json(exclude_none=True).encode()
                    self.rows["QuestionnaireResponse"] += len(batch)
                    if self.progress is not None:
                        self.progress(len(batch))

    def _audited(self, body: Iterator[bytes], kinds: list[Resource]) -> Iterator[bytes]:
        def described(complete: bool) -> dict[str, Any]:
            return {
                "resources": kinds,
                "format": "fhir",
                "filters": self.filters.details(),
                "rows": self.rows,
                "complete": complete,
            }

        return exports.audited_stream(
            self.engine, self.actor, self.now, self.ctx.study, "export.fhir", body, described
        )


def load_questionnaire(
    session: Session, study: Study, actor: Actor, body: Any, now: datetime
) -> Questionnaire:
    """A FHIR Questionnaire's items appended to the draft as an item pack, its licence kept."""
    try:
        pack = resources.item_pack(resources.parse_questionnaire(body), study.default_locale)
    except resources.Unsupported as problem:
        raise Invalid(f"body.{problem.path}", problem.message, code="fhir_unsupported") from None
    return checkins.load_pack(session, study, actor, pack, now, items_path="body.item")
