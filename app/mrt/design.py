"""A micro-randomized arm's design and the decision at one decision point. Pure.

At each decision point an available participant gets the arm's skill choice with
probability p, otherwise nothing. p is the design's constant, or its value for the study
day, or for the local time of day, clipped to the design's bounds. Availability is decided
first and never randomized away: a positive safety screen, a paused participant, nothing
that qualifies, or a skill offered too recently make the point unavailable, and the reason
is kept.
"""

import hashlib
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.rules.process import Dimension
from app.scheduling.schedule import LocalTime, minute_of_day
from app.types import Key

Unavailable = Literal["safety", "paused", "nothing_qualifies", "recent_offer"]
OutcomeKind = Literal["distress_after", "next_need", "next_item"]


class TimeOfDayProbability(BaseModel):
    """p from a local time of day until the next band's start (the last band runs on past
    midnight until the first one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: LocalTime
    probability: float = Field(gt=0, lt=1)


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
    by_time_of_day: list[TimeOfDayProbability] = Field(
        default_factory=list,
        max_length=48,
        description="p by the participant's local time of day, bands in order of their "
        "start; not together with by_study_day",
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
        "need of `outcome_dimension` at the next check-in within `outcome_hours`; next_item: "
        "the answer to `outcome_item` (a slider, likert or boolean item, on its own scale) "
        "at the next check-in within `outcome_hours`",
    )
    outcome_dimension: Dimension | None = None
    outcome_item: Key | None = None
    outcome_hours: int = Field(default=4, ge=1, le=72)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_probability > self.max_probability:
            raise ValueError("min_probability must not exceed max_probability")
        if any(not 0 < p < 1 for p in self.by_study_day):
            raise ValueError("every by_study_day probability must be between 0 and 1")
        if self.by_study_day and self.by_time_of_day:
            raise ValueError("give p by study day or by time of day, not both")
        starts = [minute_of_day(band.start) for band in self.by_time_of_day]
        if starts != sorted(set(starts)):
            raise ValueError("by_time_of_day bands start at distinct times, in order")
        if (self.outcome == "next_need") != (self.outcome_dimension is not None):
            raise ValueError("outcome_dimension is given exactly when the outcome is next_need")
        if (self.outcome == "next_item") != (self.outcome_item is not None):
            raise ValueError("outcome_item is given exactly when the outcome is next_item")
        return self


def probability_for(design: MrtDesign, study_day: int, local_minute: int) -> float:
    """The randomization probability used on a study day at a local minute after midnight,
    after clipping."""
    days, bands = design.by_study_day, design.by_time_of_day
    if days:
        p = days[min(max(study_day, 1), len(days)) - 1]
    elif bands:
        # Before the first band of the day, the evening's last band still runs.
        p = next(
            (b.probability for b in reversed(bands) if minute_of_day(b.start) <= local_minute),
            bands[-1].probability,
        )
    else:
        p = design.probability
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
