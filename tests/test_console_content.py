"""The content editors without a browser: the questionnaire editor and skill libraries,
their forms showing the API's problems by field and keeping what was typed, and their
refusals (a viewer 403, a stranger 404, a form without its CSRF token 403)."""

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.skills.content import Skill, SkillText
from app.skills.diff import DiffLine, library_diff
from tests.console_client import console_sign_in, csrf_of


@pytest.fixture
def study(
    client: TestClient,
    owner: dict[str, str],
    make_staff: Callable[..., dict[str, str]],
    make_study: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """A draft study with a researcher, a clinician and a viewer, and a stranger (a member
    of another study)."""
    created = make_study(activate=False)
    for email, role in (
        ("researcher@example.org", "researcher"),
        ("clinician@example.org", "clinician"),
        ("viewer@example.org", "viewer"),
    ):
        make_staff(email)
        added = client.put(
            f"/v1/studies/{created['id']}/members",
            json={"email": email, "role": role},
            headers=owner,
        )
        assert added.status_code == 200, added.text
    make_study(activate=False, headers=make_staff("stranger@example.org"))
    return created


def _base(study: dict[str, Any]) -> str:
    return f"/console/studies/{study['id']}"


def _libraries(client: TestClient, study: dict[str, Any], owner: dict[str, str]) -> list[dict]:
    response = client.get(f"/v1/studies/{study['id']}/libraries", headers=owner)
    items: list[dict] = response.json()["items"]
    return items


def _fork(client: TestClient, study: dict[str, Any], token: str) -> str:
    response = client.post(
        f"{_base(study)}/libraries",
        data={"csrf_token": token, "from_library_id": "", "name": "Clinic library"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[1]


def _field_error(page: str, name: str) -> str:
    """The error text shown under the input `name`."""
    input_id = "f-" + name.replace("[", "-").replace("]", "").replace(".", "-")
    found = re.search(rf'id="{re.escape(input_id)}-error"[^>]*>(.*?)</small>', page, re.S)
    assert found, f"no error shown for {name}"
    return html.unescape(found.group(1)).strip()


def _typed(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]*)"', page)
    assert found, f"no input {name}"
    return html.unescape(found.group(1))


def test_a_clinician_forks_edits_a_skill_in_two_locales_and_publishes(
    client: TestClient, study: dict[str, Any], owner: dict[str, str]
) -> None:
    token = console_sign_in(client, "clinician@example.org")
    draft = _fork(client, study, token)
    url = f"{_base(study)}/libraries/{draft}/skills/having_the_thought"
    form = client.get(url).text
    assert _typed(form, "title") == "I am having the thought that..."
    assert _typed(form, "translations.es.title") == "Estoy teniendo el pensamiento de que..."
    saved = client.post(
        url,
        data={
            "csrf_token": token,
            "key": "having_the_thought",
            "title": "Noticing the thought",
            "steps": "Say the thought.\nAdd: I notice I am having the thought that...",
            "duration_seconds": "120",
            "target.cognitive_fusion": "true",
            "modalities": "verbal, imagery",
            "media_url": "https://media.example.org/thought.mp3",
            "translations.es.title": "Notar el pensamiento",
            "translations.es.steps": "Di el pensamiento.\nAñade: noto que lo pienso.",
            "new_locale": "fr",
            "new_locale_title": "Remarquer la pensée",
            "new_locale_steps": "Dites la pensée.",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    published = client.post(
        f"{_base(study)}/libraries/{draft}/publish",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert published.status_code == 303
    version = next(v for v in _libraries(client, study, owner) if v["id"] == draft)
    assert version["published"] and not version["pinned"]
    skill = next(s for s in version["skills"] if s["key"] == "having_the_thought")
    assert skill["title"] == "Noticing the thought"
    assert skill["steps"] == ["Say the thought.", "Add: I notice I am having the thought that..."]
    assert skill["duration_seconds"] == 120
    assert skill["modalities"] == ["verbal", "imagery"]
    assert skill["media_url"] == "https://media.example.org/thought.mp3"
    assert skill["translations"]["es"]["title"] == "Notar el pensamiento"
    assert skill["translations"]["fr"] == {
        "title": "Remarquer la pensée",
        "steps": ["Dites la pensée."],
        "fallbacks": {},
    }

    # A clinician may not pin (researchers and owners do), and sees no pin button.
    assert "Pin for the study" not in client.get(f"{_base(study)}/libraries/{draft}").text
    refused = client.post(f"{_base(study)}/libraries/{draft}/pin", data={"csrf_token": token})
    assert refused.status_code == 403
    token = console_sign_in(client, "researcher@example.org")
    pinned = client.post(
        f"{_base(study)}/libraries/{draft}/pin", data={"csrf_token": token}, follow_redirects=False
    )
    assert pinned.status_code == 303
    assert next(v for v in _libraries(client, study, owner) if v["id"] == draft)["pinned"]

    first = next(v for v in _libraries(client, study, owner) if v["version"] == 1)
    diff = client.get(f"{_base(study)}/libraries/diff?before={first['id']}&after={draft}").text
    assert "Noticing the thought" in diff
    assert "translations.fr.title" in diff
    assert "Remarquer la pensée" in diff


def test_a_skill_form_shows_the_problems_by_field_and_keeps_what_was_typed(
    client: TestClient, study: dict[str, Any], owner: dict[str, str]
) -> None:
    token = console_sign_in(client, "clinician@example.org")
    draft = _fork(client, study, token)
    url = f"{_base(study)}/libraries/{draft}/skills/having_the_thought"
    before = _libraries(client, study, owner)
    typed = {
        "csrf_token": token,
        "key": "having_the_thought",
        "title": "A new title I typed",
        "steps": "One step",
        "duration_seconds": "5",
        "media_url": "http://not-secure.example.org",
        "translations.es.title": "Un título",
        "translations.es.steps": "",
    }
    refused = client.post(url, data=typed)
    assert refused.status_code == 422
    page = refused.text
    assert "greater than or equal to 15" in _field_error(page, "duration_seconds")
    assert "https" in _field_error(page, "media_url")
    assert "at least 1 item" in _field_error(page, "targets")
    assert "at least 1 item" in _field_error(page, "translations.es.steps")
    assert _typed(page, "title") == "A new title I typed"
    assert _typed(page, "translations.es.title") == "Un título"
    assert _libraries(client, study, owner) == before

    # The library's own checks (a key used twice) name the skill form's input.
    duplicate = client.post(
        f"{_base(study)}/libraries/{draft}/skills/new",
        data={
            "csrf_token": token,
            "key": "having_the_thought",
            "title": "Twice",
            "steps": "A step",
            "duration_seconds": "60",
            "target.defusion": "true",
        },
    )
    assert duplicate.status_code == 422
    assert "appears twice" in _field_error(duplicate.text, "key")

    # A published version cannot change: the 409 is shown on the form.
    client.post(f"{_base(study)}/libraries/{draft}/publish", data={"csrf_token": token})
    typed.update({"duration_seconds": "60", "media_url": "", "target.defusion": "true"})
    typed["translations.es.steps"] = "Un paso"
    conflict = client.post(url, data=typed)
    assert conflict.status_code == 409
    assert "is published and cannot change" in conflict.text


def test_a_clinician_renames_a_draft_and_removes_its_skills_but_not_the_last(
    client: TestClient, study: dict[str, Any], owner: dict[str, str]
) -> None:
    token = console_sign_in(client, "clinician@example.org")
    draft = _fork(client, study, token)
    page = f"{_base(study)}/libraries/{draft}"
    api = f"/v1/studies/{study['id']}/libraries/{draft}"
    long_name = "x" * 201
    for typed in ("", long_name):
        wrong = client.post(f"{page}/name", data={"csrf_token": token, "name": typed})
        assert wrong.status_code == 422 and _field_error(wrong.text, "name")
        assert _typed(wrong.text, "name") == typed
    assert client.get(api, headers=owner).json()["name"] == "Clinic library"
    renamed = client.post(
        f"{page}/name", data={"csrf_token": token, "name": "Clinic, v2"}, follow_redirects=False
    )
    assert renamed.status_code == 303, renamed.text
    assert client.get(api, headers=owner).json()["name"] == "Clinic, v2"
    assert _typed(client.get(page).text, "name") == "Clinic, v2"

    keys = [skill["key"] for skill in client.get(api, headers=owner).json()["skills"]]
    assert len(keys) > 1
    assert (
        client.post(f"{page}/skills/no_such/remove", data={"csrf_token": token}).status_code == 404
    )
    for key in keys[:-1]:
        removed = client.post(
            f"{page}/skills/{key}/remove", data={"csrf_token": token}, follow_redirects=False
        )
        assert removed.status_code == 303, removed.text
    left = client.get(api, headers=owner).json()
    assert [skill["key"] for skill in left["skills"]] == keys[-1:]
    assert left["name"] == "Clinic, v2"
    last = client.post(f"{page}/skills/{keys[-1]}/remove", data={"csrf_token": token})
    assert last.status_code == 409 and "A library keeps at least one skill" in last.text
    published = client.post(f"{page}/publish", data={"csrf_token": token}, follow_redirects=False)
    assert published.status_code == 303
    shown = client.get(page).text
    assert 'name="name"' not in shown and "/remove" not in shown
    for url, data in (
        (f"{page}/name", {"name": "Later"}),
        (f"{page}/skills/{keys[-1]}/remove", {}),
    ):
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 409, url


def test_the_questionnaire_editor_edits_the_draft_then_saves_versions(
    client: TestClient, study: dict[str, Any], owner: dict[str, str]
) -> None:
    token = console_sign_in(client, "researcher@example.org")
    base = f"{_base(study)}/questionnaire"
    assert "Draft: it is frozen when the study is activated." in client.get(base).text
    item = {
        "csrf_token": token,
        "key": "mood",
        "type": "likert",
        "text.en": "How is your mood?",
        "text.es": "¿Cómo está tu ánimo?",
        "min": "1",
        "max": "7",
        "anchors.en[0]": "Low",
        "anchors.en[1]": "High",
        "required": "false",
        "risk": "false",
        "pole": "",
    }
    added = client.post(f"{base}/items/new", data=item, follow_redirects=False)
    assert added.status_code == 303, added.text
    current = client.get(f"/v1/studies/{study['id']}/questionnaire", headers=owner).json()
    assert current["version"] == 1
    mood = next(i for i in current["items"] if i["key"] == "mood")
    assert mood["anchors"] == {"en": ["Low", "High"]}
    assert mood["required"] is False

    # The model's own check (a likert item needs min < max) and a field's.
    refused = client.post(
        f"{base}/items/mood", data={**item, "min": "7", "max": "1", "text.en": "Kept text"}
    )
    assert refused.status_code == 422
    assert "a likert item needs min &lt; max" in refused.text or "min < max" in refused.text
    assert _typed(refused.text, "text.en") == "Kept text"
    choice = client.post(
        f"{base}/items/new",
        data={
            "csrf_token": token,
            "key": "place",
            "type": "choice",
            "text.en": "Where are you?",
            "choices[0].key": "Home!",
            "choices[0].label.en": "Home",
            "choices[1].key": "work",
            "choices[1].label.en": "Work",
        },
    )
    assert choice.status_code == 422
    assert "should match pattern" in _field_error(choice.text, "choices[0].key")
    assert _typed(choice.text, "choices[1].label.en") == "Work"

    # Built-in packs, and the versions once the study is active.
    pack = client.post(f"{base}/packs/sleep", data={"csrf_token": token, "rules": "false"})
    assert pack.status_code == 200 and "Sleep last night" in pack.text
    client.post(f"/v1/studies/{study['id']}/activate", headers=owner)
    removed = client.post(f"{base}/items/mood/remove", data={"csrf_token": token})
    assert removed.status_code == 200
    versions = client.get(f"/v1/studies/{study['id']}/questionnaire/versions", headers=owner)
    assert [v["version"] for v in versions.json()["items"]] == [2, 1]
    assert "mood" in [i["key"] for i in versions.json()["items"][1]["items"]]
    assert "mood" not in [i["key"] for i in versions.json()["items"][0]["items"]]
    page = client.get(f"{base}/versions").text
    assert "Version 2" in page and "sleep_quality" in page


def test_viewers_are_refused_strangers_see_nothing_and_forms_need_their_token(
    client: TestClient, study: dict[str, Any], owner: dict[str, str]
) -> None:
    base = _base(study)
    library = _libraries(client, study, owner)[0]["id"]
    reads = [f"{base}/libraries", f"{base}/libraries/{library}", f"{base}/questionnaire"]
    reads.append(f"{base}/questionnaire/versions")
    reads.append(f"{base}/libraries/diff?before={library}&after={library}")
    edit_pages = [
        f"{base}/libraries/{library}/skills/make_room",
        f"{base}/questionnaire/items/distress",
    ]
    posts = [
        f"{base}/libraries",
        f"{base}/libraries/{library}/publish",
        f"{base}/libraries/{library}/pin",
        f"{base}/libraries/{library}/skills/make_room",
        f"{base}/libraries/{library}/name",
        f"{base}/libraries/{library}/skills/make_room/remove",
        f"{base}/questionnaire/items/new",
        f"{base}/questionnaire/items/distress/remove",
        f"{base}/questionnaire/packs/sleep",
    ]
    token = console_sign_in(client, "viewer@example.org")
    page = client.get(f"{base}/libraries").text
    assert "Fork a version" not in page and "Pin version" not in page
    assert "Add an item" not in client.get(f"{base}/questionnaire").text
    for url in reads:
        assert client.get(url).status_code == 200, url
    for url in edit_pages:
        assert client.get(url).status_code == 403, url
    for url in posts:
        assert client.post(url, data={"csrf_token": token}).status_code == 403, url

    token = console_sign_in(client, "stranger@example.org")
    for url in [*reads, *edit_pages]:
        assert client.get(url).status_code == 404, url
    for url in posts:
        assert client.post(url, data={"csrf_token": token}).status_code == 404, url

    console_sign_in(client, "researcher@example.org")
    for url in posts:
        assert client.post(url, data={}).status_code == 403, url
    assert len(_libraries(client, study, owner)) == 1
    assert csrf_of(client.get(f"{base}/libraries").text)


def test_what_changed_between_two_libraries() -> None:
    def skill(key: str, title: str, steps: list[str], **fields: Any) -> Skill:
        return Skill(
            key=key, title=title, steps=steps, duration_seconds=60, targets=["defusion"], **fields
        )

    before = [
        skill("a", "A", ["one", "two"]),
        skill("b", "B", ["x"], translations={"es": SkillText(title="Be", steps=["equis"])}),
        skill("gone", "Gone", ["x"]),
    ]
    after = [
        skill("a", "A", ["one", "two"]),
        skill("b", "B2", ["x", "y"], translations={"es": SkillText(title="Be2", steps=["equis"])}),
        skill("new", "New", ["x"]),
    ]
    diff = library_diff(before, after)
    assert [s.key for s in diff.added] == ["new"]
    assert [s.key for s in diff.removed] == ["gone"]
    [changed] = diff.changed
    assert changed.key == "b"
    fields = {field.field: field.lines for field in changed.fields}
    assert list(fields) == ["title", "steps", "translations.es.title"]
    assert fields["title"] == [DiffLine("removed", "B"), DiffLine("added", "B2")]
    assert fields["steps"] == [DiffLine("same", "x"), DiffLine("added", "y")]
    assert library_diff(before, before).empty


def test_the_content_pages_speak_spanish(
    client: TestClient, study: dict[str, Any], owner: dict[str, str]
) -> None:
    console_sign_in(client, "clinician@example.org")
    client.cookies.set("kairos_lang", "es", path="/console")
    library = _libraries(client, study, owner)[0]["id"]
    page = client.get(f"{_base(study)}/libraries").text
    assert "Bifurcar una versión" in page and "Versión 1" in page
    page = client.get(f"{_base(study)}/libraries/{library}").text
    assert "Polos a los que se dirige" in page and "Fusión cognitiva" in page
    page = client.get(f"{_base(study)}/questionnaire").text
    assert "Paquetes incluidos" in page and "El sueño de anoche" in page
