"""Request and response bodies of the tailoring endpoints."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from app.checkins.questionnaire import Answer, Item
from app.rules.process import Dimension
from app.rules.schema import RuleSet
from app.safety.screen import CrisisResources, SafetyScreen, SafetySettings
from app.skills.content import Modality, Skill
from app.studies.models import Policy
from app.types import INPUT, Key, LocaleTag

ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Note = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class QuestionnaireIn(BaseModel):
    model_config = INPUT
    items: list[Item] = Field(min_length=1, max_length=200)


class ItemPackRecord(BaseModel):
    name: str
    source: str
    licence: str


class QuestionnaireOut(BaseModel):
    version: int
    frozen: bool = Field(description="Frozen versions never change; check-ins name theirs")
    items: list[Item]
    packs: list[ItemPackRecord]
    created_at: datetime


class ChoiceView(BaseModel):
    key: str
    label: str


class ItemView(BaseModel):
    """An item as the phone shows it, in the participant's language."""

    key: str
    type: str
    text: str
    min: int | None
    max: int | None
    choices: list[ChoiceView] | None
    anchors: tuple[str, str] | None
    required: bool


class MyQuestionnaireOut(BaseModel):
    version: int
    locale: str
    items: list[ItemView]


class RuleSetOut(BaseModel):
    version: int
    rule_set: RuleSet
    created_at: datetime


class DryRunIn(BaseModel):
    model_config = INPUT
    answers: dict[Key, Answer] = Field(max_length=200)
    participant_id: uuid.UUID | None = Field(
        default=None, description="Judge as for this participant: their history and arm"
    )
    policy: Policy | None = Field(
        default=None, description="Without a participant: the policy to try (tailored)"
    )


class DecisionOut(BaseModel):
    policy: Policy
    skill_key: str | None
    reason: str | None
    candidates: list[str]
    probabilities: dict[str, float]


class DryRunOut(BaseModel):
    scores: dict[str, float | None]
    needs: dict[str, float | None]
    z: dict[str, float | None]
    fired: list[str]
    qualifying: list[str]
    target: str | None
    reason: str
    distress: float | None
    rule_set_version: int
    safety: SafetyScreen | None = Field(
        description="A positive screen: a check-in would get crisis resources, no skill"
    )
    decision: DecisionOut


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


class CheckInIn(BaseModel):
    model_config = INPUT
    client_id: ClientId = Field(description="Generated by the phone; a retry reuses it")
    prompt_id: uuid.UUID | None = Field(default=None, description="The prompt it answers")
    answered_at: AwareDatetime = Field(description="When answered, with the phone's UTC offset")
    answers: dict[Key, Answer] = Field(max_length=200)
    questionnaire_version: int | None = Field(
        default=None,
        ge=1,
        description="The questionnaire version the phone showed; the current one when left out",
    )


class SkillView(BaseModel):
    key: str
    title: str
    steps: list[str]
    duration_seconds: int
    modalities: list[str]
    media_url: str | None


class DeliveryView(BaseModel):
    id: uuid.UUID
    skill: SkillView | None
    reason: str | None = Field(
        description="Why no skill: assessment_only, nothing_qualifies, no_candidates, safety"
    )


class SafetyView(BaseModel):
    tier: str
    resources: CrisisResources


class CheckInOut(BaseModel):
    checkin_id: uuid.UUID
    late: bool = Field(description="It answered a prompt that had already expired")
    questionnaire_version: int
    rule_set_version: int | None
    scores: dict[str, float | None] | None
    needs: dict[str, float | None] | None
    target: str | None
    target_reason: str | None
    delivery: DeliveryView
    safety: SafetyView | None


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
        description="Why no skill; not_offered (or safety) for those who may not see arms"
    )
    candidates: list[str] | None
    probabilities: dict[str, float] | None
    opened_at: datetime | None
    completed_at: datetime | None
    helpfulness: int | None
    distress_after: int | None


class CheckInRecord(BaseModel):
    id: uuid.UUID
    client_id: str
    prompt_id: uuid.UUID | None
    answered_at: datetime
    received_at: datetime
    late: bool
    answers: dict[str, Any]
    questionnaire_version: int
    rule_set_version: int | None
    target: str | None
    target_reason: str | None


class ScorePoint(BaseModel):
    at: datetime
    needs: dict[str, float | None]
    scores: dict[str, float | None]


class DailyNeeds(BaseModel):
    local_date: date
    check_ins: int
    needs: dict[str, float | None] = Field(description="Mean need per dimension that day")


class ScoresOut(BaseModel):
    timezone: str
    raw: list[ScorePoint]
    daily: list[DailyNeeds]
