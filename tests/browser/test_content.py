"""The content editors in a real browser. Journey 2: a clinician forks the default skill
library, edits a skill in English and Spanish, publishes; a researcher pins it (pinning is
theirs, as in the API); a check-in then gets the edited skill, in each participant's
language. And the questionnaire editor: an item with a problem shown by its field, fixed,
a built-in pack added, the versions once the study is active; a custom pack uploaded, its
problem listed by its path, then pasted corrected."""

import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, check_accessibility, screenshot, sign_in, sqlite_only
from tests.conftest import PASSWORD
from tests.test_checkins import FUSED, checkin
from tests.test_console_packs import PACK


def _token(api: TestClient, email: str) -> dict[str, str]:
    response = api.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _study(
    api: TestClient, staff_account: Callable[..., str], **fields: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """An owner's tailored study with a researcher and a clinician, set up through the API."""
    owner = _token(api, staff_account("owner@example.org"))
    body = {
        "name": "Defusion pilot",
        "default_timezone": "Europe/Madrid",
        "arms": [{"key": "tailored", "policy": "tailored"}],
        **fields,
    }
    study = api.post("/v1/studies", json=body, headers=owner)
    assert study.status_code == 201, study.text
    for email, role in (("clinician@example.org", "clinician"), ("res@example.org", "researcher")):
        staff_account(email)
        added = api.put(
            f"/v1/studies/{study.json()['id']}/members",
            json={"email": email, "role": role},
            headers=owner,
        )
        assert added.status_code == 200, added.text
    return study.json(), owner


def _enrolled(api: TestClient, study_id: str, owner: dict[str, str], locale: str) -> dict:
    created = api.post(
        f"/v1/studies/{study_id}/participants",
        json={"timezone": "Europe/Madrid", "locale": locale},
        headers=owner,
    )
    assert created.status_code == 201, created.text
    enrolled = api.post("/v1/enroll", json={"code": created.json()["enrollment"]["code"]})
    assert enrolled.status_code == 201, enrolled.text
    return {"headers": {"Authorization": f"Bearer {enrolled.json()['token']}"}}


def test_journey_2_a_clinician_edits_a_skill_in_two_languages_and_a_check_in_gets_it(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    api = TestClient(live_server.app)
    study, owner = _study(api, staff_account)
    assert api.post(f"/v1/studies/{study['id']}/activate", headers=owner).status_code == 200
    english = _enrolled(api, study["id"], owner, "en")
    spanish = _enrolled(api, study["id"], owner, "es")

    sign_in(page, live_server, "clinician@example.org")
    page.get_by_role("link", name="Defusion pilot").click()
    page.get_by_role("link", name="Skill libraries").click()
    expect(page.get_by_role("heading", name="Skill libraries")).to_be_visible()
    expect(page.get_by_role("button", name="Pin version 1")).to_have_count(0)
    check_accessibility(page)
    page.get_by_label("Name of the new draft").fill("Clinic library")
    page.get_by_role("button", name="Fork").click()
    expect(page.get_by_role("heading", name="Clinic library · Version 2")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("link", name="I am having the thought that...").click()
    expect(page.get_by_role("heading", name="Edit skill having_the_thought")).to_be_visible()
    check_accessibility(page)
    page.get_by_label("Title (default text)").fill("Notice the thought")
    page.get_by_label("Title (es)", exact=True).fill("Nota el pensamiento")
    page.get_by_label("Steps (es), one per line").fill(
        "Di el pensamiento.\nAñade: noto que estoy teniendo el pensamiento de que..."
    )
    page.get_by_role("button", name="Save skill").click()
    expect(page.get_by_role("link", name="Notice the thought")).to_be_visible()

    # The other skill for cognitive fusion moves to defusion, so the check-in's choice is
    # the edited one; first with no pole at all, which the form refuses by its field.
    page.get_by_role("link", name="Thoughts on a stream").click()
    page.get_by_label("Cognitive fusion", exact=True).uncheck()
    page.get_by_role("button", name="Save skill").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields marked below.")
    expect(page.get_by_role("group", name="Targeted poles")).to_contain_text("at least 1 item")
    check_accessibility(page)
    page.get_by_label("Defusion", exact=True).check()
    page.get_by_role("button", name="Save skill").click()

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Published:")).to_be_visible()
    expect(page.get_by_role("button", name="Pin for the study")).to_have_count(0)
    check_accessibility(page)
    page.get_by_role("link", name="All versions").click()
    page.get_by_label("From", exact=True).select_option(label="Version 1")
    page.get_by_label("To", exact=True).select_option(label="Version 2")
    page.get_by_role("button", name="Show what changed").click()
    expect(
        page.get_by_role("heading", name="What changed from version 1 to version 2")
    ).to_be_visible()
    changes = page.get_by_role("article").filter(has_text="having_the_thought")
    expect(changes).to_contain_text("removed: I am having the thought that...")
    expect(changes).to_contain_text("added: Notice the thought")
    expect(changes).to_contain_text("added: Nota el pensamiento")
    check_accessibility(page)
    screenshot(page, "skill-library-diff")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, "res@example.org")
    page.goto(live_server(f"/console/studies/{study['id']}/libraries"))
    page.get_by_role("button", name="Pin version 2").click()
    expect(page.get_by_role("heading", name="Clinic library · Version 2")).to_be_visible()
    expect(page.get_by_text("Pinned")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "skill-library")

    for person, title, first_step in (
        (english, "Notice the thought", "Pick the thought"),
        (spanish, "Nota el pensamiento", "Di el pensamiento."),
    ):
        answered = api.post("/v1/checkins", json=checkin(FUSED), headers=person["headers"])
        assert answered.status_code == 201, answered.text
        skill = answered.json()["delivery"]["skill"]
        assert (skill["key"], skill["title"]) == ("having_the_thought", title)
        assert skill["steps"][0].startswith(first_step)
    deliveries = api.get(f"/v1/studies/{study['id']}/libraries", headers=owner).json()
    assert [v["version"] for v in deliveries["items"] if v["pinned"]] == [2]


@sqlite_only
def test_a_researcher_edits_the_questionnaire(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    api = TestClient(live_server.app)
    study, owner = _study(api, staff_account)
    sign_in(page, live_server, "res@example.org")
    page.goto(live_server(f"/console/studies/{study['id']}"))
    page.get_by_role("link", name="Questionnaire").click()
    expect(page.get_by_role("heading", name="Questionnaire")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("button", name="Add an item").click()
    page.get_by_label("Key", exact=True).fill("energy")
    page.get_by_label("Kind", exact=True).select_option("likert")
    page.get_by_label("Text (en)", exact=True).fill("How much energy do you have?")
    page.get_by_label("Text (es)", exact=True).fill("¿Cuánta energía tienes?")
    page.get_by_label("Highest value (likert)", exact=True).fill("5")
    page.get_by_label("Low end (en)", exact=True).fill("None")
    page.get_by_label("High end (en)", exact=True).fill("A lot")
    page.get_by_role("button", name="Save item").click()
    expect(page.get_by_role("alert")).to_contain_text("a likert item needs min < max")
    expect(page.get_by_label("Text (es)", exact=True)).to_have_value("¿Cuánta energía tienes?")
    check_accessibility(page)
    page.get_by_label("Lowest value (likert)", exact=True).fill("1")
    page.get_by_role("button", name="Save item").click()
    expect(page.get_by_role("cell", name="energy", exact=True)).to_be_visible()

    page.get_by_role("button", name="Add pack: Sleep last night").click()
    expect(page.get_by_role("cell", name=re.compile(r"^sleep_quality"))).to_be_visible()
    locales = page.get_by_role("region", name="Locales")
    expect(locales.get_by_role("row", name=re.compile(r"^es "))).to_contain_text(
        "None: every item has its text."
    )
    check_accessibility(page)
    screenshot(page, "questionnaire")

    assert api.post(f"/v1/studies/{study['id']}/activate", headers=owner).status_code == 200
    page.get_by_role("link", name="Edit item energy").click()
    expect(page.get_by_text("saving makes version 2 of the questionnaire")).to_be_visible()
    page.get_by_label("Text (en)", exact=True).fill("How much energy do you have right now?")
    page.get_by_role("button", name="Save item").click()
    page.get_by_role("link", name="All versions").click()
    expect(page.get_by_role("heading", name="Questionnaire versions")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Version 2")).to_contain_text("Frozen")
    check_accessibility(page)
    current = api.get(f"/v1/studies/{study['id']}/questionnaire", headers=owner).json()
    energy = next(item for item in current["items"] if item["key"] == "energy")
    assert current["version"] == 2 and energy["text"]["en"].endswith("right now?")


@sqlite_only
def test_a_researcher_uploads_a_custom_item_pack(
    console_page: Page, live_server: LiveServer, staff_account: Callable[..., str]
) -> None:
    page = console_page
    api = TestClient(live_server.app)
    study, _ = _study(api, staff_account)
    sign_in(page, live_server, "res@example.org")
    page.goto(live_server(f"/console/studies/{study['id']}/questionnaire"))
    wrong = {**PACK, "items": [{**PACK["items"][0], "key": "Cheerful"}]}
    page.get_by_label("Item pack file (JSON)").set_input_files(
        {"name": "who5.json", "mimeType": "application/json", "buffer": json.dumps(wrong).encode()}
    )
    page.get_by_role("button", name="Add the custom pack").click()
    box = page.get_by_label("Or paste the item pack's JSON")
    expect(box).to_have_accessible_description(re.compile(r"items\[0\]\.key: String should match"))
    check_accessibility(page)
    screenshot(page, "questionnaire-custom-pack-problem")
    box.fill(json.dumps(PACK))
    page.get_by_role("button", name="Add the custom pack").click()
    expect(page.get_by_role("table", name="Loaded packs")).to_contain_text("WHO-5 excerpt")
