"""WCLS (app.mrt.wcls) against an independent implementation written here: plain numpy
weighted least squares (by lstsq on square-root weights), the full hat matrix for the
Mancl-DeRouen leverage, and t quantiles for the small-sample intervals."""

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from app.cli import cli
from app.mrt.wcls import MrtData, MrtDataError, WclsResult, wcls


def simulate(
    participants: int,
    points: int,
    *,
    seed: int,
    constant_p: float | None = None,
    with_availability: bool = True,
    moderators: int = 1,
    controls: int = 1,
    effect: float = 0.5,
) -> MrtData:
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"p{k:03d}" for k in range(participants)], points)
    rows = len(ids)
    person = np.repeat(rng.normal(0, 1, participants), points)
    available = (rng.random(rows) < 0.8).astype(float) if with_availability else np.ones(rows)
    p = np.full(rows, constant_p) if constant_p is not None else rng.uniform(0.2, 0.8, rows)
    a = (rng.random(rows) < p).astype(float)
    mods = {f"m{k}": rng.normal(0, 1, rows) for k in range(moderators)}
    ctrls = {f"c{k}": rng.normal(0, 1, rows) for k in range(controls)}
    moderated = effect + sum(0.3 * column for column in mods.values())
    y = person + sum(ctrls.values()) + a * moderated + rng.normal(0, 1, rows)
    return MrtData(
        ids=list(ids),
        outcome=list(y),
        treatment=list(a),
        probability=list(p),
        availability=list(available),
        moderators={k: list(v) for k, v in mods.items()},
        controls={k: list(v) for k, v in ctrls.items()},
    )


def reference(data: MrtData, p_tilde: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Estimates and standard errors of the effects, and the participant count."""
    ids = np.array(data.ids)
    keep = np.array(data.availability if data.availability is not None else [1] * len(ids)) == 1
    y = np.array(data.outcome)[keep]
    a = np.array(data.treatment)[keep]
    p = np.array(data.probability)[keep]
    ids = ids[keep]
    z = np.column_stack([np.ones(keep.sum())] + [np.array(v)[keep] for v in data.controls.values()])
    s = np.column_stack(
        [np.ones(keep.sum())] + [np.array(v)[keep] for v in data.moderators.values()]
    )
    x = np.hstack([z, s * (a - p_tilde)[:, None]])
    w = np.array(
        [
            (p_tilde / pt) if at == 1 else ((1 - p_tilde) / (1 - pt))
            for at, pt in zip(a, p, strict=True)
        ]
    )
    root = np.sqrt(w)
    theta, *_ = np.linalg.lstsq(x * root[:, None], y * root, rcond=None)
    r = y - x @ theta
    bread_inverse = np.linalg.inv(x.T @ np.diag(w) @ x)
    hat = x @ bread_inverse @ x.T @ np.diag(w)
    meat = np.zeros_like(bread_inverse)
    for person in np.unique(ids):
        block = np.where(ids == person)[0]
        h = hat[np.ix_(block, block)]
        adjusted = np.linalg.inv(np.eye(len(block)) - h) @ r[block]
        u = x[block].T @ np.diag(w[block]) @ adjusted
        meat += np.outer(u, u)
    v = bread_inverse @ meat @ bread_inverse
    c = z.shape[1]
    return theta[c:], np.sqrt(np.diag(v))[c:], len(np.unique(ids))


@pytest.mark.parametrize(
    ("participants", "constant_p", "with_availability", "moderators", "controls", "p_tilde"),
    [
        (20, 0.6, False, 0, 0, None),
        (30, None, True, 1, 1, 0.5),
        (40, 0.4, True, 2, 1, None),
        (80, None, True, 1, 2, 0.45),
    ],
)
def test_wcls_agrees_with_an_independent_implementation(
    participants: int,
    constant_p: float | None,
    with_availability: bool,
    moderators: int,
    controls: int,
    p_tilde: float | None,
) -> None:
    data = simulate(
        participants,
        12,
        seed=participants,
        constant_p=constant_p,
        with_availability=with_availability,
        moderators=moderators,
        controls=controls,
    )
    result = wcls(data, p_tilde)
    expected_p_tilde = p_tilde if p_tilde is not None else result.numerator_probability
    if p_tilde is None and constant_p is not None:
        assert result.numerator_probability == pytest.approx(constant_p)
    estimates, errors, n = reference(data, expected_p_tilde)
    assert [e.estimate for e in result.effects] == pytest.approx(list(estimates), abs=1e-8)
    assert [e.std_error for e in result.effects] == pytest.approx(list(errors), abs=1e-8)
    assert [e.term for e in result.effects] == ["(Intercept)", *data.moderators]
    assert result.participants == n
    m, c = moderators + 1, controls + 1
    if participants <= 50:
        df = n - m - c
        assert (result.distribution, result.degrees_of_freedom) == ("F", df)
        quantile = stats.t.ppf(0.975, df)
        p_values = [
            2 * stats.t.sf(abs(b / se), df) for b, se in zip(estimates, errors, strict=True)
        ]
    else:
        assert (result.distribution, result.degrees_of_freedom) == ("normal", None)
        quantile = stats.norm.ppf(0.975)
        pairs = zip(estimates, errors, strict=True)
        p_values = [2 * stats.norm.sf(abs(b / se)) for b, se in pairs]
    for effect, b, se, p_value in zip(result.effects, estimates, errors, p_values, strict=True):
        assert effect.ci_low == pytest.approx(b - quantile * se, abs=1e-8)
        assert effect.ci_high == pytest.approx(b + quantile * se, abs=1e-8)
        assert effect.p_value == pytest.approx(p_value, abs=1e-8)
    available = sum(data.availability or []) if with_availability else len(data.ids)
    assert result.available_decision_points == available


def test_the_order_of_rows_and_the_names_of_participants_change_nothing() -> None:
    data = simulate(25, 10, seed=7, moderators=1, controls=1)
    order = np.random.default_rng(1).permutation(len(data.ids))
    renamed = {key: f"someone-{k}" for k, key in enumerate(sorted(set(data.ids), reverse=True))}

    def shuffled(values: list[float]) -> list[float]:
        return [values[k] for k in order]

    moved = MrtData(
        ids=[renamed[data.ids[k]] for k in order],
        outcome=shuffled(list(data.outcome)),
        treatment=shuffled(list(data.treatment)),
        probability=shuffled(list(data.probability)),
        availability=shuffled(list(data.availability or [])),
        moderators={k: shuffled(list(v)) for k, v in data.moderators.items()},
        controls={k: shuffled(list(v)) for k, v in data.controls.items()},
    )
    first, second = wcls(data, 0.5), wcls(moved, 0.5)
    for a, b in zip(first.effects + first.controls, second.effects + second.controls, strict=True):
        assert a.estimate == pytest.approx(b.estimate, abs=1e-10)
        assert a.std_error == pytest.approx(b.std_error, abs=1e-10)


def test_a_true_effect_is_found_and_none_is_not() -> None:
    found = wcls(simulate(60, 30, seed=3, moderators=0, controls=0, effect=0.8), 0.5)
    assert found.effects[0].ci_low > 0
    null = wcls(simulate(60, 30, seed=4, moderators=0, controls=0, effect=0.0), 0.5)
    assert null.effects[0].ci_low < 0 < null.effects[0].ci_high


def test_missing_outcomes_are_left_out() -> None:
    data = simulate(20, 10, seed=5, with_availability=False, moderators=0, controls=0)
    outcome = list(data.outcome)
    outcome[3] = float("nan")
    result = wcls(
        MrtData(data.ids, outcome, data.treatment, data.probability, data.availability), 0.5
    )
    assert result.available_decision_points == len(data.ids) - 1


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"probability": 0.0}, "probability"),
        ({"probability": 1.0}, "probability"),
        ({"treatment": 2.0}, "treatment"),
        ({"availability": 0.5}, "availability"),
    ],
)
def test_impossible_values_are_refused_naming_the_column(change: dict, column: str) -> None:
    data = simulate(10, 5, seed=2, with_availability=False, moderators=0, controls=0)
    ((name, value),) = change.items()
    values = list(getattr(data, name))
    values[0] = value
    fields = {
        "ids": data.ids,
        "outcome": data.outcome,
        "treatment": data.treatment,
        "probability": data.probability,
        "availability": data.availability,
        name: values,
    }
    with pytest.raises(MrtDataError) as refused:
        wcls(MrtData(**fields))
    assert refused.value.column == column


def test_fewer_participants_than_coefficients_is_refused() -> None:
    data = simulate(3, 20, seed=9, moderators=1, controls=1)
    with pytest.raises(MrtDataError, match="3 participants cannot estimate 4 coefficients"):
        wcls(data)


def _write(path: Path, data: MrtData) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["who", "y", "a", "p", "i", "m0", "c0"])
        for row in zip(
            data.ids,
            data.outcome,
            data.treatment,
            data.probability,
            data.availability or [],
            data.moderators["m0"],
            data.controls["c0"],
            strict=True,
        ):
            writer.writerow(row)


def test_the_command_analyzes_a_csv_file_as_the_estimator_does(tmp_path: Path) -> None:
    data = simulate(30, 8, seed=11)
    _write(tmp_path / "mrt.csv", data)
    args = [
        "analyze", "wcls", "--csv", str(tmp_path / "mrt.csv"), "--id", "who", "--outcome", "y",
        "--treatment", "a", "--probability", "p", "--availability", "i",
        "--moderator", "m0", "--control", "c0", "--numerator-probability", "0.5",
    ]  # fmt: skip
    as_json = CliRunner().invoke(cli, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert WclsResult.model_validate_json(as_json.output) == wcls(data, 0.5)
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "(Intercept)" in table.output and "m0" in table.output and "F(1, 26)" in table.output


def test_the_command_names_a_missing_column(tmp_path: Path) -> None:
    _write(tmp_path / "mrt.csv", simulate(10, 4, seed=1))
    args = ["analyze", "wcls", "--csv", str(tmp_path / "mrt.csv"), "--id", "who", "--outcome"]
    missing = CliRunner().invoke(cli, [*args, "y", "--treatment", "A", "--probability", "p"])
    assert missing.exit_code == 1
    assert "no column 'A'" in missing.output
