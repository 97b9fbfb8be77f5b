"""The plan and review pages without a browser: who may see and do what (the API's roles;
404 outside the study), the plan edited with the API's problems at their fields and what
was typed kept, the review with its suggestion and "Clear the flag" with a note (audited,
CSRF-checked), the study's flags open and all, and the review settings."""

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from app.clock import FrozenClock
from tests.conftest import PASSWORD
from tests.console_client import add_members, flagged_participant, sign_in_as


@pytest.fixture
def world(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    enroll: Callable[..., dict[str, Any]],
    make_staff: Callable[..., dict[str, str]],
    clock: FrozenClock,
) -> dict[str, Any]:
    """A tailored study flagging after two check-ins, one participant flagged (cognition
    stays fused), a clinician and a viewer; and a stranger's study."""
    study = make_study(arms=[{"key": "tailored", "policy": "tailored"}])
    members = {"clin@example.org": "clinician", "view@example.org": "viewer"}
    add_members(client, owner, make_staff, study, members)
    person = flagged_participant(client, owner, enroll, clock, study)
    other = make_study(headers=make_staff("stranger@example.org"))
    study_url = f"/console/studies/{study['id']}"
    return {
        "study": study,
        "person": person,
        "other": other,
        "api": f"/v1/studies/{study['id']}",
        "study_url": study_url,
        "page": f"{study_url}/participants/{person['id']}",
    }


def test_each_page_is_for_the_roles_the_api_allows(
    client: TestClient, world: dict[str, Any]
) -> None:
    plan, review = world["page"] + "/plan", world["page"] + "/review"
    flags, settings = world["study_url"] + "/review-flags", world["study_url"] + "/review-settings"
    token = sign_in_as(client, "stranger@example.org")
    for url in (plan, review, flags, settings):
        assert client.get(url).status_code == 404, url
    refused = client.post(settings, data={"csrf_token": token, "period_days": "7"})
    assert refused.status_code == 404  # a stranger learns nothing, not even the role
    elsewhere = f"/console/studies/{world['other']['id']}/participants/{world['person']['id']}"
    assert client.get(elsewhere + "/plan").status_code == 404
    token = sign_in_as(client, "view@example.org")
    shown = client.get(plan)
    assert shown.status_code == 200 and "Save the plan" not in shown.text
    assert client.get(review).status_code == 403
    assert client.get(flags).status_code == 403
    read_only = client.get(settings)
    assert read_only.status_code == 200 and "Save review settings" not in read_only.text
    assert 'href="' + flags + '"' not in read_only.text  # no "Review" in a viewer's nav
    assert client.post(settings, data={"csrf_token": token, "period_days": "7"}).status_code == 403
    posted = client.post(plan, data={"csrf_token": token, "sections.values[0].text": "x"})
    assert posted.status_code == 403
    token = sign_in_as(client, "clin@example.org")
    assert client.get(review).status_code == 200
    listed = client.get(flags)
    assert listed.status_code == 200 and f'href="{flags}" aria-current="page"' in listed.text
    assert client.post(settings, data={"csrf_token": token, "period_days": "7"}).status_code == 403


def test_a_clinician_edits_the_plan_with_problems_at_their_fields(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    url = world["page"] + "/plan"
    token = sign_in_as(client, "clin@example.org")
    assert "The plan has not been written yet." in client.get(url).text
    assert client.post(url, data={"sections.values[0].text": "Family"}).status_code == 403
    saved = client.post(
        url,
        data={
            "csrf_token": token,
            "based_on_version": "0",
            "sections.values[0].text": "Being there for my daughter",
            "sections.strategies[0].text": "Walk round the block",
            "sections.strategies[0].pole": "cognitive_fusion",
            "sections.goals[0].text": "",  # a blank row is no entry
        },
        follow_redirects=False,
    )
    assert (saved.status_code, saved.headers["location"]) == (303, url)
    plan = client.get(f"{world['api']}/participants/{world['person']['id']}/plan", headers=owner)
    assert plan.json()["version"] == 1 and plan.json()["author"]["email"] == "clin@example.org"
    assert plan.json()["sections"]["strategies"][0]["pole"] == "cognitive_fusion"
    assert plan.json()["sections"]["goals"] == []
    page = client.get(url).text
    assert "Being there for my daughter" in page and "Version 1, by clin@example.org" in page
    assert 'name="sections.values[0].id" value="e1"' in page  # kept by the next save
    typed = {
        "csrf_token": token,
        "based_on_version": "1",
        "sections.values[0].id": "e1",
        "sections.values[0].text": "Being there for my daughter",
        "sections.supports[0].text": "Ana",
        "sections.supports[0].item": "nowhere",
    }
    # A pole without its text (sent blank, as a browser does): the model's problem.
    wrong = client.post(
        url,
        data={**typed, "sections.triggers[0].text": "", "sections.triggers[0].pole": "defusion"},
    )
    assert wrong.status_code == 422 and 'id="f-sections-triggers-0-text-error"' in wrong.text
    assert 'value="nowhere"' in wrong.text and 'value="Ana"' in wrong.text  # kept as typed
    assert '<option value="defusion" selected>' in wrong.text
    # An item the questionnaire lacks: the flow's problem, at the entry's item.
    unknown = client.post(url, data=typed)
    assert unknown.status_code == 422 and 'id="f-sections-supports-0-item-error"' in unknown.text
    assert "is not an item of the questionnaire" in unknown.text
    stale = client.post(
        url,
        data={"csrf_token": token, "based_on_version": "0", "sections.values[0].text": "Work"},
    )
    assert stale.status_code == 409 and "The plan changed since version 0" in stale.text
    assert 'value="Work"' in stale.text
    again = client.get(f"{world['api']}/participants/{world['person']['id']}/plan", headers=owner)
    assert again.json()["version"] == 1  # nothing refused was saved


def test_the_review_shows_the_suggestion_and_a_note_clears_the_flag(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    review = world["page"] + "/review"
    flags = world["study_url"] + "/review-flags"
    token = sign_in_as(client, "clin@example.org")
    listed = client.get(flags).text
    assert world["person"]["pseudonym"] in listed and f'href="{review}"' in listed
    page = client.get(review).text
    assert "No targeted dimension improves" in page and "Check-ins in the period" in page
    assert "Skills offered" not in page  # arms are concealed from clinicians
    assert "Clear the flag" in page
    clear = world["page"] + "/review-flag/clear"
    assert client.post(clear, data={"note": "Talked"}).status_code == 403  # no CSRF token
    blank = client.post(clear, data={"csrf_token": token, "note": ""})
    assert blank.status_code == 422 and 'id="f-note-error"' in blank.text
    note = "Talked it through: trying defusion with a new image"
    cleared = client.post(clear, data={"csrf_token": token, "note": note}, follow_redirects=False)
    assert (cleared.status_code, cleared.headers["location"]) == (303, review)
    assert "No open review flag." in client.get(review).text
    assert "No open review flags." in client.get(flags).text
    everything = client.get(flags, params={"open": "false"}).text
    assert note in everything and world["person"]["pseudonym"] in everything
    assert client.post(clear, data={"csrf_token": token, "note": "x"}).status_code == 404
    events = client.get(
        f"{world['api']}/audit-events", params={"action": "review_flag.clear"}, headers=owner
    ).json()["items"]
    assert events[0]["actor_type"] == "staff" and note not in str(events)
    sign_in_as(client, "owner@example.org")
    assert "Skills offered" in client.get(review).text  # the owner sees the skills


def test_the_review_period_is_the_studys_by_default_or_the_days_chosen(
    client: TestClient, world: dict[str, Any], owner: dict[str, str], clock: FrozenClock
) -> None:
    review = world["page"] + "/review"
    sign_in_as(client, "clin@example.org")
    assert 'href="?period=study" aria-current="page"' in client.get(review).text
    # A week later, the last seven days still hold both check-ins, the last day none.
    clock.set(clock.now() + timedelta(days=6))
    sign_in_as(client, "clin@example.org")
    week = client.get(review, params={"period": "7"}).text
    assert 'href="?period=7" aria-current="page"' in week
    assert "<dt>Check-ins in the period</dt><dd>2</dd>" in week
    day = clock.now().astimezone(ZoneInfo("Europe/Berlin")).date()
    api = client.get(
        f"{world['api']}/participants/{world['person']['id']}/review",
        params={"start": datetime.combine(day, time(), ZoneInfo("Europe/Berlin")).isoformat()},
        headers=_owner(client),
    ).json()
    assert api["check_ins"] == 0
    assert client.get(review, params={"period": "1"}).status_code == 404  # not a period


def _owner(client: TestClient) -> dict[str, str]:
    form = {"username": "owner@example.org", "password": PASSWORD}
    return {
        "Authorization": f"Bearer {client.post('/v1/auth/token', data=form).json()['access_token']}"
    }


def test_the_owner_sets_the_review_settings_with_problems_at_their_fields(
    client: TestClient, world: dict[str, Any], owner: dict[str, str]
) -> None:
    url = world["study_url"] + "/review-settings"
    token = sign_in_as(client, "owner@example.org")
    assert 'name="min_checkins" type="number" value="2"' in client.get(url).text
    wrong = client.post(url, data={"csrf_token": token, "period_days": "0", "min_checkins": "3"})
    assert wrong.status_code == 422 and 'id="f-period_days-error"' in wrong.text
    assert 'name="period_days" type="number" value="0"' in wrong.text
    saved = client.post(
        url,
        data={"csrf_token": token, "period_days": "7", "adherence_floor": "0.25"},
        follow_redirects=False,
    )
    assert (saved.status_code, saved.headers["location"]) == (303, url)
    stored = client.get(f"{world['api']}/review-settings", headers=owner).json()
    assert (stored["period_days"], stored["adherence_floor"]) == (7, 0.25)
