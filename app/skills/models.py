import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.fields import id_field, json_field, utc_field


class SkillLibrary(SQLModel, table=True):
    """One version of a study's skill library: a draft is edited, a published one is not."""

    __tablename__ = "skill_library"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    version: int
    name: str = Field(max_length=200)
    skills: list[dict[str, Any]] = json_field(list)
    forked_from: uuid.UUID | None = Field(default=None, foreign_key="skill_library.id")
    created_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = utc_field()
    published_at: datetime | None = utc_field(nullable=True)


class StudyLibrary(SQLModel, table=True):
    """The library version a study's deliveries draw from (pinned)."""

    __tablename__ = "study_library"

    study_id: uuid.UUID = Field(foreign_key="study.id", primary_key=True)
    library_id: uuid.UUID = Field(foreign_key="skill_library.id")
    updated_at: datetime = utc_field()


class Delivery(SQLModel, table=True):
    """One decision to offer, or not, a skill after a check-in, and the feedback on it."""

    # A check-in reads the person's latest offer and a review their offers in a period:
    # ranges of this index, whatever the length of their history.
    __table_args__ = (Index("ix_delivery_participant_created", "participant_id", "created_at"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id")
    checkin_id: uuid.UUID = Field(foreign_key="checkin.id", unique=True)
    created_at: datetime = utc_field()
    policy: str = Field(max_length=32)
    target: str | None = Field(default=None, max_length=40)
    skill_key: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=32)
    candidates: list[str] = json_field(list)
    probabilities: dict[str, float] = json_field()
    draw: float | None = None
    seed: str = Field(max_length=200)
    library_version: int | None = None
    # What the policy was given (target, personalization, history): with the seed and the
    # library version, enough to replay the decision.
    inputs: dict[str, Any] = json_field()
    opened_at: datetime | None = utc_field(nullable=True)
    completed_at: datetime | None = utc_field(nullable=True)
    helpfulness: int | None = None
    distress_after: int | None = None
    feedback_at: datetime | None = utc_field(nullable=True)


class SkillPreferences(SQLModel, table=True):
    """What the participant said they like and dislike."""

    __tablename__ = "skill_preferences"

    participant_id: uuid.UUID = Field(foreign_key="participant.id", primary_key=True)
    preferred_skills: list[str] = json_field(list)
    disliked_skills: list[str] = json_field(list)
    # Never offered to them, like the clinician's disabled skills.
    disabled_skills: list[str] = json_field(list)
    preferred_modalities: list[str] = json_field(list)
    disliked_modalities: list[str] = json_field(list)
    preferred_dimension: str | None = Field(default=None, max_length=16)
    updated_at: datetime = utc_field()


class PersonalizationRecord(SQLModel, table=True):
    """A clinician's settings for one participant."""

    __tablename__ = "personalization"

    participant_id: uuid.UUID = Field(foreign_key="participant.id", primary_key=True)
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    disabled_skills: list[str] = json_field(list)
    threshold_overrides: dict[str, float] = json_field()
    extra_skills: list[dict[str, Any]] = json_field(list)
    updated_by: uuid.UUID = Field(foreign_key="staff_user.id")
    updated_at: datetime = utc_field()


class PersonSkills(SQLModel, table=True):
    """A participant's deliveries summed up as they happen (`SkillHistory`): the skills
    last offered and the ratings per skill, what the tailored policy reads of the history,
    kept with each delivery and each rating so no check-in reads the history itself."""

    __tablename__ = "person_skills"

    participant_id: uuid.UUID = Field(foreign_key="participant.id", primary_key=True)
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    recent: list[str] = json_field(list)
    # Per skill key: {"rated": how many ratings, "total": their sum}.
    ratings: dict[str, Any] = json_field()
