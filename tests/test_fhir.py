"""FHIR R4: questionnaires and check-ins written as resources that validate, questionnaires
loaded back as item packs, and bad FHIR refused naming the item."""

import json
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from typer.testing import CliRunner

from app.cli import cli
from app.clock import FrozenClock
from app.fhir.resources import (
    FLAG_SYSTEM,
    ITEM_CONTROL,
    MAX_VALUE,
    MIN_VALUE,
    ORDINAL_VALUE,
    POLE_SYSTEM,
    SLIDER_STEP,
    TRANSLATION,
    item_pack,
    parse_questionnaire,
    questionnaire_url,
)
from app.rules.items import Item
from tests.conftest import START
from tests.test_checkins import FUSED, checkin
from tests.test_exports import EXTRA_ITEMS

BERLIN = timezone(timedelta(hours=1))  # the phone's clock in March
# A study's own choice item with a risk tier, beside the exports' items of every type.
RISKY_CHOICE = {
    "key": "urge",
    "type": "choice",
    "text": {"en": "Any urge to hurt yourself?", "es": "¿Ganas de hacerte daño?"},
    "choices": [
        {"key": "none", "label": {"en": "None", "es": "Ninguna"}},
        {"key": "strong", "label": {"en": "Strong", "es": "Fuertes"}, "risk": "high"},
    ],
    "risk": True,
    "required": False,
}


def bundle_of(response: Any) -> Bundle:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    return Bundle.model_validate_json(response.content)


def extension(element: Any, url: str) -> Any:
    [found] = [e for e in element.extension or [] if e.url == url]
    return found


def translations(element: Any) -> dict[str, str]:
    out = {}
    for translation in element.extension or []:
        assert translation.url == TRANSLATION
        parts = {part.url: part for part in translation.extension}
        out[parts["lang"].valueCode] = parts["content"].valueString
    return out


@pytest.fixture
def study(client: TestClient, owner: dict, make_study: Callable) -> dict[str, Any]:
    """An active study asking every item type, the sleep pack included."""
    study = make_study(activate=False)
    url = f"/v1/studies/{study['id']}"
    items = client.get(f"{url}/questionnaire", headers=owner).json()["items"]
    saved = client.put(
        f"{url}/questionnaire", json={"items": [*items, *EXTRA_ITEMS, RISKY_CHOICE]}, headers=owner
    )
    assert saved.status_code == 200, saved.text
    assert client.post(f"{url}/questionnaire/packs/sleep", headers=owner).status_code == 200
    assert client.post(f"{url}/activate", headers=owner).status_code == 200
    return study


def questionnaires(client: TestClient, headers: dict, study_id: str) -> list[Questionnaire]:
    bundle = bundle_of(client.get(f"/v1/studies/{study_id}/fhir/Questionnaire", headers=headers))
    assert bundle.type == "collection"
    return [entry.resource for entry in bundle.entry or []]


def test_the_questionnaire_is_fhir_with_every_item_type_locale_code_and_licence(
    client: TestClient, owner: dict, study: dict
) -> None:
    [questionnaire] = questionnaires(client, owner, study["id"])
    assert isinstance(questionnaire, Questionnaire)
    assert questionnaire.url == questionnaire_url(study["id"])
    assert (questionnaire.version, questionnaire.status, questionnaire.language) == (
        "1",
        "active",
        "en",
    )
    items = {item.linkId: item for item in questionnaire.item}
    slider = items["cognition_fused"]
    assert slider.type == "integer" and slider.required is True
    control = extension(slider, ITEM_CONTROL).valueCodeableConcept.coding[0]
    assert control.code == "slider"
    assert extension(slider, SLIDER_STEP).valueInteger == 1
    assert (
        extension(slider, MIN_VALUE).valueInteger,
        extension(slider, MAX_VALUE).valueInteger,
    ) == (
        0,
        100,
    )
    assert [(c.system, c.code) for c in slider.code] == [(POLE_SYSTEM, "cognitive_fusion")]
    assert translations(slider.text__ext) == {
        "es": "Mis pensamientos me parecen la pura verdad y siento que debo obedecerlos."
    }
    lower, upper = slider.item
    assert (lower.type, lower.text, translations(lower.text__ext)) == (
        "display",
        "Not at all",
        {"es": "Nada"},
    )
    assert extension(upper, ITEM_CONTROL).valueCodeableConcept.coding[0].code == "upper"
    assert [(c.system, c.code) for c in items["risk"].code] == [(FLAG_SYSTEM, "risk")]
    likert = items["mood"]
    assert likert.type == "choice" and likert.required is False
    options = likert.answerOption
    assert [o.valueCoding.code for o in options] == [str(n) for n in range(1, 8)]
    assert [extension(o.valueCoding, ORDINAL_VALUE).valueDecimal for o in options] == list(
        range(1, 8)
    )
    assert [a.text for a in likert.item] == ["Very low", "Very good"]
    where = items["where"]
    assert [(o.valueCoding.code, o.valueCoding.display) for o in where.answerOption] == [
        ("home", "At home"),
        ("work", "At work"),
    ]
    urge = items["urge"].answerOption[1]
    assert translations(urge.valueCoding.display__ext) == {"es": "Fuertes"}
    assert urge.extension[0].valueCoding.code == "high"
    assert (items["alone"].type, items["note"].type, items["note"].maxLength) == (
        "boolean",
        "text",
        1000,
    )
    assert items["sleep_quality"].type == "integer"
    assert questionnaire.copyright.startswith(
        "sleep: Apache-2.0, as Kairos (source: Kairos built-in"
    )


def test_every_version_is_written_the_one_in_use_active(
    client: TestClient, owner: dict, study: dict, make_study: Callable
) -> None:
    url = f"/v1/studies/{study['id']}/questionnaire"
    items = client.get(url, headers=owner).json()["items"]
    assert client.put(url, json={"items": items[:-1]}, headers=owner).status_code == 200
    written = questionnaires(client, owner, study["id"])
    assert [(q.version, q.status) for q in written] == [("1", "retired"), ("2", "active")]
    assert len(written[1].item) == len(written[0].item) - 1
    draft = make_study(activate=False, name="Draft")
    [q] = questionnaires(client, owner, draft["id"])
    assert q.status == "draft"


@pytest.fixture
def answered(
    client: TestClient, study: dict, enroll: Callable, clock: FrozenClock
) -> list[dict[str, Any]]:
    people = [
        enroll(study["id"], pseudonym=f"P-{n}", external_ref=f"x{n}@mail.org") for n in (1, 2)
    ]
    clock.set(START + timedelta(minutes=2))
    answers = {
        **FUSED,
        "distress": 42.5,
        "mood": 5,
        "where": "home",
        "alone": False,
        "note": "Busy morning",
        "urge": "none",
    }
    for n, person in enumerate(people):
        body = checkin(answers if n == 0 else FUSED, client_id=f"c-{n}")
        body["answered_at"] = (START + timedelta(minutes=1)).astimezone(BERLIN).isoformat()
        posted = client.post("/v1/checkins", json=body, headers=person["headers"])
        assert posted.status_code == 201, posted.text
    return people


def responses(client: TestClient, study_id: str, headers: dict, **params: Any) -> Any:
    return client.get(
        f"/v1/studies/{study_id}/fhir/QuestionnaireResponse", params=params, headers=headers
    )


def test_each_checkin_is_a_response_by_pseudonym_to_its_version(
    client: TestClient, owner: dict, study: dict, answered: list
) -> None:
    response = responses(client, study["id"], owner)
    bundle = bundle_of(response)
    written = sorted((entry.resource for entry in bundle.entry), key=lambda r: r.identifier.value)
    assert all(isinstance(r, QuestionnaireResponse) for r in written)
    first, second = written
    assert first.questionnaire == f"{questionnaire_url(study['id'])}|1"
    assert first.status == "completed" and first.identifier.value == "c-0"
    assert (first.subject.type, first.subject.identifier.value) == ("Patient", "P-1")
    assert first.authored.isoformat() == "2026-03-02T10:01:00+01:00"  # answered, phone's clock
    answers = {item.linkId: item.answer[0] for item in first.item}
    assert answers["cognition_fused"].valueInteger == 90
    assert float(answers["distress"].valueDecimal) == 42.5
    assert answers["mood"].valueCoding.code == "5"
    assert (answers["where"].valueCoding.code, answers["where"].valueCoding.display) == (
        "home",
        "At home",
    )
    assert answers["alone"].valueBoolean is False
    assert answers["note"].valueString == "Busy morning"
    assert "sleep_quality" not in answers  # not answered
    assert second.subject.identifier.value == "P-2"
    text = response.text
    assert answered[0]["id"] not in text and "mail.org" not in text


def test_responses_honour_the_exports_filters(
    client: TestClient, owner: dict, study: dict, answered: list
) -> None:
    def pseudonyms(**params: Any) -> list[str]:
        bundle = bundle_of(responses(client, study["id"], owner, **params))
        return [entry.resource.subject.identifier.value for entry in bundle.entry or []]

    assert pseudonyms(participant="P-2") == ["P-2"]
    arms = client.get(f"/v1/studies/{study['id']}/allocations", headers=owner).json()["items"]
    arm_of = {row["participant_id"]: row["arm_key"] for row in arms}
    for arm in ("tailored", "random", "assessment"):
        expected = [p["pseudonym"] for p in answered if arm_of[p["id"]] == arm]
        assert sorted(pseudonyms(arm=arm)) == expected
    assert pseudonyms(start=(START + timedelta(hours=1)).isoformat()) == []
    relative = responses(client, study["id"], owner, dates="relative")
    assert relative.status_code == 422
    assert relative.json()["errors"][0]["field"] == "query.dates"
    unknown = responses(client, study["id"], owner, participant="NOBODY")
    assert unknown.json()["errors"][0]["field"] == "query.participant"


def test_only_owners_and_researchers_read_fhir_and_every_read_is_audited(
    client: TestClient, owner: dict, study: dict, answered: list, make_staff: Callable
) -> None:
    for role, expected in [("researcher", 200), ("clinician", 403), ("viewer", 403)]:
        headers = make_staff(f"{role}@example.org")
        client.put(
            f"/v1/studies/{study['id']}/members",
            json={"email": f"{role}@example.org", "role": role},
            headers=owner,
        )
        for resource in ("Questionnaire", "QuestionnaireResponse"):
            got = client.get(f"/v1/studies/{study['id']}/fhir/{resource}", headers=headers)
            assert got.status_code == expected, (role, resource, got.text)
    stranger = make_staff()
    hidden = client.get(f"/v1/studies/{study['id']}/fhir/Questionnaire", headers=stranger)
    assert hidden.status_code == 404
    events = client.get(
        f"/v1/studies/{study['id']}/audit-events", params={"action": "export.fhir"}, headers=owner
    ).json()["items"]
    rows = sorted(json.dumps(event["details"]["rows"]) for event in events)
    assert rows == ['{"Questionnaire": 1}', '{"QuestionnaireResponse": 2}']
    assert all(event["details"]["complete"] for event in events)


def test_round_trip_questionnaire_to_fhir_to_item_pack_gives_the_same_items(
    client: TestClient, owner: dict, study: dict, make_study: Callable
) -> None:
    [questionnaire] = questionnaires(client, owner, study["id"])
    original = client.get(f"/v1/studies/{study['id']}/questionnaire", headers=owner).json()
    written = json.loads(questionnaire.model_dump_json(exclude_none=True))
    pack = item_pack(parse_questionnaire(written), "de")
    assert (pack.name, pack.source, pack.licence) == (
        "KairosCheckIn",
        f"{questionnaire_url(study['id'])}|1",
        questionnaire.copyright,
    )

    def without_pack(items: list[Any]) -> list[dict]:
        return [Item.model_validate(item).model_dump(exclude={"pack"}) for item in items]

    assert without_pack(pack.items) == without_pack(original["items"])
    # Through the API, into a draft whose own items (the default check-in) stay.
    own = [item for item in written["item"] if item["linkId"] in {i["key"] for i in EXTRA_ITEMS}]
    target = f"/v1/studies/{make_study(activate=False)['id']}/questionnaire"
    saved = client.post(f"{target}/fhir", json={**written, "item": own}, headers=owner)
    assert saved.status_code == 200, saved.text
    added = saved.json()["items"][-len(own) :]
    assert {item["pack"] for item in added} == {"KairosCheckIn"}
    assert without_pack(added) == without_pack(EXTRA_ITEMS)
    assert saved.json()["packs"][-1]["licence"] == questionnaire.copyright


# A questionnaire from elsewhere: coded options with ordinal values, a string item.
FOREIGN = {
    "resourceType": "Questionnaire",
    "url": "http://loinc.org/q/44249-1",
    "name": "PHQ2",
    "status": "active",
    "copyright": "Copyright Pfizer Inc. No permission required to reproduce.",
    "item": [
        {
            "linkId": "interest",
            "text": "Little interest or pleasure in doing things",
            "type": "choice",
            "required": True,
            "answerOption": [
                {
                    "valueCoding": {"system": "http://loinc.org", "code": code, "display": label},
                    "extension": [{"url": ORDINAL_VALUE, "valueDecimal": value}],
                }
                for value, (code, label) in enumerate(
                    [
                        ("LA6568-5", "Not at all"),
                        ("LA6569-3", "Several days"),
                        ("LA6570-1", "More than half the days"),
                        ("LA6571-9", "Nearly every day"),
                    ]
                )
            ],
        },
        {"linkId": "comment", "text": "Anything to add?", "type": "string"},
    ],
}


def draft(client: TestClient, owner: dict, make_study: Callable) -> str:
    return f"/v1/studies/{make_study(activate=False)['id']}/questionnaire/fhir"


def test_a_foreign_questionnaire_loads_as_a_pack_with_its_licence(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    url = draft(client, owner, make_study)
    loaded = client.post(url, json=FOREIGN, headers=owner)
    assert loaded.status_code == 200, loaded.text
    # Loaded twice, its first item's key is taken: named by its place in the FHIR document.
    again = client.post(url, json=FOREIGN, headers=owner)
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "body.item[0].key"
    items = {item["key"]: item for item in loaded.json()["items"]}
    assert items["interest"] == {
        **items["interest"],
        "type": "likert",
        "min": 0,
        "max": 3,
        "required": True,
        "pack": "PHQ2",
    }
    assert items["comment"]["type"] == "text" and items["comment"]["required"] is False
    assert loaded.json()["packs"][-1] == {
        "name": "PHQ2",
        "source": "http://loinc.org/q/44249-1",
        "licence": FOREIGN["copyright"],
    }


def _with_item(item: dict[str, Any]) -> dict[str, Any]:
    return {**FOREIGN, "item": [FOREIGN["item"][1], item]}


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (_with_item({"linkId": "born", "text": "Born", "type": "date"}), "body.item[1]", "'born'"),
        (
            _with_item({"linkId": "weight", "text": "kg", "type": "decimal"}),
            "body.item[1]",
            "'weight'",
        ),
        (
            _with_item({"linkId": "part", "text": "Part", "type": "group", "item": []}),
            "body.item[1]",
            "group",
        ),
        (
            _with_item(
                {
                    "linkId": "wide",
                    "text": "How much?",
                    "type": "integer",
                    "extension": [{"url": MAX_VALUE, "valueInteger": 10}],
                }
            ),
            "body.item[1]",
            "0-100",
        ),
        (
            _with_item({"linkId": "Not-A-Key", "text": "Hm", "type": "boolean"}),
            "body.item[1]",
            "'Not-A-Key'",
        ),
        (_with_item({"linkId": "x", "type": "banana"}), "body.item[1]", "a banana item"),
        (
            _with_item({"linkId": "x", "type": "boolean", "required": "maybe"}),
            "body.item[1].required",
            "",
        ),
        (_with_item({"text": "no link id", "type": "boolean"}), "body.item[1].linkId", ""),
        (
            _with_item(
                {
                    "linkId": "mind",
                    "text": "Hm",
                    "type": "integer",
                    "code": [{"system": POLE_SYSTEM, "code": "telepathy"}],
                }
            ),
            "body.item[1]",
            "'mind'",
        ),
        ({**FOREIGN, "copyright": None}, "body.copyright", "licence"),
        ({**FOREIGN, "resourceType": "Patient"}, "body.resourceType", "Questionnaire"),
    ],
)
def test_bad_fhir_is_refused_naming_the_item(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    body: dict,
    field: str,
    says: str,
) -> None:
    url = draft(client, owner, make_study)
    before = client.get(url.removesuffix("/fhir"), headers=owner).json()
    refused = client.post(url, json={k: v for k, v in body.items() if v is not None}, headers=owner)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["errors"][0]["field"] == field, problem
    assert says in problem["detail"]
    assert client.get(url.removesuffix("/fhir"), headers=owner).json() == before


def test_only_managers_load_fhir(
    client: TestClient, owner: dict, make_study: Callable, make_staff: Callable
) -> None:
    url = draft(client, owner, make_study)
    study_id = url.split("/")[3]
    clinician = make_staff("clinician@example.org")
    client.put(
        f"/v1/studies/{study_id}/members",
        json={"email": "clinician@example.org", "role": "clinician"},
        headers=owner,
    )
    assert client.post(url, json=FOREIGN, headers=clinician).status_code == 403


def test_the_command_line_writes_the_same_bundle(
    client: TestClient,
    owner: dict,
    study: dict,
    answered: list,
    database_url: str,
    tmp_path: Path,
) -> None:
    env = {"KAIROS_DATABASE_URL": database_url, "KAIROS_VAR_DIR": str(tmp_path / "var")}
    out = tmp_path / "study.json"
    args = ["export", study["id"], "--format", "fhir", "--out", str(out), "--participant", "P-1"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    written = Bundle.model_validate_json(out.read_bytes())
    kinds = [entry.resource.get_resource_type() for entry in written.entry]
    assert kinds == ["Questionnaire", "QuestionnaireResponse"]
    api = bundle_of(responses(client, study["id"], owner, participant="P-1"))
    assert written.entry[1].resource == api.entry[0].resource
    assert "Wrote 2 rows" in result.output
    only = CliRunner().invoke(cli, [*args, "--table", "Questionnaire"], env=env)
    assert only.exit_code == 0, only.output
    assert [
        e.resource.get_resource_type() for e in Bundle.model_validate_json(out.read_bytes()).entry
    ] == ["Questionnaire"]
    for extra, message in [
        (["--table", "prompts"], "--table is Questionnaire or QuestionnaireResponse"),
        (["--relative-dates"], "relative dates are not offered"),
    ]:
        refused = CliRunner().invoke(cli, [*args, *extra], env=env)
        assert refused.exit_code == 1 and message in refused.output, refused.output
