"""Request and response bodies of safety settings and safety events."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.safety.screen import CrisisResources, SafetySettings
from app.types import INPUT, LocaleTag

Note = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class SafetyConfig(BaseModel):
    model_config = INPUT
    settings: SafetySettings
    resources: dict[LocaleTag, CrisisResources] = Field(
        min_length=1, description="Crisis resources per locale"
    )


class SafetyEventOut(BaseModel):
    id: uuid.UUID
    participant_id: uuid.UUID
    checkin_id: uuid.UUID
    tier: str
    items: list[str]
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    note: str | None


class AcknowledgeIn(BaseModel):
    model_config = INPUT
    note: Note


class SafetyView(BaseModel):
    tier: str
    resources: CrisisResources
