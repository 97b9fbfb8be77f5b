"""Every table, imported once so the metadata is complete (Alembic, tests)."""

from app.audit.models import AuditEvent
from app.auth.models import LoginFailure, StaffUser
from app.scheduling.models import (
    ParticipantScheduleOverride,
    Prompt,
    PromptAttempt,
    StudySchedule,
    WakingHoursRecord,
)
from app.studies.models import (
    Allocation,
    Arm,
    Device,
    EnrollmentCode,
    Membership,
    Participant,
    ParticipantToken,
    Study,
)

__all__ = [
    "Allocation",
    "Arm",
    "AuditEvent",
    "Device",
    "EnrollmentCode",
    "LoginFailure",
    "Membership",
    "Participant",
    "ParticipantScheduleOverride",
    "ParticipantToken",
    "Prompt",
    "PromptAttempt",
    "StaffUser",
    "Study",
    "StudySchedule",
    "WakingHoursRecord",
]
