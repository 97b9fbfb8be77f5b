"""The weighted and centered least squares (WCLS) estimator of the causal excursion effect
in a micro-randomized trial (Boruvka, Almirall, Witkiewitz & Murphy 2018), the model that
MRTAnalysis's `wcls()` fits. Pure: arrays in, estimates out.

At decision point t of participant i, with availability I, treatment A, randomization
probability p and numerator probability q (p-tilde in the paper), the working model is

    Y = Z'alpha + (A - q) S'beta

(Z: an intercept and the controls; S: an intercept and the moderators), fitted by least
squares with weights I (q/p)^A ((1-q)/(1-p))^(1-A). beta is the causal excursion effect of
treatment on the proximal outcome, moderated by S. The variance is the sandwich clustered by
participant, its residuals corrected for small samples as Mancl & DeRouen (2001) propose:
r_i* = (I - H_ii)^-1 r_i with H_ii = X_i B^-1 X_i' W_i. With 50 participants or fewer,
intervals and p-values come from F(1, n - m - c) (n participants, m moderator and c control
coefficients, intercepts included); above 50, from the normal distribution.
"""

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel
from scipy import stats

SMALL_SAMPLE_PARTICIPANTS = 50
INTERCEPT = "(Intercept)"

Vector = NDArray[np.float64]


class MrtDataError(ValueError):
    """Data the estimator cannot take; the message names the column."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column
        self.message = message


@dataclass(frozen=True)
class MrtData:
    """One row per decision point. Unavailable points (availability 0) carry no weight; an
    available point whose outcome is missing (NaN) is left out (complete cases)."""

    ids: Sequence[Hashable]
    outcome: Sequence[float]
    treatment: Sequence[float]
    probability: Sequence[float]
    availability: Sequence[float] | None = None
    moderators: Mapping[str, Sequence[float]] = field(default_factory=dict)
    controls: Mapping[str, Sequence[float]] = field(default_factory=dict)


class Coefficient(BaseModel):
    term: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float


class WclsResult(BaseModel):
    effects: list[Coefficient]  # the moderated treatment effect (beta), intercept first
    controls: list[Coefficient]  # alpha, intercept first
    participants: int
    decision_points: int
    available_decision_points: int
    numerator_probability: float
    degrees_of_freedom: int | None  # of F(1, df); None for the normal approximation
    distribution: Literal["F", "normal"]


def _column(name: str, values: Sequence[float], rows: int) -> Vector:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (rows,):
        raise MrtDataError(name, f"has {array.size} values for {rows} decision points")
    return array


def _check(data: MrtData) -> tuple[Vector, Vector, Vector, Vector, Vector, Vector]:
    rows = len(data.ids)
    if rows == 0:
        raise MrtDataError("id", "there are no decision points")
    outcome = _column("outcome", data.outcome, rows)
    treatment = _column("treatment", data.treatment, rows)
    probability = _column("probability", data.probability, rows)
    availability = (
        np.ones(rows)
        if data.availability is None
        else _column("availability", data.availability, rows)
    )
    if not np.isin(availability, (0.0, 1.0)).all():
        raise MrtDataError("availability", "must be 0 or 1")
    available = availability == 1.0
    if not np.isin(treatment[available], (0.0, 1.0)).all():
        raise MrtDataError("treatment", "must be 0 or 1 at every available decision point")
    chance = probability[available]
    if not (np.isfinite(chance).all() and ((chance > 0) & (chance < 1)).all()):
        raise MrtDataError("probability", "must lie strictly between 0 and 1 where available")
    used = available & ~np.isnan(outcome)
    if not np.isfinite(outcome[used]).all():
        raise MrtDataError("outcome", "must be a finite number (or missing)")
    return outcome, treatment, probability, used.astype(np.float64), availability, available


def _design(
    names: Mapping[str, Sequence[float]], rows: int, used: NDArray[np.bool_], kind: str
) -> tuple[list[str], Vector]:
    terms = [INTERCEPT, *names]
    columns = [np.ones(rows)]
    for name, values in names.items():
        column = _column(name, values, rows)
        if not np.isfinite(column[used]).all():
            raise MrtDataError(name, f"{kind} must be a number at every decision point used")
        columns.append(column)
    return terms, np.column_stack(columns)


def wcls(data: MrtData, numerator_probability: float | None = None) -> WclsResult:
    """The WCLS estimate. `numerator_probability` (q): the study's constant randomization
    probability when it has one, else given by the analyst; left out, it is the constant
    probability of the data, or their mean over available decision points."""
    outcome, treatment, probability, used_weight, _, available = _check(data)
    used = used_weight == 1.0
    rows = len(data.ids)
    if numerator_probability is None:
        numerator_probability = float(np.mean(probability[available]))
    if not 0.0 < numerator_probability < 1.0:
        raise MrtDataError("numerator_probability", "must lie strictly between 0 and 1")
    p_tilde = numerator_probability
    control_terms, z = _design(data.controls, rows, used, "a control")
    effect_terms, s = _design(data.moderators, rows, used, "a moderator")
    a = np.where(used, treatment, 0.0)
    p = np.where(used, probability, 0.5)
    y = np.where(used, outcome, 0.0)
    weights = used_weight * np.where(a == 1.0, p_tilde / p, (1 - p_tilde) / (1 - p))
    x = np.hstack([z, (a - p_tilde)[:, None] * s])
    x = np.where(used[:, None], x, 0.0)

    ids = np.asarray([str(key) for key in data.ids])
    clusters = sorted(set(ids[used].tolist()))
    n = len(clusters)
    coefficients = x.shape[1]
    degrees = n - coefficients
    if degrees < 1:
        raise MrtDataError("id", f"{n} participants cannot estimate {coefficients} coefficients")
    bread = (x * weights[:, None]).T @ x
    if np.linalg.matrix_rank(bread) < coefficients:
        raise MrtDataError("moderator", "the moderators and controls are collinear")
    bread_inverse = np.linalg.inv(bread)
    theta = bread_inverse @ ((x * weights[:, None]).T @ y)
    residual = y - x @ theta
    meat = np.zeros((coefficients, coefficients))
    for cluster in clusters:
        rows_of = np.flatnonzero((ids == cluster) & used)
        xi, wi, ri = x[rows_of], weights[rows_of], residual[rows_of]
        leverage = xi @ bread_inverse @ xi.T * wi[None, :]
        corrected = np.linalg.solve(np.eye(len(rows_of)) - leverage, ri)
        score = xi.T @ (wi * corrected)
        meat += np.outer(score, score)
    variance = bread_inverse @ meat @ bread_inverse
    errors = np.sqrt(np.diag(variance))

    small = n <= SMALL_SAMPLE_PARTICIPANTS
    quantile = stats.t.ppf(0.975, degrees) if small else stats.norm.ppf(0.975)

    def coefficient(index: int, term: str) -> Coefficient:
        estimate, error = float(theta[index]), float(errors[index])
        statistic = estimate / error
        p_value = (
            stats.f.sf(statistic**2, 1, degrees) if small else 2 * stats.norm.sf(abs(statistic))
        )
        return Coefficient(
            term=term,
            estimate=estimate,
            std_error=error,
            ci_low=estimate - quantile * error,
            ci_high=estimate + quantile * error,
            p_value=float(p_value),
        )

    c = len(control_terms)
    return WclsResult(
        effects=[coefficient(c + k, term) for k, term in enumerate(effect_terms)],
        controls=[coefficient(k, term) for k, term in enumerate(control_terms)],
        participants=n,
        decision_points=rows,
        available_decision_points=int(used.sum()),
        numerator_probability=p_tilde,
        degrees_of_freedom=degrees if small else None,
        distribution="F" if small else "normal",
    )
