"""Request and response bodies of plans, the clinician's review and review flags."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.plans.content import PlanContent
from app.plans.review import ReviewReason, SkillRating, Trend
from app.types import INPUT, Count


class PlanIn(BaseModel):
    model_config = INPUT
    sections: PlanContent
    based_on_version: Count | None = Field(
        default=None,
        description="The version this edit started from (0: no plan yet); when the plan has "
        "changed since, the edit is refused with 409 plan_changed instead of overwriting it",
    )


class Author(BaseModel):
    type: Literal["client", "staff"] = Field(description="The client, or a member of staff")
    staff_id: uuid.UUID | None = None
    email: str | None = None
    name: str | None = None


class PlanOut(BaseModel):
    version: int = Field(description="0 while the plan has never been written")
    sections: PlanContent
    author: Author | None = Field(description="Who made the newest version")
    updated_at: datetime | None


class PlanVersionOut(BaseModel):
    version: int
    sections: PlanContent
    changed: list[str] = Field(description="The sections this version changed")
    author: Author
    created_at: datetime


class PlanChange(BaseModel):
    """A version of the plan, as the review shows it: who changed which sections."""

    version: int
    changed: list[str]
    author: Author
    created_at: datetime


class ReviewFlagOut(BaseModel):
    id: uuid.UUID
    participant_id: uuid.UUID
    pseudonym: str
    reasons: list[ReviewReason]
    evidence: dict[str, object]
    raised_at: datetime
    cleared_at: datetime | None
    cleared_by: uuid.UUID | None
    note: str | None


class ClearFlagIn(BaseModel):
    model_config = INPUT
    note: str = Field(min_length=1, max_length=2000, description="What the review concluded")


class AdherenceOut(BaseModel):
    due: int = Field(description="Prompts of the period that were due (not canceled)")
    answered: int
    rate: float | None = Field(description="answered / due; None when nothing was due")


class SafetyEventBrief(BaseModel):
    id: uuid.UUID
    tier: str
    created_at: datetime


class ReviewOut(BaseModel):
    participant_id: uuid.UUID
    pseudonym: str
    start: datetime
    end: datetime
    check_ins: int = Field(description="Evaluated check-ins in the period")
    trends: list[Trend] = Field(description="Per dimension: the robust slope of need over time")
    skills: list[SkillRating] = Field(description="What was offered and how it was rated")
    adherence: AdherenceOut
    open_safety_events: list[SafetyEventBrief] = Field(description="Open now, whenever opened")
    plan_changes: list[PlanChange] = Field(description="Versions of the plan in the period")
    suggested: list[ReviewReason] = Field(
        description="Why review is suggested over this period, by the study's review settings"
    )
    flag: ReviewFlagOut | None = Field(description="The open review flag, if any")
