import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.fields import enum_field, id_field, utc_field


class PromptStatus(StrEnum):
    planned = "planned"
    sent = "sent"
    answered = "answered"
    expired = "expired"
    failed = "failed"
    canceled = "canceled"


class Prompt(SQLModel, table=True):
    """One planned push for one participant: a decision point of the study."""

    __table_args__ = (
        # Planning twice, or on several workers, never creates a second prompt for a slot.
        UniqueConstraint("participant_id", "slot"),
        Index("ix_prompt_due", "status", "scheduled_at"),
    )

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id", index=True)
    slot: str = Field(max_length=80)
    scheduled_at: datetime = utc_field()
    window_start: datetime = utc_field()
    window_end: datetime = utc_field()
    expires_at: datetime = utc_field()
    status: PromptStatus = enum_field(PromptStatus, default=PromptStatus.planned)
    attempts: int = 0
    created_at: datetime = utc_field()
    sent_at: datetime | None = utc_field(nullable=True)
    opened_at: datetime | None = utc_field(nullable=True)
    answered_at: datetime | None = utc_field(nullable=True)
    status_reason: str | None = Field(default=None, max_length=200)
