"""Password hashing (Argon2 via pwdlib) and staff JWTs (PyJWT)."""

import threading
import uuid
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.errors import Unauthorized
from app.settings import Settings


@cache
def _hasher(time_cost: int, memory_kib: int) -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1),))


def password_hasher(settings: Settings) -> PasswordHash:
    return _hasher(settings.password_time_cost, settings.password_memory_kib)


class HashWork:
    """How many password hashes and verifications this process has computed: the work a
    sign-in does, which must not depend on whether the account exists."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hashes = 0
        self.verifications = 0

    def count(self, *, hashes: int = 0, verifications: int = 0) -> None:
        with self._lock:
            self.hashes += hashes
            self.verifications += verifications


hash_work = HashWork()


def hash_password(settings: Settings, password: str) -> str:
    hash_work.count(hashes=1)
    return password_hasher(settings).hash(password)


def verify_password(settings: Settings, password: str, password_hash: str) -> bool:
    hash_work.count(verifications=1)
    return password_hasher(settings).verify(password, password_hash)


@cache
def _absent_account_hash(time_cost: int, memory_kib: int) -> str:
    hash_work.count(hashes=1)
    return _hasher(time_cost, memory_kib).hash("no such account")


def absent_account_hash(settings: Settings) -> str:
    """A hash to verify against when no account has the email, computed once per cost: an
    unknown account then costs exactly one verification, as a known one does."""
    return _absent_account_hash(settings.password_time_cost, settings.password_memory_kib)


def issue_access_token(settings: Settings, user_id: uuid.UUID, now: datetime) -> tuple[str, int]:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.signing_key, algorithm="HS256")
    return token, int(lifetime.total_seconds())


def read_access_token(settings: Settings, token: str, now: datetime) -> uuid.UUID:
    """The user id in a valid token; expiry is judged against the injected clock."""
    try:
        claims = jwt.decode(
            token,
            settings.signing_key,
            algorithms=["HS256"],
            audience=settings.token_audience,
            issuer=settings.token_issuer,
            # Times are judged below against the injected clock, not the wall clock.
            options={
                "require": ["exp", "iat", "sub", "aud", "iss"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("The access token is not valid", code="invalid_token") from exc
    if claims["exp"] <= now.timestamp():
        raise Unauthorized("The access token has expired", code="token_expired")
    try:
        return uuid.UUID(claims["sub"])
    except ValueError as exc:
        raise Unauthorized("The access token is not valid", code="invalid_token") from exc
