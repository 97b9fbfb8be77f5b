"""The console's shell without a browser: the session cookie, CSRF, the sign-in limits it
shares with /v1/auth/token, expiry and sign-out, headers, static files, error pages, and
every English text of a template translated."""

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from jinja2 import Environment
from sqlmodel import Session, col, select
from starlette.routing import Match

from app.audit.models import AuditEvent
from app.auth import service as auth_service
from app.clock import FrozenClock
from app.console import i18n
from app.console.forms import Form
from app.console.pages import ROUTERS
from app.console.static import VENDOR, static_url
from app.console.templating import TEMPLATES
from app.db import unit_of_work
from app.settings import Settings
from tests.conftest import PASSWORD
from tests.console_client import console_sign_in, csrf_of


@pytest.fixture
def staff(db: object, settings: Settings, clock: FrozenClock) -> Callable[[str], str]:
    def make(email: str) -> str:
        with unit_of_work(db) as session:  # type: ignore[arg-type]
            auth_service.create_user(
                session, settings, email=email, password=PASSWORD, full_name=None, now=clock.now()
            )
        return email

    return make


def test_the_session_cookie_is_http_only_strict_and_secure_over_https(
    db: object, settings: Settings, clock: FrozenClock, staff: Callable[[str], str]
) -> None:
    from app.main import create_app

    staff("a@example.org")
    with TestClient(create_app(settings, db, clock), base_url="https://testserver") as client:  # type: ignore[arg-type]
        page = client.get("/console/sign-in")
        response = client.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(page.text), "email": "a@example.org", "password": PASSWORD},
            follow_redirects=False,
        )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("kairos_console=")
    for flag in ("HttpOnly", "SameSite=strict", "Secure", "Path=/console", "Max-Age=28800"):
        assert flag in cookie


def test_over_plain_http_the_cookie_is_not_secure(
    client: TestClient, staff: Callable[[str], str]
) -> None:
    staff("a@example.org")
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(page.text), "email": "a@example.org", "password": PASSWORD},
        follow_redirects=False,
    )
    assert "Secure" not in response.headers["set-cookie"]


def test_a_form_without_its_csrf_token_is_refused(
    client: TestClient, staff: Callable[[str], str], session: Session
) -> None:
    staff("a@example.org")
    refused = client.post("/console/sign-in", data={"email": "a@example.org", "password": PASSWORD})
    assert refused.status_code == 403
    assert "security token" in refused.text
    token = console_sign_in(client, "a@example.org")
    assert client.post("/console/sign-out", data={}).status_code == 403
    assert client.post("/console/sign-out", data={"csrf_token": token + "x"}).status_code == 403
    # Still signed in: the refused sign-out changed nothing.
    assert client.get("/console/studies").status_code == 200


def test_sign_out_revokes_the_session_and_both_are_audited(
    client: TestClient, staff: Callable[[str], str], session: Session
) -> None:
    staff("a@example.org")
    token = console_sign_in(client, "a@example.org")
    cookie = client.cookies.get("kairos_console")
    response = client.post("/console/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    client.cookies.set("kairos_console", cookie, path="/console")
    again = client.get("/console/studies", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fstudies"
    actions = list(session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))))
    assert actions[-2:] == ["auth.login", "auth.logout"]


def test_a_session_expires(
    client: TestClient, staff: Callable[[str], str], clock: FrozenClock, settings: Settings
) -> None:
    staff("a@example.org")
    console_sign_in(client, "a@example.org")
    clock.advance(timedelta(hours=settings.console_session_hours) - timedelta(seconds=1))
    assert client.get("/console/studies", follow_redirects=False).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert client.get("/console/studies", follow_redirects=False).status_code == 303


def test_console_and_api_sign_ins_share_their_limits(
    client: TestClient, staff: Callable[[str], str], settings: Settings
) -> None:
    staff("a@example.org")
    csrf = csrf_of(client.get("/console/sign-in").text)
    for _ in range(settings.login_max_failures_per_account_and_address - 1):
        wrong = {"csrf_token": csrf, "email": "a@example.org", "password": "wrong"}
        assert client.post("/console/sign-in", data=wrong).status_code == 401
    api = client.post("/v1/auth/token", data={"username": "a@example.org", "password": "wrong"})
    assert api.status_code == 401
    limited = client.post(
        "/console/sign-in",
        data={"csrf_token": csrf, "email": "a@example.org", "password": PASSWORD},
    )
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in limited.text


def test_every_console_answer_carries_the_security_headers(
    client: TestClient, staff: Callable[[str], str]
) -> None:
    staff("a@example.org")
    console_sign_in(client, "a@example.org")
    for response in (
        client.get("/console/sign-in"),
        client.get("/console/studies"),
        client.get("/console/studies/00000000-0000-0000-0000-000000000000"),
        client.get("/console/nowhere"),
    ):
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in client.get("/v1/health").headers


def test_pages_of_what_you_may_not_see_are_404_pages(
    client: TestClient, staff: Callable[[str], str]
) -> None:
    staff("a@example.org")
    console_sign_in(client, "a@example.org")
    for path in (
        "/console/studies/00000000-0000-0000-0000-000000000000",
        "/console/studies/not-an-id",
        "/console/nowhere",
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "Not found" in response.text
    # The API keeps answering problem+json.
    api = client.get("/v1/studies/not-an-id")
    assert api.headers["content-type"] == "application/problem+json"


def test_static_files_are_versioned_and_immutable(client: TestClient) -> None:
    for name in (*VENDOR.values(), "console.css"):
        response = client.get(static_url(name))
        assert response.status_code == 200, name
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = static_url("console.css").replace("/static/", "/static/0", 1)
    assert client.get(stale).status_code == 404
    assert client.get("/console/static/x/../../main.py").status_code == 404


def test_the_language_comes_from_the_cookie_then_the_browser() -> None:
    assert i18n.choose_language(None, "es-MX,es;q=0.9,en;q=0.8") == "es"
    assert i18n.choose_language(None, "de-DE,en;q=0.1,es;q=0.5") == "es"
    assert i18n.choose_language(None, "de-DE, fr;q=0.5") == "en"
    assert i18n.choose_language("en", "es") == "en"
    assert i18n.choose_language("xx", "es;q=0") == "en"


def test_every_template_text_has_a_spanish_translation() -> None:
    env = Environment(extensions=["jinja2.ext.i18n"])
    catalogue = i18n.catalogue("es")
    # A call with values (`_("Arm %(n)s", n=i)`) extracts as a tuple, None for each value.
    texts = [
        (f"{path.relative_to(TEMPLATES)}:{line}", text)
        for path in sorted(TEMPLATES.rglob("*.html"))
        for line, _function, message in env.extract_translations(path.read_text())
        for text in (message if isinstance(message, tuple) else (message,))
        if isinstance(text, str)
    ]
    assert len(texts) > 20
    assert [(where, text) for where, text in texts if text not in catalogue] == []


def test_a_form_is_read_into_the_shape_of_the_api_body() -> None:
    form = Form(
        values={
            "name": "Trial",
            "arms[0].key": "a",
            "arms[0].weight": "2",
            "arms[2].key": "c",
            "arms[3].key": "",
            "block_size": "",
        }
    )
    assert form.rows("arms", ["key"]) == 2
    assert form.data() == {"name": "Trial", "arms": [{"key": "a", "weight": "2"}, {"key": "c"}]}


def test_every_console_route_is_reached_by_its_own_paths() -> None:
    """No route's path pattern swallows another's: a concrete path for each console route,
    with every parameter filled in, reaches that route first (a catch-all such as
    POST /console/studies/{id}/{transition} once took every page's forms under a study)."""
    routes = [route for router in ROUTERS for route in router.routes]
    pages = [route for route in routes if isinstance(route, APIRoute)]
    assert len(pages) > 20
    for route in pages:
        path = re.sub(r"\{[^}]+\}", "3f0e7a52-6c1e-4d5b-9a7e-1b2c3d4e5f60", route.path)
        for method in sorted(route.methods):
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            first = next(r for r in routes if r.matches(scope)[0] == Match.FULL)
            assert first is route, f"{method} {path} reaches {first.path}, not {route.path}"
