"""The participant app's files as served: the shell at /app, /app/ and /app/enroll, the
service worker at /app/sw.js (scope /app/), every file revalidated (`no-cache` with an ETag
of its content, 304 when unchanged), the strict Content-Security-Policy, and a service
worker whose offline shell names every file of the app."""

import json
import re

import pytest
from fastapi.testclient import TestClient

from app.participant_app import WEB

# The files do not depend on the database: one backend is enough.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@sqlite_only
@pytest.mark.parametrize("path", ["/app", "/app/", "/app/enroll"])
def test_the_shell_is_served_at_the_apps_entry_points(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/app/js/main.js"></script>' in response.text
    assert response.headers["cache-control"] == "no-cache"
    etag = response.headers["etag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


@sqlite_only
def test_every_response_under_app_carries_the_strict_policy(client: TestClient) -> None:
    for path in ("/app/", "/app/sw.js", "/app/js/main.js", "/app/no-such-file.js"):
        headers = client.get(path).headers
        policy = dict(
            part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";")
        )
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        assert policy["worker-src"] == "'self'" and policy["manifest-src"] == "'self'"
        assert policy["connect-src"].split() == [
            "'self'",
            "https://firebaseinstallations.googleapis.com",
            "https://fcmregistrations.googleapis.com",
        ]
        assert policy["frame-ancestors"] == "'none'"
        assert headers["x-content-type-options"] == "nosniff"
    # The API keeps its own headers: no-store, no app policy.
    assert "content-security-policy" not in client.get("/v1/health").headers


@sqlite_only
def test_the_service_worker_the_manifest_and_the_modules(client: TestClient) -> None:
    worker = client.get("/app/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["cache-control"] == "no-cache" and worker.headers["etag"]
    # At /app/sw.js its default (and largest) scope is /app/, the manifest's scope.
    manifest = client.get("/app/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    assert (manifest.json()["scope"], manifest.json()["start_url"]) == ("/app/", "/app/")
    for icon in manifest.json()["icons"]:
        assert client.get(icon["src"]).status_code == 200
    module = client.get("/app/js/screens/checkin.js")
    assert module.headers["content-type"].startswith("text/javascript")
    assert client.get("/app/locales/es.json").json()["nav.home"] == "Inicio"
    assert client.get("/app/../main.py").status_code == 404
    assert client.get("/app/js").status_code == 404


def test_the_offline_shell_names_every_file_of_the_app() -> None:
    source = (WEB / "sw.js").read_text()
    listed = re.search(r"const SHELL = \[(.*?)\];", source, re.S)
    assert listed is not None
    shell = set(re.findall(r'"([^"]+)"', listed[1]))
    files = {
        "/app/" + str(path.relative_to(WEB))
        for path in WEB.rglob("*")
        if path.is_file() and "vendor" not in path.parts
    }
    assert shell == (files - {"/app/index.html", "/app/sw.js"}) | {"/app/"}


def test_the_english_and_spanish_words_have_the_same_keys() -> None:
    en, es = (json.loads((WEB / "locales" / f"{name}.json").read_text()) for name in ("en", "es"))
    assert en.keys() == es.keys()
