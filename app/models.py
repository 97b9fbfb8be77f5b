"""Every table, imported once so the metadata is complete (Alembic, tests)."""

from app.audit.models import AuditEvent
from app.auth.models import ConsoleSession, LoginFailure, StaffUser
from app.checkins.models import (
    CheckIn,
    Detection,
    PersonNeeds,
    Questionnaire,
    RuleSetVersion,
    StudyNeeds,
)
from app.mrt.models import DecisionPoint, MrtArmDesign
from app.plans.models import PlanVersion, ReviewFlag, ReviewSettingsRecord
from app.safety.models import SafetyEvent, StudySafety
from app.scheduling.models import (
    ParticipantScheduleOverride,
    Prompt,
    PromptAttempt,
    StudySchedule,
    WakingHoursRecord,
)
from app.skills.models import (
    Delivery,
    PersonalizationRecord,
    PersonSkills,
    SkillLibrary,
    SkillPreferences,
    StudyLibrary,
)
from app.studies.models import (
    Allocation,
    Arm,
    Device,
    EnrollmentCode,
    EnrollmentFailure,
    Membership,
    Participant,
    ParticipantToken,
    Study,
)

__all__ = [
    "Allocation",
    "Arm",
    "AuditEvent",
    "CheckIn",
    "ConsoleSession",
    "DecisionPoint",
    "Delivery",
    "Detection",
    "Device",
    "EnrollmentCode",
    "EnrollmentFailure",
    "LoginFailure",
    "Membership",
    "MrtArmDesign",
    "Participant",
    "ParticipantScheduleOverride",
    "ParticipantToken",
    "PersonNeeds",
    "PersonSkills",
    "PersonalizationRecord",
    "PlanVersion",
    "Prompt",
    "PromptAttempt",
    "Questionnaire",
    "ReviewFlag",
    "ReviewSettingsRecord",
    "RuleSetVersion",
    "SafetyEvent",
    "SkillLibrary",
    "SkillPreferences",
    "StaffUser",
    "Study",
    "StudyLibrary",
    "StudyNeeds",
    "StudySafety",
    "StudySchedule",
    "WakingHoursRecord",
]
