"""The simulator's synthetic participants: the data-generating process. Pure (numpy in,
numbers out; no database, no clock).

Each person has a latent inflexibility level per dimension (0-100, the need the default
check-in measures) that drifts from day to day as an AR(1) process around the person's own
means, and moves around it from moment to moment. They answer the default check-in with
noise (an inflexible pole's item near the level, a flexible pole's item near 100 minus it),
answer a prompt with a probability that can decay over the study, complete an offered skill
or not, and rate it. A completed skill lowers every level at their next check-in by the
person's own effect; the full effect when the skill targets the dimension that is actually
the highest at that moment (what tailoring bets on), a fraction of it otherwise.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from app.rules.evaluate import PersonContext, evaluate, scaled_answers
from app.rules.items import Item
from app.rules.process import Dimension, Pole, dimension_of, is_flexible
from app.rules.schema import RuleSet

DIMENSIONS = tuple(Dimension)


class PersonModel(BaseModel):
    """The population the synthetic participants are drawn from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean_level: float = Field(default=50, ge=0, le=100, description="Mean latent level")
    between_sd: float = Field(default=10, ge=0, description="Spread of the person means")
    autocorrelation: float = Field(default=0.6, ge=0, lt=1, description="AR(1) day to day")
    day_sd: float = Field(default=8, ge=0, description="Day-to-day innovation")
    moment_sd: float = Field(default=6, ge=0, description="Moment-to-moment spread")
    answer_sd: float = Field(default=6, ge=0, description="Noise of one answer")
    effect: float = Field(
        default=6, description="Mean drop of the levels after a completed, well-targeted skill"
    )
    effect_sd: float = Field(default=2, ge=0, description="Spread of the effect between people")
    off_target: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Share of the effect when the skill targets another dimension than the highest",
    )
    compliance_start: float = Field(default=0.85, gt=0, lt=1, description="On day 1")
    compliance_end: float = Field(default=0.7, gt=0, lt=1, description="On the last day")
    compliance_sd: float = Field(default=0.5, ge=0, description="Between people, logit scale")
    completion: float = Field(default=0.75, ge=0, le=1, description="Completes a skill offered")
    response_minutes: float = Field(default=10, gt=0, description="Mean delay of an answer")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


@dataclass
class Moment:
    """The latent levels at one check-in and the noise of its answers (drawn once, so the
    answers with and without a skill's effect differ by the effect only)."""

    levels: np.ndarray
    noise: np.ndarray  # one per item
    distress_noise: float

    @property
    def highest(self) -> Dimension:
        return DIMENSIONS[int(np.argmax(self.levels))]


@dataclass
class Decision:
    """A person's last decision point: what its skill would do to their next check-in."""

    key: str
    at: datetime
    potential: float  # the improvement, were the skill offered
    offered: bool


@dataclass
class Answered:
    answers: dict[str, int]
    moment: Moment
    # The last decision's key and its true effect on this check-in's outcome: the outcome
    # with its skill's improvement minus without, from the same moment and noise.
    truth: tuple[str, float] | None


@dataclass
class Person:
    model: PersonModel
    rng: np.random.Generator
    means: np.ndarray
    effect: float
    compliance_logit: float
    level: np.ndarray = field(init=False)
    last: Decision | None = None

    def __post_init__(self) -> None:
        # The first day starts from the stationary distribution around the person's means.
        spread = self.model.day_sd / math.sqrt(1 - self.model.autocorrelation**2)
        self.level = self.means + self.rng.normal(0, spread, len(DIMENSIONS))

    def next_day(self) -> None:
        phi = self.model.autocorrelation
        innovation = self.rng.normal(0, self.model.day_sd, len(DIMENSIONS))
        self.level = self.means + phi * (self.level - self.means) + innovation

    def compliance(self, day: int, days: int) -> float:
        """The chance of answering a prompt on a study day (1 to days)."""
        m = self.model
        share = 0.0 if days <= 1 else (day - 1) / (days - 1)
        start, end = _logit(m.compliance_start), _logit(m.compliance_end)
        return 1 / (1 + math.exp(-(start + share * (end - start) + self.compliance_logit)))

    def answers_prompt(self, day: int, days: int) -> bool:
        return bool(self.rng.random() < self.compliance(day, days))

    def delay_minutes(self, longest: float) -> float:
        """How long after the push the answer comes, within the prompt's life."""
        return float(min(self.rng.exponential(self.model.response_minutes), longest))

    def moment(self, items: Sequence[Item]) -> Moment:
        m = self.model
        levels = self.level + self.rng.normal(0, m.moment_sd, len(DIMENSIONS))
        noise = self.rng.normal(0, m.answer_sd, len(items))
        return Moment(levels, noise, float(self.rng.normal(0, m.answer_sd)))

    def check_in(
        self, items: Sequence[Item], rules: RuleSet, outcome: Dimension, at: datetime, hours: int
    ) -> Answered:
        """The answers at a check-in: lowered by the last skill if it was offered, taken and
        is recent (within the outcome's window, like the outcome itself)."""
        moment = self.moment(items)
        last, truth, improvement = self.last, None, 0.0
        if last is not None and at - last.at <= timedelta(hours=hours):
            effect = 0.0  # without an improvement the answers are the same
            if last.potential:
                with_skill, without = (answers(items, moment, x) for x in (last.potential, 0.0))
                effect = need(rules, items, with_skill, outcome) - need(
                    rules, items, without, outcome
                )
            truth = (last.key, effect)
            improvement = last.potential if last.offered else 0.0
        return Answered(answers(items, moment, improvement), moment, truth)

    def decided(
        self, key: str, at: datetime, targets: Sequence[Pole], moment: Moment, offered: bool
    ) -> tuple[bool, float]:
        """After a decision: whether they take the skill (drawn offered or not: what they
        would have done) and the improvement it brings them."""
        completes = self.completes()
        effect = self.skill_effect(targets, moment) if completes and targets else 0.0
        self.last = Decision(key, at, effect, offered)
        return completes, effect

    def skill_effect(self, targets: Sequence[Pole], moment: Moment) -> float:
        """How much a completed skill for these processes lowers the next check-in's levels."""
        on_target = moment.highest in {dimension_of(pole) for pole in targets}
        return self.effect * (1.0 if on_target else self.model.off_target)

    def completes(self) -> bool:
        return bool(self.rng.random() < self.model.completion)

    def rating(self, effect: float) -> int:
        """Helpfulness 0-10: higher the more the skill helped."""
        return int(np.clip(round(5 + effect / 2 + self.rng.normal(0, 1.5)), 0, 10))


def new_person(model: PersonModel, seed: int) -> Person:
    rng = np.random.default_rng(seed)
    means = rng.normal(model.mean_level, model.between_sd, len(DIMENSIONS))
    # Drawn either way, so a study without an effect is the same people otherwise.
    spread = float(rng.normal(0, model.effect_sd))
    return Person(
        model=model,
        rng=rng,
        means=means,
        effect=model.effect + spread if model.effect else 0.0,
        compliance_logit=float(rng.normal(0, model.compliance_sd)),
    )


def answers(items: Sequence[Item], moment: Moment, improvement: float) -> dict[str, int]:
    """The default check-in's answers at a moment, its levels lowered by `improvement`:
    sliders 0-100, distress near the mean level, no risk."""
    levels = {d: float(v) - improvement for d, v in zip(DIMENSIONS, moment.levels, strict=True)}
    distress = sum(levels.values()) / len(levels) + moment.distress_noise
    values = []
    for item, noise in zip(items, moment.noise, strict=True):
        if item.pole is not None:
            level = levels[dimension_of(item.pole)]
            values.append((100 - level if is_flexible(item.pole) else level) + noise)
        else:
            values.append(0.0 if item.risk else distress)
    rounded = np.clip(np.rint(values), 0, 100).astype(int).tolist()
    return {item.key: value for item, value in zip(items, rounded, strict=True)}


def need(
    rules: RuleSet, items: Sequence[Item], given: dict[str, int], dimension: Dimension
) -> float:
    """A dimension's need in these answers, as the rule set scores it."""
    found = evaluate(rules, scaled_answers(items, given), PersonContext()).needs[dimension]
    if found is None:
        raise ValueError(f"the check-in does not measure {dimension}")
    return found
