"""Browser tests: Playwright driving Debian's Chromium against a live server (uvicorn in a
thread, serving create_app on the test database of each backend).

Helpers for every console test: `live_server` (its base URL), `console_page` (a page that
fails its test on any Content-Security-Policy violation, with axe-core loaded),
`staff_account` and `sign_in`, `check_accessibility` (axe-core, failing on serious or
critical violations) and `screenshot` (to test-artifacts/, and docs/console/ when
KAIROS_DOCS_SCREENSHOTS=1; docs/app/ for the participant app's). See app/console/README.md."""

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlalchemy import Engine

from app.auth import service as auth_service
from app.clock import FrozenClock
from app.db import unit_of_work
from app.main import create_app
from app.settings import Settings
from tests.conftest import PASSWORD, REQUIRE_POSTGRES

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).parent.parent.parent
AXE = Path(__file__).parent / "vendor" / "axe-core@4.14.1" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("KAIROS_TEST_ARTIFACTS", ROOT / "test-artifacts"))
DOCS = ROOT / "docs"
# Only the backend a test names (the other one adds nothing for it).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    if REQUIRE_POSTGRES:  # CI: a missing browser fails the run instead of skipping it
        raise pytest.UsageError(
            f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium "
            "fonts-liberation (.ci/run does)"
        )
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (Debian's chromium package)")
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # Playwright cannot download its own browser here: Debian's Chromium instead.
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM)}


class LiveServer:
    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app

    def __call__(self, path: str = "") -> str:
        return self.url + path


@pytest.fixture
def live_server(db: Engine, settings: Settings, clock: FrozenClock) -> Iterator[LiveServer]:
    """The app on 127.0.0.1 at a free port, on this test's database and clock."""
    app = create_app(settings, db, clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", app)
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.fixture
def console_page(page: Page) -> Iterator[Page]:
    """A page with axe-core loaded into every document (by the browser's own init script,
    which no CSP blocks), failing its test on any Content-Security-Policy violation."""
    violations: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", watch)
    page.add_init_script(path=str(AXE))
    page.set_default_timeout(15_000)
    yield page
    assert violations == [], f"CSP violations: {violations}"


@pytest.fixture
def staff_account(db: Engine, settings: Settings, clock: FrozenClock) -> Callable[..., str]:
    """Create a staff account (password tests.conftest.PASSWORD); returns its email."""

    def make(email: str | None = None, full_name: str | None = None) -> str:
        email = email or f"{uuid.uuid4().hex[:8]}@example.org"
        with unit_of_work(db) as session:
            auth_service.create_user(
                session,
                settings,
                email=email,
                password=PASSWORD,
                full_name=full_name,
                now=clock.now(),
            )
        return email

    return make


def sign_in(page: Page, server: LiveServer, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto(server("/console/sign-in"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def check_accessibility(page: Page) -> None:
    """axe-core on the page as it is now: fail on any serious or critical violation."""
    result = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)"
    )
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(", ".join(node["target"]) for node in v["nodes"])
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{page.url}: " + "\n".join(serious)


def screenshot(page: Page, name: str, folder: str = "console") -> Path:
    """A full-page PNG in test-artifacts/<folder>/ (and docs/<folder>/ for the README when
    KAIROS_DOCS_SCREENSHOTS=1): `console`, or `app` for the participant app."""
    path = ARTIFACTS / folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("KAIROS_DOCS_SCREENSHOTS") == "1":
        docs = DOCS / folder
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, docs / f"{name}.png")
    return path
