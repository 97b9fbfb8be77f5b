import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.fields import id_field, json_field, utc_field


class Questionnaire(SQLModel, table=True):
    """One version of a study's check-in. A draft (frozen_at None) is edited in place;
    once frozen, a change is a new version."""

    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    version: int
    items: list[dict[str, Any]] = json_field(list)
    # Item packs loaded into it: name, source, licence.
    packs: list[dict[str, Any]] = json_field(list)
    created_at: datetime = utc_field()
    frozen_at: datetime | None = utc_field(nullable=True)


class RuleSetVersion(SQLModel, table=True):
    __tablename__ = "rule_set"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    version: int
    body: dict[str, Any] = json_field()
    created_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = utc_field()


class CheckIn(SQLModel, table=True):
    """One check-in as the phone sent it, with the versions that judged it."""

    __tablename__ = "checkin"
    # A phone retrying a check-in sends the same client id: it is stored once.
    __table_args__ = (UniqueConstraint("participant_id", "client_id"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id", index=True)
    client_id: str = Field(max_length=64)
    prompt_id: uuid.UUID | None = Field(default=None, foreign_key="prompt.id", index=True)
    answered_at: datetime = utc_field()
    # The phone's UTC offset when answering, in minutes (local time of day for analyses).
    answered_offset_minutes: int
    received_at: datetime = utc_field(index=True)
    answers: dict[str, Any] = json_field()
    questionnaire_version: int
    rule_set_version: int | None = None
    late: bool = False
    body_digest: str = Field(max_length=64)
    response: dict[str, Any] = json_field()


class Detection(SQLModel, table=True):
    """What the rule set found in a check-in."""

    # The study's latest detections, in the order they were stored, give its reference
    # values: this index finds the oldest of them when a new one pushes it out.
    # The review flag, at each check-in, reads the person's detections in a period.
    __table_args__ = (
        UniqueConstraint("study_id", "study_sequence"),
        Index("ix_detection_participant_at", "participant_id", "at"),
    )

    id: uuid.UUID = id_field()
    checkin_id: uuid.UUID = Field(foreign_key="checkin.id", unique=True)
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id")
    sequence: int = Field(description="The participant's n-th evaluated check-in")
    study_sequence: int = Field(description="The study's n-th stored detection")
    at: datetime = utc_field()
    rule_set_version: int
    scores: dict[str, Any] = json_field()
    needs: dict[str, Any] = json_field()
    z: dict[str, Any] = json_field()
    fired: list[str] = json_field(list)
    qualifying: list[str] = json_field(list)
    target: str | None = Field(default=None, max_length=40)
    reason: str = Field(max_length=32)
    distress: float | None = None


class PersonNeeds(SQLModel, table=True):
    """A participant's detections summed up, kept with each one stored: what the next
    check-in's evaluation needs of the person's history, without reading it."""

    __tablename__ = "person_needs"

    participant_id: uuid.UUID = Field(foreign_key="participant.id", primary_key=True)
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    last_sequence: int = Field(description="The sequence of the participant's last detection")
    # Per dimension: the count, exact sum and exact sum of squares of the needs (RunningSums).
    sums: dict[str, Any] = json_field()
    # Per dimension: the sequence of the detection that last targeted one of its poles.
    last_targeted: dict[str, Any] = json_field()


class StudyNeeds(SQLModel, table=True):
    """The study's reference values per dimension, kept with each detection stored: the
    running sums over its latest STUDY_STATS_WINDOW detections."""

    __tablename__ = "study_needs"

    study_id: uuid.UUID = Field(foreign_key="study.id", primary_key=True)
    last_sequence: int = Field(description="The study_sequence of its last detection")
    window_size: int = Field(description="How many detections the sums are over")
    oldest_sequence: int = Field(description="The study_sequence of the oldest of them")
    sums: dict[str, Any] = json_field()
