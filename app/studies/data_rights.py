"""Participant data rights: erasure and access, generically over every table.

A table holds a person's data when it has a `participant_id` column or a foreign key to
the participant, or a foreign key to a row of such a table (a detection of a check-in,
say). The walk is over the metadata, so a table added
later is covered without changing this module. The participant row stays as a tombstone
with the pseudonym; the allocation stays as the trial record (the randomization sequence
must replay without holes), carrying no personal field.
"""

import uuid
from datetime import datetime
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import ColumnElement, Table, delete, or_, select, update
from sqlmodel import Session, col

from app.access import visibility
from app.audit import service as audit
from app.audit.models import AuditEvent
from app.audit.service import Actor
from app.db import metadata, rows_changed
from app.errors import Invalid
from app.studies.models import Allocation, Participant, Study
from app.vocabulary import ParticipantStatus

PARTICIPANT_TABLE: Table = Participant.__table__  # type: ignore[attr-defined]
# Kept on erasure: the randomization record, needed to replay the allocation sequence.
RETAINED = frozenset({Allocation.__tablename__})
# Never shown, not even to the person: digests of their secrets.
SECRET_SUFFIX = "_hash"
S = ParticipantStatus
TAKING_PART = frozenset({S.invited, S.active, S.paused})


def personal_tables(participant_id: uuid.UUID) -> dict[Table, ColumnElement[bool]]:
    """Every table holding rows of this participant, parents first, with the predicate."""
    owned: dict[Table, ColumnElement[bool]] = {}
    for table in metadata.sorted_tables:
        if table is PARTICIPANT_TABLE:
            continue
        conditions: list[ColumnElement[bool]] = []
        if "participant_id" in table.c:  # with or without a foreign key
            conditions.append(table.c.participant_id == participant_id)
        for key in table.foreign_keys:
            parent = key.column.table
            if parent is PARTICIPANT_TABLE and key.parent.name != "participant_id":
                conditions.append(key.parent == participant_id)
            elif parent in owned:
                conditions.append(key.parent.in_(select(key.column).where(owned[parent])))
        if conditions:
            owned[table] = or_(*conditions)
    return owned


def erase(
    session: Session, actor: Actor, participant: Participant, pseudonym: str, now: datetime
) -> Participant:
    """Remove the person's data from every table and keep a tombstone; idempotent."""
    if pseudonym != participant.pseudonym:
        raise Invalid(
            "body.pseudonym",
            "Type the participant's pseudonym to confirm the erasure",
            code="pseudonym_mismatch",
        )
    if participant.erased_at is not None:
        return participant
    removed: dict[str, int] = {}
    for table, condition in reversed(personal_tables(participant.id).items()):
        if table.name not in RETAINED:
            removed[table.name] = rows_changed(session, delete(table).where(condition))
    audit_events_cleared = _forget_audit_details(session, participant.id)
    participant.external_ref = None
    participant.strata = {}
    participant.locale = None
    participant.erased_at = now
    if participant.status in {
        ParticipantStatus.invited,
        ParticipantStatus.active,
        ParticipantStatus.paused,
    }:
        participant.status = ParticipantStatus.withdrawn
        participant.status_changed_at = now
    session.add(participant)
    audit.record(
        session,
        actor,
        "participant.erase",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={
            "pseudonym": participant.pseudonym,
            "rows_removed": removed,
            "audit_events_cleared": audit_events_cleared,
        },
    )
    session.flush()
    return participant


def _forget_audit_details(session: Session, participant_id: uuid.UUID) -> int:
    """Empty the details of the audit events by or about the person (waking hours, reasons
    typed by staff, personalization); who did what, and when, stays on the record."""
    by_or_about = or_(
        (col(AuditEvent.actor_type) == "participant")
        & (col(AuditEvent.actor_id) == str(participant_id)),
        (col(AuditEvent.resource_type) == "participant")
        & (col(AuditEvent.resource_id) == str(participant_id)),
        # A phone that moved to someone else names its former participant in the details.
        (col(AuditEvent.action) == "device.moved")
        & (col(AuditEvent.details)["from_participant"].as_string() == str(participant_id)),
    )
    return rows_changed(session, update(AuditEvent).where(by_or_about).values(details={}))


def _visible(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if not name.endswith(SECRET_SUFFIX)}


def _withhold(row: dict[str, Any], columns: frozenset[str]) -> dict[str, Any]:
    return {name: None if name in columns else value for name, value in row.items()}


def personal_data(session: Session, participant: Participant, now: datetime) -> dict[str, Any]:
    """Everything stored about the person, table by table, as JSON-ready data; while the
    study blinds it, without their arm, staff notes and the tables only some arms have
    (`withheld` names those columns)."""
    study = session.get_one(Study, participant.study_id)
    withheld = visibility.withheld_from_participant(study)
    withheld_tables = visibility.tables_withheld_from_participant(study)
    none: frozenset[str] = frozenset()
    person = _withhold(_visible(participant.model_dump()), withheld.get("participant", none))
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, condition in personal_tables(participant.id).items():
        if table.name in withheld_tables:
            tables[table.name] = []
            withheld[table.name] = frozenset(table.c.keys())
            continue
        rows = session.execute(select(table).where(condition)).mappings()
        hidden = withheld.get(table.name, none)
        tables[table.name] = [_withhold(_visible(dict(row)), hidden) for row in rows]
    audit.record(
        session,
        Actor("participant", str(participant.id)),
        "participant.data_access",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={"rows": {name: len(rows) for name, rows in tables.items()}},
    )
    session.flush()
    data: dict[str, Any] = jsonable_encoder(
        {
            "participant": person,
            "tables": tables,
            "withheld": {table: sorted(columns) for table, columns in withheld.items()},
            "exported_at": now,
        }
    )
    return data
