"""The client's own plan: written with clinicians, spoken by the skills, offered as a
candidate of its own; the clinician's review and "review suggested"; item packs."""

import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.cli import cli
from app.clock import FrozenClock
from app.push.log import LogSender
from app.settings import Settings
from app.skills.models import Delivery
from app.worker import Jobs
from tests.conftest import PASSWORD, START
from tests.test_checkins import BASE, FUSED, checkin, post
from tests.test_checkins import trial as trial  # the fixture

STRATEGY = "Walk-round-the-block-4417"
SUPPORT = "Greta, call after six"
VALUED = "Estar con mi hija"
runner = CliRunner()
VALUES_REMOTE = {**BASE, "values_remote": 90, "values_clear": 10}


def plan_url(study: dict, person: dict) -> str:
    return f"/v1/studies/{study['id']}/participants/{person['id']}/plan"


def member(client: TestClient, owner: dict, make_staff: Callable, study: dict, role: str) -> dict:
    headers = make_staff(f"{role}@example.org")
    added = client.put(
        f"/v1/studies/{study['id']}/members",
        json={"email": f"{role}@example.org", "role": role},
        headers=owner,
    )
    assert added.is_success, added.text
    return headers


def test_the_client_and_a_clinician_write_the_same_plan(
    client: TestClient,
    owner: dict,
    trial: dict,
    make_staff: Callable,
    make_study: Callable,
    enroll: Callable,
) -> None:
    study, person = trial["study"], trial["by_arm"]["tailored"]
    clinician = member(client, owner, make_staff, study, "clinician")
    viewer = member(client, owner, make_staff, study, "viewer")
    mine = {"values": [{"text": "Being a steady dad"}], "supports": [{"text": SUPPORT}]}
    first = client.put(
        "/v1/me/plan", json={"sections": mine, "based_on_version": 0}, headers=person["headers"]
    )
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1 and first.json()["author"] == {
        "type": "client", "staff_id": None, "email": None, "name": None,
    }  # fmt: skip
    [value] = first.json()["sections"]["values"]
    assert value["id"] == "e1"
    # The clinician adds a strategy for fusion, keeping the client's entries by their ids.
    sections = first.json()["sections"]
    sections["strategies"] = [{"text": STRATEGY, "pole": "cognitive_fusion"}]
    edited = client.put(
        plan_url(study, person),
        json={"sections": sections, "based_on_version": 1},
        headers=clinician,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    assert edited.json()["author"]["type"] == "staff"
    assert edited.json()["author"]["email"] == "clinician@example.org"
    # The client sees the clinician's change and the whole history, with who made what.
    seen = client.get("/v1/me/plan", headers=person["headers"]).json()
    assert seen["sections"]["strategies"][0]["text"] == STRATEGY
    assert seen["sections"]["strategies"][0]["id"] == "e3"
    history = client.get("/v1/me/plan/versions", headers=person["headers"]).json()["items"]
    assert [(v["version"], v["author"]["type"], v["changed"]) for v in history] == [
        (2, "staff", ["strategies"]),
        (1, "client", ["values", "supports"]),
    ]
    staff_history = client.get(f"{plan_url(study, person)}/versions", headers=viewer).json()
    assert [v["version"] for v in staff_history["items"]] == [2, 1]
    # The clinician's review lists the period's changes in order, with their authors.
    review = f"/v1/studies/{study['id']}/participants/{person['id']}/review"
    changes = client.get(review, headers=clinician).json()["plan_changes"]
    assert [(c["version"], c["author"]["type"], c["changed"]) for c in changes] == [
        (1, "client", ["values", "supports"]),
        (2, "staff", ["strategies"]),
    ]
    assert changes[1]["author"]["email"] == "clinician@example.org"
    # An edit made on an old version is refused, not silently merged away.
    stale = client.put(
        "/v1/me/plan", json={"sections": mine, "based_on_version": 1}, headers=person["headers"]
    )
    assert (stale.status_code, stale.json()["code"]) == (409, "plan_changed")
    # An entry id the plan does not have is refused, naming it.
    forged = {"values": [{"id": "e99", "text": "x"}]}
    refused = client.put("/v1/me/plan", json={"sections": forged}, headers=person["headers"])
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.sections.values[0].id"
    # A viewer reads but cannot edit; a clinician of another study does not see it.
    assert client.get(plan_url(study, person), headers=viewer).status_code == 200
    assert (
        client.put(plan_url(study, person), json={"sections": mine}, headers=viewer).status_code
        == 403
    )
    elsewhere = make_staff("elsewhere@example.org")
    their_study = make_study(headers=elsewhere, name="Their study")
    assert client.get(plan_url(their_study, person), headers=elsewhere).status_code == 404
    assert client.get(plan_url(study, person), headers=elsewhere).status_code == 404
    # Every change is audited, without the words.
    events = client.get(
        f"/v1/studies/{study['id']}/audit-events?action=plan.update", headers=owner
    ).json()["items"]
    assert [event["details"]["version"] for event in events] == [2, 1]
    assert events[0]["details"]["entries"]["strategies"] == 1
    assert STRATEGY not in str(events) and SUPPORT not in str(events)


def test_a_plan_entry_tied_to_an_item_names_one_that_exists(
    client: TestClient,
    owner: dict,
    trial: dict,
) -> None:
    study, person = trial["study"], trial["by_arm"]["tailored"]
    loaded = client.post(f"/v1/studies/{study['id']}/questionnaire/packs/location", headers=owner)
    assert loaded.status_code == 200, loaded.text
    trigger = {"text": "Walking past the bar", "item": "place", "choice": "public_place"}
    good = client.put(
        "/v1/me/plan", json={"sections": {"triggers": [trigger]}}, headers=person["headers"]
    )
    assert good.status_code == 200, good.text
    for bad, field in (
        ({**trigger, "choice": "moon"}, "body.sections.triggers[0].choice"),
        ({**trigger, "item": "nowhere"}, "body.sections.triggers[0].item"),
    ):
        refused = client.put(
            "/v1/me/plan", json={"sections": {"triggers": [bad]}}, headers=person["headers"]
        )
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field


def _only_skill(client: TestClient, owner: dict, study: dict, person: dict, keep: str) -> None:
    """Disable the other skills for values_remoteness, so `keep` is offered."""
    others = [key for key in ("what_matters", "sweet_spot", "own_compass") if key != keep]
    url = f"/v1/studies/{study['id']}/participants/{person['id']}/personalization"
    saved = client.put(url, json={"disabled_skills": others}, headers=owner)
    assert saved.status_code == 200, saved.text


def test_a_skill_speaks_the_clients_own_words_in_their_language(
    client: TestClient,
    owner: dict,
    trial: dict,
) -> None:
    study, person = trial["study"], trial["by_arm"]["tailored"]
    _only_skill(client, owner, study, person, "own_compass")
    assert client.patch("/v1/me", json={"locale": "es"}, headers=person["headers"]).is_success
    # No plan yet: the written fallback, in Spanish.
    offered = post(client, person, checkin(VALUES_REMOTE)).json()["delivery"]["skill"]
    assert offered["key"] == "own_compass" and offered["title"] == "Tu propia brújula"
    assert offered["steps"][0] == (
        "Trae a la mente lo que dijiste que te importa: la clase de persona que quieres ser."
    )
    plan = {"sections": {"values": [{"text": VALUED}]}}
    assert client.put("/v1/me/plan", json=plan, headers=person["headers"]).is_success
    offered = post(client, person, checkin(VALUES_REMOTE)).json()["delivery"]["skill"]
    assert offered["steps"][0] == f"Trae a la mente lo que dijiste que te importa: {VALUED}."
    assert not any("{" in step for step in offered["steps"])


def test_a_library_refuses_placeholders_it_does_not_know(
    client: TestClient,
    owner: dict,
    trial: dict,
) -> None:
    study = trial["study"]
    draft = client.post(f"/v1/studies/{study['id']}/libraries", json={}, headers=owner).json()
    skill = {
        "key": "favourite",
        "title": "Your favourite",
        "steps": ["Think of {favourite_food}."],
        "duration_seconds": 60,
        "targets": ["acceptance"],
    }
    url = f"/v1/studies/{study['id']}/libraries/{draft['id']}"
    unknown = client.put(url, json={"skills": [*draft["skills"], skill]}, headers=owner)
    assert unknown.status_code == 422
    index = len(draft["skills"])
    assert unknown.json()["errors"][0]["field"] == f"body.skills[{index}].steps[0]"
    assert "{favourite_food}" in unknown.json()["detail"]
    without_fallback = {**skill, "steps": ["Think of {value}."]}
    missing = client.put(url, json={"skills": [without_fallback]}, headers=owner)
    assert missing.status_code == 422 and "needs a fallback" in missing.json()["detail"]
    spanish = {
        **without_fallback,
        "fallbacks": {"value": "what matters"},
        "translations": {"es": {"title": "Lo tuyo", "steps": ["Piensa en {goal:inaction}."]}},
    }
    untranslated = client.put(url, json={"skills": [spanish]}, headers=owner)
    assert untranslated.json()["errors"][0]["field"] == "body.skills[0].translations.es.steps[0]"
    spanish["translations"]["es"]["fallbacks"] = {"goal:inaction": "tu meta"}
    assert client.put(url, json={"skills": [spanish]}, headers=owner).status_code == 200
    # A clinician's own skill for one client is checked the same way.
    own = client.put(
        f"/v1/studies/{study['id']}/participants/{trial['by_arm']['tailored']['id']}"
        "/personalization",
        json={"extra_skills": [skill]},
        headers=owner,
    )
    assert own.status_code == 422
    assert own.json()["errors"][0]["field"] == "body.extra_skills[0].steps[0]"


def test_from_my_plan_is_offered_recorded_by_key_learned_and_never_exported(
    client: TestClient,
    owner: dict,
    trial: dict,
    session: Session,
) -> None:
    study, person = trial["study"], trial["by_arm"]["tailored"]
    url = f"/v1/studies/{study['id']}/participants/{person['id']}/personalization"
    library = {"disabled_skills": ["having_the_thought", "leaves_on_stream"]}
    assert client.put(url, json=library, headers=owner).is_success
    plan = {"sections": {"strategies": [{"text": STRATEGY, "pole": "cognitive_fusion"}]}}
    assert client.put("/v1/me/plan", json=plan, headers=person["headers"]).is_success
    delivery = post(client, person, checkin(FUSED)).json()["delivery"]
    assert delivery["skill"]["key"] == "plan:e1"
    assert delivery["skill"]["title"] == "From my plan" and STRATEGY in delivery["skill"]["steps"]
    rated = client.post(
        f"/v1/deliveries/{delivery['id']}/feedback",
        json={"helpfulness": 9},
        headers=person["headers"],
    )
    assert rated.status_code == 204, rated.text
    post(client, person, checkin(FUSED))
    stored = session.exec(select(Delivery).order_by(col(Delivery.created_at))).all()
    mine = [d for d in stored if d.participant_id.hex == person["id"].replace("-", "")]
    first, second = mine
    assert first.skill_key == "plan:e1" and first.candidates == ["plan:e1"]
    assert first.inputs["personalization"]["own_strategies"] == [
        {"key": "plan:e1", "targets": ["cognitive_fusion"]}
    ]
    # The rating is what the next decision learns from, like any skill's.
    assert second.inputs["skills"]["ratings"] == {"plan:e1": {"rated": 1, "total": 9}}
    assert STRATEGY not in str(first.inputs) + str(second.inputs)
    report = client.get(f"/v1/studies/{study['id']}/replay", headers=owner).json()
    assert report["ok"] and report["skill_decisions"] >= 2
    bundle = client.get(f"/v1/studies/{study['id']}/exports/bundle", headers=owner)
    files = zipfile.ZipFile(io.BytesIO(bundle.content))
    exported = "".join(files.read(name).decode() for name in files.namelist())
    assert "plan:e1" in exported and STRATEGY not in exported
    assert "strategies_entries" in exported


def _days(
    client: TestClient, clock: FrozenClock, person: dict, needs: list[int], tag: str
) -> list[dict[str, Any]]:
    """One check-in a day, cognition fused as given (defused the mirror image)."""
    answers = []
    for day, fused in enumerate(needs):
        clock.set(START + timedelta(days=day, minutes=2))
        body = checkin(
            {**BASE, "cognition_fused": fused, "cognition_defused": 100 - fused},
            client_id=f"{tag}-{day}",
            answered_at=clock.now().isoformat(),
        )
        response = client.post("/v1/checkins", json=body, headers=person["headers"])
        assert response.status_code == 201, response.text
        answers.append(response.json())
    return answers


def signed_in(client: TestClient, email: str) -> dict[str, str]:
    """A fresh staff token: days have passed on the clock since the fixture's."""
    response = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_a_history_that_does_not_improve_is_flagged_and_one_that_does_is_not(
    client: TestClient,
    trial: dict,
    clock: FrozenClock,
) -> None:
    study = trial["study"]
    stuck, better = trial["by_arm"]["tailored"], trial["by_arm"]["random"]
    flat = [90, 88, 91, 90, 92, 89, 90, 91, 90, 93, 90, 91]
    _days(client, clock, better, [95 - 3 * day for day in range(12)], "better")
    owner = signed_in(client, "owner@example.org")
    flags_url = f"/v1/studies/{study['id']}/review-flags"
    assert client.get(flags_url, headers=owner).json()["items"] == []
    _days(client, clock, stuck, flat, "stuck")
    [flag] = client.get(flags_url, headers=owner).json()["items"]
    assert flag["participant_id"] == stuck["id"] and flag["reasons"] == ["no_improvement"]
    assert flag["evidence"]["check_ins"] == 10  # flagged at the tenth check-in
    base = f"/v1/studies/{study['id']}/participants"
    review = client.get(f"{base}/{stuck['id']}/review", headers=owner).json()
    assert review["check_ins"] == 12 and review["suggested"] == ["no_improvement"]
    cognition = next(t for t in review["trends"] if t["dimension"] == "cognition")
    assert cognition["targeted"] == 12 and not cognition["improving"]
    assert review["flag"]["id"] == flag["id"]
    improving = client.get(f"{base}/{better['id']}/review", headers=owner).json()
    trend = next(t for t in improving["trends"] if t["dimension"] == "cognition")
    assert trend["improving"] and trend["ci_high"] < 0 and improving["suggested"] == []
    # A clinician's note clears it (audited, the note stays out of the audit trail); what
    # was reviewed does not flag again.
    note = "Talked it through: trying defusion with a new image"
    cleared = client.post(
        f"{base}/{stuck['id']}/review-flag/clear", json={"note": note}, headers=owner
    )
    assert cleared.status_code == 200 and cleared.json()["note"] == note
    again = client.post(
        f"{base}/{stuck['id']}/review-flag/clear", json={"note": "x"}, headers=owner
    )
    assert again.status_code == 404
    _days(client, clock, stuck, [90], "after")
    assert client.get(flags_url, headers=owner).json()["items"] == []
    history = client.get(f"{flags_url}?open=false", headers=owner).json()["items"]
    assert history[0]["cleared_at"] is not None
    events = client.get(
        f"/v1/studies/{study['id']}/audit-events?action=review_flag.clear", headers=owner
    ).json()["items"]
    assert events[0]["details"]["reasons"] == ["no_improvement"] and note not in str(events)


def test_review_settings_are_the_studys_and_a_viewer_cannot_review(
    client: TestClient,
    owner: dict,
    trial: dict,
    make_staff: Callable,
    clock: FrozenClock,
) -> None:
    study, person = trial["study"], trial["by_arm"]["assessment"]
    viewer = member(client, owner, make_staff, study, "viewer")
    url = f"/v1/studies/{study['id']}/review-settings"
    assert client.get(url, headers=owner).json()["period_days"] == 14
    bad = client.put(url, json={"period_days": 0}, headers=owner)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.period_days"
    saved = client.put(url, json={"min_checkins": 3, "period_days": 7}, headers=owner)
    assert saved.status_code == 200 and saved.json()["min_checkins"] == 3
    _days(client, clock, person, [90, 90, 90], "three")
    owner, viewer = signed_in(client, "owner@example.org"), signed_in(client, "viewer@example.org")
    flags = client.get(f"/v1/studies/{study['id']}/review-flags", headers=owner).json()["items"]
    assert [flag["reasons"] for flag in flags] == [["no_improvement"]]
    review = f"/v1/studies/{study['id']}/participants/{person['id']}/review"
    assert client.get(review, headers=viewer).status_code == 403
    reversed_ = client.get(
        review,
        params={"start": "2026-03-10T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
        headers=owner,
    )
    assert reversed_.status_code == 422


def test_built_in_packs_load_by_name_and_their_rules_only_when_chosen(
    client: TestClient,
    owner: dict,
    trial: dict,
) -> None:
    study, person = trial["study"], trial["by_arm"]["tailored"]
    packs = {pack["name"]: pack for pack in client.get("/v1/item-packs", headers=owner).json()}
    assert set(packs) == {"sleep", "pain_illness", "social_context", "location", "craving_use"}
    assert all(
        set(item["text"]) == {"en", "es"} for p in packs.values() for item in p["pack"]["items"]
    )
    rules_url = f"/v1/studies/{study['id']}/rules"
    before = client.get(rules_url, headers=owner).json()
    url = f"/v1/studies/{study['id']}/questionnaire/packs"
    plain = client.post(f"{url}/social_context", headers=owner)
    assert plain.status_code == 200
    assert client.get(rules_url, headers=owner).json() == before  # the default rules stay
    assert client.post(f"{url}/nothing", headers=owner).status_code == 404
    sleep = client.post(f"{url}/sleep", json={"rules": True}, headers=owner)
    assert sleep.status_code == 200, sleep.text
    assert {p["name"] for p in sleep.json()["packs"]} == {"social_context", "sleep"}
    after = client.get(rules_url, headers=owner).json()
    assert after["version"] == before["version"] + 1
    assert after["rule_set"]["rules"][0]["id"] == "sleep_poor_attention"
    # After a poor night attention qualifies at a lower answer; after a good one it does not.
    stuck = {**BASE, "attention_stuck": 55, "attention_present": 45}
    poor = post(client, person, checkin({**stuck, "sleep_quality": 10, "company": "alone"}))
    good = post(client, person, checkin({**stuck, "sleep_quality": 90}))
    assert poor.json()["target"] == "inflexible_attention"
    assert good.json()["target"] != "inflexible_attention"
    again = client.post(f"{url}/sleep", json={"rules": True}, headers=owner)
    assert again.status_code == 422  # its items are there already


def test_the_worker_flags_a_participant_who_stopped_answering(
    client: TestClient,
    trial: dict,
    owner: dict,
    clock: FrozenClock,
    db: Engine,
    settings: Settings,
) -> None:
    """Adherence falls when no check-in comes, so no check-in can raise this flag."""
    study = trial["study"]
    better = trial["by_arm"]["random"]
    _days(client, clock, better, [95 - 3 * day for day in range(12)], "better")
    flags_url = f"/v1/studies/{study['id']}/review-flags"
    jobs = Jobs(db, LogSender(), clock, settings, "worker-1")
    assert jobs.review() == 0  # improving and no prompt due: nothing to review
    owner = signed_in(client, "owner@example.org")
    schedule = {"fixed_times": ["13:00", "18:00"], "last_day": 28, "expiry_minutes": 60}
    saved = client.put(
        f"/v1/studies/{study['id']}/schedule", json={"schedule": schedule}, headers=owner
    )
    assert saved.status_code == 200, saved.text
    clock.set(START + timedelta(days=12))
    jobs.plan()
    clock.set(START + timedelta(days=14))
    owner = signed_in(client, "owner@example.org")
    assert client.get(flags_url, headers=owner).json()["items"] == []
    assert jobs.review() == 1
    [flag] = client.get(flags_url, headers=owner).json()["items"]
    assert flag["participant_id"] == better["id"] and flag["reasons"] == ["low_adherence"]
    assert jobs.review() == 0  # one open flag per participant


def test_the_command_line_reviews_as_the_staff_member_named(
    client: TestClient,
    trial: dict,
    clock: FrozenClock,
    make_staff: Callable,
    database_url: str,
    tmp_path: Path,
) -> None:
    study = trial["study"]
    stuck = trial["by_arm"]["tailored"]
    _days(client, clock, stuck, [90, 88, 91, 90, 92, 89, 90, 91, 90, 93], "stuck")
    pseudonym = client.get(
        f"/v1/studies/{study['id']}/participants/{stuck['id']}",
        headers=signed_in(client, "owner@example.org"),
    ).json()["pseudonym"]
    env = {"KAIROS_DATABASE_URL": database_url, "KAIROS_VAR_DIR": str(tmp_path / "var")}
    as_owner = ["--as", "owner@example.org"]

    listed = runner.invoke(cli, ["review", "flags", study["id"], *as_owner], env=env)
    assert listed.exit_code == 0, listed.output
    assert pseudonym in listed.output and "no_improvement" in listed.output

    shown = runner.invoke(
        cli, ["review", "show", study["id"], pseudonym, *as_owner, "--days", "366"], env=env
    )
    assert shown.exit_code == 0, shown.output
    review = json.loads(shown.output)
    assert review["check_ins"] == 10 and review["suggested"] == ["no_improvement"]

    make_staff("stranger@example.org")  # a staff account, but no member of this study
    refused = runner.invoke(
        cli, ["review", "show", study["id"], pseudonym, "--as", "stranger@example.org"], env=env
    )
    assert refused.exit_code == 1 and "not found" in refused.output.lower()
    unknown = runner.invoke(cli, ["review", "show", study["id"], "P-none", *as_owner], env=env)
    assert unknown.exit_code == 1 and "No participant P-none" in unknown.output

    note = "Reviewed together; trying a new defusion image"
    cleared = runner.invoke(
        cli, ["review", "clear", study["id"], pseudonym, *as_owner, "--note", note], env=env
    )
    assert cleared.exit_code == 0, cleared.output
    again = runner.invoke(
        cli, ["review", "clear", study["id"], pseudonym, *as_owner, "--note", note], env=env
    )
    assert again.exit_code == 1 and "no open review flag" in again.output
    events = client.get(
        f"/v1/studies/{study['id']}/audit-events?action=review_flag.clear",
        headers=signed_in(client, "owner@example.org"),
    ).json()["items"]
    assert len(events) == 1 and note not in str(events)
