"""Password hashing (Argon2 via pwdlib) and staff JWTs (PyJWT)."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.errors import Unauthorized
from app.settings import Settings


def password_hasher(settings: Settings) -> PasswordHash:
    return PasswordHash(
        (
            Argon2Hasher(
                time_cost=settings.password_time_cost,
                memory_cost=settings.password_memory_kib,
                parallelism=1,
            ),
        )
    )


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
