"""The schedule editor, its preview, participants' own schedules, the rules editor and the dry
run, without a browser: what is saved (read back through the API), the problems shown next
to what they name with the typed text kept, and the refusals (viewer 403, stranger 404,
missing CSRF 403, concealed arms 403, not enrolled 409)."""

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.console_client import console_sign_in

SCHEDULE_FORM = {
    "schedule.windows[0].start": "09:00",
    "schedule.windows[0].end": "21:00",
    "schedule.windows[0].count": "3",
    "schedule.min_gap_minutes": "90",
    "schedule.first_day": "1",
    "schedule.last_day": "28",
    "schedule.expiry_minutes": "60",
    "schedule.reminder_minutes": "20",
    "notification.en.title": "Time for a check-in",
    "notification.en.body": "How are you right now?",
}
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _form(fields: dict[str, str], token: str, days: list[str] = WEEKDAYS) -> dict[str, Any]:
    form: dict[str, Any] = {**fields, "schedule.days_of_week": days}
    return {**form, "csrf_token": token} if token else form


def _member(client: TestClient, owner: dict, study: dict, make_staff: Callable, role: str) -> str:
    email = f"{role}@example.org"
    make_staff(email)
    added = client.put(
        f"/v1/studies/{study['id']}/members", json={"email": email, "role": role}, headers=owner
    )
    assert added.status_code in (200, 201), added.text
    return email


def _error_of(page: str, input_id: str) -> str:
    found = re.search(rf'id="{input_id}-error" class="field-error">([^<]*)<', page)
    assert found, f"no error shown for {input_id}"
    return html.unescape(found.group(1))


def _words(fragment: str) -> str:
    """The text a reader gets from some HTML, tags dropped, spaces collapsed."""
    text = html.unescape(re.sub(r"<[^>]+>", "", fragment))
    return re.sub(r"\s+", " ", text).strip().lstrip("> ").strip()


def _textarea(page: str) -> str:
    found = re.search(r'<textarea id="f-rule_set"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no rule set textarea"
    return html.unescape(found.group(1))


@pytest.fixture
def study(make_study: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return make_study(activate=False, default_timezone="America/New_York")


def test_a_researcher_saves_the_schedule_and_previews_it_across_a_clock_change(
    client: TestClient, owner: dict, study: dict
) -> None:
    token = console_sign_in(client, "owner@example.org")
    url = f"/console/studies/{study['id']}/schedule"
    assert "no prompt schedule yet" in client.get(url).text
    saved = client.post(url, data=_form(SCHEDULE_FORM, token, WEEKDAYS[:5]))
    assert saved.status_code == 200, saved.text  # followed the 303 back to the page
    api = client.get(f"/v1/studies/{study['id']}/schedule", headers=owner).json()
    assert api["version"] == 1
    assert api["schedule"]["windows"] == [{"start": "09:00:00", "end": "21:00:00", "count": 3}]
    assert api["schedule"]["days_of_week"] == WEEKDAYS[:5]
    assert api["schedule"]["reminder_minutes"] == [20]
    assert 'value="21:00"' in saved.text  # the form shows the saved schedule

    # New York springs forward on Sunday 2026-03-08; the preview starts Thursday the 5th.
    query = {"timezone": "America/New_York", "start_date": "2026-03-05", "days": "7"}
    preview = client.get(url, params=query).text
    rows = re.findall(r"<tr( class=\"clock-change\")?>\s*<td class=\"number\">(\d+)</td>", preview)
    assert [(day, bool(change)) for change, day in rows] == [(str(n), n == 4) for n in range(1, 8)]
    assert "UTC-05:00 → UTC-04:00" in preview
    api_preview = client.post(
        f"/v1/studies/{study['id']}/schedule/preview",
        json={"timezone": "America/New_York", "start_date": "2026-03-05", "days": 7},
        headers=owner,
    ).json()
    # Weekdays only: Thursday, Friday, then Monday to Wednesday, three prompts each.
    assert len(api_preview["prompts"]) == 15
    for prompt in api_preview["prompts"]:
        assert f'datetime="{prompt["local_time"].replace("Z", "+00:00")}"' in preview
    spanish = client.get(url, params=query, headers={"Accept-Language": "es"}).text
    assert "Horario de avisos" in spanish and "<strong>Cambio de hora:</strong>" in spanish
    assert "domingo 2026-03-08" in spanish


def test_a_refused_schedule_keeps_what_was_typed_and_names_the_fields(
    client: TestClient, owner: dict, study: dict
) -> None:
    token = console_sign_in(client, "owner@example.org")
    url = f"/console/studies/{study['id']}/schedule"
    typed = {
        **SCHEDULE_FORM,
        "schedule.windows[0].end": "08:00",
        "schedule.last_day": "",
        "schedule.reminder_minutes": "20, 90",
    }
    refused = client.post(url, data=_form(typed, token, []))
    assert refused.status_code == 422
    page = refused.text
    assert "end must be after start" in _error_of(page, "f-schedule-windows-0-end")
    assert "Field required" in _error_of(page, "f-schedule-last_day")
    assert "at least 1" in _error_of(page, "f-schedule-days_of_week")
    assert 'value="08:00"' in page and 'value="20, 90"' in page
    assert client.get(f"/v1/studies/{study['id']}/schedule", headers=owner).status_code == 404
    # A bad preview names its field too, and keeps it.
    bad = client.get(url, params={"timezone": "Mars/Olympus", "start_date": "2026-03-05"})
    assert "no schedule" not in bad.text
    saved = client.post(url, data=_form(SCHEDULE_FORM, token))
    assert saved.status_code == 200
    bad = client.get(url, params={"timezone": "Mars/Olympus", "start_date": "2026-03-05"})
    assert bad.status_code == 422
    assert _error_of(bad.text, "f-timezone")
    assert 'value="Mars/Olympus"' in bad.text


def test_a_participant_gets_an_own_schedule_and_returns_to_the_study_one(
    client: TestClient, owner: dict, study: dict, person: dict
) -> None:
    token = console_sign_in(client, "owner@example.org")
    url = f"/console/studies/{study['id']}/participants/{person['id']}/schedule"
    page = client.get(url).text
    assert "follows the study" in page and 'value="09:00"' in page  # starts from the study's
    own = {**SCHEDULE_FORM, "schedule.windows[0].start": "12:00", "schedule.windows[0].count": "2"}
    refused = client.post(url, data=_form(own, token))
    assert refused.status_code == 422
    assert _error_of(refused.text, "f-reason")
    assert 'value="12:00"' in refused.text
    saved = client.post(url, data=_form({**own, "reason": "works nights"}, token))
    assert "has an own schedule (version 1)" in saved.text
    api = f"/v1/studies/{study['id']}/participants/{person['id']}/schedule-override"
    current = client.get(api, headers=owner).json()["current"]
    assert current["schedule"]["windows"][0]["start"] == "12:00:00"
    assert current["reason"] == "works nights"
    refused = client.post(url, data=_form({**own, "reason": " ", "action": "lift"}, token))
    assert refused.status_code == 422 and _error_of(refused.text, "f-reason")
    lifted = client.post(
        url, data=_form({**own, "reason": "day shifts again", "action": "lift"}, token)
    )
    assert "follows the study" in lifted.text and "day shifts again" in lifted.text
    history = client.get(api, headers=owner).json()
    assert history["current"] is None
    assert [v["version"] for v in history["history"]] == [2, 1]


def test_a_rule_set_with_a_bad_node_shows_the_error_there_and_keeps_the_text(
    client: TestClient, owner: dict, study: dict
) -> None:
    token = console_sign_in(client, "owner@example.org")
    url = f"/console/studies/{study['id']}/rules"
    page = client.get(url).text
    assert "cognition_fused" in page  # the default rule set, readable
    text = (
        '{"rules": [{"id": "fusion", "pole": "cognitive_fusion", "value": {"op": "mean", "of": '
        '[{"op": "item", "item": "cognition_fused"}, {"op": "reverse", "of": '
        '{"op": "item", "item": "cognition_fuzzed"}}]}, "when": {"op": "compare", '
        '"left": {"op": "item", "item": "distress"}, "cmp": ">=", "right": '
        '{"op": "const", "value": 7}}}]}'
    )
    refused = client.post(url, data={"csrf_token": token, "rule_set": text})
    assert refused.status_code == 422
    shown = refused.text
    assert "<code>rules[0].value.of[1].of.item</code>" in shown  # the list, with the path
    node = re.search(
        r'id="node-rules-0--value-of-1--of"[^>]*>cognition_fuzzed</span> '
        r'<strong class="node-error">Error: ([^<]*)<',
        shown,
    )
    assert node and "not an item of the questionnaire" in html.unescape(node.group(1))
    assert _textarea(shown) == text  # kept as typed
    readable = _words(shown.split('aria-label="Rules as conditions"')[1].split("</ol>")[0])
    assert readable.startswith(
        "fusion scores cognitive_fusion as mean(cognition_fused, 100 - cognition_fuzzed Error: "
    )
    assert readable.endswith(", when distress ≥ 7")
    # A structural problem: pydantic's path (with the ops) lands on the same kind of node.
    wrong = text.replace('"cmp": ">="', '"cmp": "=>"')
    refused = client.post(url, data={"csrf_token": token, "rule_set": wrong})
    assert "<code>rules[0].when.compare.cmp</code>" in refused.text
    assert re.search(r'id="node-rules-0--when".*?<strong class="node-error">', refused.text, re.S)
    broken = client.post(url, data={"csrf_token": token, "rule_set": '{"rules": ['})
    assert broken.status_code == 422
    assert "not valid JSON (line 1, column 12): Expecting value" in broken.text
    assert client.get(f"/v1/studies/{study['id']}/rules", headers=owner).json()["version"] == 1
    fixed = text.replace("cognition_fuzzed", "cognition_defused")
    saved = client.post(url, data={"csrf_token": token, "rule_set": fixed})
    assert saved.status_code == 200
    api = client.get(f"/v1/studies/{study['id']}/rules", headers=owner).json()
    assert api["version"] == 2 and api["rule_set"]["rules"][0]["id"] == "fusion"


def test_the_dry_run_explains_the_decision_and_keeps_the_answers(
    client: TestClient, owner: dict, study: dict
) -> None:
    token = console_sign_in(client, "owner@example.org")
    url = f"/console/studies/{study['id']}/rules/dry-run"
    form = client.get(url).text
    assert 'name="answers.cognition_fused"' in form and 'name="answers.risk"' in form
    answers = {"answers.cognition_fused": "90", "answers.cognition_defused": "10"}
    shown = client.post(url, data={"csrf_token": token, **answers, "answers.distress": "40"})
    assert shown.status_code == 200
    api = client.post(
        f"/v1/studies/{study['id']}/rules/dry-run",
        json={"answers": {"cognition_fused": 90, "cognition_defused": 10, "distress": 40}},
        headers=owner,
    ).json()
    assert api["target"] and api["decision"]["candidates"]
    page = shown.text
    assert f"<dt>Target</dt><dd>{api['target']} " in page
    for rule in api["fired"]:
        assert rule in page
    for key, probability in api["decision"]["probabilities"].items():
        assert f'<th scope="row">{key}</th><td class="number">{100 * probability:.1f} %' in page
    assert "Negative: no risk answer" in page and 'value="90"' in page
    risky = client.post(url, data={"csrf_token": token, **answers, "answers.risk": "95"})
    assert "Positive" in risky.text and "high" in risky.text
    bad = client.post(url, data={"csrf_token": token, "answers.cognition_fused": "lots"})
    assert bad.status_code == 422
    assert _error_of(bad.text, "f-answers-cognition_fused")
    assert 'value="lots"' in bad.text


@pytest.fixture
def person(client: TestClient, owner: dict, study: dict, enroll: Callable) -> dict[str, Any]:
    """An enrolled participant of the study, once its schedule is saved and it is active."""
    token = console_sign_in(client, "owner@example.org")
    client.post(f"/console/studies/{study['id']}/schedule", data=_form(SCHEDULE_FORM, token))
    assert client.post(f"/v1/studies/{study['id']}/activate", headers=owner).status_code == 200
    return dict(enroll(study["id"]))


def test_refusals_on_the_logic_pages(
    client: TestClient, owner: dict, study: dict, make_staff: Callable, person: dict
) -> None:
    base = f"/console/studies/{study['id']}"
    reads = ["/schedule", "/rules", f"/participants/{person['id']}/schedule"]
    posts: dict[str, dict[str, Any]] = {
        "/schedule": _form(SCHEDULE_FORM, ""),
        "/rules": {"rule_set": '{"rules": []}'},
        "/rules/dry-run": {"answers.distress": "40"},
        f"/participants/{person['id']}/schedule": _form({**SCHEDULE_FORM, "reason": "x"}, ""),
        f"/participants/{person['id']}/schedule?lift": {"reason": "x", "action": "lift"},
    }
    # Without its CSRF token a form is refused, even the owner's.
    for path, fields in posts.items():
        assert client.post(base + path, data=fields).status_code == 403, path

    viewer = _member(client, owner, study, make_staff, "viewer")
    token = console_sign_in(client, viewer)
    for path in reads:
        assert client.get(base + path).status_code == 200, path
    viewing = client.get(base + "/schedule").text
    assert "Save the schedule" not in viewing and "90" in viewing  # the summary, no form
    assert "Save the rules" not in client.get(base + "/rules").text
    assert client.get(base + "/rules/dry-run").status_code == 403
    for path, fields in posts.items():
        data = {**fields, "csrf_token": token}
        assert client.post(base + path, data=data).status_code == 403, path

    stranger = make_staff("stranger@example.org")
    assert stranger
    token = console_sign_in(client, "stranger@example.org")
    for path in [*reads, "/rules/dry-run"]:
        assert client.get(base + path).status_code == 404, path
    for path, fields in posts.items():
        data = {**fields, "csrf_token": token}
        assert client.post(base + path, data=data).status_code == 404, path


def test_a_clinician_who_may_not_see_arms_cannot_dry_run_as_a_participant(
    client: TestClient, owner: dict, study: dict, make_staff: Callable, person: dict
) -> None:
    token = console_sign_in(client, "owner@example.org")
    invited = client.post(
        f"/v1/studies/{study['id']}/participants",
        json={"timezone": "Europe/Berlin"},
        headers=owner,
    ).json()
    url = f"/console/studies/{study['id']}/rules/dry-run"
    not_enrolled = client.post(
        url, data={"csrf_token": token, "participant_id": invited["id"], "answers.distress": "4"}
    )
    assert not_enrolled.status_code == 409
    assert "has not enrolled yet" in not_enrolled.text
    assert f'value="{invited["id"]}"' in not_enrolled.text

    clinician = _member(client, owner, study, make_staff, "clinician")
    token = console_sign_in(client, clinician)
    form = client.get(url).text
    assert 'name="participant_id"' not in form and 'name="answers.distress"' in form
    refused = client.post(
        url, data={"csrf_token": token, "participant_id": person["id"], "answers.distress": "4"}
    )
    assert refused.status_code == 403
    assert "may not see this participant" in refused.text
    tried = client.post(url, data={"csrf_token": token, "answers.distress": "40"})
    assert tried.status_code == 200 and "Candidates" in tried.text
