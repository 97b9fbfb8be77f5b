"""The participant web app (/app) on a phone-sized Chromium (360 by 740, touch): enrollment by
the QR code's link, a prompted check-in, the skill and its feedback; the same offline, stored
once when back online; crisis resources first after a risk answer; English and Spanish; a
withdrawn participant; a notification tap opening its prompt. axe-core on every screen, and
screenshots for the README (docs/app/)."""

import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.checkins.models import CheckIn
from app.clock import FrozenClock
from app.rules.items import default_items
from app.scheduling.models import Prompt, PromptStatus
from app.skills.models import Delivery
from tests.browser.conftest import LiveServer, check_accessibility, screenshot, sqlite_only
from tests.conftest import START
from tests.test_web_push import WEB_PUSH

# What each item asks, by key, in both languages (the default questionnaire).
QUESTIONS = {
    locale: {item.key: item.text[locale] for item in default_items()} for locale in ("en", "es")
}
# A check-in whose target is cognition (fused, not defused): the tailored arm offers a skill.
FUSED = {
    key: 30 if key.endswith(("avoid", "stuck", "content", "remote")) else 70
    for key in QUESTIONS["en"]
}
FUSED |= {"cognition_fused": 90, "cognition_defused": 10, "distress": 40, "risk": 0}
SKILL_TITLES = re.compile("^(I am having the thought that|Thoughts on a stream)")
# The phone's clock: a minute after the server's (frozen) time of enrollment.
PHONE_TIME = START + timedelta(minutes=1)

# Waits until the service worker controls the page and keeps what an offline start needs
# (the app loads /v1/me and the questionnaire again once it has taken over). Checked in the
# page, not by wait_for_function's string predicate, whose eval the app's CSP forbids.
_READY_OFFLINE = """() => new Promise((resolve, reject) => {
    const until = Date.now() + 15000;
    const look = async () => {
        const kept = await caches.open("kairos-api");
        const me = await kept.match("/v1/me");
        const questionnaire = await kept.match("/v1/me/questionnaire");
        if (navigator.serviceWorker.controller && me && questionnaire) return resolve(true);
        if (Date.now() > until) return reject(new Error("not ready offline within 15 s"));
        setTimeout(look, 50);
    };
    look();
})"""


def _wait_for_service_worker(page: Page) -> None:
    page.evaluate(_READY_OFFLINE)


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "viewport": {"width": 360, "height": 740},
        "has_touch": True,
        "is_mobile": True,
        "timezone_id": "Europe/Berlin",
        "locale": "en-GB",
        "service_workers": "allow",
    }


@pytest.fixture
def phone(console_page: Page) -> Page:
    """A page (CSP violations fail the test, axe-core loaded) on the server's frozen time."""
    console_page.clock.set_fixed_time(PHONE_TIME)
    return console_page


@pytest.fixture
def study(make_study: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """An active study with one tailored arm: a check-in with a target gets a skill."""
    return make_study(arms=[{"key": "tailored", "policy": "tailored"}])


def _texts(en: str, es: str) -> dict[str, str]:
    return {"en": en, "es": es}


# A short questionnaire with every kind of item, in English and Spanish, scored by one rule
# (fusion from `cognition_fused`, the default questionnaire's key).
SHORT_ITEMS = [
    {"key": "cognition_fused", "type": "slider", "pole": "cognitive_fusion",
     "text": _texts("My thoughts feel like orders I must obey.",
                    "Mis pensamientos me parecen órdenes que debo obedecer."),
     "anchors": {"en": ["Not at all", "Completely"], "es": ["Nada", "Totalmente"]}},
    {"key": "energy", "type": "likert", "min": 1, "max": 5,
     "text": _texts("How much energy do you have?", "¿Cuánta energía tienes?"),
     "anchors": {"en": ["none", "plenty"], "es": ["ninguna", "mucha"]}},
    {"key": "place", "type": "choice", "text": _texts("Where are you?", "¿Dónde estás?"),
     "choices": [{"key": "home", "label": _texts("At home", "En casa")},
                 {"key": "out", "label": _texts("Somewhere else", "En otro sitio")}]},
    {"key": "alone", "type": "boolean", "text": _texts("Are you alone?", "¿Estás solo/a?")},
    {"key": "note", "type": "text", "required": False,
     "text": _texts("Anything else?", "¿Algo más?")},
    {"key": "distress", "type": "slider",
     "text": _texts("How distressed are you?", "¿Cuánto malestar sientes?"),
     "anchors": {"en": ["None", "Extreme"], "es": ["Ninguno", "Extremo"]}},
    {"key": "risk", "type": "slider", "risk": True,
     "text": _texts("Thoughts of harming yourself?", "¿Pensamientos de hacerte daño?"),
     "anchors": {"en": ["Not present", "Very strong"], "es": ["Ausentes", "Muy fuertes"]}},
]  # fmt: skip
SHORT_QUESTIONS = {
    locale: {item["key"]: item["text"][locale] for item in SHORT_ITEMS} for locale in ("en", "es")
}
CRISIS = {"text": "Call the crisis line now.", "phone": "+49 800 111 0111",
          "url": "https://crisis.example.org/"}  # fmt: skip


@pytest.fixture
def short_study(
    client: TestClient, owner: dict[str, str], make_study: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    """A tailored study with the short questionnaire and crisis resources with a phone."""
    study = make_study(activate=False, arms=[{"key": "tailored", "policy": "tailored"}])
    base = f"/v1/studies/{study['id']}"
    rules = {
        "rules": [
            {"id": "fusion", "pole": "cognitive_fusion",
             "value": {"op": "item", "item": "cognition_fused"}},
        ],
        "selection": {"distress_item": "distress"},
    }  # fmt: skip
    for method, path, body in (
        ("PUT", "/rules", rules),
        ("PUT", "/questionnaire", {"items": SHORT_ITEMS}),
        ("PUT", "/safety", {"settings": {}, "resources": {"en": CRISIS, "es": CRISIS}}),
        ("POST", "/activate", None),
    ):
        response = client.request(method, base + path, json=body, headers=owner)
        assert response.status_code == 200, response.text
    return study


def new_participant(
    client: TestClient, owner: dict[str, str], study: dict[str, Any]
) -> dict[str, Any]:
    """A new participant of the study: its id and its enrollment code."""
    created = client.post(
        f"/v1/studies/{study['id']}/participants",
        json={"timezone": "Europe/Berlin"},
        headers=owner,
    )
    assert created.status_code == 201, created.text
    return {"id": created.json()["id"], "code": created.json()["enrollment"]["code"]}


@pytest.fixture
def participant(client: TestClient, owner: dict[str, str], study: dict[str, Any]) -> dict[str, Any]:
    return new_participant(client, owner, study)


def open_prompt(db: Engine, study: dict[str, Any], participant: dict[str, Any]) -> uuid.UUID:
    """A prompt sent at the start, open for an hour."""
    prompt = Prompt(
        study_id=uuid.UUID(study["id"]),
        participant_id=uuid.UUID(participant["id"]),
        slot=f"test/{uuid.uuid4().hex}",
        scheduled_at=START,
        window_start=START,
        window_end=START,
        expires_at=START + timedelta(hours=1),
        status=PromptStatus.sent,
        created_at=START,
        sent_at=START,
    )
    with Session(db) as session:
        session.add(prompt)
        session.commit()
        return prompt.id


@pytest.fixture
def enrolled(
    phone: Page,
    live_server: LiveServer,
    client: TestClient,
    owner: dict[str, str],
    short_study: dict[str, Any],
) -> tuple[Page, dict[str, Any]]:
    """The phone, enrolled by the QR link in the short study, on its home screen."""
    person = new_participant(client, owner, short_study)
    enroll_by_link(phone, live_server, person)
    return phone, person


def enroll_by_link(page: Page, server: LiveServer, participant: dict[str, Any]) -> None:
    """Open the QR code's link and go on to the home screen."""
    page.goto(server(f"/app/enroll#code={participant['code']}"))
    expect(page.get_by_role("heading", name="Welcome", level=1)).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Your check-ins", level=1)).to_be_visible()


def answer(page: Page, answers: dict[str, int], questions: dict[str, str]) -> None:
    """Move each slider to its answer."""
    for key, value in answers.items():
        page.get_by_label(questions[key], exact=True).fill(str(value))


def answer_short(page: Page, risk: int = 0, locale: str = "en") -> None:
    """Every required item of the short questionnaire: fused thoughts, distress 40."""
    questions = SHORT_QUESTIONS[locale]
    answer(page, {"cognition_fused": 90, "distress": 40, "risk": risk}, questions)
    page.get_by_role("group", name=questions["energy"]).get_by_label("2", exact=True).check()
    place = page.get_by_role("group", name=questions["place"])
    place.get_by_label("At home" if locale == "en" else "En casa").check()
    alone = page.get_by_role("group", name=questions["alone"])
    alone.get_by_label("No", exact=True).check()


def checkins_of(session: Session, participant: dict[str, Any]) -> list[CheckIn]:
    return list(
        session.exec(select(CheckIn).where(CheckIn.participant_id == uuid.UUID(participant["id"])))
    )


@sqlite_only
def test_enroll_by_the_link_answer_a_prompt_see_the_skill_and_rate_it(
    phone: Page,
    live_server: LiveServer,
    db: Engine,
    session: Session,
    study: dict[str, Any],
    participant: dict[str, Any],
) -> None:
    page = phone
    prompt_id = open_prompt(db, study, participant)
    page.goto(live_server(f"/app/enroll#code={participant['code']}"))
    expect(page.get_by_role("heading", name="Welcome", level=1)).to_be_visible()
    expect(page.get_by_text(f"You have joined {study['name']}.")).to_be_visible()
    # The code is gone from the address (and the history): only the token is kept.
    assert page.url == live_server("/app/")
    assert page.evaluate("localStorage.getItem('kairos.participant_token')")
    check_accessibility(page)
    page.get_by_role("button", name="Continue").click()

    prompt = page.get_by_role("button", name=re.compile(r"^Check-in from 10:00"))
    expect(prompt).to_contain_text("Open for 59 more minutes (until 11:00)")
    check_accessibility(page)
    screenshot(page, "app-home", "app")
    prompt.click()
    expect(page.get_by_role("heading", name="Check-in", exact=True, level=1)).to_be_visible()
    assert session.get_one(Prompt, prompt_id).opened_at == START

    # Untouched sliders are unanswered, not at their middle: sending asks for them.
    risk = page.get_by_label(QUESTIONS["en"]["risk"], exact=True)
    expect(risk).to_have_attribute("aria-valuetext", re.compile("^Not answered"))
    answer(page, {"emotion_avoid": 30}, QUESTIONS["en"])
    expect(page.get_by_label(QUESTIONS["en"]["emotion_avoid"])).to_have_attribute(
        "aria-valuetext", re.compile(r"^30 of 100")
    )
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("alert")).to_contain_text("Some answers are missing")
    expect(risk).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#error-risk")).to_have_text("Problem: This question needs an answer")
    assert checkins_of(session, participant) == []
    check_accessibility(page)

    answer(page, FUSED, QUESTIONS["en"])
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SKILL_TITLES)
    expect(page.get_by_text(re.compile(r"^Step 1 of \d$"))).to_be_visible()
    check_accessibility(page)
    screenshot(page, "app-skill", "app")
    [checkin] = checkins_of(session, participant)
    assert (checkin.prompt_id, checkin.answers) == (prompt_id, FUSED)
    # Answered at the phone's time, with its offset (Berlin in March: UTC+1).
    assert (checkin.answered_at, checkin.answered_offset_minutes) == (PHONE_TIME, 60)
    assert session.get_one(Prompt, prompt_id).status == PromptStatus.answered

    while page.get_by_role("button", name="Next step").is_visible():
        page.get_by_role("button", name="Next step").click()
    page.get_by_role("button", name="I am done").click()
    expect(page.get_by_role("heading", name="How was it?", level=1)).to_be_visible()
    page.get_by_role("group", name="Did you do the skill?").get_by_label("Yes").check()
    page.get_by_role("group", name="How helpful was it?").get_by_label("8", exact=True).check()
    page.get_by_label("How distressed do you feel now?").fill("25")
    check_accessibility(page)
    screenshot(page, "app-feedback", "app")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("heading", name="Thank you", level=1)).to_be_visible()
    check_accessibility(page)

    delivery = session.exec(select(Delivery).where(Delivery.checkin_id == checkin.id)).one()
    assert delivery.skill_key in ("having_the_thought", "leaves_on_stream")
    assert (delivery.opened_at, delivery.completed_at) == (START, START)
    assert (delivery.helpfulness, delivery.distress_after) == (8, 25)


def count_checkins(session: Session, participant: dict[str, Any]) -> int:
    return len(checkins_of(session, participant))


@sqlite_only
def test_a_check_in_answered_offline_waits_and_is_stored_once_back_online(
    enrolled: tuple[Page, dict[str, Any]],
    context: BrowserContext,
    session: Session,
) -> None:
    page, person = enrolled
    # The service worker controls the app (it keeps the shell and the questionnaire).
    _wait_for_service_worker(page)

    context.set_offline(True)
    check_in_offline(page)
    waiting = page.get_by_role("region", name="Waiting to be sent")
    expect(waiting.get_by_role("listitem")).to_have_text(
        re.compile(r"^Check-in answered .*10:01: waiting to be sent$")
    )
    expect(page.get_by_text(re.compile("^You are offline"))).to_be_visible()
    check_accessibility(page)
    screenshot(page, "app-waiting", "app")
    assert count_checkins(session, person) == 0
    context.set_offline(False)  # the online event sends it, and the skill follows
    expect(page.get_by_role("heading", name=SKILL_TITLES, level=1)).to_be_visible()
    assert count_checkins(session, person) == 1

    # A start offline: the shell and the questionnaire come from the service worker, the
    # waiting check-in from the phone's outbox.
    page.get_by_role("button", name="Home").click()
    context.set_offline(True)
    page.reload()
    check_in_offline(page)
    page.reload()
    expect(waiting.get_by_role("listitem")).to_have_count(1)
    context.set_offline(False)
    expect(page.get_by_role("heading", name=SKILL_TITLES, level=1)).to_be_visible()
    assert count_checkins(session, person) == 2
    page.reload()  # the start sends what waits: nothing does
    expect(page.get_by_role("heading", name="Your check-ins", level=1)).to_be_visible()
    expect(waiting).to_have_count(0)
    assert count_checkins(session, person) == 2


@sqlite_only
def test_a_prompts_check_in_sent_after_its_expiry_is_stored_once_as_late(
    phone: Page,
    context: BrowserContext,
    live_server: LiveServer,
    db: Engine,
    session: Session,
    clock: FrozenClock,
    study: dict[str, Any],
    participant: dict[str, Any],
) -> None:
    page = phone
    prompt_id = open_prompt(db, study, participant)
    enroll_by_link(page, live_server, participant)
    _wait_for_service_worker(page)
    page.get_by_role("button", name=re.compile(r"^Check-in from 10:00")).click()
    expect(page.get_by_role("heading", name="Check-in", exact=True, level=1)).to_be_visible()

    context.set_offline(True)
    answer(page, FUSED, QUESTIONS["en"])
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", name="Saved on this phone", level=1)).to_be_visible()
    # The prompt closes (11:00) while the phone is offline; the answer still goes out.
    clock.set(START + timedelta(hours=2))
    context.set_offline(False)
    expect(page.get_by_role("heading", level=1)).to_have_text(SKILL_TITLES)
    [checkin] = checkins_of(session, participant)
    assert (checkin.prompt_id, checkin.answered_at, checkin.late) == (prompt_id, PHONE_TIME, True)
    page.reload()  # the start sends what waits: nothing does
    expect(page.get_by_role("heading", name="Your check-ins", level=1)).to_be_visible()
    assert len(checkins_of(session, participant)) == 1


def check_in_offline(page: Page) -> None:
    page.get_by_role("button", name="Start a check-in").click()
    answer_short(page)
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", name="Saved on this phone", level=1)).to_be_visible()
    check_accessibility(page)
    page.get_by_role("button", name="Back to my check-ins").click()


@sqlite_only
def test_a_risk_answer_shows_the_crisis_resources_before_anything_else(
    enrolled: tuple[Page, dict[str, Any]],
    session: Session,
) -> None:
    page, person = enrolled
    page.get_by_role("button", name="Start a check-in").click()
    check_accessibility(page)
    screenshot(page, "app-checkin", "app")
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("alert")).to_contain_text("Some answers are missing")
    screenshot(page, "app-checkin-unanswered", "app")
    answer_short(page, risk=85)
    page.get_by_role("button", name="Send my answers").click()

    expect(page.get_by_role("heading", name="Please reach out for support now")).to_be_visible()
    expect(page.get_by_text(CRISIS["text"])).to_be_visible()
    call = page.get_by_role("link", name="Call +49 800 111 0111")
    expect(call).to_have_attribute("href", "tel:+498001110111")
    expect(page.get_by_role("link", name=f"Open {CRISIS['url']}")).to_have_attribute(
        "href", CRISIS["url"]
    )
    # Nothing else on the screen: no navigation, no skill.
    expect(page.get_by_role("navigation")).to_be_hidden()
    expect(page.get_by_text(re.compile("^Step 1"))).to_have_count(0)
    check_accessibility(page)
    screenshot(page, "app-crisis", "app")
    page.get_by_role("button", name="I have read this").click()
    expect(page.get_by_role("heading", name="Your check-ins", level=1)).to_be_visible()
    [checkin] = checkins_of(session, person)
    assert checkin.answers["risk"] == 85


@sqlite_only
def test_switching_the_language_switches_the_apps_questions_and_skills(
    enrolled: tuple[Page, dict[str, Any]],
    client: TestClient,
) -> None:
    page, _ = enrolled
    page.get_by_role("button", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    expect(page.get_by_text(re.compile("^This study sends no reminders"))).to_be_visible()
    check_accessibility(page)
    screenshot(page, "app-settings", "app")

    page.get_by_label("Language of the app and the questions").select_option("es")
    page.get_by_role("region", name="Language").get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Ajustes", level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    check_accessibility(page)
    page.get_by_role("button", name="Inicio").click()
    page.get_by_role("button", name="Empezar un registro").click()
    expect(page.get_by_label(SHORT_QUESTIONS["es"]["cognition_fused"], exact=True)).to_be_visible()
    answer_short(page, locale="es")
    page.get_by_role("button", name="Enviar mis respuestas").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile("^(Estoy teniendo el pensamiento de que|Pensamientos en un arroyo)")
    )
    expect(page.get_by_text(re.compile(r"^Paso 1 de \d$"))).to_be_visible()
    check_accessibility(page)
    screenshot(page, "app-skill-es", "app")
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {token_of(page)}"}).json()
    assert me["locale"] == "es"


def token_of(page: Page) -> str:
    return str(page.evaluate("localStorage.getItem('kairos.participant_token')"))


@sqlite_only
def test_a_withdrawn_participants_app_says_so_and_stops(
    enrolled: tuple[Page, dict[str, Any]],
    client: TestClient,
    owner: dict[str, str],
    short_study: dict[str, Any],
) -> None:
    page, person = enrolled
    # The service worker's first load done: no request of the app's own races the reload.
    _wait_for_service_worker(page)
    withdrawn = client.post(
        f"/v1/studies/{short_study['id']}/participants/{person['id']}/status",
        json={"status": "withdrawn", "reason": "asked to stop"},
        headers=owner,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    page.reload()
    expect(page.get_by_role("heading", name="You have left the study", level=1)).to_be_visible()
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("caches.has('kairos-api')") is False
    expect(page.get_by_role("button")).to_have_count(0)  # nothing left to do
    check_accessibility(page)
    screenshot(page, "app-withdrawn", "app")


@sqlite_only
def test_a_tap_on_a_notification_opens_its_prompt(
    phone: Page,
    context: BrowserContext,
    live_server: LiveServer,
    db: Engine,
    session: Session,
    study: dict[str, Any],
    participant: dict[str, Any],
) -> None:
    page = phone
    enroll_by_link(page, live_server, participant)
    prompt_id = open_prompt(db, study, participant)
    _wait_for_service_worker(page)
    [worker] = context.service_workers
    context.grant_permissions(["notifications"], origin=live_server.url)
    worker.evaluate(
        """async (promptId) => {
            await self.registration.showNotification("Time for a check-in", {
                body: "How are you right now?",
                data: {prompt_id: promptId, link: `/app/#prompt=${promptId}`},
            });
            const [notification] = await self.registration.getNotifications();
            self.dispatchEvent(new NotificationEvent("notificationclick", {notification}));
        }""",
        str(prompt_id),
    )
    expect(page.get_by_role("heading", name="Check-in", exact=True, level=1)).to_be_visible()
    expect(page.get_by_label(QUESTIONS["en"]["risk"], exact=True)).to_be_visible()
    assert session.get_one(Prompt, prompt_id).opened_at == START


@sqlite_only
def test_enroll_by_typing_the_code_set_preferences_download_the_data_and_sign_out(
    phone: Page,
    live_server: LiveServer,
    client: TestClient,
    owner: dict[str, str],
    short_study: dict[str, Any],
) -> None:
    page = phone
    person = new_participant(client, owner, short_study)
    page.goto(live_server("/app"))
    expect(page.get_by_role("heading", name="Join your study", level=1)).to_be_visible()
    code = page.get_by_label("Enrollment code")
    code.fill("WRONG-CODE")
    page.get_by_role("button", name="Join the study").click()
    expect(page.get_by_role("alert")).to_contain_text("This code did not work")
    expect(code).to_have_attribute("aria-invalid", "true")
    check_accessibility(page)
    screenshot(page, "app-enroll", "app")
    code.fill(person["code"])
    code.press("Enter")  # by keyboard
    expect(page.get_by_role("heading", name="Welcome", level=1)).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    headers = {"Authorization": f"Bearer {token_of(page)}"}

    page.get_by_role("button", name="Settings").click()
    hours = page.get_by_role("region", name="Waking hours")
    hours.get_by_label("I usually wake up at").fill("06:45")
    hours.get_by_label("I usually go to sleep at").fill("23:30")
    hours.get_by_role("button", name="Save").click()
    expect(hours.get_by_role("status")).to_have_text("Saved.")
    assert client.get("/v1/me/waking-hours", headers=headers).json() == {
        "wake": "06:45:00",
        "sleep": "23:30:00",
    }

    skills = page.get_by_role("region", name="Skills I like")
    skills.get_by_label("What I most want to work on").select_option(label="Thoughts")
    skills.get_by_label("Breathing").select_option("preferred")
    skills.get_by_text(re.compile(r"^Skills one by one")).click()
    skills.get_by_label("Thoughts on a stream").select_option("disabled")
    skills.get_by_label("Feet on the floor").select_option("disliked")
    check_accessibility(page)
    skills.get_by_role("button", name="Save").click()
    expect(skills.get_by_role("status")).to_have_text("Saved.")
    saved = client.get("/v1/me/preferences", headers=headers).json()
    assert saved["preferred_modalities"] == ["breathing"]
    assert saved["preferred_dimension"] == "cognition"
    assert (saved["disabled_skills"], saved["disliked_skills"]) == (
        ["leaves_on_stream"],
        ["feet_on_floor"],
    )

    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    assert download.value.suggested_filename == "kairos-my-data.json"
    data = json.loads(Path(download.value.path()).read_text())
    assert data["participant"]["id"] == person["id"]

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text(re.compile("^After signing out you need a new code"))).to_be_visible()
    check_accessibility(page)
    page.get_by_role("button", name="Sign out of this phone").click()
    expect(page.get_by_role("heading", name="Join your study", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("ask the study team for a new code")
    assert page.evaluate("localStorage.length") == 0
    assert client.get("/v1/me", headers=headers).status_code == 200  # the token stays valid


@sqlite_only
def test_with_the_studys_firebase_web_app_the_app_offers_reminders_and_loads_the_sdk(
    phone: Page,
    context: BrowserContext,
    live_server: LiveServer,
    client: TestClient,
    owner: dict[str, str],
    study: dict[str, Any],
    participant: dict[str, Any],
) -> None:
    page = phone
    configured = client.put(f"/v1/studies/{study['id']}/web-push", json=WEB_PUSH, headers=owner)
    assert configured.status_code == 200, configured.text
    left: list[str] = []  # nothing reaches Firebase from a test
    context.route(
        re.compile(r"^https://[^/]*googleapis\.com/"),
        lambda r: (left.append(r.request.url), r.abort()),
    )
    context.grant_permissions(["notifications"], origin=live_server.url)
    page.goto(live_server(f"/app/enroll#code={participant['code']}"))
    expect(page.get_by_text(re.compile("^Turn on reminders, and your phone"))).to_be_visible()
    check_accessibility(page)
    page.get_by_role("button", name="Turn on reminders").click()
    expect(page.get_by_role("heading", name="Your check-ins", level=1)).to_be_visible()
    # The vendored SDK ran under the CSP with the study's config (this browser has no push
    # service to give it a token).
    assert page.evaluate("firebase.app().options") == WEB_PUSH["firebase_config"]
    page.get_by_role("button", name="Settings").click()
    reminders = page.get_by_role("region", name="Reminders")
    expect(reminders).to_contain_text(
        "Reminders are allowed, but this phone could not be registered"
    )
    expect(reminders.get_by_role("button", name="Turn on reminders")).to_be_visible()
