import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from app.fields import id_field, json_field, utc_field


class StudySafety(SQLModel, table=True):
    """A study's risk thresholds and the crisis resources shown after a positive screen."""

    __tablename__ = "study_safety"

    study_id: uuid.UUID = Field(foreign_key="study.id", primary_key=True)
    safety_settings: dict[str, Any] = json_field()
    # {locale: CrisisResources}
    crisis_resources: dict[str, Any] = json_field()
    updated_at: datetime = utc_field()


class SafetyEvent(SQLModel, table=True):
    """A check-in that met a risk rule; open until a clinician acknowledges it."""

    __tablename__ = "safety_event"

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id", index=True)
    checkin_id: uuid.UUID = Field(foreign_key="checkin.id", unique=True)
    tier: str = Field(max_length=8)
    items: list[str] = json_field(list)
    created_at: datetime = utc_field()
    acknowledged_at: datetime | None = utc_field(nullable=True)
    acknowledged_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    note: str | None = Field(default=None, max_length=2000)
