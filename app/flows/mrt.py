"""Making an arm micro-randomized: its design checked against the study's check-in."""

from datetime import datetime

from sqlmodel import Session

from app.audit.service import Actor
from app.checkins import service as checkins
from app.mrt import service as mrt
from app.mrt.design import MrtDesign
from app.rules.items import NUMERIC_ITEM_TYPES
from app.studies.models import Study


def save_arm_design(
    session: Session, study: Study, key: str, design: MrtDesign, actor: Actor, now: datetime
) -> MrtDesign | None:
    """The design, whose next_item outcome must be a number the current check-in asks for."""
    items = checkins.items_of(checkins.current_questionnaire(session, study.id))
    numeric = [item.key for item in items if item.type in NUMERIC_ITEM_TYPES]
    return mrt.save_design(session, study, key, design, actor, now, numeric_items=numeric)
