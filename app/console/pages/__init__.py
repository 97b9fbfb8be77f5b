"""Every console router, in one place (app/console/__init__.py mounts them)."""

from app.console import static
from app.console.pages import (
    audit,
    auth,
    compliance,
    exports,
    libraries,
    members,
    participant,
    participants,
    plans,
    questionnaire,
    research,
    rules,
    safety,
    safety_settings,
    schedules,
    studies,
    study_settings,
)

ROUTERS = (
    static.router,
    auth.router,
    studies.router,
    study_settings.router,
    # The list's fixed paths (/participants/new) before a participant's own page.
    participants.router,
    participant.router,
    plans.router,
    members.router,
    libraries.router,
    questionnaire.router,
    safety.router,
    safety_settings.router,
    compliance.router,
    schedules.router,
    rules.router,
    exports.router,
    research.router,
    audit.router,
)
