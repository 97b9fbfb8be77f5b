"""The protocol simulator: a whole synthetic study through the real code, reproducible from
its seed, and a design whose WCLS analysis covers the true effect and keeps its error rate.

The statistical checks take 50 replicates each. A real simulated study costs about as many
check-ins through the check-in flow as it has (tens of milliseconds each on this machine), so
fifty of them would take many minutes; they run as bare trials (app/simulate/bare.py): the
same people drawn by the same person model, decided by the same pure evaluation and seeded
MRT draw the flow uses, fitted by the same estimator. The real path is checked on its own:
a study found to reproduce byte for byte from its seed, on SQLite and PostgreSQL alike, and
a large effect found and covered in a real simulated study.
"""

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from app.cli import cli
from app.mrt.design import MrtDesign
from app.mrt.wcls import wcls
from app.rules.process import Dimension
from app.settings import Settings
from app.simulate.bare import bare_trial
from app.simulate.person import PersonModel
from app.simulate.study import ScratchDatabases, StudyPlan, run_study
from app.vocabulary import Policy

runner = CliRunner()
DESIGN = MrtDesign(
    probability=0.5, outcome="next_need", outcome_dimension=Dimension.emotion, outcome_hours=4
)
REPLICATES = 50
# 30 people, 4 days, 5 prompts a day: about 450 decision points, 300 of them analyzed.
SMALL = {"participants": 30, "days": 4, "prompts_per_day": 5, "design": DESIGN}


def _replicates(effect: float) -> tuple[list[float], list[float], list[bool], list[bool]]:
    errors, truths, covered, rejected = [], [], [], []
    for seed in range(REPLICATES):
        trial = bare_trial(PersonModel(effect=effect), seed=seed, **SMALL)  # type: ignore[arg-type]
        found = wcls(trial.data).effects[0]
        errors.append(found.estimate - trial.truth)
        truths.append(trial.truth)
        covered.append(found.ci_low <= trial.truth <= found.ci_high)
        rejected.append(found.p_value < 0.05)
    return errors, truths, covered, rejected


def test_with_an_effect_the_ci_covers_the_truth_and_the_estimate_is_unbiased() -> None:
    errors, truths, covered, rejected = _replicates(effect=6.0)
    assert all(truth < -1 for truth in truths)  # a real effect: the needs drop
    assert sum(covered) >= 0.9 * REPLICATES
    monte_carlo_error = float(np.std(errors, ddof=1)) / math.sqrt(REPLICATES)
    assert abs(float(np.mean(errors))) < 3 * monte_carlo_error
    assert 0.2 < sum(rejected) / REPLICATES < 1  # found often, not always, at this size


def test_without_an_effect_the_false_positive_rate_is_near_five_percent() -> None:
    _errors, truths, covered, rejected = _replicates(effect=0.0)
    assert set(truths) == {0.0}
    # 50 tests at 5%: 2.5 expected; 7 or more has a chance near 1% (binomial).
    assert sum(rejected) <= 6
    assert sum(covered) >= 0.9 * REPLICATES


def test_a_bare_trial_is_its_seed() -> None:
    first, again, other = (bare_trial(PersonModel(), seed=s, **SMALL) for s in (7, 7, 8))  # type: ignore[arg-type]
    assert repr(first) == repr(again)  # (NaN, a missing outcome, is unequal to itself)
    assert repr(first) != repr(other)


TINY = StudyPlan(participants=4, days=2, prompts_per_day=3)
# Tables whose files do not depend on the database's own rendering (PostgreSQL orders the
# keys of JSON objects its own way): the check-ins and the decision points are among them.
ANY_DATABASE = ("participants.csv", "prompts.csv", "checkins.csv", "decision_points.csv")


def _bundle(engine: Engine, seed: int, out: Path) -> dict[str, bytes]:
    run_study(engine, TINY, seed, Settings(), export=out)
    with zipfile.ZipFile(out) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, bytes]]:
    """Seed 11 twice and seed 12, each in a fresh SQLite database."""
    where = tmp_path_factory.mktemp("seeded")
    databases = ScratchDatabases(where)
    bundles = []
    for n, seed in enumerate((11, 11, 12)):
        with databases.fresh(f"run-{n}") as engine:
            bundles.append(_bundle(engine, seed, where / f"run-{n}.zip"))
    return bundles


def test_the_same_seed_reproduces_the_same_study_byte_for_byte(
    seeded: list[dict[str, bytes]],
) -> None:
    # Every file of the bundle (the zip around them dates its entries by the wall clock).
    assert seeded[0] == seeded[1]
    assert seeded[0]["decision_points.csv"] != seeded[2]["decision_points.csv"]
    points = seeded[0]["decision_points.csv"].decode().splitlines()
    checkins = seeded[0]["checkins.csv"].decode().splitlines()
    assert {"deliveries.csv", "codebook.json"} <= set(seeded[0])
    assert len(points) > 1 and len(checkins) > len(points)


def test_the_seeds_study_is_the_same_on_every_database(
    seeded: list[dict[str, bytes]], db: Engine, tmp_path: Path
) -> None:
    here = _bundle(db, 11, tmp_path / "here.zip")
    assert {name: here[name] for name in ANY_DATABASE} == {
        name: seeded[0][name] for name in ANY_DATABASE
    }


def test_a_real_simulated_study_finds_a_large_effect_and_covers_it(tmp_path: Path) -> None:
    people = PersonModel(
        effect=30,
        effect_sd=0,
        off_target=1,
        compliance_start=0.95,
        compliance_end=0.95,
        completion=1,
    )
    plan = StudyPlan(
        participants=8, days=2, prompts_per_day=5, arms=(Policy.tailored,), people=people
    )
    with ScratchDatabases(tmp_path).fresh("large") as engine:
        result = run_study(engine, plan, 5, Settings())
    assert result.wcls is not None and result.checkins == result.arms[0].prompts_answered
    found = result.wcls
    assert found.truth < -15 and found.covers and found.p_value < 0.05
    assert 0.8 < result.compliance_first_week <= 1


def test_the_command_reports_and_draws_the_power_curve(tmp_path: Path) -> None:
    picture = tmp_path / "power.svg"
    ran = runner.invoke(
        cli,
        [
            "simulate",
            "--participants",
            "3",
            "--days",
            "1",
            "--prompts-per-day",
            "2",
            "--replicates",
            "2",
            "--json",
            "--power-curve",
            str(picture),
            "--curve-replicates",
            "2",
        ],
    )
    assert ran.exit_code == 0, ran.output
    reported = json.loads(ran.stdout[ran.stdout.index("{") : ran.stdout.rindex("}") + 1])
    assert [study["seed"] for study in reported["studies"]] == [1, 2]
    assert picture.read_text().lstrip().startswith("<?xml")
    refused = runner.invoke(cli, ["simulate", "--compliance-start", "1.5"])
    assert refused.exit_code == 1 and "compliance_start" in refused.output
