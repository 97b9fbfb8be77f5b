"""A personal plan saved by the client or a clinician, checked against the study's
questionnaire (an entry tied to an item names an item, and a choice, that exist), and the
plan's part in a skill decision: its strategies as "from my plan" candidates."""

import uuid
from datetime import datetime

from sqlmodel import Session

from app.audit.service import Actor
from app.checkins import service as checkins
from app.errors import Invalid
from app.plans import service as plans
from app.plans.content import PlanContent, strategy_key
from app.plans.models import PlanVersion
from app.skills.policies import OwnStrategy
from app.studies.models import Participant


def _tie_problems(
    content: PlanContent, session: Session, study_id: uuid.UUID
) -> list[tuple[str, str]]:
    items = {
        item.key: item
        for item in checkins.items_of(checkins.current_questionnaire(session, study_id))
    }
    problems = []
    for section, index, entry in content.entries():
        path = f"body.sections.{section.value}[{index}]"
        if entry.item is None:
            continue
        item = items.get(entry.item)
        if item is None:
            problems.append((f"{path}.item", f"'{entry.item}' is not an item of the questionnaire"))
        elif entry.choice is not None and entry.choice not in {c.key for c in item.choices or []}:
            problems.append((f"{path}.choice", f"'{entry.choice}' is not a choice of '{item.key}'"))
    return problems


def save_plan(
    session: Session,
    participant: Participant,
    actor: Actor,
    staff_id: uuid.UUID | None,
    sections: PlanContent,
    based_on: int | None,
    now: datetime,
) -> PlanVersion:
    if problems := _tie_problems(sections, session, participant.study_id):
        raise Invalid.of(problems)
    return plans.save_plan(session, participant, actor, staff_id, sections, based_on, now)


def own_strategies(content: PlanContent) -> list[OwnStrategy]:
    """The plan's strategies tied to a pole, as candidates for that pole (key only)."""
    return [
        OwnStrategy(key=strategy_key(entry.id), targets=[entry.pole])
        for entry in content.strategies
        if entry.pole is not None and entry.id is not None
    ]
