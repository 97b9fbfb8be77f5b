"""Shared enums of the domain, with no database behind them: every floor may use them."""

from enum import StrEnum


class StudyStatus(StrEnum):
    draft = "draft"
    active = "active"
    closed = "closed"


class Role(StrEnum):
    owner = "owner"
    researcher = "researcher"
    clinician = "clinician"
    viewer = "viewer"


class Policy(StrEnum):
    tailored = "tailored"
    random = "random"
    assessment_only = "assessment_only"


class ParticipantStatus(StrEnum):
    invited = "invited"
    active = "active"
    paused = "paused"
    withdrawn = "withdrawn"
    completed = "completed"
