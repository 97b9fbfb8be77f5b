"""Selection policies: which skill to offer after a check-in (pure: data in, decision out).

- `tailored`: candidates are the skills for the target pole and the client's own strategies
  for it from their plan ("from my plan", by key: `plan:e3`), minus those the participant
  or the clinician disabled and the last two used; Thompson sampling on the person's own
  helpfulness ratings (a Beta posterior per skill, preferences shifting the prior) learns
  what helps this person.
  Each candidate's probability is the chance it wins a posterior draw, mixed with the
  uniform so that none falls below the floor; the whole vector is recorded. That chance is
  computed by quadrature (`quadrature`); decisions recorded before it was estimated from
  2,000 seeded draws (`monte_carlo`), and replay the same way.
- `random`: uniform over the study's library (the control arm of Levin et al. 2019).
- `assessment_only`: no skill, ever.

All randomness comes from `random.Random` seeded with SHA-256 of the seed material, so the
same inputs and seed give the same decision.
"""

import hashlib
import math
import random
import uuid
from collections.abc import Callable, Sequence
from functools import cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy.special import betainc, betaln

from app.rules.process import Pole
from app.skills.content import OWN_PLAN_MODALITY, Skill
from app.vocabulary import Policy

NoSkillReason = Literal[
    "assessment_only", "nothing_qualifies", "no_candidates", "safety", "not_randomized"
]
MONTE_CARLO_DRAWS = 2000
# How a tailored decision's chances of winning were worked out (recorded with its inputs).
WinningChances = Literal["monte_carlo", "quadrature"]
RECENT_KEPT = 2  # the last skills offered that the tailored policy leaves out


class OwnStrategy(BaseModel):
    """A strategy of the client's own plan as a candidate: its key and poles, never its text."""

    key: str = Field(pattern=r"^plan:[a-z][a-z0-9_]{0,39}$")
    targets: list[Pole] = Field(min_length=1)


class Personalization(BaseModel):
    """The participant's preferences and the clinician's settings, merged, and the
    strategies of their own plan."""

    preferred_skills: set[str] = Field(default_factory=set)
    disliked_skills: set[str] = Field(default_factory=set)
    disabled_skills: set[str] = Field(default_factory=set, description="By the clinician")
    disabled_by_participant: set[str] = Field(default_factory=set)
    preferred_modalities: set[str] = Field(default_factory=set)
    disliked_modalities: set[str] = Field(default_factory=set)
    extra_skills: list[Skill] = Field(default_factory=list)
    own_strategies: list[OwnStrategy] = Field(default_factory=list)


class PastDelivery(BaseModel):
    skill_key: str
    helpfulness: int | None = Field(default=None, ge=0, le=10)
    sequence: int


class SkillRating(BaseModel):
    """A person's helpfulness ratings of one skill: how many, and their sum (each 0-10)."""

    rated: int = Field(default=0, ge=0)
    total: int = Field(default=0, ge=0)


class SkillHistory(BaseModel):
    """What the tailored policy reads of a person's past deliveries, kept as they happen:
    the skills last offered (most recent first, each once) and the ratings per skill."""

    recent: list[str] = Field(default_factory=list)
    ratings: dict[str, SkillRating] = Field(default_factory=dict)

    def offered(self, key: str) -> "SkillHistory":
        recent = [key, *(other for other in self.recent if other != key)][:RECENT_KEPT]
        return self.model_copy(update={"recent": recent})

    def rated(self, key: str, before: int | None, after: int) -> "SkillHistory":
        """A rating given (`before` None) or changed."""
        rating = self.ratings.get(key, SkillRating())
        changed = SkillRating(
            rated=rating.rated + (before is None), total=rating.total + after - (before or 0)
        )
        return self.model_copy(update={"ratings": {**self.ratings, key: changed}})


class PolicyInputs(BaseModel):
    """What a policy was given for one decision: with the seed and the library version,
    enough to replay it. Decisions recorded before the person's skill history was kept as
    it happens (migration 0012) have their whole `history` instead of `skills`."""

    target: Pole | None = None
    personalization: Personalization = Field(default_factory=Personalization)
    history: list[PastDelivery] = Field(default_factory=list)
    skills: SkillHistory | None = None
    # Decisions recorded before the chances were worked out by quadrature have none here.
    chances: WinningChances = "monte_carlo"

    def past(self) -> "Sequence[PastDelivery] | SkillHistory":
        return self.history if self.skills is None else self.skills


class Decision(BaseModel):
    policy: Policy
    skill_key: str | None
    reason: NoSkillReason | None
    candidates: list[str]
    probabilities: dict[str, float]
    draw: float | None
    seed: str


def skill_seed(randomization_seed: str, participant_id: uuid.UUID, client_id: str) -> str:
    """Seed material of one skill decision: replaying the study reproduces it."""
    return f"{randomization_seed}\x1fskill\x1f{participant_id}\x1f{client_id}"


def _rng(seed: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big"))


def _none(policy: Policy, reason: NoSkillReason, seed: str) -> Decision:
    return Decision(
        policy=policy,
        skill_key=None,
        reason=reason,
        candidates=[],
        probabilities={},
        draw=None,
        seed=seed,
    )


def safety_decision(policy: Policy, seed: str) -> Decision:
    """A positive safety screen replaces the skill with crisis resources."""
    return _none(policy, "safety", seed)


def not_randomized(decision: Decision) -> Decision:
    """A micro-randomized decision point drawn to get nothing: what the policy chose stays on
    record (candidates, probabilities), but no skill is offered."""
    return decision.model_copy(update={"skill_key": None, "reason": "not_randomized"})


def skill_pool(skills: Sequence[Skill], personalization: Personalization) -> list[Skill]:
    """The library's skills, then the participant's own, each key once: when a newly pinned
    library brings a key the clinician already used for an own skill, the library's wins."""
    pool: dict[str, Skill] = {}
    for skill in [*skills, *personalization.extra_skills]:
        pool.setdefault(skill.key, skill)
    return list(pool.values())


class _Candidate(BaseModel):
    """What selection reads of a library skill or an own strategy."""

    key: str
    targets: list[Pole]
    modalities: list[str]


def _candidates(available: Sequence[Skill], person: Personalization) -> list[_Candidate]:
    """The library's and the participant's skills, then their own strategies (so a plan
    without strategies leaves every draw as it was)."""
    own = [
        _Candidate(key=strategy.key, targets=strategy.targets, modalities=[OWN_PLAN_MODALITY])
        for strategy in person.own_strategies
    ]
    skills = [
        _Candidate(key=skill.key, targets=skill.targets, modalities=skill.modalities)
        for skill in available
    ]
    return [*skills, *own]


def _prior(skill: _Candidate, person: Personalization) -> tuple[float, float]:
    alpha, beta = 1.0, 1.0
    if skill.key in person.preferred_skills:
        alpha += 2.0
    if skill.key in person.disliked_skills:
        beta += 2.0
    if person.preferred_modalities & set(skill.modalities):
        alpha += 1.0
    if person.disliked_modalities & set(skill.modalities):
        beta += 1.0
    return alpha, beta


_LOG4 = math.log(4.0)
_SG_MAGICCONST = 1.0 + math.log(4.5)


def _gamma(shape: float, rng: random.Random) -> Callable[[], float]:
    """`rng.gammavariate(shape, 1.0)` with its constants worked out once: the very same
    values from the same stream (CPython's algorithm, checked against it by the tests),
    without re-deriving them in each of the thousands of draws of a decision."""
    log, exp, uniform = math.log, math.exp, rng.random
    if shape == 1.0:
        return lambda: -log(1.0 - uniform())
    if shape < 1.0:  # not a posterior of the tailored policy (its priors start at 1)
        return lambda: rng.gammavariate(shape, 1.0)
    ainv = math.sqrt(2.0 * shape - 1.0)
    bbb = shape - _LOG4
    ccc = shape + ainv
    magic = _SG_MAGICCONST

    def cheng() -> float:
        # R. C. H. Cheng's rejection method, as in CPython's random.gammavariate.
        while True:
            u1 = uniform()
            if not 1e-7 < u1 < 0.9999999:
                continue
            u2 = 1.0 - uniform()
            v = log(u1 / (1.0 - u1)) / ainv
            x = shape * exp(v)
            z = u1 * u1 * u2
            r = bbb + ccc * v - x
            if r + magic - 4.5 * z >= 0.0 or r >= log(z):
                return x * 1.0

    return cheng


def _thompson_wins(posteriors: Sequence[tuple[float, float]], rng: random.Random) -> list[int]:
    """How often each posterior's draw is the largest in MONTE_CARLO_DRAWS rounds of
    `rng.betavariate(alpha, beta)` per posterior in turn (the first one on a tie)."""
    gammas = [(_gamma(alpha, rng), _gamma(beta, rng)) for alpha, beta in posteriors]
    wins = [0] * len(posteriors)
    for _ in range(MONTE_CARLO_DRAWS):
        best, winner = -1.0, 0
        for index, (first, second) in enumerate(gammas):
            # betavariate: y / (y + gamma(beta)), and 0.0 without the second draw when y is 0.
            y = first()
            sample = y / (y + second()) if y else 0.0
            if sample > best:
                best, winner = sample, index
        wins[winner] += 1
    return wins


@cache
def _tanh_sinh(level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes x and 1 - x (each computed directly, so neither loses digits near its end) and
    weights of the tanh-sinh rule on [0, 1] with step 2^-level: its nodes crowd the ends,
    where a Beta density with a fractional parameter is not smooth."""
    step = 2.0**-level
    t = np.arange(-3.6, 3.6 + step / 2, step)
    u = math.pi / 2 * np.sinh(t)
    x, rest = 1 / (1 + np.exp(-2 * u)), 1 / (1 + np.exp(2 * u))
    weights = step * math.pi / 2 * np.cosh(t) / (2 * np.cosh(u) ** 2)
    inside = (weights > 0) & (x > 0) & (rest > 0)
    return x[inside], rest[inside], weights[inside]


def winning_chances(posteriors: Sequence[tuple[float, float]]) -> list[float]:
    """The chance that each Beta(alpha, beta) posterior's draw is the largest:
    the integral over [0, 1] of its density times the others' distribution functions.

    The step halves each time the most concentrated posterior's alpha + beta quadruples
    (its spread halves) past 100, so a person rated thousands of times is integrated as
    finely as a new one; the error stays below 1e-9 (the tests check it against scipy's
    adaptive quadrature)."""
    alpha = np.array([a for a, _ in posteriors], dtype=float)
    beta = np.array([b for _, b in posteriors], dtype=float)
    concentration = max(float(np.max(alpha + beta)), 1.0)
    level = 5 + max(0, math.ceil(math.log(concentration / 100, 4)))
    x, rest, weights = _tanh_sinh(level)
    log_density = ((alpha[:, None] - 1) * np.log(x) + (beta[:, None] - 1) * np.log(rest)) - betaln(
        alpha, beta
    )[:, None]
    density = np.exp(log_density)
    distribution = betainc(alpha[:, None], beta[:, None], x)
    chances = np.array(
        [
            weights @ (density[i] * np.prod(np.delete(distribution, i, axis=0), axis=0))
            for i in range(len(posteriors))
        ]
    )
    return [float(chance) for chance in chances / chances.sum()]


Posterior = Callable[[str, float, float], tuple[float, float]]


def _recent_and_ratings(
    history: Sequence[PastDelivery] | SkillHistory,
) -> tuple[list[str], Posterior]:
    """The skills left out as offered last, and the posterior of a skill from its prior."""
    if isinstance(history, SkillHistory):

        def summed(key: str, alpha: float, beta: float) -> tuple[float, float]:
            rating = history.ratings.get(key, SkillRating())
            return alpha + rating.total / 10, beta + rating.rated - rating.total / 10

        return history.recent[:RECENT_KEPT], summed
    # A decision recorded with the whole history: its ratings added one by one, as then.
    ordered = sorted(history, key=lambda past: past.sequence)
    recent: list[str] = []
    for past in reversed(ordered):
        if past.skill_key not in recent:
            recent.append(past.skill_key)
        if len(recent) == RECENT_KEPT:
            break

    def one_by_one(key: str, alpha: float, beta: float) -> tuple[float, float]:
        for past in ordered:
            if past.skill_key == key and past.helpfulness is not None:
                alpha += past.helpfulness / 10
                beta += 1 - past.helpfulness / 10
        return alpha, beta

    return recent, one_by_one


def _choose(
    policy: Policy, keys: list[str], probabilities: list[float], rng: random.Random, seed: str
) -> Decision:
    draw = rng.random()
    cumulative = 0.0
    chosen = keys[-1]
    for key, probability in zip(keys, probabilities, strict=True):
        cumulative += probability
        if draw < cumulative:
            chosen = key
            break
    return Decision(
        policy=policy,
        skill_key=chosen,
        reason=None,
        candidates=keys,
        probabilities=dict(zip(keys, probabilities, strict=True)),
        draw=draw,
        seed=seed,
    )


def select(
    policy: Policy,
    target: Pole | None,
    skills: Sequence[Skill],
    personalization: Personalization,
    history: Sequence[PastDelivery] | SkillHistory,
    seed: str,
    *,
    floor: float = 0.05,
    chances: WinningChances = "quadrature",
) -> Decision:
    if policy == Policy.assessment_only:
        return _none(policy, "assessment_only", seed)
    rng = _rng(seed)
    disabled = personalization.disabled_skills | personalization.disabled_by_participant
    available = [
        skill for skill in skill_pool(skills, personalization) if skill.key not in disabled
    ]
    if policy == Policy.random:
        if not available:
            return _none(policy, "no_candidates", seed)
        keys = [skill.key for skill in available]
        return _choose(policy, keys, [1.0 / len(keys)] * len(keys), rng, seed)

    if target is None:
        return _none(policy, "nothing_qualifies", seed)
    candidates = [
        candidate
        for candidate in _candidates(available, personalization)
        if target in candidate.targets
    ]
    recent, ratings = _recent_and_ratings(history)
    fresh = [skill for skill in candidates if skill.key not in recent]
    candidates = fresh or candidates
    if not candidates:
        return _none(policy, "no_candidates", seed)

    posteriors: list[tuple[float, float]] = []
    for skill in candidates:
        alpha, beta = _prior(skill, personalization)
        posteriors.append(ratings(skill.key, alpha, beta))
    count = len(candidates)
    # Mixing with the uniform keeps every candidate at or above the floor, summing to one.
    floor = min(floor, 1.0 / count)
    if chances == "quadrature":
        probabilities = [
            floor + (1 - count * floor) * chance for chance in winning_chances(posteriors)
        ]
    else:  # in the order of operations it was recorded with, to the last bit
        wins = _thompson_wins(posteriors, rng)
        probabilities = [floor + (1 - count * floor) * won / MONTE_CARLO_DRAWS for won in wins]
    return _choose(policy, [skill.key for skill in candidates], probabilities, rng, seed)
