"""Streaming exports: one code path for the API and the command line.

Rows come from a server-side cursor in batches (PostgreSQL: a read-only, repeatable-read
transaction, so a bundle is one consistent snapshot; SQLite: an autocommit read that blocks
no writer) and go straight to a format writer. Every export is an audit event with who,
what, the filters and the row counts, written when the stream ends (or is abandoned).
"""

import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from queue import Full, Queue
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, Select, func
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.checkins.models import Questionnaire, RuleSetVersion
from app.db import unit_of_work
from app.errors import Invalid
from app.export import codebook as codebooks
from app.export.formats import Drain, Format, write
from app.export.tables import (
    TABLES,
    TEXT_RENDERERS,
    ColumnType,
    StudyContext,
    TableSpec,
    output_columns,
    source_columns,
)
from app.rules.items import Item
from app.skills.content import Skill
from app.skills.models import SkillLibrary, StudyLibrary
from app.studies.models import Arm, Participant, Study

T = TypeVar("T")
STAMPS_AS_TEXT = frozenset({ColumnType.timestamp})
RENDERED_AS_TEXT = {
    Format.csv: frozenset(TEXT_RENDERERS),
    Format.ndjson: STAMPS_AS_TEXT,
    Format.parquet: frozenset(),
}
BATCH_ROWS = 10_000
EXTENSIONS = {Format.csv: "csv", Format.ndjson: "ndjson", Format.parquet: "parquet"}


@dataclass(frozen=True)
class Filters:
    start: datetime | None = None  # inclusive, on the table's main timestamp
    end: datetime | None = None  # exclusive
    participants: tuple[str, ...] = ()  # pseudonyms
    arms: tuple[str, ...] = ()  # arm keys
    relative: bool = False  # study day and local time of day instead of timestamps

    def details(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "participants": list(self.participants),
            "arms": list(self.arms),
            "dates": "relative" if self.relative else "absolute",
        }


def study_context(session: Session, study: Study) -> StudyContext:
    """What the export needs to know of the study, read from the tables themselves."""
    arms = session.exec(select(Arm).where(Arm.study_id == study.id).order_by(col(Arm.key)))
    questionnaires = session.exec(
        select(Questionnaire)
        .where(Questionnaire.study_id == study.id)
        .order_by(col(Questionnaire.version).desc())
    ).all()
    items: dict[str, Item] = {}  # first asked first; the latest wording of each
    for questionnaire in questionnaires:
        items.update((item["key"], Item.model_validate(item)) for item in questionnaire.items)
    rule_sets = session.exec(
        select(RuleSetVersion.version)
        .where(RuleSetVersion.study_id == study.id)
        .order_by(col(RuleSetVersion.version).desc())
    ).all()
    pinned = session.exec(
        select(StudyLibrary.library_id).where(StudyLibrary.study_id == study.id)
    ).first()
    libraries = session.exec(
        select(SkillLibrary)
        .where(SkillLibrary.study_id == study.id)
        .order_by(col(SkillLibrary.version).desc())
    ).all()
    versions = {
        "questionnaires": [q.version for q in questionnaires],
        "rule_sets": list(rule_sets),
        "skill_libraries": [
            {
                "version": library.version,
                "name": library.name,
                "published": library.published_at is not None,
                "pinned": library.id == pinned,
                # What selection reads of each skill, in library order: with a delivery's
                # inputs and seed, enough to replay it from the export alone.
                "skills": [
                    {"key": skill.key, "targets": skill.targets, "modalities": skill.modalities}
                    for skill in (Skill.model_validate(raw) for raw in library.skills)
                ],
            }
            for library in libraries
        ],
    }
    return StudyContext(study=study, arms=list(arms), items=list(items.values()), versions=versions)


def spec_for(name: str, field: str) -> TableSpec:
    spec = TABLES.get(name)
    if spec is None:
        raise Invalid(field, f"No export table '{name}'; one of: {', '.join(TABLES)}")
    return spec


def check_filters(session: Session, ctx: StudyContext, filters: Filters, prefix: str) -> None:
    """Refuse filters that cannot match what the caller meant (typos, reversed ranges)."""
    for name, value in (("start", filters.start), ("end", filters.end)):
        if value is not None and value.tzinfo is None:
            raise Invalid(f"{prefix}.{name}", "Give a time zone offset (for example Z)")
    if filters.start and filters.end and filters.end <= filters.start:
        raise Invalid(f"{prefix}.end", "end must be after start")
    unknown_arms = sorted(set(filters.arms) - {arm.key for arm in ctx.arms})
    if unknown_arms:
        raise Invalid(f"{prefix}.arm", f"The study has no arm '{unknown_arms[0]}'")
    if filters.participants:
        known = set(
            session.exec(
                select(Participant.pseudonym).where(
                    Participant.study_id == ctx.study.id,
                    col(Participant.pseudonym).in_(filters.participants),
                )
            )
        )
        unknown = sorted(set(filters.participants) - known)
        if unknown:
            raise Invalid(f"{prefix}.participant", f"The study has no participant '{unknown[0]}'")


def export_job(
    session: Session,
    engine: Engine,
    study: Study,
    fmt: Format,
    filters: Filters,
    actor: Actor,
    now: datetime,
    prefix: str,
) -> "ExportJob":
    """An export of the study, its filters checked (problems name `<prefix>.<filter>`): what
    the API and the console stream. The stream reads on its own connection, after the
    request's unit of work committed (so it holds no SQLite write lock while the file goes
    out)."""
    ctx = study_context(session, study)
    check_filters(session, ctx, filters, prefix)
    return ExportJob(engine, ctx, fmt, filters, actor, now)


def table_query(
    spec: TableSpec,
    ctx: StudyContext,
    filters: Filters,
    as_text: frozenset[ColumnType] = frozenset(),
) -> Select[Any]:
    """The study-scoped select of one table; the benchmark hands the same one to COPY.

    Columns of the types in `as_text` are rendered as text by the database (TEXT_RENDERERS).
    """
    exprs = [
        (TEXT_RENDERERS[c.type](c.expr) if c.type in as_text else c.expr).label(c.name)
        for c in source_columns(spec, ctx, filters.relative)
    ]
    model: Any = spec.model
    if filters.relative:
        origin = func.coalesce(Participant.enrolled_at, Participant.created_at)
        exprs += [col(Participant.timezone), origin]
    query = sa.select(*exprs).select_from(model)
    for target, on in spec.joins:
        query = query.outerjoin(target, on)
    if model is not Participant:
        query = query.join(Participant, col(Participant.id) == model.participant_id)
    query = query.outerjoin(Arm, col(Arm.id) == Participant.arm_id)
    query = query.where(col(Participant.study_id) == ctx.study.id)
    if model is not Participant and hasattr(model, "study_id"):  # its own index narrows the scan
        query = query.where(model.study_id == ctx.study.id)
    if filters.start is not None:
        query = query.where(spec.time_column() >= filters.start)
    if filters.end is not None:
        query = query.where(spec.time_column() < filters.end)
    if filters.participants:
        query = query.where(col(Participant.pseudonym).in_(filters.participants))
    if filters.arms:
        query = query.where(col(Arm.key).in_(filters.arms))
    return query.order_by(*spec.ordering())


def _relative_rows(
    rows: Sequence[Any], stamps: dict[int, int | None], zones: dict[str, ZoneInfo]
) -> list[Any]:
    """Each timestamp as study day and local time of day: in the time zone of the offset
    column named for it (the phone's own clock), else the participant's zone as stored."""
    out = []
    for row in rows:
        *values, zone_name, origin = row
        zone = zones.get(zone_name) or zones.setdefault(zone_name, ZoneInfo(zone_name))
        first_day = origin.astimezone(zone).date()
        converted: list[Any] = []
        for index, value in enumerate(values):
            if index not in stamps:
                converted.append(value)
            elif value is None:
                converted += [None, None]
            else:
                offset = values[stamps[index]] if stamps[index] is not None else None
                local = value.astimezone(
                    zone if offset is None else timezone(timedelta(minutes=offset))
                )
                converted += [(local.date() - first_day).days + 1, local.time()]
        out.append(converted)
    return out


def row_batches(
    connection: Connection,
    spec: TableSpec,
    ctx: StudyContext,
    filters: Filters,
    as_text: frozenset[ColumnType] = frozenset(),
) -> Iterator[list[Any]]:
    result = connection.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
        table_query(spec, ctx, filters, as_text)
    )
    columns = source_columns(spec, ctx, filters.relative)
    positions = {column.name: index for index, column in enumerate(columns)}
    stamps = {
        index: positions.get(column.local_offset) if column.local_offset else None
        for index, column in enumerate(columns)
        if column.type == ColumnType.timestamp
    }
    zones: dict[str, ZoneInfo] = {}
    for partition in result.partitions():
        yield _relative_rows(partition, stamps, zones) if filters.relative else list(partition)


_DONE = object()


def prefetched(batches: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Fetch the next batches on a thread while the caller encodes this one: the driver waits
    on the network without the GIL, so fetching and writing overlap. At most `depth` batches
    wait, so memory stays flat; a caller that stops early stops the thread."""
    waiting: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not hand_over(batch):
                    return
            hand_over(_DONE)
        except Exception as exc:  # handed to the caller's thread, raised there
            hand_over(exc)

    thread = threading.Thread(target=produce, name="export-prefetch", daemon=True)
    thread.start()
    try:
        while (item := waiting.get()) is not _DONE:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "postgresql":
        options: dict[str, Any] = {
            "isolation_level": "REPEATABLE READ",
            "postgresql_readonly": True,
        }
    else:
        options = {"isolation_level": "AUTOCOMMIT"}
    with engine.connect().execution_options(**options) as connection, connection.begin():
        yield connection


def _counted(batches: Iterator[list[Any]], tally: Callable[[int], None]) -> Iterator[list[Any]]:
    for batch in batches:
        tally(len(batch))
        yield batch


def table_chunks(
    connection: Connection,
    spec: TableSpec,
    ctx: StudyContext,
    fmt: Format,
    filters: Filters,
    tally: Callable[[int], None],
) -> Iterator[bytes]:
    if fmt == Format.csv and not filters.relative and connection.dialect.name == "postgresql":
        query = table_query(spec, ctx, filters, frozenset(TEXT_RENDERERS))
        return server_csv(connection, query, tally)
    return client_chunks(connection, spec, ctx, fmt, filters, tally)


def client_chunks(
    connection: Connection,
    spec: TableSpec,
    ctx: StudyContext,
    fmt: Format,
    filters: Filters,
    tally: Callable[[int], None],
) -> Iterator[bytes]:
    """A table encoded here, by the format writers: every format on every database."""
    columns = [(c.name, c.type) for c in output_columns(spec, ctx, filters.relative)]
    # Text formats take timestamps as text from the database: no parsing, no re-formatting
    # (unless they become study days); CSV takes every column COPY renders as COPY has it.
    as_text = RENDERED_AS_TEXT[fmt] - (STAMPS_AS_TEXT if filters.relative else frozenset())
    batches = prefetched(row_batches(connection, spec, ctx, filters, as_text))
    return write(fmt, columns, _counted(batches, tally))


def server_csv(
    connection: Connection, query: Select[Any], tally: Callable[[int], None]
) -> Iterator[bytes]:
    """CSV encoded by PostgreSQL itself: COPY (the export's select) TO STDOUT, streamed.

    It runs in the export's transaction and snapshot. The query renders values as text the
    way client_chunks has them for the csv module (TEXT_RENDERERS) and formats.csv_number
    writes numbers as COPY does, so both paths write the same bytes (tests prove it).
    """
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    statement = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, HEADER)"
    counted, header = 0, True
    with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(statement, compiled.params) as copy:
            for block in copy:
                data = bytes(block)
                lines = data.count(b"\n")  # rows, unless a value holds a line break
                if header and lines:
                    lines, header = lines - 1, False
                counted += lines
                tally(lines)
                yield data
        tally(cursor.rowcount - counted)  # the exact count, from the server


def audited_stream(
    engine: Engine,
    actor: Actor,
    now: datetime,
    study: Study,
    action: str,
    body: Iterator[bytes],
    details: Callable[[bool], dict[str, Any]],
) -> Iterator[bytes]:
    """Stream `body`, then record the export as an audit event in its own unit of work,
    saying whether it ran to the end (a client may stop reading half-way)."""
    complete = False
    try:
        yield from body
        complete = True
    finally:
        with unit_of_work(engine) as session:
            audit.record(
                session,
                actor,
                action,
                at=now,
                resource_type="study",
                resource_id=study.id,
                study_id=study.id,
                details=details(complete),
            )


@dataclass
class ExportJob:
    """One export: what it streams, and the audit event it leaves behind."""

    engine: Engine
    ctx: StudyContext
    fmt: Format
    filters: Filters
    actor: Actor
    now: datetime
    progress: Callable[[int], None] | None = None  # told the row count of every batch
    # Rows streamed so far, by table: the tally the audit event records.
    rows: dict[str, int] = field(default_factory=dict)

    def _audited(
        self, action: str, details: dict[str, Any], rows: dict[str, int], body: Iterator[bytes]
    ) -> Iterator[bytes]:
        def described(complete: bool) -> dict[str, Any]:
            return {
                **details,
                "format": str(self.fmt),
                "filters": self.filters.details(),
                "rows": rows,
                "complete": complete,
            }

        return audited_stream(
            self.engine, self.actor, self.now, self.ctx.study, action, body, described
        )

    def _tally(self, rows: dict[str, int], name: str) -> Callable[[int], None]:
        def tally(count: int) -> None:
            rows[name] += count
            if self.progress is not None:
                self.progress(count)

        return tally

    def table(self, spec: TableSpec) -> Iterator[bytes]:
        rows = self.rows = {spec.name: 0}
        tally = self._tally(rows, spec.name)

        def body() -> Iterator[bytes]:
            with read_connection(self.engine) as connection:
                yield from table_chunks(connection, spec, self.ctx, self.fmt, self.filters, tally)

        return self._audited("export.table", {"table": spec.name}, rows, body())

    def bundle(self) -> Iterator[bytes]:
        rows = self.rows = dict.fromkeys(TABLES, 0)

        def body() -> Iterator[bytes]:
            sink = Drain()
            stored = self.fmt == Format.parquet  # compressed already
            method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with (
                read_connection(self.engine) as connection,
                zipfile.ZipFile(sink, "w", compression=method) as archive,
            ):
                for name, spec in TABLES.items():
                    tally = self._tally(rows, name)
                    filename = f"{name}.{EXTENSIONS[self.fmt]}"
                    with archive.open(filename, "w", force_zip64=True) as member:
                        for chunk in table_chunks(
                            connection, spec, self.ctx, self.fmt, self.filters, tally
                        ):
                            member.write(chunk)
                            if compressed := sink.drain():  # the deflater may hold it all
                                yield compressed
                book = codebooks.codebook(self.ctx, self.filters.relative)
                archive.writestr("codebook.json", codebooks.json_text(book))
                archive.writestr("codebook.md", codebooks.markdown(book))
            yield sink.drain()

        return self._audited("export.bundle", {"tables": list(TABLES)}, rows, body())


def export_filename(study: Study, name: str, fmt: Format | None) -> str:
    suffix = "zip" if fmt is None else EXTENSIONS[fmt]
    return f"kairos-{study.id}-{name}.{suffix}"
