from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from app.auth.models import LoginFailure
from app.auth.security import hash_work
from app.cli import server_config
from app.clock import FrozenClock
from app.main import create_app
from app.settings import Settings
from tests.conftest import PASSWORD


def sign_in(client: TestClient, email: str, password: str):
    return client.post("/v1/auth/token", data={"username": email, "password": password})


def test_sign_in_returns_a_short_lived_jwt(
    client: TestClient, make_staff: Callable, settings: Settings
) -> None:
    make_staff("ana@example.org")
    response = sign_in(client, "Ana@Example.org", PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_minutes * 60
    me = client.get("/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["email"] == "ana@example.org"


def test_wrong_password_is_401_and_audited(
    client: TestClient, make_staff: Callable, session: Session
) -> None:
    make_staff("ana@example.org")
    response = sign_in(client, "ana@example.org", "wrong password!")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_credentials"
    actions = [e.action for e in session.exec(select(AuditEvent))]
    assert "auth.login_failed" in actions and "auth.login" in actions


def test_unknown_account_looks_like_a_wrong_password(client: TestClient) -> None:
    response = sign_in(client, "nobody@example.org", "whatever-password")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_sign_in_does_the_same_hash_work_for_unknown_and_known_accounts(
    client: TestClient, make_staff: Callable
) -> None:
    """Timing cannot tell an account exists when both cost exactly one verification."""
    make_staff("ana@example.org")

    def work(email: str) -> tuple[int, int]:
        before = (hash_work.hashes, hash_work.verifications)
        assert sign_in(client, email, "wrong password!").status_code == 401
        return hash_work.hashes - before[0], hash_work.verifications - before[1]

    assert work("ana@example.org") == (0, 1)
    assert work("nobody@example.org") == (0, 1)
    assert work("someone-else@example.org") == (0, 1)


def at_address(client: TestClient, address: str) -> TestClient:
    """Another client of the same app, connecting from `address`."""
    return TestClient(client.app, client=(address, 50000))


def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out(
    client: TestClient, make_staff: Callable, settings: Settings, clock: FrozenClock
) -> None:
    make_staff("ana@example.org")
    stranger = at_address(client, "198.51.100.7")
    for _ in range(settings.login_max_failures_per_account_and_address):
        assert sign_in(stranger, "ana@example.org", "wrong password!").status_code == 401
    refused = sign_in(stranger, "ana@example.org", PASSWORD)
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_requests"
    assert 0 < int(refused.headers["retry-after"]) <= settings.login_window_seconds
    assert sign_in(at_address(client, "203.0.113.20"), "ana@example.org", PASSWORD).status_code == (
        200
    )
    clock.advance(timedelta(seconds=settings.login_window_seconds + 1))
    assert sign_in(stranger, "ana@example.org", PASSWORD).status_code == 200


def test_past_the_account_ceiling_only_addresses_that_failed_wait(
    client: TestClient, make_staff: Callable, settings: Settings, clock: FrozenClock
) -> None:
    make_staff("ana@example.org")
    settings.login_max_failures_per_account = 3
    guessers = [at_address(client, f"198.51.100.{n}") for n in range(3)]
    for guesser in guessers:
        assert sign_in(guesser, "ana@example.org", "wrong password!").status_code == 401
    # The ceiling is reached: an address that failed waits, right password or not...
    again = sign_in(guessers[0], "ana@example.org", PASSWORD)
    assert again.status_code == 429
    assert int(again.headers["retry-after"]) == settings.login_window_seconds
    # ...while the owner, from an address that has not failed, signs in.
    owner = at_address(client, "203.0.113.20")
    assert sign_in(owner, "ana@example.org", PASSWORD).status_code == 200
    # Each new address gets a guess, never a second one while the ceiling holds.
    newcomer = at_address(client, "198.51.100.99")
    assert sign_in(newcomer, "ana@example.org", "wrong password!").status_code == 401
    assert sign_in(newcomer, "ana@example.org", "wrong password!").status_code == 429
    clock.advance(timedelta(seconds=settings.login_window_seconds + 1))
    assert sign_in(guessers[0], "ana@example.org", PASSWORD).status_code == 200


def test_failed_logins_are_rate_limited_per_client_address(
    client: TestClient, make_staff: Callable, settings: Settings
) -> None:
    make_staff("ana@example.org")
    for n in range(settings.login_max_failures_per_address):
        assert sign_in(client, f"guess{n}@example.org", "wrong password!").status_code == 401
    assert sign_in(client, "ana@example.org", PASSWORD).status_code == 429


def test_parallel_wrong_passwords_are_limited_exactly(
    client: TestClient, make_staff: Callable, settings: Settings, session: Session
) -> None:
    make_staff("ana@example.org")
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = Counter(
            pool.map(
                lambda _: sign_in(client, "ana@example.org", "wrong password!").status_code,
                range(30),
            )
        )
    allowed = settings.login_max_failures_per_account_and_address
    assert statuses == {401: allowed, 429: 30 - allowed}
    evaluated = session.exec(select(AuditEvent).where(AuditEvent.action == "auth.login_failed"))
    assert len(list(evaluated)) == allowed


@pytest.mark.parametrize(("trusted", "recorded"), [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.9")])
def test_forwarded_addresses_count_only_from_trusted_proxies(
    db: Engine,
    settings: Settings,
    clock: FrozenClock,
    session: Session,
    trusted: str,
    recorded: str,
) -> None:
    settings.forwarded_allow_ips = trusted
    config = server_config(settings, create_app(settings, db, clock), "127.0.0.1", 0)
    config.load()
    with TestClient(config.loaded_app, client=("127.0.0.1", 50000)) as client:
        client.post(
            "/v1/auth/token",
            data={"username": "ana@example.org", "password": "wrong password!"},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
    assert [f.client_address for f in session.exec(select(LoginFailure))] == [recorded]


def test_expired_token_is_refused(
    client: TestClient, owner: dict, clock: FrozenClock, settings: Settings
) -> None:
    assert client.get("/v1/users/me", headers=owner).status_code == 200
    clock.advance(timedelta(minutes=settings.access_token_minutes, seconds=1))
    response = client.get("/v1/users/me", headers=owner)
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response.headers["www-authenticate"] == "Bearer"


def test_token_for_another_audience_or_issuer_is_refused(
    client: TestClient, make_staff: Callable, settings: Settings
) -> None:
    headers = make_staff()
    token = headers["Authorization"].split()[1]
    other = settings.model_copy(update={"token_audience": "another-api"})
    client.app.state.settings = other
    assert client.get("/v1/users/me", headers=headers).json()["code"] == "invalid_token"
    client.app.state.settings = settings.model_copy(update={"token_issuer": "someone-else"})
    assert (
        client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )


def test_tampered_and_missing_tokens(client: TestClient, owner: dict) -> None:
    token = owner["Authorization"].split()[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (
        client.get("/v1/users/me", headers={"Authorization": f"Bearer {tampered}"}).status_code
        == 401
    )
    missing = client.get("/v1/users/me")
    assert missing.status_code == 401
    assert missing.json()["code"] == "not_authenticated"


def test_passwords_are_stored_as_argon2(session: Session, make_staff: Callable) -> None:
    from app.auth.models import StaffUser

    make_staff("ana@example.org")
    user = session.exec(select(StaffUser)).one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
