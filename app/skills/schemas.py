"""Request and response bodies of skill libraries, personalization, preferences and deliveries."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from app.rules.process import Dimension
from app.skills.content import Modality, Skill
from app.types import INPUT, Key
from app.vocabulary import Policy


class LibraryOut(BaseModel):
    id: uuid.UUID
    version: int
    name: str
    published: bool
    pinned: bool
    forked_from: uuid.UUID | None
    skills: list[Skill]
    created_at: datetime
    published_at: datetime | None


class ForkIn(BaseModel):
    model_config = INPUT
    from_library_id: uuid.UUID | None = Field(
        default=None, description="A version of this study's library; the default when left out"
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)


class LibraryUpdate(BaseModel):
    model_config = INPUT
    name: str | None = Field(default=None, min_length=1, max_length=200)
    skills: list[Skill] = Field(min_length=1, max_length=500)


class PinIn(BaseModel):
    model_config = INPUT
    library_id: uuid.UUID


class PersonalizationIn(BaseModel):
    model_config = INPUT
    disabled_skills: set[Key] = Field(default_factory=set, max_length=500)
    threshold_overrides: dict[Dimension, Annotated[float, Field(ge=0, le=100)]] = Field(
        default_factory=dict
    )
    extra_skills: list[Skill] = Field(default_factory=list, max_length=50)


class PersonalizationOut(BaseModel):
    disabled_skills: list[str]
    threshold_overrides: dict[str, float]
    extra_skills: list[Skill]
    updated_at: datetime | None


class PreferencesIn(BaseModel):
    model_config = INPUT
    preferred_skills: set[Key] = Field(default_factory=set, max_length=100)
    disliked_skills: set[Key] = Field(default_factory=set, max_length=100)
    disabled_skills: set[Key] = Field(
        default_factory=set, max_length=500, description="Never offer these to me"
    )
    preferred_modalities: set[Modality] = Field(default_factory=set, max_length=20)
    disliked_modalities: set[Modality] = Field(default_factory=set, max_length=20)
    preferred_dimension: Dimension | None = None

    @model_validator(mode="after")
    def _not_both(self) -> "PreferencesIn":
        if both := self.preferred_skills & (self.disliked_skills | self.disabled_skills):
            raise ValueError(
                f"preferred and disliked or disabled at once: {', '.join(sorted(both))}"
            )
        return self


class PreferencesOut(BaseModel):
    preferred_skills: list[str] = []
    disliked_skills: list[str] = []
    disabled_skills: list[str] = []
    preferred_modalities: list[str] = []
    disliked_modalities: list[str] = []
    preferred_dimension: str | None = None


class DecisionOut(BaseModel):
    policy: Policy
    skill_key: str | None
    reason: str | None
    candidates: list[str]
    probabilities: dict[str, float]


class SkillView(BaseModel):
    key: str
    title: str
    steps: list[str]
    duration_seconds: int
    modalities: list[str]
    media_url: str | None


class SkillChoiceOut(BaseModel):
    """A skill the participant may be offered, for their preferences."""

    key: str
    title: str
    duration_seconds: int
    modalities: list[str]
    targets: list[str] = Field(description="The process poles it works on")


class DeliveryView(BaseModel):
    id: uuid.UUID
    skill: SkillView | None
    reason: str | None = Field(
        description="Why no skill: assessment_only, nothing_qualifies, no_candidates, safety"
    )


class FeedbackIn(BaseModel):
    model_config = INPUT
    opened: bool | None = None
    completed: bool | None = None
    helpfulness: int | None = Field(default=None, ge=0, le=10)
    distress_after: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _something(self) -> "FeedbackIn":
        if all(value is None for value in self.model_dump().values()):
            raise ValueError("give at least one of opened, completed, helpfulness, distress_after")
        return self


class DeliveryOut(BaseModel):
    id: uuid.UUID
    checkin_id: uuid.UUID
    created_at: datetime
    policy: str | None = Field(description="Hidden from those who may not see arms")
    target: str | None
    skill_key: str | None
    reason: str | None = Field(
        description="Why no skill; where arms are concealed only safety, else null"
    )
    candidates: list[str] | None
    probabilities: dict[str, float] | None
    opened_at: datetime | None
    completed_at: datetime | None
    helpfulness: int | None
    distress_after: int | None


# A recorded skill decision whose replay decides otherwise.
class SkillMismatch(BaseModel):
    delivery_id: str
    recorded: dict[str, Any]
    replayed: dict[str, Any]
