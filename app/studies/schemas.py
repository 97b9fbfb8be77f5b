"""Request and response models for studies, arms, members and participants."""

import base64
import binascii
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)
from pydantic.alias_generators import to_camel

from app.patching import PatchBody
from app.types import INPUT, Email, Key, LocaleTag, Name, Pseudonym, TimezoneName
from app.vocabulary import ParticipantStatus, Policy, Role, StudyStatus

_STRATUM_VALUE = re.compile(r"[\w .:-]+")


def _check_stratum_value(value: str) -> str:
    # Without "|" and "=" the stratum key "name=value|name=value" can be read only one way.
    if not _STRATUM_VALUE.fullmatch(value):
        raise ValueError("use only letters, digits, spaces and - _ . :")
    return value


# Bounded so the longest stratum key fits Allocation.stratum (500): five factors of
# 40-character names and 50-character values make 5 * (40 + 1 + 50) + 4 = 459 characters.
MAX_STRATA = 5
StratumValue = Annotated[
    str, StringConstraints(min_length=1, max_length=50), AfterValidator(_check_stratum_value)
]


class ArmIn(BaseModel):
    model_config = INPUT
    key: Key
    policy: Policy
    weight: int = Field(default=1, ge=1, le=100)
    description: str = Field(default="", max_length=2000)


class ArmUpdate(PatchBody):
    policy: Policy | None = None
    weight: int | None = Field(default=None, ge=1, le=100)
    description: str | None = Field(default=None, max_length=2000)


class ArmOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    key: str
    policy: Policy
    weight: int
    description: str


class StudyCreate(BaseModel):
    model_config = INPUT
    name: Name
    description: str = Field(default="", max_length=5000)
    default_timezone: TimezoneName
    default_locale: LocaleTag = "en"
    block_size: int | None = Field(default=None, ge=2, le=1000)
    stratify_by: list[Key] = Field(default_factory=list, max_length=MAX_STRATA)
    clinicians_see_arm: bool = False
    blind_participant_download: bool = Field(
        default=True,
        description="While the study is active, a participant's own data download leaves out "
        "their arm and the notes staff wrote",
    )
    arms: list[ArmIn] = Field(default_factory=list, max_length=20)


class StudyUpdate(PatchBody):
    clearable = frozenset({"block_size"})
    name: Name | None = None
    description: str | None = Field(default=None, max_length=5000)
    default_timezone: TimezoneName | None = None
    default_locale: LocaleTag | None = None
    block_size: int | None = Field(default=None, ge=2, le=1000)
    stratify_by: list[Key] | None = Field(default=None, max_length=MAX_STRATA)
    clinicians_see_arm: bool | None = None
    blind_participant_download: bool | None = None


class StudyOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    status: StudyStatus
    default_timezone: str
    default_locale: str
    block_size: int | None
    stratify_by: list[str]
    clinicians_see_arm: bool
    blind_participant_download: bool
    randomization_seed: str | None = Field(
        description="Seed material for replaying allocations; shown to owners and researchers"
    )
    arms: list[ArmOut]
    my_role: Role
    created_at: datetime
    activated_at: datetime | None
    closed_at: datetime | None


class MemberIn(BaseModel):
    model_config = INPUT
    email: Email
    role: Role


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    full_name: str | None
    role: Role
    created_at: datetime


class ParticipantCreate(BaseModel):
    model_config = INPUT
    pseudonym: Pseudonym | None = Field(
        default=None, description="Pseudonymous id; generated when omitted"
    )
    timezone: TimezoneName
    locale: LocaleTag | None = None
    external_ref: str | None = Field(default=None, max_length=200)
    strata: dict[Key, StratumValue] = Field(default_factory=dict, max_length=MAX_STRATA)


class ParticipantUpdate(PatchBody):
    """What staff may change about a participant; strata are fixed once allocated."""

    clearable = frozenset({"locale", "external_ref"})
    timezone: TimezoneName | None = None
    locale: LocaleTag | None = None
    external_ref: str | None = Field(default=None, max_length=200)


class ParticipantSelfUpdate(PatchBody):
    """What the participant's app may change: where they are and which language they read."""

    clearable = frozenset({"locale"})
    timezone: TimezoneName | None = None
    locale: LocaleTag | None = None


class ParticipantOut(BaseModel):
    id: uuid.UUID
    study_id: uuid.UUID
    pseudonym: str
    external_ref: str | None
    strata: dict[str, Any]
    timezone: str
    locale: str | None
    status: ParticipantStatus
    arm: str | None = Field(description="Allocated arm; null before enrollment or when concealed")
    arm_concealed: bool
    created_at: datetime
    enrolled_at: datetime | None
    erased_at: datetime | None = Field(
        description="When the person's data was erased; the row is then a tombstone"
    )


class EnrollmentCodeOut(BaseModel):
    code: str = Field(description="Shown once; only its digest is stored")
    expires_at: datetime


class ParticipantCreated(ParticipantOut):
    enrollment: EnrollmentCodeOut


class ErasureIn(BaseModel):
    model_config = INPUT
    pseudonym: Pseudonym = Field(description="The participant's pseudonym, to confirm")


class StatusChange(BaseModel):
    model_config = INPUT
    status: ParticipantStatus
    reason: str | None = Field(default=None, max_length=500)


class AllocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    participant_id: uuid.UUID
    stratum: str
    sequence_no: int
    block_no: int
    block_size: int
    arm_key: str
    at: datetime


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor_type: str
    actor_id: str | None
    action: str
    resource_type: str
    resource_id: str | None
    request_id: str | None
    details: dict[str, Any]


# Where a recorded allocation and its replay disagree.
class Mismatch(BaseModel):
    kind: Literal["arm", "block", "sequence_gap", "participant_arm"]
    stratum: str
    sequence_no: int
    participant: str
    recorded: str
    replayed: str


def _check_vapid_key(value: str) -> str:
    # The application server's public key: an uncompressed P-256 point (65 bytes, 0x04
    # first), base64url without padding, as the Firebase console shows it.
    try:
        point = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
    if len(point) != 65 or point[0] != 4:
        raise ValueError("not a P-256 public key (65 bytes, uncompressed)")
    return value


_FirebaseValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class FirebaseWebConfig(BaseModel):
    """The Firebase web app's config object, with the Firebase console's camelCase names."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, alias_generator=to_camel)
    api_key: _FirebaseValue
    project_id: _FirebaseValue
    messaging_sender_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,30}$")]
    app_id: _FirebaseValue
    auth_domain: _FirebaseValue | None = None
    storage_bucket: _FirebaseValue | None = None
    measurement_id: _FirebaseValue | None = None

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The object is handed to Firebase's initializeApp as it is: keys left out, not null.
        return {key: value for key, value in handler(self).items() if value is not None}


class WebPushConfig(BaseModel):
    """What the participant web app needs to get an FCM registration token; public values
    (they are in every web page that uses them), not secrets."""

    model_config = INPUT
    firebase_config: FirebaseWebConfig
    vapid_key: Annotated[str, StringConstraints(max_length=200), AfterValidator(_check_vapid_key)]
