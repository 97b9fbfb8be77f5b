"""Creating, activating and closing a study: what each means beyond the study's own row."""

from datetime import datetime

from sqlmodel import Session

from app.access.scope import StudyAccess
from app.audit.service import Actor
from app.auth.models import StaffUser
from app.checkins import service as checkins
from app.safety import service as safety
from app.scheduling import service as scheduling
from app.skills import service as skills
from app.studies import service as studies
from app.studies.models import Study
from app.studies.schemas import StudyCreate


def create_study(session: Session, user: StaffUser, data: StudyCreate, now: datetime) -> Study:
    """A draft study owned by its creator, set up to run as it is: the default check-in and
    rule set, the default skill library (pinned), default safety settings."""
    study = studies.create_study(session, user, data, now)
    set_up_study(session, study, now)
    return study


def set_up_study(session: Session, study: Study, now: datetime) -> None:
    """What every study starts from, in every domain that keeps something per study."""
    checkins.set_up_checkin(session, study, now)
    skills.set_up_library(session, study.id, now)
    safety.set_up_safety(session, study.id, now)
    session.flush()


def activate_study(session: Session, access: StudyAccess, actor: Actor, now: datetime) -> Study:
    """Open for enrollment; the questionnaire as it stands becomes a fixed version."""
    study = studies.activate_study(session, access, actor, now)
    checkins.freeze_questionnaire(session, study.id, now)
    session.flush()
    return study


def close_study(session: Session, access: StudyAccess, actor: Actor, now: datetime) -> Study:
    """Close; no prompt goes out any more (those sent stay answerable until they expire)."""
    study = studies.close_study(session, access, actor, now)
    scheduling.cancel_open_prompts(session, now, "study closed", study_id=study.id)
    return study
