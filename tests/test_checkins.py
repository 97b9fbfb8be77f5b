"""Check-ins end to end: questionnaire, rules, policies, safety, prompts, feedback, views."""

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.auth.models import StaffUser
from app.checkins.models import CheckIn, Detection, RuleSetVersion
from app.clock import FrozenClock
from app.flows import checkins as checkin_flow
from app.safety.models import SafetyEvent, StudySafety
from app.scheduling.models import Prompt, PromptStatus
from app.skills import service as skills_service
from app.skills.models import Delivery, PersonalizationRecord, SkillLibrary, StudyLibrary
from app.skills.policies import PolicyInputs
from app.skills.policies import select as select_skill
from app.skills.replay import replay_deliveries
from app.vocabulary import Policy
from tests.conftest import START
from tests.test_bad_input import table_counts

BASE = {
    "emotion_avoid": 30, "emotion_open": 70, "cognition_fused": 30, "cognition_defused": 70,
    "attention_stuck": 30, "attention_present": 70, "self_content": 30, "self_context": 70,
    "values_remote": 30, "values_clear": 70, "behavior_stuck": 30, "behavior_acting": 70,
    "distress": 20, "risk": 0,
}  # fmt: skip
FUSED = {**BASE, "cognition_fused": 90, "cognition_defused": 10}


def checkin(answers: dict, client_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "client_id": client_id or uuid.uuid4().hex,
        "answered_at": (START + timedelta(minutes=1)).isoformat(),
        "answers": answers,
        **fields,
    }


@pytest.fixture
def trial(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable, clock: FrozenClock
) -> dict[str, Any]:
    """A three-arm study with one participant in each arm (a permuted block of three)."""
    study = make_study(block_size=3)
    people = [enroll(study["id"]) for _ in range(3)]
    listed = client.get(f"/v1/studies/{study['id']}/participants", headers=owner).json()["items"]
    arms = {row["id"]: row["arm"] for row in listed}
    clock.set(START + timedelta(minutes=2))
    return {"study": study, "by_arm": {arms[person["id"]]: person for person in people}}


def post(client: TestClient, person: dict, body: dict) -> Any:
    return client.post("/v1/checkins", json=body, headers=person["headers"])


def test_three_arms_side_by_side_on_the_same_answers(client: TestClient, trial: dict) -> None:
    tailored = post(client, trial["by_arm"]["tailored"], checkin(FUSED))
    assert tailored.status_code == 201, tailored.text
    body = tailored.json()
    assert (body["target"], body["target_reason"]) == ("cognitive_fusion", "need")
    assert body["needs"]["cognition"] == 90
    assert body["delivery"]["skill"]["key"] in {"having_the_thought", "leaves_on_stream"}
    assert body["delivery"]["skill"]["steps"]
    assert body["safety"] is None
    random_ = post(client, trial["by_arm"]["random"], checkin(FUSED)).json()
    assert random_["target"] == "cognitive_fusion" and random_["delivery"]["skill"] is not None
    none = post(client, trial["by_arm"]["assessment"], checkin(FUSED)).json()
    assert none["delivery"] == {
        "id": none["delivery"]["id"],
        "skill": None,
        "reason": "assessment_only",
    }


def test_the_decision_is_stored_with_its_probabilities_and_versions(
    client: TestClient, trial: dict, session: Session
) -> None:
    body = post(client, trial["by_arm"]["tailored"], checkin(FUSED)).json()
    stored = session.get_one(CheckIn, uuid.UUID(body["checkin_id"]))
    assert (stored.questionnaire_version, stored.rule_set_version) == (1, 1)
    detection = session.exec(select(Detection).where(Detection.checkin_id == stored.id)).one()
    assert detection.target == "cognitive_fusion" and detection.fired
    delivery = session.exec(select(Delivery).where(Delivery.checkin_id == stored.id)).one()
    assert delivery.policy == "tailored" and delivery.library_version == 1
    assert abs(sum(delivery.probabilities.values()) - 1) < 1e-9
    assert delivery.skill_key in delivery.candidates


def test_a_retry_returns_the_original_response_and_a_changed_body_conflicts(
    client: TestClient, trial: dict, session: Session
) -> None:
    person = trial["by_arm"]["tailored"]
    body = checkin(FUSED, client_id="phone-1")
    first = post(client, person, body)
    before = table_counts(session)
    again = post(client, person, body)
    assert (again.status_code, again.json()) == (200, first.json())
    changed = post(client, person, checkin(BASE, client_id="phone-1"))
    assert (changed.status_code, changed.json()["code"]) == (409, "client_id_reused")
    assert table_counts(session) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"answers": {**BASE, "ghost": 3}}, "body.answers.ghost"),
        ({"answers": {**BASE, "distress": "high"}}, "body.answers.distress"),
        ({"answers": {**BASE, "distress": 101}}, "body.answers.distress"),
        ({"answers": {k: v for k, v in BASE.items() if k != "risk"}}, "body.answers.risk"),
        ({"answered_at": (START + timedelta(hours=1)).isoformat()}, "body.answered_at"),
        ({"answered_at": (START - timedelta(days=1)).isoformat()}, "body.answered_at"),
        ({"answered_at": (START - timedelta(minutes=1)).isoformat()}, "body.answered_at"),
        ({"answered_at": "2026-03-02T09:01:00"}, "body.answered_at"),
        ({"mood": "fine"}, "body.mood"),
        ({"client_id": ""}, "body.client_id"),
    ],
)
def test_bad_check_ins_name_the_field_and_store_nothing(
    client: TestClient, trial: dict, session: Session, change: dict, field: str
) -> None:
    before = table_counts(session)
    response = post(client, trial["by_arm"]["tailored"], {**checkin(BASE), **change})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]]
    assert table_counts(session) == before


def test_someone_elses_prompt_is_not_found(
    client: TestClient, trial: dict, session: Session, db: Engine
) -> None:
    other = trial["by_arm"]["random"]
    prompt = _prompt(db, other["id"], trial["study"]["id"])
    before = table_counts(session)
    response = post(client, trial["by_arm"]["tailored"], checkin(BASE, prompt_id=str(prompt)))
    assert (response.status_code, response.json()["code"]) == (404, "prompt_not_found")
    assert table_counts(session) == before


def _prompt(db: Engine, participant_id: str, study_id: str, expired: bool = False) -> uuid.UUID:
    at = START - timedelta(hours=2) if expired else START
    prompt = Prompt(
        study_id=uuid.UUID(study_id),
        participant_id=uuid.UUID(participant_id),
        slot=f"test/{uuid.uuid4().hex}",
        scheduled_at=at,
        window_start=at,
        window_end=at,
        expires_at=at + timedelta(hours=1),
        status=PromptStatus.sent,
        created_at=at,
        sent_at=at,
        next_push_at=at + timedelta(minutes=15),
    )
    with Session(db) as session:
        session.add(prompt)
        session.commit()
        return prompt.id


def test_answering_a_prompt_closes_it_and_stops_its_reminders(
    client: TestClient, trial: dict, session: Session, db: Engine
) -> None:
    person = trial["by_arm"]["tailored"]
    prompt_id = _prompt(db, person["id"], trial["study"]["id"])
    body = post(client, person, checkin(BASE, prompt_id=str(prompt_id))).json()
    assert body["late"] is False
    prompt = session.get_one(Prompt, prompt_id)
    assert (prompt.status, prompt.next_push_at) == (PromptStatus.answered, None)
    again = post(client, person, checkin(BASE, prompt_id=str(prompt_id)))
    assert (again.status_code, again.json()["code"]) == (409, "prompt_answered")


def test_a_check_in_for_an_expired_prompt_is_kept_and_marked_late(
    client: TestClient, trial: dict, session: Session, db: Engine
) -> None:
    person = trial["by_arm"]["tailored"]
    prompt_id = _prompt(db, person["id"], trial["study"]["id"], expired=True)
    response = post(client, person, checkin(BASE, prompt_id=str(prompt_id)))
    assert response.status_code == 201 and response.json()["late"] is True
    assert session.get_one(Prompt, prompt_id).status == PromptStatus.sent


def test_a_positive_risk_screen_comes_first_with_resources_in_the_persons_language(
    client: TestClient, owner: dict, trial: dict, session: Session
) -> None:
    person = trial["by_arm"]["tailored"]
    assert client.patch("/v1/me", json={"locale": "es"}, headers=person["headers"]).is_success
    body = post(client, person, checkin({**FUSED, "risk": 85})).json()
    assert body["safety"]["tier"] == "high"
    assert "no es un servicio de crisis" in body["safety"]["resources"]["text"]
    assert body["delivery"]["skill"] is None and body["delivery"]["reason"] == "safety"
    calm = post(client, person, checkin(FUSED)).json()["delivery"]["skill"]
    assert calm["title"] in {"Estoy teniendo el pensamiento de que...", "Pensamientos en un arroyo"}
    url = f"/v1/studies/{trial['study']['id']}/safety-events"
    [event] = client.get(url, params={"open": True}, headers=owner).json()["items"]
    assert (event["tier"], event["items"]) == ("high", ["risk"])
    ack = client.post(f"{url}/{event['id']}/acknowledge", json={"note": "Called."}, headers=owner)
    assert ack.json()["note"] == "Called."
    assert client.get(url, params={"open": True}, headers=owner).json()["items"] == []
    twice = client.post(f"{url}/{event['id']}/acknowledge", json={"note": "x"}, headers=owner)
    assert twice.status_code == 409


def _break_rule_set(writer: Session, study_id: uuid.UUID) -> None:
    # A rule-set row that no longer validates (say, written by a faulty migration).
    writer.add(
        RuleSetVersion(study_id=study_id, version=2, body={"rules": "broken"}, created_at=START)
    )


def _break_pinned_library(writer: Session, study_id: uuid.UUID) -> None:
    pin = writer.get_one(StudyLibrary, study_id)
    library = writer.get_one(SkillLibrary, pin.library_id)
    library.skills = [{"key": "half_written"}]
    writer.add(library)


def _break_personalization(writer: Session, study_id: uuid.UUID, participant_id: str) -> None:
    writer.add(
        PersonalizationRecord(
            participant_id=uuid.UUID(participant_id),
            study_id=study_id,
            extra_skills=[{"title": "no key"}],
            updated_by=writer.exec(select(StaffUser)).first().id,
            updated_at=START,
        )
    )


def _break_crisis_resources(writer: Session, study_id: uuid.UUID) -> None:
    safety = writer.get_one(StudySafety, study_id)
    safety.crisis_resources = {}
    writer.add(safety)


@pytest.mark.parametrize(
    "breaks", ["rule_set", "pinned_library", "personalization", "crisis_resources"]
)
def test_the_safety_event_and_resources_survive_a_failure_after_the_screen(
    client: TestClient,
    trial: dict,
    session: Session,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    breaks: str,
) -> None:
    person = trial["by_arm"]["tailored"]
    study_id = uuid.UUID(trial["study"]["id"])
    with Session(db) as writer:
        if breaks == "personalization":
            _break_personalization(writer, study_id, person["id"])
        else:
            {
                "rule_set": _break_rule_set,
                "pinned_library": _break_pinned_library,
                "crisis_resources": _break_crisis_resources,
            }[breaks](writer, study_id)
        writer.commit()
    response = post(client, person, checkin({**BASE, "risk": 95}))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["safety"]["tier"] == "high"
    assert "not a crisis service" in body["safety"]["resources"]["text"]
    assert body["delivery"]["skill"] is None and body["delivery"]["reason"] == "safety"
    _assert_only_the_crisis_was_stored(session, body)
    assert "tailoring failed after a positive safety screen" in caplog.text


def _assert_only_the_crisis_was_stored(session: Session, body: dict) -> None:
    [stored] = session.exec(select(CheckIn)).all()
    assert str(stored.id) == body["checkin_id"] and stored.response == body
    [event] = session.exec(select(SafetyEvent)).all()
    assert event.checkin_id == stored.id
    [delivery] = session.exec(select(Delivery)).all()
    assert (delivery.checkin_id, delivery.reason, delivery.skill_key) == (stored.id, "safety", None)
    assert session.exec(select(Detection)).all() == []


def test_even_a_failing_safety_decision_keeps_the_event_and_resources(
    client: TestClient, trial: dict, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one pure step that cannot be broken through stored data: made to raise, no more.
    def fails(*_: object) -> None:
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(checkin_flow, "safety_decision", fails)
    response = post(client, trial["by_arm"]["tailored"], checkin({**FUSED, "risk": 95}))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["safety"]["tier"], body["delivery"]["reason"]) == ("high", "safety")
    _assert_only_the_crisis_was_stored(session, body)


def test_a_risky_choice_answer_gets_the_crisis_resources(
    client: TestClient, owner: dict, trial: dict, session: Session
) -> None:
    url = f"/v1/studies/{trial['study']['id']}/questionnaire"
    items = client.get(url, headers=owner).json()["items"]
    plan = {
        "key": "plan",
        "type": "choice",
        "text": {"en": "Do you have a plan to harm yourself?"},
        "risk": True,
        "required": False,
        "choices": [
            {"key": "yes", "label": {"en": "Yes"}, "risk": "high"},
            {"key": "no", "label": {"en": "No"}},
        ],
    }
    note = {"key": "note", "type": "text", "text": {"en": "Anything else?"}, "risk": True}
    refused = client.put(url, json={"items": [*items, note]}, headers=owner)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == f"body.items[{len(items)}].risk"
    assert client.put(url, json={"items": [*items, plan]}, headers=owner).is_success
    person = trial["by_arm"]["tailored"]
    assert post(client, person, checkin({**FUSED, "plan": "no"})).json()["safety"] is None
    body = post(client, person, checkin({**FUSED, "plan": "yes"})).json()
    assert (body["safety"]["tier"], body["delivery"]["reason"]) == ("high", "safety")
    [event] = session.exec(select(SafetyEvent)).all()
    assert event.items == ["plan"]


def test_feedback_feeds_the_policy_and_needs_a_skill(
    client: TestClient, trial: dict, session: Session
) -> None:
    person = trial["by_arm"]["tailored"]
    delivery = post(client, person, checkin(FUSED)).json()["delivery"]
    url = f"/v1/deliveries/{delivery['id']}/feedback"
    feedback = {"opened": True, "completed": True, "helpfulness": 9, "distress_after": 15}
    assert client.post(url, json=feedback, headers=person["headers"]).status_code == 204
    stored = session.get_one(Delivery, uuid.UUID(delivery["id"]))
    assert (stored.helpfulness, stored.distress_after) == (9, 15)
    assert stored.opened_at is not None and stored.completed_at is not None
    empty = client.post(url, json={}, headers=person["headers"])
    assert empty.status_code == 422
    stranger = client.post(url, json=feedback, headers=trial["by_arm"]["random"]["headers"])
    assert stranger.status_code == 404
    none = post(client, trial["by_arm"]["assessment"], checkin(FUSED)).json()["delivery"]
    refused = client.post(
        f"/v1/deliveries/{none['id']}/feedback",
        json=feedback,
        headers=trial["by_arm"]["assessment"]["headers"],
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "no_skill_offered")


def test_disabled_skills_and_the_clients_own_skills(
    client: TestClient, owner: dict, trial: dict
) -> None:
    person = trial["by_arm"]["tailored"]
    url = f"/v1/studies/{trial['study']['id']}/participants/{person['id']}/personalization"
    own = {
        "key": "sing_it",
        "title": "Sing the thought",
        "steps": ["Sing the thought to a birthday tune."],
        "duration_seconds": 60,
        "targets": ["cognitive_fusion"],
    }
    body = {"disabled_skills": ["having_the_thought", "leaves_on_stream"], "extra_skills": [own]}
    saved = client.put(url, json=body, headers=owner)
    assert saved.status_code == 200, saved.text
    offered = post(client, person, checkin(FUSED)).json()["delivery"]["skill"]
    assert offered["key"] == "sing_it"
    # An own skill may not take a key of the library's: the two would be confused.
    clash = {**body, "extra_skills": [own, {**own, "key": "five_senses", "title": "Mine"}]}
    refused = client.put(url, json=clash, headers=owner)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.extra_skills[1].key"


def test_preferences_round_trip(client: TestClient, trial: dict) -> None:
    headers = trial["by_arm"]["tailored"]["headers"]
    prefs = {"preferred_skills": ["five_senses"], "disliked_modalities": ["writing"],
             "preferred_dimension": "attention"}  # fmt: skip
    saved = client.put("/v1/me/preferences", json=prefs, headers=headers)
    assert saved.status_code == 200, saved.text
    assert client.get("/v1/me/preferences", headers=headers).json() == {
        "preferred_skills": ["five_senses"],
        "disliked_skills": [],
        "disabled_skills": [],
        "preferred_modalities": [],
        "disliked_modalities": ["writing"],
        "preferred_dimension": "attention",
    }
    both = {"preferred_skills": ["x_y"], "disliked_skills": ["x_y"]}
    assert client.put("/v1/me/preferences", json=both, headers=headers).status_code == 422


def test_a_participant_can_turn_a_skill_off(client: TestClient, owner: dict, trial: dict) -> None:
    person = trial["by_arm"]["tailored"]
    prefs = {"disabled_skills": ["having_the_thought"]}
    assert client.put("/v1/me/preferences", json=prefs, headers=person["headers"]).is_success
    url = f"/v1/studies/{trial['study']['id']}/participants/{person['id']}/personalization"
    client.put(url, json={"disabled_skills": ["leaves_on_stream"]}, headers=owner)
    body = post(client, person, checkin(FUSED)).json()
    # Both skills for fusion are off, one by each of them: nothing is left to offer.
    assert (body["target"], body["delivery"]["reason"]) == ("cognitive_fusion", "no_candidates")
    both = {"preferred_skills": ["five_senses"], "disabled_skills": ["five_senses"]}
    assert client.put("/v1/me/preferences", json=both, headers=person["headers"]).status_code == 422


def test_the_questionnaire_is_localized_and_frozen_once_the_study_is_active(
    client: TestClient, owner: dict, trial: dict, session: Session
) -> None:
    person = trial["by_arm"]["tailored"]
    assert client.patch("/v1/me", json={"locale": "es-MX"}, headers=person["headers"]).is_success
    mine = client.get("/v1/me/questionnaire", headers=person["headers"]).json()
    assert mine["items"][0]["text"].startswith("Ahora mismo")
    url = f"/v1/studies/{trial['study']['id']}/questionnaire"
    current = client.get(url, headers=owner).json()
    assert (current["version"], current["frozen"]) == (1, True)
    listed = client.get(f"{url}/versions", headers=owner).json()
    assert ([v["version"] for v in listed["items"]], listed["next_offset"]) == ([1], None)
    extra = {"key": "sleep", "type": "likert", "min": 1, "max": 5, "text": {"en": "Sleep?"},
             "required": False}  # fmt: skip
    saved = client.put(url, json={"items": [*current["items"], extra]}, headers=owner).json()
    assert (saved["version"], saved["frozen"]) == (2, True)
    body = post(client, person, checkin({**BASE, "sleep": 4})).json()
    assert body["questionnaire_version"] == 2
    # A phone that still shows version 2 when version 3 adds a required item.
    extra_required = {"key": "energy", "type": "boolean", "text": {"en": "Energy?"}}
    saved = client.put(url, json={"items": [*saved["items"], extra_required]}, headers=owner)
    assert saved.json()["version"] == 3
    stale = checkin({**BASE, "sleep": 4})
    refused = post(client, person, stale)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.answers.energy"
    shown = post(client, person, {**stale, "questionnaire_version": 2})
    assert shown.status_code == 201, shown.text
    assert shown.json()["questionnaire_version"] == 2
    stored = session.get_one(CheckIn, uuid.UUID(shown.json()["checkin_id"]))
    assert stored.questionnaire_version == 2
    unknown = post(client, person, {**stale, "client_id": "other", "questionnaire_version": 9})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body.questionnaire_version"


def test_a_draft_questionnaire_is_edited_in_place_and_packs_keep_their_source(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = make_study(activate=False)
    url = f"/v1/studies/{study['id']}/questionnaire"
    pack = {
        "name": "Sleep pack",
        "source": "Our lab, 2026",
        "licence": "CC BY 4.0",
        "items": [{"key": "sleep", "type": "boolean", "text": {"en": "Slept well?"}}],
    }
    loaded = client.post(f"{url}/packs", json=pack, headers=owner).json()
    assert (loaded["version"], loaded["frozen"]) == (1, False)
    assert loaded["packs"] == [
        {"name": "Sleep pack", "source": "Our lab, 2026", "licence": "CC BY 4.0"}
    ]
    assert loaded["items"][-1]["pack"] == "Sleep pack"
    again = client.post(f"{url}/packs", json=pack, headers=owner)
    # Named by its place in the pack sent, not in the questionnaire it would join.
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "body.items[0].key"
    # Items the rule set needs cannot be dropped.
    trimmed = client.put(url, json={"items": loaded["items"][2:]}, headers=owner)
    assert trimmed.status_code == 422 and trimmed.json()["errors"][0]["field"] == "body.items"


def test_rule_sets_are_versioned_validated_and_recorded(
    client: TestClient, owner: dict, trial: dict
) -> None:
    url = f"/v1/studies/{trial['study']['id']}/rules"
    current = client.get(url, headers=owner).json()
    lower = {
        **current["rule_set"],
        "selection": {**current["rule_set"]["selection"], "threshold": 50},
    }
    saved = client.put(url, json=lower, headers=owner).json()
    assert saved["version"] == 2
    versions = client.get(f"{url}/versions", headers=owner).json()
    assert ([v["version"] for v in versions["items"]], versions["next_offset"]) == ([2, 1], None)
    first = client.get(f"{url}/versions", params={"limit": 1}, headers=owner).json()
    assert ([v["version"] for v in first["items"]], first["next_offset"]) == ([2], 1)
    bad = {"rules": [{"id": "x", "pole": "inaction", "value": {"op": "item", "item": "ghost"}}]}
    refused = client.put(url, json=bad, headers=owner)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.rules[0].value.item"
    body = post(client, trial["by_arm"]["tailored"], checkin(BASE)).json()
    assert body["rule_set_version"] == 2


def test_dry_run_explains_the_decision(client: TestClient, owner: dict, trial: dict) -> None:
    url = f"/v1/studies/{trial['study']['id']}/rules/dry-run"
    sample = {"cognition_fused": 90, "cognition_defused": 10}  # the rest may be left out
    result = client.post(url, json={"answers": sample}, headers=owner).json()
    assert (result["target"], result["reason"]) == ("cognitive_fusion", "need")
    assert "cognition_fused" in result["fired"] or result["fired"]
    assert set(result["decision"]["probabilities"]) == {"having_the_thought", "leaves_on_stream"}
    person = trial["by_arm"]["assessment"]
    theirs = client.post(
        url, json={"answers": FUSED, "participant_id": person["id"]}, headers=owner
    )
    assert theirs.json()["decision"]["reason"] == "assessment_only"
    assert result["safety"] is None
    risky = client.post(url, json={"answers": {**sample, "risk": 95}}, headers=owner).json()
    assert risky["safety"] == {"tier": "high", "items": ["risk"]}
    assert (risky["decision"]["skill_key"], risky["decision"]["reason"]) == (None, "safety")
    assert risky["target"] == "cognitive_fusion"


def test_libraries_are_forked_edited_published_and_pinned(
    client: TestClient, owner: dict, trial: dict
) -> None:
    base = f"/v1/studies/{trial['study']['id']}"
    [default] = client.get(f"{base}/libraries", headers=owner).json()["items"]
    assert (default["version"], default["published"], default["pinned"]) == (1, True, True)
    edit = {"skills": default["skills"][:4]}
    published = client.put(f"{base}/libraries/{default['id']}", json=edit, headers=owner)
    assert (published.status_code, published.json()["code"]) == (409, "library_published")
    draft = client.post(f"{base}/libraries", json={"from_library_id": default["id"]}, headers=owner)
    assert draft.status_code == 201
    draft_id = draft.json()["id"]
    assert client.put(f"{base}/libraries/{draft_id}", json=edit, headers=owner).is_success
    early = client.put(f"{base}/library", json={"library_id": draft_id}, headers=owner)
    assert (early.status_code, early.json()["code"]) == (409, "library_not_published")
    assert client.post(f"{base}/libraries/{draft_id}/publish", headers=owner).is_success
    pinned = client.put(f"{base}/library", json={"library_id": draft_id}, headers=owner).json()
    assert (pinned["version"], pinned["pinned"]) == (2, True)
    listed = client.get(f"{base}/libraries", params={"limit": 1}, headers=owner).json()
    assert [(lib["version"], lib["pinned"]) for lib in listed["items"]] == [(2, True)]
    assert listed["next_offset"] == 1
    body = post(client, trial["by_arm"]["random"], checkin(BASE)).json()
    assert body["delivery"]["skill"]["key"] in {s["key"] for s in edit["skills"]}


def test_staff_views_of_check_ins_scores_and_deliveries(
    client: TestClient, owner: dict, make_staff: Callable, trial: dict
) -> None:
    person = trial["by_arm"]["tailored"]
    post(client, person, checkin(FUSED))
    post(client, person, checkin(BASE))
    base = f"/v1/studies/{trial['study']['id']}/participants/{person['id']}"
    checkins = client.get(f"{base}/checkins", headers=owner).json()["items"]
    assert len(checkins) == 2 and checkins[0]["answers"]
    scores = client.get(f"{base}/scores", headers=owner).json()
    assert len(scores["raw"]) == 2
    assert scores["daily"][0]["check_ins"] == 2
    assert scores["daily"][0]["needs"]["cognition"] == 60.0
    deliveries = client.get(f"{base}/deliveries", headers=owner).json()["items"]
    assert {d["policy"] for d in deliveries} == {"tailored"}
    clinician = make_staff("clinician@example.org")
    member = {"email": "clinician@example.org", "role": "clinician"}
    client.put(f"/v1/studies/{trial['study']['id']}/members", json=member, headers=owner)
    concealed = client.get(f"{base}/deliveries", headers=clinician).json()["items"]
    assert {(d["policy"], d["candidates"]) for d in concealed} == {(None, None)}
    assessed = trial["by_arm"]["assessment"]
    post(client, assessed, checkin(FUSED))
    post(client, assessed, checkin({**BASE, "risk": 90}))
    theirs = f"/v1/studies/{trial['study']['id']}/participants/{assessed['id']}/deliveries"
    reasons = [d["reason"] for d in client.get(theirs, headers=clinician).json()["items"]]
    assert sorted(reasons, key=str) == [None, "safety"]
    reasons = [d["reason"] for d in client.get(theirs, headers=owner).json()["items"]]
    assert sorted(reasons) == ["assessment_only", "safety"]
    viewer = make_staff("viewer@example.org")
    client.put(
        f"/v1/studies/{trial['study']['id']}/members",
        json={"email": "viewer@example.org", "role": "viewer"},
        headers=owner,
    )
    assert client.get(f"{base}/checkins", headers=viewer).status_code == 403


def test_recorded_skill_decisions_replay_and_tampering_shows(
    client: TestClient, trial: dict, session: Session, db: Engine
) -> None:
    person = trial["by_arm"]["tailored"]
    for n in range(4):
        delivery = post(client, person, checkin(FUSED)).json()["delivery"]
        feedback = {"helpfulness": 2 * n}
        url = f"/v1/deliveries/{delivery['id']}/feedback"
        assert client.post(url, json=feedback, headers=person["headers"]).status_code == 204
    post(client, trial["by_arm"]["random"], checkin(BASE))
    study_id = uuid.UUID(trial["study"]["id"])
    assert list(replay_deliveries(session, study_id)) == []
    with Session(db) as writer:
        last = writer.get_one(Delivery, uuid.UUID(delivery["id"]))
        last.skill_key = "five_senses"
        writer.add(last)
        writer.commit()
    [mismatch] = list(replay_deliveries(session, study_id))
    assert mismatch["delivery_id"] == delivery["id"]
    assert mismatch["recorded"]["skill_key"] == "five_senses"


def test_a_decision_recorded_with_monte_carlo_chances_replays_as_it_was_decided(
    client: TestClient, trial: dict, session: Session, db: Engine
) -> None:
    """Decisions recorded before the chances were worked out by quadrature carry no
    `chances` in their inputs: they replay with the Monte Carlo draws they were decided by.
    The chances are compared to 1e-9: a change in their last digits is no mismatch."""
    person = trial["by_arm"]["tailored"]
    for _ in range(3):
        post(client, person, checkin(FUSED))
    study_id = uuid.UUID(trial["study"]["id"])
    with Session(db) as writer:
        delivery = writer.exec(
            select(Delivery).where(Delivery.participant_id == uuid.UUID(person["id"]))
        ).first()
        assert delivery is not None and delivery.inputs["chances"] == "quadrature"
        assert len(delivery.candidates) > 1
        exact = dict(delivery.probabilities)
        delivery.probabilities = {key: p + 1e-12 for key, p in exact.items()}
        writer.add(delivery)
        writer.commit()
        assert list(replay_deliveries(session, study_id)) == []
        delivery.probabilities = {key: p + 1e-7 for key, p in exact.items()}
        writer.add(delivery)
        writer.commit()
        [moved] = list(replay_deliveries(session, study_id))
        assert moved["delivery_id"] == str(delivery.id)
        # Recorded as before quadrature: the same decision by Monte Carlo, no `chances` kept.
        older = PolicyInputs.model_validate(
            {k: v for k, v in delivery.inputs.items() if k != "chances"}
        )
        assert older.chances == "monte_carlo"
        library = skills_service.skills_of(
            writer.exec(
                select(SkillLibrary).where(
                    SkillLibrary.study_id == study_id,
                    SkillLibrary.version == delivery.library_version,
                )
            ).one()
        )
        by_draws = select_skill(
            Policy.tailored,
            older.target,
            library,
            older.personalization,
            older.past(),
            delivery.seed,
            chances="monte_carlo",
        )
        assert by_draws.probabilities != exact
        delivery.inputs = older.model_dump(mode="json", exclude={"chances"})
        delivery.skill_key, delivery.probabilities = by_draws.skill_key, by_draws.probabilities
        writer.add(delivery)
        writer.commit()
    assert list(replay_deliveries(session, study_id)) == []


def test_the_skills_offered_in_the_same_instant_keep_their_order(
    client: TestClient, trial: dict, session: Session
) -> None:
    person = trial["by_arm"]["random"]  # a skill every time; the clock stands still
    offered = [post(client, person, checkin(BASE)).json()["delivery"] for _ in range(6)]
    keys = [delivery["skill"]["key"] for delivery in offered]
    last = list(dict.fromkeys(reversed(keys)))[:2]
    assert skills_service.skill_history(session, uuid.UUID(person["id"])).recent == last


def test_one_check_in_sent_four_times_at_once_is_stored_once(
    client: TestClient, trial: dict, session: Session
) -> None:
    person = trial["by_arm"]["tailored"]
    body = checkin(FUSED, client_id="phone-race")
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: post(client, person, body), range(4)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["checkin_id"] for r in responses}) == 1
    assert len(session.exec(select(CheckIn)).all()) == 1
    assert len(session.exec(select(Delivery)).all()) == 1


def test_a_paused_participant_can_still_check_in_and_a_completed_one_cannot(
    client: TestClient, owner: dict, trial: dict, session: Session
) -> None:
    person = trial["by_arm"]["tailored"]
    url = f"/v1/studies/{trial['study']['id']}/participants/{person['id']}/status"
    assert client.post(url, json={"status": "paused"}, headers=owner).is_success
    paused = post(client, person, checkin({**BASE, "risk": 90}))
    assert paused.status_code == 201 and paused.json()["safety"]["tier"] == "high"
    assert client.post(url, json={"status": "completed"}, headers=owner).is_success
    before = table_counts(session)
    done = post(client, person, checkin(BASE))
    assert (done.status_code, done.json()["code"]) == (409, "participant_not_active")
    assert table_counts(session) == before
