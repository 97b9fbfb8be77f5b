"""The questionnaire page's packs of one's own against the API: a custom item pack's JSON and
a FHIR Questionnaire, uploaded as a file or pasted, load through the API's services
(recorded, audited, a new version once the study is active); a problem the API names in
the document is listed at its box by its path there, the document kept and nothing added;
only owners and researchers load them."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from tests.console_client import add_members, console_sign_in, sign_in_as
from tests.test_fhir import FOREIGN

PACK = {
    "name": "WHO-5 excerpt",
    "source": "https://www.who.int/publications/m/item/WHO-UCN-MSD-MHE-2024.01",
    "licence": "CC BY-NC-SA 3.0 IGO",
    "items": [
        {"key": "cheerful", "type": "likert", "min": 0, "max": 5, "text": {"en": "Cheerful"}},
        {"key": "calm", "type": "slider", "text": {"en": "Calm and relaxed"}, "required": False},
    ],
}


def _url(study: dict[str, Any], path: str = "") -> str:
    return f"/console/studies/{study['id']}/questionnaire{path}"


def _questionnaire(client: TestClient, study: dict[str, Any], owner: dict[str, str]) -> Any:
    return client.get(f"/v1/studies/{study['id']}/questionnaire", headers=owner).json()


def _problems(html: str, box: str) -> list[str]:
    listed = html.split(f'<ul id="f-{box}-error" class="field-error">')[1].split("</ul>")[0]
    return [item.split("</li>")[0] for item in listed.split("<li>")[1:]]


def test_a_custom_pack_file_loads_into_a_new_version_as_the_api_loads_it(
    client: TestClient, owner: dict[str, str], make_study: Callable[..., dict[str, Any]]
) -> None:
    study = make_study()
    before = _questionnaire(client, study, owner)
    token = console_sign_in(client, "owner@example.org")
    page = client.get(_url(study)).text
    assert 'enctype="multipart/form-data"' in page and 'name="pack_file" type="file"' in page
    loaded = client.post(
        _url(study, "/packs"),
        data={"csrf_token": token, "pack_document": ""},
        files={"pack_file": ("who5.json", json.dumps(PACK).encode(), "application/json")},
        follow_redirects=False,
    )
    assert (loaded.status_code, loaded.headers["location"]) == (303, _url(study))
    after = _questionnaire(client, study, owner)
    assert after["version"] == before["version"] + 1 and after["frozen"]
    added = after["items"][len(before["items"]) :]
    assert [(item["key"], item["pack"]) for item in added] == [
        ("cheerful", "WHO-5 excerpt"),
        ("calm", "WHO-5 excerpt"),
    ]
    assert after["packs"][-1] == {key: PACK[key] for key in ("name", "source", "licence")}
    events = client.get(f"/v1/studies/{study['id']}/audit-events", headers=owner).json()
    assert events["items"][0]["action"] == "questionnaire.update"
    assert "CC BY-NC-SA 3.0 IGO" in client.get(_url(study)).text


def test_a_pasted_fhir_questionnaire_loads_and_an_uploaded_one_too(
    client: TestClient, owner: dict[str, str], make_study: Callable[..., dict[str, Any]]
) -> None:
    draft, active = make_study(activate=False), make_study()
    token = console_sign_in(client, "owner@example.org")
    pasted = client.post(
        _url(draft, "/fhir"), data={"csrf_token": token, "fhir_document": json.dumps(FOREIGN)}
    )
    assert pasted.status_code == 200, pasted.text
    uploaded = client.post(
        _url(active, "/fhir"),
        data={"csrf_token": token},
        files={"fhir_file": ("phq2.json", json.dumps(FOREIGN).encode(), "application/fhir+json")},
    )
    assert uploaded.status_code == 200, uploaded.text
    for study in (draft, active):
        items = {item["key"]: item for item in _questionnaire(client, study, owner)["items"]}
        assert (items["interest"]["type"], items["interest"]["pack"]) == ("likert", "PHQ2")
        assert _questionnaire(client, study, owner)["packs"][-1]["licence"] == FOREIGN["copyright"]


def _with_item(index: int, **change: Any) -> dict[str, Any]:
    items = [dict(item) for item in PACK["items"]]
    items[index] |= change
    return {**PACK, "items": items}


@pytest.mark.parametrize(
    ("name", "document", "listed"),
    [
        ("pack", _with_item(1, key="Calm Key"), ["items[1].key: String should match pattern"]),
        ("pack", _with_item(0, max=0), ["items[0]: Value error, a likert item needs min &lt; max"]),
        ("pack", {**PACK, "licence": ""}, ["licence: String should have at least 1 character"]),
        ("pack", {**PACK, "extra": 1}, ["extra: Extra inputs are not permitted"]),
        ("pack", '{"name": "x",', ["not JSON: Expecting property name enclosed in double quotes"]),
        ("pack", "", ["choose a JSON file or paste its text"]),
        (
            "fhir",
            {**FOREIGN, "item": [{"linkId": "born", "text": "Born", "type": "date"}]},
            ["item[0]: item &#39;born&#39;: Kairos cannot load a date item"],
        ),
        ("fhir", {**FOREIGN, "copyright": ""}, ["copyright: an item pack needs its licence"]),
    ],
)
def test_a_problem_in_the_document_is_listed_by_its_path_and_nothing_is_added(
    client: TestClient,
    owner: dict[str, str],
    make_study: Callable[..., dict[str, Any]],
    name: str,
    document: Any,
    listed: list[str],
) -> None:
    study = make_study()
    before = _questionnaire(client, study, owner)
    token = console_sign_in(client, "owner@example.org")
    text = document if isinstance(document, str) else json.dumps(document)
    refused = client.post(
        _url(study, {"pack": "/packs", "fhir": "/fhir"}[name]),
        data={"csrf_token": token},
        files={f"{name}_file": ("document.json", text.encode(), "application/json")},
    )
    assert refused.status_code == 422, refused.text
    problems = _problems(refused.text, f"{name}_document")
    assert len(problems) == len(listed)
    assert all(shown.startswith(start) for shown, start in zip(problems, listed, strict=True))
    assert f"{escape(text)}</textarea>" in refused.text  # the file's text, to correct it
    assert _questionnaire(client, study, owner) == before


def test_a_pack_whose_key_the_questionnaire_has_is_refused_naming_the_item(
    client: TestClient, owner: dict[str, str], make_study: Callable[..., dict[str, Any]]
) -> None:
    study = make_study()
    before = _questionnaire(client, study, owner)
    taken = before["items"][0]["key"]
    token = console_sign_in(client, "owner@example.org")
    document = json.dumps(_with_item(1, key=taken))
    refused = client.post(
        _url(study, "/packs"), data={"csrf_token": token, "pack_document": document}
    )
    assert refused.status_code == 422
    (problem,) = _problems(refused.text, "pack_document")
    # Named by its place in the pack sent (its second item), not in the questionnaire.
    assert problem == f"items[1].key: &#39;{taken}&#39; appears twice"
    assert _questionnaire(client, study, owner) == before


def test_only_owners_and_researchers_load_packs_of_their_own(
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
    for email, pack in (
        ("clin@example.org", "clinician's"),
        ("stranger@example.org", "stranger's"),
        ("res@example.org", "researcher's"),
    ):
        token = sign_in_as(client, email)
        document = json.dumps({**PACK, "name": pack})
        assert client.post(_url(study, "/packs"), data={"pack_document": document}).status_code in (
            403,
            404,
        )  # no token
        answered[email] = (
            client.post(
                _url(study, "/packs"),
                data={"csrf_token": token, "pack_document": document},
                follow_redirects=False,
            ).status_code,
            "Packs of your own" in client.get(_url(study)).text,
        )
    assert answered == {
        "res@example.org": (303, True),
        "clin@example.org": (403, False),
        "stranger@example.org": (404, False),
    }
    assert [pack["name"] for pack in _questionnaire(client, study, owner)["packs"]] == [
        "researcher's"
    ]
