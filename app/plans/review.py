"""The clinician's review of one participant, and "review suggested" (pure: data in, data out).

Over a period, each dimension's trend is the Theil-Sen slope of its need (points per day)
with a 95% confidence interval (scipy.stats.theilslopes): robust to the odd extreme
check-in, and honest about how little a fortnight of noisy answers says. A dimension
*improves* when the whole interval lies below zero (need falling).

Review is suggested, once the period holds at least `min_checkins` check-ins, when
- `no_improvement`: dimensions were targeted in the period and none of them improves;
- `unhelpful_skills`: the skills offered were rated (at least `min_ratings` times) below
  `helpfulness_floor` on average (0-10);
- `low_adherence`: the prompts answered over those due fall below `adherence_floor`.
"""

from collections.abc import Sequence
from datetime import datetime
from statistics import mean
from typing import Any, Literal

from pydantic import BaseModel, Field
from scipy.stats import theilslopes

from app.rules.process import DIMENSION_ORDER, Dimension, Pole, dimension_of, is_flexible
from app.types import INPUT

CONFIDENCE = 0.95
SECONDS_PER_DAY = 86400.0
ReviewReason = Literal["no_improvement", "unhelpful_skills", "low_adherence"]


class ReviewSettings(BaseModel):
    """A study's rules for "review suggested"."""

    model_config = INPUT
    period_days: int = Field(default=14, ge=1, le=180, description="The period looked at")
    min_checkins: int = Field(
        default=10, ge=2, le=1000, description="Check-ins the period needs before flagging"
    )
    adherence_floor: float = Field(
        default=0.5, ge=0, le=1, description="Answered over due prompts below this flags"
    )
    helpfulness_floor: float = Field(
        default=5, ge=0, le=10, description="Mean helpfulness (0-10) below this flags"
    )
    min_ratings: int = Field(
        default=3, ge=1, le=1000, description="Ratings needed before helpfulness can flag"
    )


class NeedPoint(BaseModel):
    """One evaluated check-in: its needs per dimension, its target and distress."""

    at: datetime
    needs: dict[Dimension, float | None]
    target: Pole | None = None
    distress: float | None = None


class Offered(BaseModel):
    """One skill offered, with its rating and the distress before and after."""

    skill_key: str
    helpfulness: int | None = None
    distress_before: float | None = None
    distress_after: float | None = None


class Adherence(BaseModel):
    due: int
    answered: int

    @property
    def rate(self) -> float | None:
        return self.answered / self.due if self.due else None


class Trend(BaseModel):
    dimension: Dimension
    check_ins: int = Field(description="Check-ins with a need for this dimension")
    targeted: int = Field(description="Check-ins that targeted this dimension's inflexible pole")
    slope_per_day: float | None = Field(description="Theil-Sen slope of need, points per day")
    ci_low: float | None = Field(description="Lower end of the 95% confidence interval")
    ci_high: float | None = Field(description="Upper end of the 95% confidence interval")
    improving: bool = Field(description="The whole interval is below zero: need is falling")


class SkillRating(BaseModel):
    skill_key: str
    offered: int
    rated: int
    mean_helpfulness: float | None = Field(description="0-10")
    mean_distress_change: float | None = Field(
        description="Distress after minus distress at the check-in, 0-100 points"
    )


class Suggestion(BaseModel):
    reasons: list[ReviewReason]
    evidence: dict[str, Any]


def _targeted_count(dimension: Dimension, points: Sequence[NeedPoint]) -> int:
    """How many of the points chose a skill for the dimension's inflexible pole."""
    return sum(
        1
        for point in points
        if point.target is not None
        and not is_flexible(point.target)
        and dimension_of(point.target) == dimension
    )


def trend(dimension: Dimension, points: Sequence[NeedPoint]) -> Trend:
    known = [
        (point.at, need) for point in points if (need := point.needs.get(dimension)) is not None
    ]
    targeted = _targeted_count(dimension, points)
    slope = low = high = None
    if len({at for at, _ in known}) >= 2:
        start = min(at for at, _ in known)
        days = [(at - start).total_seconds() / SECONDS_PER_DAY for at, _ in known]
        fitted = theilslopes([need for _, need in known], days, alpha=CONFIDENCE)
        slope, low, high = float(fitted[0]), float(fitted[2]), float(fitted[3])
    return Trend(
        dimension=dimension,
        check_ins=len(known),
        targeted=targeted,
        slope_per_day=slope,
        ci_low=low,
        ci_high=high,
        improving=high is not None and high < 0,
    )


def trends(points: Sequence[NeedPoint]) -> list[Trend]:
    return [trend(dimension, points) for dimension in DIMENSION_ORDER]


def skill_ratings(offered: Sequence[Offered]) -> list[SkillRating]:
    by_key: dict[str, list[Offered]] = {}
    for one in offered:
        by_key.setdefault(one.skill_key, []).append(one)
    ratings = []
    for key, rows in sorted(by_key.items()):
        rated = [row.helpfulness for row in rows if row.helpfulness is not None]
        changes = [
            row.distress_after - row.distress_before
            for row in rows
            if row.distress_after is not None and row.distress_before is not None
        ]
        ratings.append(
            SkillRating(
                skill_key=key,
                offered=len(rows),
                rated=len(rated),
                mean_helpfulness=mean(rated) if rated else None,
                mean_distress_change=mean(changes) if changes else None,
            )
        )
    return ratings


def suggestion(
    points: Sequence[NeedPoint],
    offered: Sequence[Offered],
    adherence: Adherence,
    settings: ReviewSettings,
) -> Suggestion:
    """Whether review is suggested over a period's data, with the reasons and the figures."""
    evidence: dict[str, Any] = {"check_ins": len(points)}
    if len(points) < settings.min_checkins:
        return Suggestion(reasons=[], evidence=evidence)
    reasons: list[ReviewReason] = []
    # Only targeted dimensions are judged: the others' slopes are not fitted at all.
    targeted = [
        trend(dimension, points)
        for dimension in DIMENSION_ORDER
        if _targeted_count(dimension, points)
    ]
    evidence["targeted"] = {
        str(found.dimension): {"slope_per_day": found.slope_per_day, "ci_high": found.ci_high}
        for found in targeted
    }
    if targeted and not any(found.improving for found in targeted):
        reasons.append("no_improvement")
    rated = [one.helpfulness for one in offered if one.helpfulness is not None]
    evidence["ratings"] = len(rated)
    if rated:
        evidence["mean_helpfulness"] = mean(rated)
    if len(rated) >= settings.min_ratings and mean(rated) < settings.helpfulness_floor:
        reasons.append("unhelpful_skills")
    evidence["adherence"] = adherence.rate
    if adherence.rate is not None and adherence.rate < settings.adherence_floor:
        reasons.append("low_adherence")
    return Suggestion(reasons=reasons, evidence=evidence)
