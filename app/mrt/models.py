import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.fields import id_field, json_field, utc_field


class MrtArmDesign(SQLModel, table=True):
    """A micro-randomized arm: its MrtDesign (app/mrt/design.py)."""

    __tablename__ = "mrt_design"

    arm_id: uuid.UUID = Field(foreign_key="arm.id", primary_key=True)
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    design: dict[str, Any] = json_field()
    updated_at: datetime = utc_field()


class DecisionPoint(SQLModel, table=True):
    """One decision point of a micro-randomized arm, analysis-ready: available or why not,
    the probability used, the treatment, and the proximal outcome once its data arrive."""

    __tablename__ = "decision_point"
    # A check-in looks for the person's points waiting for it as their outcome: a range of
    # this index, whatever the length of their history.
    __table_args__ = (Index("ix_decision_point_participant_at", "participant_id", "at"),)

    id: uuid.UUID = id_field()
    study_id: uuid.UUID = Field(foreign_key="study.id", index=True)
    participant_id: uuid.UUID = Field(foreign_key="participant.id")
    checkin_id: uuid.UUID = Field(foreign_key="checkin.id", unique=True)
    delivery_id: uuid.UUID | None = Field(default=None, foreign_key="delivery.id", index=True)
    prompt_id: uuid.UUID | None = Field(default=None, foreign_key="prompt.id")
    at: datetime = utc_field()  # when the check-in was answered
    study_day: int
    local_minute: int  # minutes after local midnight, in the participant's zone
    available: bool
    unavailable_reason: str | None = Field(default=None, max_length=32)
    probability: float | None = None  # after clipping; none when unavailable
    treated: bool | None = None  # none when unavailable
    draw: float | None = None
    seed: str = Field(max_length=400)
    needs: dict[str, float | None] = json_field()  # each dimension's need at the decision
    outcome_kind: str = Field(max_length=16)
    outcome_dimension: str | None = Field(default=None, max_length=16)
    outcome_item: str | None = Field(default=None, max_length=40)
    outcome_hours: int
    outcome: float | None = None
    # The time of the data the outcome came from: earlier data arriving late replaces it.
    outcome_at: datetime | None = utc_field(nullable=True)
