import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.fields import id_field, json_field, utc_field


class PlanVersion(SQLModel, table=True):
    """One version of a participant's personal plan; the newest is the plan. Every change
    by the client or a clinician is a new version, so both see the whole history."""

    __tablename__ = "plan_version"
    __table_args__ = (UniqueConstraint("participant_id", "version"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id", index=True)
    version: int
    # PlanContent: the sections and their entries, in the client's words.
    sections: dict[str, Any] = json_field()
    # Entries per section, and the sections this version changed: all an export shows.
    entry_counts: dict[str, int] = json_field()
    changed: list[str] = json_field(list)
    next_entry: int = Field(description="The number of the next entry id (ids are not reused)")
    author_type: str = Field(max_length=16)  # client, staff
    author_id: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = utc_field()


class ReviewSettingsRecord(SQLModel, table=True):
    """When a study's participants are flagged for a clinician's review."""

    __tablename__ = "review_settings"

    study_id: uuid.UUID = Field(foreign_key="study.id", primary_key=True)
    settings: dict[str, Any] = json_field()
    updated_at: datetime = utc_field()


class ReviewFlag(SQLModel, table=True):
    """ "Review suggested" for one participant: raised with its reasons, open until a
    clinician clears it with a note."""

    __tablename__ = "review_flag"

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id", index=True)
    raised_at: datetime = utc_field()
    reasons: list[str] = json_field(list)
    # The figures behind the reasons (trends, mean helpfulness, adherence), no text.
    evidence: dict[str, Any] = json_field()
    cleared_at: datetime | None = utc_field(nullable=True)
    cleared_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    note: str | None = Field(default=None, max_length=2000)
