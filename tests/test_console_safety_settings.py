"""A study's safety settings page against the API's GET/PUT /safety: thresholds and the
crisis resources per locale saved as the API saves them (audited), problems at the row and
input they name with what was typed kept and nothing written; every member reads them,
only owners and researchers change them."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.console_client import add_members, console_sign_in, sign_in_as

FORM = {
    "settings.high": "80",
    "settings.medium": "50",
    "settings.low": "25",
    "resources[0].locale": "en",
    "resources[0].text": "Call 999 or the Samaritans on 116 123.",
    "resources[0].phone": "116 123",
    "resources[0].url": "https://www.samaritans.org",
    "resources[1].locale": "",
    "resources[1].text": "",
    "resources[2].locale": "es",
    "resources[2].text": "Llama al 024.",
    "resources[2].phone": "",
    "resources[2].url": "",
}


def _url(study: dict[str, Any]) -> str:
    return f"/console/studies/{study['id']}/safety-settings"


def _stored(client: TestClient, study: dict[str, Any], owner: dict[str, str]) -> Any:
    return client.get(f"/v1/studies/{study['id']}/safety", headers=owner).json()


def test_thresholds_and_crisis_resources_are_saved_as_the_api_saves_them(
    client: TestClient, owner: dict[str, str], make_study: Callable[..., dict[str, Any]]
) -> None:
    study = make_study()
    before = _stored(client, study, owner)
    token = console_sign_in(client, "owner@example.org")
    page = client.get(_url(study)).text
    assert 'name="settings.high" type="number" value="70"' in page
    assert 'name="resources[0].locale" type="text" value="en"' in page
    assert before["resources"]["en"]["text"] in page
    saved = client.post(_url(study), data={"csrf_token": token, **FORM}, follow_redirects=False)
    assert (saved.status_code, saved.headers["location"]) == (303, _url(study))
    assert _stored(client, study, owner) == {
        "settings": {"high": 80, "medium": 50, "low": 25},
        "resources": {
            "en": {
                "text": "Call 999 or the Samaritans on 116 123.",
                "phone": "116 123",
                "url": "https://www.samaritans.org",
            },
            "es": {"text": "Llama al 024.", "phone": None, "url": None},
        },
    }
    events = client.get(f"/v1/studies/{study['id']}/audit-events", headers=owner).json()
    assert events["items"][0]["action"] == "safety.update"
    assert 'name="resources[1].locale" type="text" value="es"' in client.get(_url(study)).text


@pytest.mark.parametrize(
    ("change", "input_id", "message"),
    [
        ({"settings.low": "60"}, "settings", "low &lt;= medium &lt;= high"),
        ({"settings.high": "120"}, "settings-high", "less than or equal to 100"),
        ({"resources[2].url": "ftp://x"}, "resources-1-url", "pattern"),
        ({"resources[2].text": ""}, "resources-1-text", "Field required"),
        ({"resources[2].locale": "en"}, "resources-1-locale", "&#39;en&#39; appears twice"),
        ({"resources[2].locale": "not a locale"}, "resources-1-locale", "should match pattern"),
    ],
)
def test_a_problem_shows_at_its_row_s_input_and_nothing_is_written(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    change: dict[str, str],
    input_id: str,
    message: str,
) -> None:
    study = make_study()
    before = _stored(client, study, owner)
    token = console_sign_in(client, "owner@example.org")
    refused = client.post(_url(study), data={"csrf_token": token, **FORM, **change})
    assert refused.status_code == 422
    error = refused.text.split(f'id="f-{input_id}-error"')[1].split("</")[0]
    assert message in error
    assert 'value="https://www.samaritans.org"' in refused.text  # what was typed stays
    assert _stored(client, study, owner) == before


def test_every_member_reads_them_and_only_owners_and_researchers_change_them(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    make_staff: Callable[..., dict[str, str]],
) -> None:
    study = make_study()
    members = {"res@example.org": "researcher", "view@example.org": "viewer"}
    add_members(client, owner, make_staff, study, members)
    make_staff("stranger@example.org")
    answered = {}
    for email in ("view@example.org", "stranger@example.org", "res@example.org"):
        token = sign_in_as(client, email)
        page = client.get(_url(study))
        answered[email] = (
            page.status_code,
            "Save safety settings" in page.text,
            client.post(
                _url(study), data={"csrf_token": token, **FORM}, follow_redirects=False
            ).status_code,
        )
    assert answered == {
        "view@example.org": (200, False, 403),
        "stranger@example.org": (404, False, 404),
        "res@example.org": (200, True, 303),
    }
    assert _stored(client, study, owner)["settings"]["high"] == 80
