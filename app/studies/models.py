import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint, true
from sqlmodel import Field, SQLModel

from app.fields import enum_field, id_field, json_field, utc_field
from app.vocabulary import ParticipantStatus, Policy, Role, StudyStatus


class Study(SQLModel, table=True):
    id: uuid.UUID = id_field()
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=5000)
    status: StudyStatus = enum_field(StudyStatus, default=StudyStatus.draft)
    default_timezone: str = Field(max_length=64)
    default_locale: str = Field(default="en", max_length=16)
    block_size: int | None = None
    stratify_by: list[str] = json_field(list)
    # Seed material for every random draw in the study, recorded so it can be replayed.
    randomization_seed: str = Field(max_length=64)
    clinicians_see_arm: bool = False
    # While the study is active, a participant's own data download leaves out their arm
    # and the notes staff wrote (see app.access.visibility).
    blind_participant_download: bool = Field(
        default=True, sa_column_kwargs={"server_default": true()}
    )
    # The study's Firebase web app (public config and VAPID key, not secrets), for the
    # participant web app's pushes; None: the web app runs without pushes.
    web_push: dict[str, Any] | None = Field(default=None, sa_type=JSON, nullable=True)
    created_by: uuid.UUID = Field(foreign_key="staff_user.id")
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    activated_at: datetime | None = utc_field(nullable=True)
    closed_at: datetime | None = utc_field(nullable=True)


class Membership(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("study_id", "user_id"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    role: Role = enum_field(Role)
    created_at: datetime = utc_field()


class Arm(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("study_id", "key"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    key: str = Field(max_length=40)
    policy: Policy = enum_field(Policy)
    weight: int = 1
    description: str = Field(default="", max_length=2000)


class Participant(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("study_id", "pseudonym"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    pseudonym: str = Field(max_length=64)
    external_ref: str | None = Field(default=None, max_length=200)
    strata: dict[str, Any] = json_field()
    timezone: str = Field(max_length=64)
    locale: str | None = Field(default=None, max_length=16)
    status: ParticipantStatus = enum_field(ParticipantStatus, default=ParticipantStatus.invited)
    arm_id: uuid.UUID | None = Field(default=None, foreign_key="arm.id")
    created_at: datetime = utc_field()
    enrolled_at: datetime | None = utc_field(nullable=True)
    status_changed_at: datetime = utc_field()
    # Set when the person's data was erased; the row stays as a tombstone with the pseudonym.
    erased_at: datetime | None = utc_field(nullable=True)


class Allocation(SQLModel, table=True):
    """One arm allocation: the n-th enrollment in a stratum, replayable from the study seed."""

    __table_args__ = (UniqueConstraint("study_id", "stratum", "sequence_no"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    stratum: str = Field(max_length=500)
    sequence_no: int
    block_no: int
    block_size: int
    arm_key: str = Field(max_length=40)
    participant_id: uuid.UUID = Field(foreign_key="participant.id", unique=True)
    at: datetime = utc_field()


class EnrollmentCode(SQLModel, table=True):
    __tablename__ = "enrollment_code"

    id: uuid.UUID = id_field()
    participant_id: uuid.UUID = Field(foreign_key="participant.id", index=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    used_at: datetime | None = utc_field(nullable=True)
    revoked_at: datetime | None = utc_field(nullable=True)


class EnrollmentFailure(SQLModel, table=True):
    """One refused enrollment code; counted per client address for rate limiting."""

    __tablename__ = "enrollment_failure"

    id: int | None = Field(default=None, primary_key=True)
    client_address: str = Field(max_length=64, index=True)
    at: datetime = utc_field(index=True)


class ParticipantToken(SQLModel, table=True):
    __tablename__ = "participant_token"

    id: uuid.UUID = id_field()
    participant_id: uuid.UUID = Field(foreign_key="participant.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(nullable=True)


class Device(SQLModel, table=True):
    """The phone a participant's prompts go to (one per participant)."""

    id: uuid.UUID = id_field()
    participant_id: uuid.UUID = Field(foreign_key="participant.id", unique=True)
    identifier: str = Field(max_length=1024, unique=True)
    # "token" (FCM registration token) or "fid" (Firebase installation id).
    identifier_kind: str = Field(default="token", max_length=8)
    platform: str = Field(max_length=16)
    active: bool = True
    created_at: datetime = utc_field()
    last_seen_at: datetime = utc_field()
    deactivated_reason: str | None = Field(default=None, max_length=64)
