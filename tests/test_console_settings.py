"""A study's settings page against the API: a draft's fields and arms change through the
study update and the arms' routes (audited alike), problems show at their inputs with what
was typed kept and nothing written, an active study's page says why nothing changes, and
only owners and researchers reach it."""

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.console_client import add_members, console_sign_in, sign_in_as

FIELDS = {
    "name": "Pilot, renamed",
    "description": "Two arms now",
    "default_timezone": "America/New_York",
    "default_locale": "es",
    "block_size": "8",
    "stratify_by": "site, sex",
    "clinicians_see_arm": "true",
    "blind_participant_download": "false",
}
# The fixture's arms were tailored, random, assessment: random is left out (deleted),
# tailored reweighted, waitlist added.
ARMS = {
    "arms[0].key": "tailored",
    "arms[0].policy": "tailored",
    "arms[0].weight": "2",
    "arms[0].description": "Skills chosen for the person",
    "arms[1].key": "assessment",
    "arms[1].policy": "assessment_only",
    "arms[1].weight": "1",
    "arms[2].key": "",
    "arms[2].policy": "",
    "arms[3].key": "waitlist",
    "arms[3].policy": "assessment_only",
    "arms[3].weight": "1",
}


def _settings(study: dict[str, Any]) -> str:
    return f"/console/studies/{study['id']}/settings"


def test_a_draft_s_settings_and_arms_change_through_the_study_update(
    client: TestClient, owner: dict[str, str], make_study: Callable[..., dict[str, Any]]
) -> None:
    study = make_study(activate=False, block_size=6)
    token = console_sign_in(client, "owner@example.org")
    page = client.get(_settings(study)).text
    assert 'name="name" type="text" value="Tailoring pilot"' in page
    assert 'name="arms[1].key" type="text" value="random"' in page
    assert 'name="block_size" type="number" value="6"' in page
    saved = client.post(
        _settings(study), data={"csrf_token": token, **FIELDS, **ARMS}, follow_redirects=False
    )
    assert (saved.status_code, saved.headers["location"]) == (
        303,
        f"/console/studies/{study['id']}",
    )
    stored = client.get(f"/v1/studies/{study['id']}", headers=owner).json()
    assert {name: stored[name] for name in FIELDS} == {
        **FIELDS,
        "block_size": 8,
        "stratify_by": ["site", "sex"],
        "clinicians_see_arm": True,
        "blind_participant_download": False,
    }
    assert [(arm["key"], arm["policy"], arm["weight"]) for arm in stored["arms"]] == [
        ("assessment", "assessment_only", 1),
        ("tailored", "tailored", 2),
        ("waitlist", "assessment_only", 1),
    ]
    events = client.get(f"/v1/studies/{study['id']}/audit-events", headers=owner).json()["items"]
    done = [(event["action"], event["resource_id"]) for event in events[:4]]
    assert sorted(done) == [
        ("arm.create", "waitlist"),
        ("arm.delete", "random"),
        ("arm.update", "tailored"),
        ("study.update", study["id"]),
    ]
    # A blank block size clears it, as a null does in the PATCH.
    form = {**FIELDS, **ARMS, "block_size": ""}
    cleared = client.post(_settings(study), data={"csrf_token": token, **form})
    assert cleared.status_code == 200, cleared.text
    assert client.get(f"/v1/studies/{study['id']}", headers=owner).json()["block_size"] is None


def test_problems_show_at_their_inputs_with_what_was_typed_and_nothing_is_written(
    client: TestClient, owner: dict[str, str], make_study: Callable[..., dict[str, Any]]
) -> None:
    study = make_study(activate=False)
    token = console_sign_in(client, "owner@example.org")
    typed = {
        **FIELDS,
        **ARMS,
        "name": "",
        "default_timezone": "Mars/Olympus",
        "arms[3].key": "Wait List",
    }
    wrong = client.post(_settings(study), data={"csrf_token": token, **typed})
    assert wrong.status_code == 422
    for field in ("name", "default_timezone", "arms-2-key"):  # the rows renumbered
        assert f'id="f-{field}-error"' in wrong.text, field
    assert 'value="Mars/Olympus"' in wrong.text and 'value="Wait List"' in wrong.text
    twice = {**FIELDS, **ARMS, "arms[3].key": "tailored"}
    duplicate = client.post(_settings(study), data={"csrf_token": token, **twice})
    assert duplicate.status_code == 422 and 'id="f-arms-2-key-error"' in duplicate.text
    unfilled = {**FIELDS, **ARMS, "block_size": "5"}  # weights 2 + 1 + 1
    blocks = client.post(_settings(study), data={"csrf_token": token, **unfilled})
    assert blocks.status_code == 422 and 'id="f-block_size-error"' in blocks.text
    stored = client.get(f"/v1/studies/{study['id']}", headers=owner).json()
    assert stored["name"] == "Tailoring pilot" and len(stored["arms"]) == 3


def test_an_active_study_s_page_says_why_nothing_changes(
    client: TestClient, owner: dict[str, str], make_study: Callable[..., dict[str, Any]]
) -> None:
    study = make_study()
    token = console_sign_in(client, "owner@example.org")
    page = client.get(_settings(study)).text
    assert "The study is active, so its name" in page and 'name="name"' not in page
    assert f'href="/console/studies/{study["id"]}/questionnaire"' in page
    refused = client.post(_settings(study), data={"csrf_token": token, **FIELDS, **ARMS})
    assert refused.status_code == 409 and "only a draft study can be changed" in refused.text
    stored = client.get(f"/v1/studies/{study['id']}", headers=owner).json()
    assert stored["name"] == "Tailoring pilot"


def test_the_settings_are_for_owners_and_researchers_of_the_study(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    make_staff: Callable[..., dict[str, str]],
) -> None:
    study = make_study(activate=False)
    members = {"res@example.org": "researcher", "clin@example.org": "clinician"}
    add_members(client, owner, make_staff, study, members)
    make_staff("stranger@example.org")
    overview = f"/console/studies/{study['id']}"
    seen = {}
    for email in ("res@example.org", "clin@example.org", "stranger@example.org"):
        token = sign_in_as(client, email)
        shown = client.get(overview).text
        seen[email] = (
            client.get(_settings(study)).status_code,
            bool(re.search(r'href="[^"]*/settings"', shown)),
        )
        if email == "res@example.org":
            assert client.post(_settings(study), data=FIELDS).status_code == 403  # no token
            data = {"csrf_token": token, **FIELDS, **ARMS}
            assert client.post(_settings(study), data=data, follow_redirects=False).is_redirect
    assert seen == {
        "res@example.org": (200, True),
        "clin@example.org": (403, False),
        "stranger@example.org": (404, False),
    }
