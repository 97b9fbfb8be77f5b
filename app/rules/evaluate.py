"""Evaluate a rule set on one check-in: pole scores, needs, and the target (pure, total).

Need of a dimension = mean of its inflexible score and (100 - its flexible score), using
whichever is known. A dimension qualifies when its need reaches the threshold (a
participant's own threshold when the clinician set one), or, once the person has enough
check-ins, when their personal z-score reaches `personal_z`: mean and spread come from the
person's past needs (their exact mean and sample variance, each rounded once) pulled toward
the study's values by `prior_weight` check-ins' worth, with the spread floored at `sd_floor`.
The target is the qualifying dimension with the highest need; ties go to the higher
z-score, then the dimension targeted least recently, then the person's preferred
dimension, then the fixed order. Distress at or above its
threshold targets grounding (attention) first. With nothing qualifying the target is the
person's strongest flexible pole (consolidation), or nothing, as the rule set says.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from app.rules.items import Item
from app.rules.process import DIMENSION_ORDER, POLES, Dimension, Pole
from app.rules.running import RunningSums
from app.rules.schema import (
    Aggregate,
    AllOf,
    Answered,
    Compare,
    Condition,
    Const,
    Equals,
    Expr,
    ItemValue,
    Not,
    Reverse,
    RuleSet,
)

# Numbers are answers on 0-100; strings are choice and text answers.
ScaledAnswers = Mapping[str, float | str]
Reason = Literal["need", "personal", "distress", "consolidation", "nothing_qualifies"]


class DimensionStats(BaseModel):
    mean: float
    sd: float
    count: int


class NeedHistory(BaseModel):
    """A person's past needs on one dimension: how many, their mean and sample variance."""

    count: int = 0
    mean: float = 0.0
    variance: float | None = Field(default=None, description="None below two values")

    @classmethod
    def of_sums(cls, sums: RunningSums) -> "NeedHistory":
        if sums.count == 0:
            return cls()
        variance = sums.variance() if sums.count >= 2 else None
        return cls(count=sums.count, mean=sums.mean(), variance=variance)

    @classmethod
    def of(cls, values: Sequence[float]) -> "NeedHistory":
        return cls.of_sums(RunningSums.of(values))


class PersonContext(BaseModel):
    """What the evaluation knows of the person beyond this check-in."""

    needs_history: dict[Dimension, NeedHistory] = Field(default_factory=dict)
    study_stats: dict[Dimension, DimensionStats] = Field(default_factory=dict)
    last_targeted: dict[Dimension, int] = Field(
        default_factory=dict, description="Sequence number of the check-in that last targeted it"
    )
    preferred_dimension: Dimension | None = None
    threshold_overrides: dict[Dimension, float] = Field(default_factory=dict)


class Evaluation(BaseModel):
    scores: dict[Pole, float | None]
    needs: dict[Dimension, float | None]
    z: dict[Dimension, float | None]
    fired: list[str]
    qualifying: list[Dimension]
    target: Pole | None
    reason: Reason
    distress: float | None


def scaled_answers(items: Sequence[Item], answers: Mapping[str, object]) -> dict[str, float | str]:
    """Answers on the rules' scale: numbers on 0-100 (booleans 0 or 100), strings as given."""
    scaled: dict[str, float | str] = {}
    for item in items:
        value = answers.get(item.key)
        if value is None:
            continue
        if isinstance(value, bool):
            scaled[item.key] = 100.0 if value else 0.0
        elif isinstance(value, int | float):
            scaled[item.key] = item.scaled(float(value))
        elif isinstance(value, str):
            scaled[item.key] = value
    return scaled


def _number(answers: ScaledAnswers, key: str) -> float | None:
    value = answers.get(key)
    return value if isinstance(value, float | int) else None


def _value(expr: Expr, answers: ScaledAnswers) -> float | None:
    match expr:
        case ItemValue():
            return _number(answers, expr.item)
        case Const():
            return expr.value
        case Reverse():
            inner = _value(expr.of, answers)
            return None if inner is None else 100.0 - inner
        case Aggregate():
            weights = expr.weights or [1.0] * len(expr.of)
            pairs: list[tuple[float, float]] = []
            for operand, weight in zip(expr.of, weights, strict=True):
                value = _value(operand, answers)
                if value is None:
                    if expr.missing == "unknown":
                        return None
                    if expr.missing == "skip":
                        continue
                    value = 0.0
                pairs.append((value, weight))
            if not pairs:
                return None
            total = sum(value * weight for value, weight in pairs)
            if expr.op == "sum":
                return total
            weight_sum = sum(weight for _, weight in pairs)
            return total / weight_sum if weight_sum else None
    raise AssertionError(expr)


_COMPARE = {
    "<": float.__lt__,
    "<=": float.__le__,
    "==": float.__eq__,
    "!=": float.__ne__,
    ">=": float.__ge__,
    ">": float.__gt__,
}


def _holds(condition: Condition, answers: ScaledAnswers) -> bool:
    match condition:
        case Compare():
            left, right = _value(condition.left, answers), _value(condition.right, answers)
            if left is None or right is None:
                return condition.if_missing
            return _COMPARE[condition.cmp](float(left), float(right))
        case Equals():
            return answers.get(condition.item) == condition.value
        case Answered():
            return condition.item in answers
        case AllOf():
            check = all if condition.op == "all" else any
            return check(_holds(inner, answers) for inner in condition.of)
        case Not():
            return not _holds(condition.of, answers)
    raise AssertionError(condition)


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, value)) if math.isfinite(value) else 0.0


def _z(
    need: float | None, history: NeedHistory, stats: DimensionStats | None, rules: RuleSet
) -> float | None:
    selection = rules.selection
    if need is None or history.count < selection.personal_min_checkins:
        return None
    n = history.count
    own_mean = history.mean
    own_var = history.variance
    assert own_var is not None, "personal_min_checkins is at least 2"
    k = selection.prior_weight if stats is not None and stats.count > 0 else 0.0
    prior_mean = stats.mean if stats is not None else own_mean
    prior_var = stats.sd**2 if stats is not None else own_var
    mean = (n * own_mean + k * prior_mean) / (n + k)
    var = (n * own_var + k * prior_var) / (n + k)
    sd = max(math.sqrt(var), selection.sd_floor)
    return (need - mean) / sd


def evaluate(rule_set: RuleSet, answers: ScaledAnswers, context: PersonContext) -> Evaluation:
    scores: dict[Pole, float | None] = dict.fromkeys(Pole, None)
    fired: list[str] = []
    for rule in rule_set.rules:
        if scores[rule.pole] is not None:
            continue
        if rule.when is not None and not _holds(rule.when, answers):
            continue
        value = _value(rule.value, answers)
        if value is None:
            continue
        scores[rule.pole] = _clamp(value)
        fired.append(rule.id)

    needs: dict[Dimension, float | None] = {}
    for dimension, (inflexible, flexible) in POLES.items():
        flexible_score = scores[flexible]
        parts = [scores[inflexible], None if flexible_score is None else 100.0 - flexible_score]
        known = [part for part in parts if part is not None]
        needs[dimension] = sum(known) / len(known) if known else None
    z = {
        dimension: _z(
            needs[dimension],
            context.needs_history.get(dimension, NeedHistory()),
            context.study_stats.get(dimension),
            rule_set,
        )
        for dimension in DIMENSION_ORDER
    }
    selection = rule_set.selection
    qualifying = [
        dimension
        for dimension in DIMENSION_ORDER
        if (need := needs[dimension]) is not None
        and (
            need >= context.threshold_overrides.get(dimension, selection.threshold)
            or ((score := z[dimension]) is not None and score >= selection.personal_z)
        )
    ]
    distress = (
        None if selection.distress_item is None else _number(answers, selection.distress_item)
    )

    target: Pole | None = None
    reason: Reason
    if distress is not None and distress >= selection.distress_threshold:
        target, reason = POLES[Dimension.attention][0], "distress"
    elif qualifying:
        chosen = min(qualifying, key=lambda d: _rank(d, needs, z, context))
        target = POLES[chosen][0]
        threshold = context.threshold_overrides.get(chosen, selection.threshold)
        reason = "need" if (needs[chosen] or 0.0) >= threshold else "personal"
    elif selection.when_nothing_qualifies == "consolidate" and (
        flexibles := [
            (scores[pair[1]], index, pair[1]) for index, pair in enumerate(POLES.values())
        ]
    ):
        known_flexible = [
            (score, -index, pole) for score, index, pole in flexibles if score is not None
        ]
        if known_flexible:
            target, reason = max(known_flexible)[2], "consolidation"
        else:
            reason = "nothing_qualifies"
    else:
        reason = "nothing_qualifies"
    return Evaluation(
        scores=scores,
        needs=needs,
        z=z,
        fired=fired,
        qualifying=qualifying,
        target=target,
        reason=reason,
        distress=distress,
    )


def _rank(
    dimension: Dimension,
    needs: Mapping[Dimension, float | None],
    z: Mapping[Dimension, float | None],
    context: PersonContext,
) -> tuple[float, float, int, int, int]:
    """Sort key of a qualifying dimension: the smallest goes first."""
    last = context.last_targeted.get(dimension, -1)
    score = z[dimension]
    return (
        -(needs[dimension] or 0.0),
        -(score if score is not None else -math.inf),
        last,
        0 if dimension == context.preferred_dimension else 1,
        DIMENSION_ORDER.index(dimension),
    )
