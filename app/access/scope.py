"""Study scoping: every read of study data goes through the caller's membership.

A study the caller is not a member of does not exist for them (404); a member whose role
is not enough gets 403. A participant exists for a caller only within a study they may see.
"""

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from app.auth.models import StaffUser
from app.errors import Forbidden, NotFound
from app.studies.models import Membership, Participant, Study
from app.vocabulary import Role

OWNER = frozenset({Role.owner})
MANAGE = frozenset({Role.owner, Role.researcher})
CARE = frozenset({Role.owner, Role.researcher, Role.clinician})
READ = frozenset(Role)


@dataclass(frozen=True)
class StudyAccess:
    """A study as one member may act in it."""

    study: Study
    role: Role


@dataclass(frozen=True)
class StudyParticipant:
    """A participant of a study the caller may act in."""

    access: StudyAccess
    participant: Participant


def study_for(
    session: Session, user: StaffUser, study_id: uuid.UUID, roles: Collection[Role] = READ
) -> StudyAccess:
    row = session.exec(
        select(Study, Membership.role)
        .join(Membership, col(Membership.study_id) == Study.id)
        .where(Study.id == study_id, Membership.user_id == user.id)
    ).first()
    if row is None:
        raise NotFound("Study not found")
    study, role = row
    if role not in roles:
        raise Forbidden(f"Your role ({role}) cannot do this in this study", code="role_forbidden")
    return StudyAccess(study=study, role=Role(role))


def studies_with_role(
    session: Session, user: StaffUser, roles: Collection[Role]
) -> list[StudyAccess]:
    """Every study the caller is a member of with one of these roles (a view across
    studies, such as the safety inbox)."""
    rows = session.exec(
        select(Study, Membership.role)
        .join(Membership, col(Membership.study_id) == Study.id)
        .where(Membership.user_id == user.id, col(Membership.role).in_(list(roles)))
        .order_by(col(Study.name), col(Study.id))
    )
    return [StudyAccess(study=study, role=Role(role)) for study, role in rows]


def _participant_where(
    session: Session, access: StudyAccess, condition: ColumnElement[bool]
) -> StudyParticipant:
    participant = session.exec(
        select(Participant).where(condition, Participant.study_id == access.study.id)
    ).first()
    if participant is None:
        raise NotFound("Participant not found")
    return StudyParticipant(access=access, participant=participant)


def participant_in(
    session: Session, access: StudyAccess, participant_id: uuid.UUID
) -> StudyParticipant:
    """The participant, only within the caller's study (404 otherwise)."""
    return _participant_where(session, access, col(Participant.id) == participant_id)


def participant_named(session: Session, access: StudyAccess, pseudonym: str) -> StudyParticipant:
    """The participant of this pseudonym, only within the caller's study (404 otherwise)."""
    return _participant_where(session, access, col(Participant.pseudonym) == pseudonym)
