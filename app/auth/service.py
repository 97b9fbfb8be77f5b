import uuid
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, func, select

from app.audit import service as audit
from app.auth.models import LoginFailure, StaffUser
from app.auth.security import password_hasher, read_access_token
from app.db import lock_keys
from app.errors import Conflict, Problem, TooManyRequests, Unauthorized
from app.settings import Settings
from app.types import normalize_email

# A fixed hash to verify against when the account does not exist, so timing does not tell.
_ABSENT_USER_PASSWORD = "no such account"


def create_user(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    full_name: str | None,
    now: datetime,
) -> StaffUser:
    email = normalize_email(email)
    if session.exec(select(StaffUser).where(StaffUser.email == email)).first():
        raise Conflict(f"A staff account for {email} exists already", code="user_exists")
    user = StaffUser(
        email=email,
        full_name=full_name,
        password_hash=password_hasher(settings).hash(password),
        created_at=now,
    )
    session.add(user)
    audit.record(
        session,
        audit.SYSTEM,
        "user.create",
        at=now,
        resource_type="staff_user",
        resource_id=user.id,
        details={"email": email},
    )
    return user


def _recent_failures(session: Session, column: object, value: str, since: datetime) -> int:
    query = select(func.count()).select_from(LoginFailure).where(column == value)
    return session.exec(query.where(LoginFailure.at >= since)).one()


def authenticate(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    client_address: str,
    now: datetime,
) -> StaffUser | Problem:
    """The staff user for these credentials, or why they are refused: a refusal is returned,
    not raised, because the attempt it records (a failure that counts toward the limits, and
    its audit event) must be committed with the refusal."""
    email = normalize_email(email)
    since = now - timedelta(seconds=settings.login_window_seconds)
    # Count and record this attempt as a failure under one lock held to the commit: parallel
    # guesses on one account or address are counted one after another.
    lock_keys(session, f"login.account:{email}", f"login.address:{client_address}")
    by_account = _recent_failures(session, LoginFailure.email, email, since)
    by_address = _recent_failures(session, LoginFailure.client_address, client_address, since)
    if (
        by_account >= settings.login_max_failures_per_account
        or by_address >= settings.login_max_failures_per_address
    ):
        audit.record(
            session,
            audit.Actor("anonymous", None),
            "auth.login_throttled",
            at=now,
            resource_type="staff_user",
            details={"email": email, "client_address": client_address},
        )
        return TooManyRequests(
            "Too many failed sign-ins; try again later", retry_after=settings.login_window_seconds
        )
    session.add(LoginFailure(email=email, client_address=client_address, at=now))
    user = session.exec(select(StaffUser).where(StaffUser.email == email)).first()
    hasher = password_hasher(settings)
    if user is None:
        hasher.verify(_ABSENT_USER_PASSWORD, hasher.hash(_ABSENT_USER_PASSWORD))
        valid = False
    else:
        valid = user.is_active and hasher.verify(password, user.password_hash)
    if not valid:
        audit.record(
            session,
            audit.Actor("anonymous", None),
            "auth.login_failed",
            at=now,
            resource_type="staff_user",
            resource_id=user.id if user else None,
            details={"email": email, "client_address": client_address},
        )
        return Unauthorized("Incorrect email or password", code="invalid_credentials")
    assert user is not None
    # A success clears the account's failures, this attempt's among them.
    session.exec(delete(LoginFailure).where(col(LoginFailure.email) == email))
    audit.record(
        session,
        audit.Actor("staff", str(user.id)),
        "auth.login",
        at=now,
        resource_type="staff_user",
        resource_id=user.id,
        details={"client_address": client_address},
    )
    return user


def staff_for_token(session: Session, settings: Settings, token: str, now: datetime) -> StaffUser:
    user_id: uuid.UUID = read_access_token(settings, token, now)
    user = session.get(StaffUser, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The access token is not valid", code="invalid_token")
    return user


def staff_by_email(session: Session, email: str) -> StaffUser | None:
    return session.exec(select(StaffUser).where(StaffUser.email == normalize_email(email))).first()
