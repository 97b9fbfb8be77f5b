"""What every response carries and how the server refuses at the edge: security headers,
oversized bodies over a real socket, logs that keep database values out."""

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api.deps import SessionDep
from app.auth.models import StaffUser
from app.clock import FrozenClock
from app.main import create_app
from app.settings import Settings
from tests.conftest import PASSWORD


@pytest.fixture
def served(db: Engine, settings: Settings, clock: FrozenClock) -> Iterator[tuple[str, int]]:
    """The app behind a real uvicorn server on a free port of 127.0.0.1."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(settings, db, clock), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield listener.getsockname()
    server.should_exit = True
    thread.join(timeout=10)


def _exchange(address: tuple[str, int], head: bytes, body: bytes) -> bytes:
    """Send the request's head and its whole body, and only then read the answer."""
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(head + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and received.endswith(b"}"):
                break
        return received


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_oversized_body_written_before_reading_gets_its_413(
    served: tuple[str, int], settings: Settings, framing: str
) -> None:
    size = 20_000_000
    body = b" " * size
    if framing == "chunked":
        step = 16_000
        body = b"".join(
            f"{step:x}\r\n".encode() + body[i : i + step] + b"\r\n" for i in range(0, size, step)
        )
        body += b"0\r\n\r\n"
        length = b"Transfer-Encoding: chunked"
    else:
        length = f"Content-Length: {size}".encode()
    head = (
        b"POST /v1/studies HTTP/1.1\r\nHost: kairos\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n" + length + b"\r\n\r\n"
    )
    answer = _exchange(served, head, body)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"code":"payload_too_large"' in answer.replace(b" ", b"")


def test_every_response_says_nosniff_and_no_store(
    client: TestClient, owner: dict[str, str], enroll: Callable, make_study: Callable
) -> None:
    participant = enroll(make_study()["id"])
    token = client.post(
        "/v1/auth/token", data={"username": "owner@example.org", "password": PASSWORD}
    )
    responses = {
        "token": token,
        "staff read": client.get("/v1/users/me", headers=owner),
        "personal data": client.get("/v1/me/data", headers=participant["headers"]),
        "participant read": client.get("/v1/me", headers=participant["headers"]),
        "refused sign-in": client.post(
            "/v1/auth/token", data={"username": "owner@example.org", "password": "wrong one"}
        ),
        "unauthenticated": client.get("/v1/studies"),
        "invalid body": client.post("/v1/studies", json={"name": 7}, headers=owner),
        "unknown path": client.get("/no/such/path"),
        "health": client.get("/health"),
    }
    assert token.status_code == 200
    for what, response in responses.items():
        assert response.headers["x-content-type-options"] == "nosniff", what
        assert response.headers["cache-control"] == "no-store", what
    assert token.headers["pragma"] == "no-cache"


def test_a_database_error_logs_no_bound_value(
    db: Engine, settings: Settings, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A unique violation deep in a request: neither SQLAlchemy's statement log nor our
    500's log shows the values (PostgreSQL's own message names the duplicate key's)."""
    app = create_app(settings, db, clock)
    marker = "leaky-value-4711@example.org"

    @app.post("/duplicate-staff")
    def duplicate_staff(session: SessionDep) -> None:
        for _ in range(2):
            session.add(StaffUser(email=marker, password_hash="x", created_at=clock.now()))
            session.flush()

    caplog.set_level(logging.DEBUG)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/duplicate-staff")
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"
    logged = "\n".join(
        record.getMessage() + (caplog.handler.formatter or logging.Formatter()).format(record)
        for record in caplog.records
    )
    assert "Unhandled error in POST /duplicate-staff" in logged
    assert "IntegrityError" in logged or "UniqueViolation" in logged
    assert "INSERT INTO staff_user" in logged
    assert marker not in logged
