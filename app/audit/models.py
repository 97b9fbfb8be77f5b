import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer
from sqlmodel import Field, SQLModel

from app.fields import json_field, utc_field


class AuditEvent(SQLModel, table=True):
    """Who did what to which resource, when, under which request."""

    __tablename__ = "audit_event"

    # A sequence, not a UUID: events at the same instant keep the order they happened in.
    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer, "sqlite")
    )
    at: datetime = utc_field(index=True)
    actor_type: str = Field(max_length=20)  # staff, participant, system
    actor_id: str | None = Field(default=None, max_length=64)
    study_id: uuid.UUID | None = Field(default=None, foreign_key="study.id", index=True)
    action: str = Field(max_length=64)
    resource_type: str = Field(max_length=40)
    resource_id: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=128)
    details: dict[str, Any] = json_field()
