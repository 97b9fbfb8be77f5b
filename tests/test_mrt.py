"""Micro-randomized arms: every decision point a row (available or why not, the probability
used, the treatment, the proximal outcome as its data arrive), and the WCLS analysis of a
study's points through the API and the command line."""

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import Session, col
from typer.testing import CliRunner

from app.cli import cli
from app.clock import FrozenClock
from app.mrt.design import MrtDesign, draw, probability_for, treated, unavailable_because
from app.mrt.models import DecisionPoint
from app.mrt.wcls import MrtData, wcls
from tests.conftest import PASSWORD, START
from tests.test_checkins import BASE, FUSED, checkin

runner = CliRunner()
TAILORED_ONLY = [{"key": "tailored", "policy": "tailored"}]


def test_the_probability_is_the_days_own_then_the_last_one_clipped_to_the_bounds() -> None:
    design = MrtDesign(by_study_day=[0.05, 0.4, 0.95], min_probability=0.1, max_probability=0.9)
    days = [probability_for(design, day, 600) for day in (0, 1, 2, 3, 9)]
    assert days == [0.1, 0.1, 0.4, 0.9, 0.9]
    assert probability_for(MrtDesign(probability=0.3), 12, 0) == 0.3


def test_by_time_of_day_each_band_runs_to_the_next_and_the_last_past_midnight() -> None:
    design = MrtDesign.model_validate(
        {
            "by_time_of_day": [
                {"start": "08:00", "probability": 0.3},
                {"start": "12:00", "probability": 0.6},
                {"start": "18:00", "probability": 0.95},
            ],
            "max_probability": 0.8,
        }
    )
    minutes = (0, 8 * 60 - 1, 8 * 60, 11 * 60 + 59, 12 * 60, 18 * 60, 23 * 60 + 59)
    got = [probability_for(design, 3, minute) for minute in minutes]
    assert got == [0.8, 0.8, 0.3, 0.3, 0.6, 0.8, 0.8]


def test_availability_comes_first_in_its_order_of_precedence() -> None:
    design = MrtDesign(recent_offer_minutes=60)

    def why(**given: Any) -> str | None:
        found = {"positive_screen": False, "paused": False, "qualifies": True}
        return unavailable_because(**{**found, "minutes_since_offer": None, **given}, design=design)

    assert why() is None
    assert why(positive_screen=True, paused=True, qualifies=False) == "safety"
    assert why(paused=True, qualifies=False) == "paused"
    assert why(qualifies=False, minutes_since_offer=5) == "nothing_qualifies"
    assert why(minutes_since_offer=59.9) == "recent_offer"
    assert why(minutes_since_offer=60) is None


@given(st.floats(0.01, 0.99), st.text(max_size=30))
def test_treatment_is_the_seeded_draw_below_the_probability(p: float, seed: str) -> None:
    got, u = treated(p, seed)
    assert got == (u < p) and u == draw(seed) and 0 <= u < 1


def test_bad_designs_are_refused() -> None:
    for bad in (
        {"min_probability": 0.8, "max_probability": 0.2},
        {"probability": 1.0},
        {"by_study_day": [0.5, 0.0]},
        {"by_study_day": [0.5], "by_time_of_day": [{"start": "08:00", "probability": 0.5}]},
        {
            "by_time_of_day": [
                {"start": "12:00", "probability": 0.5},
                {"start": "08:00", "probability": 0.5},
            ]
        },
        {"by_time_of_day": [{"start": "08:00", "probability": 1.0}]},
        {"by_time_of_day": [{"start": "08:00:30", "probability": 0.5}]},
        {"outcome": "next_need"},
        {"outcome_dimension": "emotion"},
        {"outcome": "next_item"},
        {"outcome_item": "distress"},
        {"outcome": "next_need", "outcome_dimension": "emotion", "outcome_item": "distress"},
    ):
        with pytest.raises(ValueError):
            MrtDesign.model_validate(bad)


def _mrt_study(
    client: TestClient, owner: dict, make_study: Callable, **design: Any
) -> dict[str, Any]:
    study = make_study(activate=False, arms=TAILORED_ONLY)
    url = f"/v1/studies/{study['id']}/arms/tailored/mrt"
    saved = client.put(url, json={"self_initiated": True, **design}, headers=owner)
    assert saved.status_code == 200, saved.text
    assert client.post(f"/v1/studies/{study['id']}/activate", headers=owner).is_success
    return study


def _points(client: TestClient, owner: dict, study: dict) -> list[dict[str, Any]]:
    owner = _signed_in(client)  # hours pass on the clock: a fresh token
    exported = client.get(
        f"/v1/studies/{study['id']}/exports/decision_points",
        params={"format": "ndjson"},
        headers=owner,
    )
    assert exported.status_code == 200, exported.text
    return [json.loads(line) for line in exported.text.splitlines()]


def _signed_in(client: TestClient) -> dict[str, str]:
    form = {"username": "owner@example.org", "password": PASSWORD}
    token = client.post("/v1/auth/token", data=form).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_arm_design_is_set_while_a_draft_by_whom_may_manage(
    client: TestClient, owner: dict, make_study: Callable, make_staff: Callable
) -> None:
    study = make_study(activate=False)
    base = f"/v1/studies/{study['id']}/arms"
    assert client.get(f"{base}/tailored/mrt", headers=owner).status_code == 404
    refused = client.put(f"{base}/assessment/mrt", json={}, headers=owner)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "path.key"
    bad = client.put(
        f"{base}/tailored/mrt", json={"min_probability": 0.9, "max_probability": 0.1}, headers=owner
    )
    assert bad.status_code == 422
    clinician = make_staff("clin@example.org")
    client.put(
        f"/v1/studies/{study['id']}/members",
        json={"email": "clin@example.org", "role": "clinician"},
        headers=owner,
    )
    assert client.put(f"{base}/tailored/mrt", json={}, headers=clinician).status_code == 403
    saved = client.put(f"{base}/tailored/mrt", json={"probability": 0.3}, headers=owner)
    assert saved.status_code == 200 and saved.json()["probability"] == 0.3
    assert client.get(f"{base}/tailored/mrt", headers=clinician).json()["probability"] == 0.3
    assert client.post(f"/v1/studies/{study['id']}/activate", headers=owner).is_success
    locked = client.put(f"{base}/tailored/mrt", json={"probability": 0.6}, headers=owner)
    assert locked.status_code == 409 and locked.json()["code"] == "study_not_draft"
    assert client.delete(f"{base}/tailored/mrt", headers=owner).status_code == 409
    events = client.get(
        f"/v1/studies/{study['id']}/audit-events",
        params={"action": "arm.mrt_design"},
        headers=owner,
    ).json()["items"]
    assert events[0]["details"]["design"]["probability"] == 0.3


def test_every_decision_point_is_a_row_and_a_draw_against_nothing_offers_nothing(
    client: TestClient,
    session: Session,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    clock: FrozenClock,
) -> None:
    study = _mrt_study(client, owner, make_study, probability=0.5, recent_offer_minutes=30)
    person = enroll(study["id"])
    answers = []
    for n in range(16):  # an hour apart: no offer is ever recent
        at = START + timedelta(hours=n, minutes=1)
        clock.set(at + timedelta(minutes=1))
        body = checkin(FUSED, client_id=f"c-{n}", answered_at=at.isoformat())
        posted = client.post("/v1/checkins", json=body, headers=person["headers"])
        assert posted.status_code == 201, posted.text
        answers.append(posted.json())
    points = _points(client, owner, study)
    assert len(points) == 16 and all(p["available"] and p["probability"] == 0.5 for p in points)
    by_checkin = {p["checkin"]: p for p in points}
    for n, answer in enumerate(answers):
        point = by_checkin[f"c-{n}"]
        assert point["treated"] == (point["draw"] < 0.5)
        offered = answer["delivery"]["skill"] is not None
        assert offered == point["treated"]
        if not offered:
            assert answer["delivery"]["reason"] == "not_randomized"
    assert {p["treated"] for p in points} == {True, False}  # 16 fair draws: both happened
    # Within 30 minutes of an offer the point is unavailable, and nothing is drawn.
    last_offer = max(n for n, answer in enumerate(answers) if answer["delivery"]["skill"])
    soon = START + timedelta(hours=last_offer, minutes=11)
    clock.set(soon)
    body = checkin(FUSED, client_id="soon", answered_at=soon.isoformat())
    assert client.post("/v1/checkins", json=body, headers=person["headers"]).status_code == 201
    risky = checkin({**FUSED, "risk": 90}, client_id="risk", answered_at=soon.isoformat())
    assert client.post("/v1/checkins", json=risky, headers=person["headers"]).status_code == 201
    points = {p["checkin"]: p for p in _points(client, owner, study)}
    assert points["soon"]["unavailable_reason"] == "recent_offer"
    assert points["risk"]["unavailable_reason"] == "safety"
    assert points["risk"]["treated"] is None and points["risk"]["probability"] is None

    # The replay draws every available point again, and sees a record that was changed.
    replay_url = f"/v1/studies/{study['id']}/replay"
    clean = client.get(replay_url, headers=_signed_in(client)).json()
    assert clean["ok"] and clean["decision_points"] == 16 and not clean["skill_mismatches"]
    flipped = points["c-0"]
    session.execute(
        update(DecisionPoint)
        .where(col(DecisionPoint.seed) == flipped["seed"])
        .values(treated=not flipped["treated"])
    )
    tampered = client.get(replay_url, headers=_signed_in(client)).json()
    assert not tampered["ok"]
    [mismatch] = tampered["decision_point_mismatches"]
    assert mismatch["replayed"]["treated"] == flipped["treated"]


def test_a_time_of_day_design_randomizes_at_the_participants_local_time(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    clock: FrozenClock,
) -> None:
    bands = [{"start": "06:00", "probability": 0.2}, {"start": "13:00", "probability": 0.7}]
    study = _mrt_study(client, owner, make_study, by_time_of_day=bands)
    person = enroll(study["id"])  # Europe/Berlin: UTC+1 in March 2026
    for n, hour in enumerate((10, 11, 12, 13)):  # local 11:00, 12:00, 13:00, 14:00
        at = START.replace(hour=hour)
        clock.set(at + timedelta(minutes=1))
        body = checkin(FUSED, client_id=f"t-{n}", answered_at=at.isoformat())
        assert client.post("/v1/checkins", json=body, headers=person["headers"]).is_success
    points = sorted(_points(client, owner, study), key=lambda p: p["local_minute"])
    assert [(p["local_minute"], p["probability"]) for p in points] == [
        (660, 0.2),
        (720, 0.2),
        (780, 0.7),
        (840, 0.7),
    ]
    clock.set(START)  # the staff token's lifetime
    replayed = client.get(f"/v1/studies/{study['id']}/replay", headers=owner).json()
    assert replayed["decision_points"] == 4 and replayed["ok"], replayed


def test_the_proximal_outcome_arrives_with_its_data(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    clock: FrozenClock,
) -> None:
    study = _mrt_study(client, owner, make_study, probability=0.5)
    person = enroll(study["id"])
    answers = {}
    for n in range(8):
        at = START + timedelta(hours=n, minutes=1)
        clock.set(at + timedelta(minutes=1))
        body = checkin(FUSED, client_id=f"c-{n}", answered_at=at.isoformat())
        answers[f"c-{n}"] = client.post("/v1/checkins", json=body, headers=person["headers"]).json()
    feedback = "/v1/deliveries/{}/feedback"
    for answer in answers.values():
        delivery = answer["delivery"]
        said = client.post(
            feedback.format(delivery["id"]), json={"distress_after": 40}, headers=person["headers"]
        )
        assert said.status_code == 204, said.text  # untreated people say how they feel too
        if delivery["skill"] is None:
            rated = client.post(
                feedback.format(delivery["id"]), json={"helpfulness": 3}, headers=person["headers"]
            )
            assert rated.status_code == 409  # but there was no skill to rate
    points = _points(client, owner, study)
    assert {p["outcome"] for p in points} == {40.0}

    # A dimension's need at the next check-in within the window, earlier data arriving
    # late replacing later data.
    clock.set(START)  # the owner's token was issued then
    other = _mrt_study(
        client,
        owner,
        make_study,
        outcome="next_need",
        outcome_dimension="cognition",
        outcome_hours=4,
    )
    someone = enroll(other["id"])
    first = START + timedelta(days=1)
    clock.set(first)
    client.post(
        "/v1/checkins",
        json=checkin(FUSED, client_id="first", answered_at=first.isoformat()),
        headers=someone["headers"],
    )
    later = first + timedelta(hours=3)
    clock.set(later)
    client.post(
        "/v1/checkins",
        json=checkin(BASE, client_id="later", answered_at=later.isoformat()),
        headers=someone["headers"],
    )
    points = {p["checkin"]: p for p in _points(client, owner, other)}
    assert points["first"]["outcome"] == 30.0 and points["later"]["outcome"] is None
    sooner = first + timedelta(hours=1)
    clock.set(later + timedelta(minutes=5))
    late_body = checkin(
        {**BASE, "cognition_fused": 60, "cognition_defused": 40},
        client_id="sooner",
        answered_at=sooner.isoformat(),
    )
    assert client.post("/v1/checkins", json=late_body, headers=someone["headers"]).is_success
    points = {p["checkin"]: p for p in _points(client, owner, other)}
    assert points["first"]["outcome"] == 60.0  # the nearer check-in, though it came later


def test_an_items_answer_at_the_next_checkin_is_the_outcome_on_the_items_own_scale(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable, clock: FrozenClock
) -> None:
    study = make_study(activate=False, arms=TAILORED_ONLY)
    base = f"/v1/studies/{study['id']}"
    items = client.get(f"{base}/questionnaire", headers=owner).json()["items"]
    optional = [
        {**item, "required": item["required"] and item["key"] != "distress"} for item in items
    ]
    client.put(f"{base}/questionnaire", json={"items": optional}, headers=owner)
    design = {
        "self_initiated": True,
        "outcome": "next_item",
        "outcome_item": "distress",
        "outcome_hours": 2,
    }
    saved = client.put(f"{base}/arms/tailored/mrt", json=design, headers=owner)
    assert saved.status_code == 200, saved.text
    assert client.post(f"{base}/activate", headers=owner).is_success
    someone = enroll(study["id"])
    first = START + timedelta(days=1)
    answers = [
        ("first", first, 20),
        ("within", first + timedelta(hours=1), 70),  # the first point's outcome
        ("unanswered", first + timedelta(hours=1, minutes=30), None),
        ("after", first + timedelta(hours=5), 10),
    ]
    for client_id, at, distress in answers:
        clock.set(at)
        body = {**FUSED, "distress": distress} if distress is not None else FUSED
        if distress is None:
            body = {key: value for key, value in FUSED.items() if key != "distress"}
        sent = client.post(
            "/v1/checkins",
            json=checkin(body, client_id=client_id, answered_at=at.isoformat()),
            headers=someone["headers"],
        )
        assert sent.is_success, sent.text
    points = {p["checkin"]: p for p in _points(client, owner, study)}
    assert points["first"]["outcome_kind"] == "next_item"
    assert points["first"]["outcome_item"] == "distress"
    assert points["first"]["outcome"] == 70.0
    # The next check-in left the item unanswered: the outcome is missing, not a later one.
    assert points["within"]["outcome"] is None
    # Nothing came within two hours of the last two.
    assert points["unanswered"]["outcome"] is None and points["after"]["outcome"] is None


@pytest.mark.parametrize("item", ["nowhere", "context"])
def test_a_next_item_outcome_names_a_number_the_checkin_asks_for(
    client: TestClient, owner: dict, make_study: Callable, item: str
) -> None:
    study = make_study(activate=False, arms=TAILORED_ONLY)
    questionnaire = client.get(f"/v1/studies/{study['id']}/questionnaire", headers=owner).json()
    text_item = {
        "key": "context",
        "type": "text",
        "text": {"en": "Where are you?"},
        "required": False,
    }
    saved = client.put(
        f"/v1/studies/{study['id']}/questionnaire",
        json={"items": [*questionnaire["items"], text_item]},
        headers=owner,
    )
    assert saved.status_code == 200, saved.text
    url = f"/v1/studies/{study['id']}/arms/tailored/mrt"
    design = {"outcome": "next_item", "outcome_item": item}
    refused = client.put(url, json=design, headers=owner)
    assert refused.status_code == 422, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == ["body.outcome_item"]
    assert client.get(url, headers=owner).status_code == 404  # nothing stored
    assert client.put(url, json={**design, "outcome_item": "distress"}, headers=owner).is_success


def test_the_study_is_analyzed_as_its_exported_decision_points_say(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    clock: FrozenClock,
    database_url: str,
    tmp_path: Path,
) -> None:
    study = _mrt_study(client, owner, make_study, probability=0.5)
    url = f"/v1/studies/{study['id']}/analyses/wcls"
    assert client.get(url, headers=owner).json()["code"] == "no_decision_points"
    people = [enroll(study["id"]) for _ in range(5)]
    for n in range(10):
        for i, person in enumerate(people):
            at = START + timedelta(hours=n, minutes=1 + i)
            clock.set(at + timedelta(seconds=30))
            body = checkin(FUSED, client_id=f"c-{n}", answered_at=at.isoformat())
            answer = client.post("/v1/checkins", json=body, headers=person["headers"]).json()
            distress = 30 + 7 * ((n * 5 + i) % 6) - (10 if answer["delivery"]["skill"] else 0)
            client.post(
                f"/v1/deliveries/{answer['delivery']['id']}/feedback",
                json={"distress_after": distress},
                headers=person["headers"],
            )
    owner = _signed_in(client)
    analyzed = client.get(url, params={"moderators": ["hour_of_day"]}, headers=owner)
    assert analyzed.status_code == 200, analyzed.text
    result = analyzed.json()
    effect = result["effects"][0]
    assert effect["ci_low"] < effect["estimate"] < effect["ci_high"]
    points = _points(client, owner, study)
    expected = wcls(
        MrtData(
            ids=[p["participant"] for p in points],
            outcome=[p["outcome"] for p in points],
            treatment=[1.0 if p["treated"] else 0.0 for p in points],
            probability=[p["probability"] for p in points],
            moderators={"hour_of_day": [p["local_minute"] / 60 for p in points]},
        )
    )
    # The same fit, up to the order in which sums are taken (clusters are keyed differently).
    wanted = json.loads(expected.model_dump_json())
    for kind in ("effects", "controls"):
        assert [c["term"] for c in result[kind]] == [c["term"] for c in wanted[kind]]
        for got, want in zip(result.pop(kind), wanted.pop(kind), strict=True):
            assert {k: v for k, v in got.items() if k != "term"} == pytest.approx(
                {k: v for k, v in want.items() if k != "term"}, rel=1e-9
            )
    assert result == wanted
    assert result["participants"] == 5 and result["available_decision_points"] == 50
    unknown = client.get(url, params={"moderators": ["shoe_size"]}, headers=owner)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "query.moderators"

    env = {"KAIROS_DATABASE_URL": database_url, "KAIROS_VAR_DIR": str(tmp_path / "var")}
    command = ["analyze", "wcls", study["id"], "--moderator", "hour_of_day", "--json"]
    printed = runner.invoke(cli, command, env=env)
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output) == analyzed.json()
    table = runner.invoke(cli, ["analyze", "wcls", study["id"]], env=env)
    assert table.exit_code == 0 and "(Intercept)" in table.output
    neither = runner.invoke(cli, ["analyze", "wcls"], env=env)
    assert neither.exit_code == 1 and "one of them" in neither.output
