"""The same synthetic people in the same micro-randomized design, without Kairos around
them: prompts at random times in the day's windows, decided with the pure parts the check-in
flow uses (the rule set's evaluation, the MRT design's probability and seeded draw), fitted by
the same estimator. Pure, and a thousand times faster than a real simulated study: what the
statistical checks of the design (coverage, bias, false positives) need fifty replicates of.
What it leaves out is the service around the decision (storage, scheduling, the policy's
history); the real simulation (app/simulate/study.py) runs that.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from app.mrt.design import MrtDesign, probability_for, treated
from app.mrt.wcls import MrtData
from app.rules.evaluate import PersonContext, evaluate, scaled_answers
from app.rules.items import default_items
from app.rules.process import Pole
from app.rules.schema import default_rule_set
from app.simulate.person import PersonModel, new_person

DAY_START, DAY_END = 9, 21  # the prompts' windows, local hours
START = datetime(2026, 3, 2, tzinfo=UTC)  # midnight of study day 1


@dataclass(frozen=True)
class BareTrial:
    data: MrtData
    truth: float  # the mean true effect at the analyzed decision points


def bare_trial(
    people: PersonModel,
    participants: int,
    days: int,
    prompts_per_day: int,
    design: MrtDesign,
    seed: int,
) -> BareTrial:
    """One micro-randomized trial of `participants` people over `days` days."""
    assert design.outcome_dimension is not None, "the bare trial's outcome is the next need"
    items, rules = default_items(), default_rule_set(default_items())
    window = (DAY_END - DAY_START) * 60 / prompts_per_day
    seeds = np.random.SeedSequence(seed).spawn(participants)
    ids: list[int] = []
    outcome: list[float] = []
    treatment: list[float] = []
    probability: list[float] = []
    availability: list[float] = []
    keys: list[str] = []
    truths: dict[tuple[int, str], float] = {}
    for number, person_seed in enumerate(seeds):
        person = new_person(people, int(person_seed.generate_state(1)[0]))
        rows: dict[str, int] = {}  # this person's points by key, their row
        for day in range(1, days + 1):
            if day > 1:
                person.next_day()
            midnight = START + timedelta(days=day - 1)
            for slot in range(prompts_per_day):
                sent = DAY_START * 60 + window * (slot + person.rng.random())
                if not person.answers_prompt(day, days):
                    continue
                at = midnight + timedelta(minutes=sent + person.delay_minutes(window / 2))
                answered = person.check_in(
                    items, rules, design.outcome_dimension, at, design.outcome_hours
                )
                evaluation = evaluate(
                    rules, scaled_answers(items, answered.answers), PersonContext()
                )
                if answered.truth is not None:
                    key, effect = answered.truth
                    truths[number, key] = effect
                    found = evaluation.needs[design.outcome_dimension]
                    outcome[rows[key]] = math.nan if found is None else found
                key = f"{day}-{slot}"
                available = evaluation.target is not None
                minute = at.hour * 60 + at.minute
                p = probability_for(design, day, minute)
                got = available and treated(p, f"bare\x1f{seed}\x1f{number}\x1f{key}")[0]
                targets = [Pole(evaluation.target)] if evaluation.target else []
                person.decided(key, at, targets, answered.moment, got)
                rows[key] = len(outcome)
                keys.append(key)
                ids.append(number)
                outcome.append(math.nan)
                treatment.append(1.0 if got else 0.0)
                probability.append(p)
                availability.append(1.0 if available else 0.0)
    analyzed = [
        truths[ids[row], key]
        for row, key in enumerate(keys)
        if availability[row] and not math.isnan(outcome[row])
    ]
    return BareTrial(
        MrtData(ids, outcome, treatment, probability, availability),
        float(np.mean(analyzed)) if analyzed else math.nan,
    )
