"""Request and response bodies of the scheduling endpoints."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, StringConstraints

from app.scheduling.models import PromptStatus
from app.scheduling.planner import MAX_PREVIEW_DAYS, PlannedPrompt
from app.scheduling.schedule import DEFAULT_NOTIFICATION, Schedule, WakingHours
from app.types import INPUT, CalendarDate, LocaleTag, TimezoneName

Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class NotificationText(BaseModel):
    model_config = INPUT
    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=240)


class ScheduleIn(BaseModel):
    model_config = INPUT
    schedule: Schedule
    notification: dict[LocaleTag, NotificationText] = Field(
        default_factory=lambda: {
            locale: NotificationText(**text) for locale, text in DEFAULT_NOTIFICATION.items()
        },
        description="Notification text per locale; a participant's locale picks it, "
        "falling back to the study's default locale, then to the first one given",
        min_length=1,
    )


class ScheduleOut(BaseModel):
    version: int
    schedule: Schedule
    notification: dict[str, NotificationText]
    created_at: datetime


class PreviewIn(BaseModel):
    model_config = INPUT
    timezone: TimezoneName
    waking_hours: WakingHours | None = None
    start_date: CalendarDate = Field(description="The participant's enrollment date (study day 1)")
    days: int = Field(default=7, ge=1, le=MAX_PREVIEW_DAYS)
    schedule: Schedule | None = Field(
        default=None, description="A schedule to try; the study's saved one when left out"
    )


class PreviewPrompt(BaseModel):
    slot: str
    study_day: int
    local_time: datetime = Field(description="When it goes out, in the participant's zone")
    scheduled_at: datetime
    expires_at: datetime
    reminders: list[datetime]
    skip_reason: str | None = Field(
        description="Set when the slot is a decision point that is not pushed "
        "(outside_waking_hours): stored as a prompt with status skipped"
    )

    @classmethod
    def of(cls, prompt: PlannedPrompt, zone: str) -> "PreviewPrompt":
        return cls(
            slot=prompt.slot,
            study_day=prompt.study_day,
            local_time=prompt.scheduled_at.astimezone(ZoneInfo(zone)),
            scheduled_at=prompt.scheduled_at,
            expires_at=prompt.expires_at,
            reminders=list(prompt.reminders),
            skip_reason=prompt.skip_reason,
        )


class PreviewOut(BaseModel):
    timezone: str
    prompts: list[PreviewPrompt]


class OverrideIn(BaseModel):
    model_config = INPUT
    schedule: Schedule
    reason: Reason


class OverrideVersion(BaseModel):
    version: int
    schedule: Schedule | None = Field(description="None: the override was lifted")
    reason: str
    created_by: uuid.UUID
    created_at: datetime


class OverrideOut(BaseModel):
    current: OverrideVersion | None
    history: list[OverrideVersion]


class PromptOut(BaseModel):
    id: uuid.UUID
    scheduled_at: datetime
    expires_at: datetime
    status: PromptStatus
    opened_at: datetime | None


class ComplianceTotals(BaseModel):
    planned: int = Field(description="Prompts neither canceled nor skipped")
    due: int = Field(description="Of those, scheduled before now")
    sent: int
    opened: int
    answered: int
    expired: int
    failed: int
    undeliverable: int = Field(
        description="Due prompts never pushed for want of a device: none registered "
        "(no active device) or FCM answered that it is unregistered (device_unregistered)"
    )
    skipped: int = Field(
        description="Decision points not pushed by design (outside waking hours); "
        "not counted as planned, due or missed"
    )
    compliance: float | None = Field(description="answered / due; None when nothing was due")


class ComplianceDay(ComplianceTotals):
    participant: str = Field(description="Pseudonym")
    local_date: date = Field(description="The date in the participant's time zone")


class StudyComplianceDay(ComplianceTotals):
    local_date: date = Field(description="The date in the participants' time zones")


class ComplianceOut(BaseModel):
    days: list[ComplianceDay] = Field(description="Per participant and local day")
    study_days: list[StudyComplianceDay] = Field(description="Per local day, across the study")
    totals: ComplianceTotals


PushTestResult = Literal["sent", "unregistered", "failed"]


class PushTestOut(BaseModel):
    result: PushTestResult = Field(
        description="sent: FCM accepted it; unregistered: the device is no longer registered "
        "(it is deactivated, as during dispatch); failed: any other error (see error_code)"
    )
    message_id: str | None = Field(description="FCM's message id, when sent")
    error_code: str | None = Field(description="FCM's error code, when not sent")
    error_message: str | None
    at: datetime
