"""The settings page's web push form against the API: the Firebase web app's config typed
per value or pasted as the Firebase console shows it (a JS snippet or JSON) is what the
API's GET /web-push then answers, audited alike, in a draft or an active study; problems
show at the input they name with what was typed kept and nothing written; "Turn off" is
the API's DELETE; only owners and researchers change it."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from app.console.js_object import NotAnObject, object_of
from tests.console_client import add_members, console_sign_in, sign_in_as
from tests.test_web_push import VAPID_KEY, WEB_PUSH

SNIPPET = """// Import the functions you need from the SDKs you need
import { initializeApp } from "firebase/app";

// Your web app's Firebase configuration
const firebaseConfig = {
  apiKey: "AIzaSyExample",
  authDomain: "kairos-test.firebaseapp.com",
  projectId: 'kairos-test',
  messagingSenderId: "123456789012",
  appId: "1:123456789012:web:abcdef",
};

// Initialize Firebase
const app = initializeApp(firebaseConfig);
"""
TYPED = {f"firebase_config.{key}": value for key, value in WEB_PUSH["firebase_config"].items()}


def _url(study: dict[str, Any], path: str = "") -> str:
    return f"/console/studies/{study['id']}/settings{path}"


def _stored(client: TestClient, study: dict[str, Any], owner: dict[str, str]) -> Any:
    return client.get(f"/v1/studies/{study['id']}/web-push", headers=owner).json()


def _actions(client: TestClient, study: dict[str, Any], owner: dict[str, str]) -> list[str]:
    events = client.get(f"/v1/studies/{study['id']}/audit-events", headers=owner).json()
    return [event["action"] for event in events["items"]]


@pytest.mark.parametrize("activate", [True, False])
def test_a_pasted_config_is_saved_through_the_api_and_turned_off_by_its_delete(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    activate: bool,
) -> None:
    study = make_study(activate=activate)
    token = console_sign_in(client, "owner@example.org")
    page = client.get(_url(study)).text
    assert "Notifications in the participant web app" in page and "public, not secrets" in page
    assert "the web app runs without notifications" in page and "Turn off" not in page
    saved = client.post(
        _url(study, "/web-push"),
        data={"csrf_token": token, "pasted_config": SNIPPET, "vapid_key": VAPID_KEY},
        follow_redirects=False,
    )
    assert (saved.status_code, saved.headers["location"]) == (303, _url(study, "#web-push"))
    assert _stored(client, study, owner) == WEB_PUSH
    assert _actions(client, study, owner)[0] == "study.web_push"
    shown = client.get(_url(study)).text
    assert "with the Firebase project kairos-test" in shown
    assert 'name="firebase_config.appId" type="text" value="1:123456789012:web:abcdef"' in shown
    assert f'name="vapid_key" type="text" value="{VAPID_KEY}"' in shown

    off = client.post(
        _url(study, "/web-push/remove"), data={"csrf_token": token}, follow_redirects=False
    )
    assert off.status_code == 303 and _stored(client, study, owner) is None
    assert _actions(client, study, owner)[:2] == ["study.web_push", "study.web_push"]


def test_typed_values_and_a_json_paste_save_the_optional_keys_too(
    client: TestClient, owner: dict[str, str], make_study: Callable[..., dict[str, Any]]
) -> None:
    study = make_study()
    token = console_sign_in(client, "owner@example.org")
    typed = {**TYPED, "firebase_config.measurementId": "G-ABC123", "vapid_key": VAPID_KEY}
    client.post(_url(study, "/web-push"), data={"csrf_token": token, **typed})
    config = {**WEB_PUSH["firebase_config"], "measurementId": "G-ABC123"}
    assert _stored(client, study, owner) == {**WEB_PUSH, "firebase_config": config}
    # A paste replaces every value of the config: a key it leaves out is no longer set.
    pasted = '{"apiKey": "k", "projectId": "p", "messagingSenderId": "1", "appId": "a"}'
    form = {"csrf_token": token, **typed, "pasted_config": pasted}
    client.post(_url(study, "/web-push"), data=form)
    assert _stored(client, study, owner)["firebase_config"] == {
        "apiKey": "k",
        "projectId": "p",
        "messagingSenderId": "1",
        "appId": "a",
    }


@pytest.mark.parametrize(
    ("change", "input_id", "message"),
    [
        ({"vapid_key": "not a key"}, "vapid_key", "not a P-256 public key"),
        ({"firebase_config.apiKey": ""}, "firebase_config-apiKey", "Field required"),
        (
            {"firebase_config.messagingSenderId": "12ab"},
            "firebase_config-messagingSenderId",
            "pattern",
        ),
        ({"pasted_config": "apiKey: 'x'"}, "pasted_config", "no object"),
        ({"pasted_config": "{\n apiKey: 'x'\n appId: 'y'}"}, "pasted_config", "line 3"),
        ({"pasted_config": '{apiKey: "x", serverKey: "y"}'}, "pasted_config", "serverKey"),
    ],
)
def test_a_problem_shows_at_its_input_with_what_was_typed_and_nothing_changes(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    change: dict[str, str],
    input_id: str,
    message: str,
) -> None:
    study = make_study()
    assert client.put(
        f"/v1/studies/{study['id']}/web-push", json=WEB_PUSH, headers=owner
    ).is_success
    token = console_sign_in(client, "owner@example.org")
    typed = {**TYPED, "firebase_config.projectId": "typed-project", "vapid_key": VAPID_KEY}
    refused = client.post(_url(study, "/web-push"), data={"csrf_token": token, **typed, **change})
    assert refused.status_code == 422
    error = refused.text.split(f'id="f-{input_id}-error"')[1].split("</small>")[0]
    assert message in error
    # What was typed stays, an unreadable paste too (to be corrected).
    assert 'value="typed-project"' in refused.text
    assert all(str(escape(value)) in refused.text for value in change.values())
    assert _stored(client, study, owner) == WEB_PUSH


def test_only_owners_and_researchers_change_the_web_app(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    make_staff: Callable[..., dict[str, str]],
) -> None:
    study = make_study()
    members = {"res@example.org": "researcher", "clin@example.org": "clinician"}
    add_members(client, owner, make_staff, study, members)
    make_staff("stranger@example.org")
    answered = {}
    for email in ("res@example.org", "clin@example.org", "stranger@example.org"):
        token = sign_in_as(client, email)
        data = {"csrf_token": token, **TYPED, "vapid_key": VAPID_KEY}
        answered[email] = (
            client.post(_url(study, "/web-push"), data=data, follow_redirects=False).status_code,
            client.post(
                _url(study, "/web-push/remove"), data={"csrf_token": token}, follow_redirects=False
            ).status_code,
        )
        no_token = {**TYPED, "vapid_key": VAPID_KEY}
        assert client.post(_url(study, "/web-push"), data=no_token).status_code in (403, 404)
    assert answered == {
        "res@example.org": (303, 303),
        "clin@example.org": (403, 403),
        "stranger@example.org": (404, 404),
    }


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            '{apiKey: \'a\\\'b\', "appId": "c\\"d", /* note */ x: \'e"f\',}',
            {"apiKey": "a'b", "appId": 'c"d', "x": 'e"f'},
        ),
        ('firebaseConfig = {"apiKey": "a", "appId": "b"};', {"apiKey": "a", "appId": "b"}),
    ],
)
def test_an_object_is_read_from_a_snippet_without_running_it(
    text: str, found: dict[str, str]
) -> None:
    assert object_of(text) == found


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{apiKey: process.env.KEY}", "line 1: expected a quoted value for apiKey"),
        ('{"apiKey": 12}', "apiKey: expected a quoted value"),
        ("{apiKey: `x`}", "expected a quoted value"),
        ('{a: "\\q"}', "escape"),
    ],
)
def test_anything_but_quoted_values_is_refused_saying_where(text: str, message: str) -> None:
    with pytest.raises(NotAnObject, match=message):
        object_of(text)
