"""What a change to a participant means for their prompts: enrollment and a new time zone
plan them, a status change plans or stops them, a new device resumes held pushes; and for
the study's reference values, an erasure."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from app.access.scope import StudyAccess
from app.audit.service import Actor
from app.checkins import service as checkins
from app.errors import Problem
from app.pagination import Page, PageParams
from app.scheduling import service as scheduling
from app.studies import data_rights, participants
from app.studies.models import Device, Participant, Study
from app.studies.schemas import (
    ParticipantOut,
    ParticipantSelfUpdate,
    ParticipantUpdate,
    StatusChange,
)
from app.vocabulary import ParticipantStatus


def enroll(
    session: Session,
    code: str,
    client_address: str,
    limit: participants.EnrollmentLimit,
    now: datetime,
    horizon: timedelta,
) -> tuple[Participant, Study, str] | Problem:
    """Redeem a one-time code (an arm is allocated) and plan the participant's prompts; a
    refused code comes back as the Problem to answer with."""
    enrolled = participants.enroll(session, code, client_address, limit, now)
    if isinstance(enrolled, Problem):
        return enrolled
    participant, _study, _token = enrolled
    scheduling.replan_participant(session, participant, now, horizon)
    return enrolled


def update_participant(
    session: Session,
    actor: Actor,
    participant: Participant,
    data: ParticipantUpdate | ParticipantSelfUpdate,
    now: datetime,
    horizon: timedelta,
) -> Participant:
    changed = participants.update_participant(session, actor, participant, data, now)
    if "timezone" in changed:
        # Local prompt times move with the participant's zone.
        scheduling.replan_participant(session, participant, now, horizon)
    return participant


def change_status(
    session: Session,
    actor: Actor,
    participant: Participant,
    change: StatusChange,
    now: datetime,
    horizon: timedelta,
) -> Participant:
    """Pause, resume, withdraw or complete: an active participant's prompts are planned
    again (as far ahead as `horizon`); any other status stops every push at once."""
    participants.change_status(session, actor, participant, change, now)
    if change.status == ParticipantStatus.active:
        scheduling.replan_participant(session, participant, now, horizon)
    else:
        scheduling.cancel_open_prompts(
            session, now, f"participant {change.status}", participant_id=participant.id
        )
    return participant


def register_device(
    session: Session,
    participant: Participant,
    identifier: str,
    identifier_kind: str,
    platform: str,
    now: datetime,
) -> Device:
    """Register or refresh the phone; prompts held for want of one get their pushes back."""
    device = participants.register_device(
        session, participant, identifier, identifier_kind, platform, now
    )
    scheduling.resume_pushes(session, participant.id, now)
    return device


def erase(
    session: Session, actor: Actor, participant: Participant, pseudonym: str, now: datetime
) -> Participant:
    """Erase the person's data; the study's reference values are summed up again without
    their detections."""
    erased = data_rights.erase(session, actor, participant, pseudonym, now)
    checkins.recount_study_needs(session, participant.study_id)
    return erased


@dataclass(frozen=True)
class RosterRow:
    """A participant as the list of a study's participants shows them."""

    participant: ParticipantOut
    last_checkin_at: datetime | None
    answered: int  # of the prompts due in the last days
    due: int

    @property
    def compliance(self) -> float | None:
        return self.answered / self.due if self.due else None


def roster(
    session: Session,
    access: StudyAccess,
    page: PageParams,
    now: datetime,
    *,
    status: ParticipantStatus | None = None,
    arm: str | None = None,
    pseudonym: str | None = None,
    days: int = 7,
) -> Page[RosterRow]:
    """A page of the study's participants with their arm as the viewer may see it, their
    last check-in and their compliance over the last `days` days."""
    rows = participants.list_participants(
        session, access, page, status, arm=arm, pseudonym=pseudonym
    )
    ids = [participant.id for participant in rows.items]
    last = checkins.last_checkins(session, ids)
    recent = scheduling.recent_compliance(session, ids, now - timedelta(days=days), now)
    outs = participants.participant_outs(session, access, rows.items)
    return rows.with_items(
        [RosterRow(out, last.get(out.id), *recent.get(out.id, (0, 0))) for out in outs]
    )
