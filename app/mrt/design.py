"""A micro-randomized arm's design and the decision at one decision point. Pure.

At each decision point an available participant gets the arm's skill choice with
probability p, otherwise nothing. p is the design's constant, or its value for the study
day, clipped to the design's bounds. Availability is decided first and never randomized
away: a positive safety screen, a paused participant, nothing that qualifies, or a skill
offered too recently make the point unavailable, and the reason is kept.
"""

import hashlib
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.rules.process import Dimension

Unavailable = Literal["safety", "paused", "nothing_qualifies", "recent_offer"]
OutcomeKind = Literal["distress_after", "next_need"]


class MrtDesign(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    probability: float = Field(
        default=0.5, gt=0, lt=1, description="p when no study day has its own"
    )
    by_study_day: list[float] = Field(
        default_factory=list,
        max_length=366,
        description="p for study day 1, 2, …; later days use the last one",
    )
    min_probability: float = Field(default=0.1, gt=0, lt=1, description="p is clipped up to it")
    max_probability: float = Field(default=0.9, gt=0, lt=1, description="p is clipped down to it")
    self_initiated: bool = Field(
        default=False, description="Self-initiated check-ins are decision points too"
    )
    recent_offer_minutes: int = Field(
        default=0, ge=0, le=1440, description="Unavailable within this long after an offer"
    )
    outcome: OutcomeKind = Field(
        default="distress_after",
        description="distress_after: the delivery's distress-after rating; next_need: the "
        "need of `outcome_dimension` at the next check-in within `outcome_hours`",
    )
    outcome_dimension: Dimension | None = None
    outcome_hours: int = Field(default=4, ge=1, le=72)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_probability > self.max_probability:
            raise ValueError("min_probability must not exceed max_probability")
        if any(not 0 < p < 1 for p in self.by_study_day):
            raise ValueError("every by_study_day probability must be between 0 and 1")
        if (self.outcome == "next_need") != (self.outcome_dimension is not None):
            raise ValueError("outcome_dimension is given exactly when the outcome is next_need")
        return self


def probability_for(design: MrtDesign, study_day: int) -> float:
    """The randomization probability used on a study day, after clipping."""
    days = design.by_study_day
    p = days[min(max(study_day, 1), len(days)) - 1] if days else design.probability
    return min(max(p, design.min_probability), design.max_probability)


def unavailable_because(
    *,
    positive_screen: bool,
    paused: bool,
    qualifies: bool,
    minutes_since_offer: float | None,
    design: MrtDesign,
) -> Unavailable | None:
    """Why the point is unavailable, in this order of precedence; None when available."""
    if positive_screen:
        return "safety"
    if paused:
        return "paused"
    if not qualifies:
        return "nothing_qualifies"
    if minutes_since_offer is not None and minutes_since_offer < design.recent_offer_minutes:
        return "recent_offer"
    return None


def mrt_seed(skill_seed: str) -> str:
    """Seed material of the treatment draw: the decision's own, marked apart."""
    return f"{skill_seed}\x1fmrt"


def draw(seed: str) -> float:
    """A uniform draw in [0, 1) fixed by the seed, so the replay reproduces it."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2**64


def treated(probability: float, seed: str) -> tuple[bool, float]:
    """The treatment indicator at probability p, and the draw that decided it."""
    u = draw(seed)
    return u < probability, u
