import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, delete, func, select

from app.audit import service as audit
from app.auth.models import LoginFailure, StaffUser
from app.auth.security import (
    absent_account_hash,
    hash_password,
    read_access_token,
    verify_password,
)
from app.db import lock_keys
from app.errors import Conflict, Problem, TooManyRequests, Unauthorized
from app.ratelimit import seconds_until_under
from app.settings import Settings
from app.types import normalize_email


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
        password_hash=hash_password(settings, password),
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


def _failure_times(session: Session, since: datetime, *conditions: Any) -> list[datetime]:
    query = select(LoginFailure.at).where(col(LoginFailure.at) >= since, *conditions)
    return list(session.exec(query.order_by(col(LoginFailure.at))))


def _refusal(
    session: Session, settings: Settings, email: str, client_address: str, now: datetime
) -> int | None:
    """Seconds to wait if this address may not try this account now, else None.

    An address is limited by its own failures, on this account and on all; the account's
    failures from every address together never refuse an address that has not failed on
    it, so a stranger guessing from elsewhere cannot lock the owner out."""
    window = settings.login_window_seconds
    since = now - timedelta(seconds=window)
    by_address = _failure_times(session, since, LoginFailure.client_address == client_address)
    if len(by_address) >= settings.login_max_failures_per_address:
        return seconds_until_under(by_address, settings.login_max_failures_per_address, window, now)
    by_pair = _failure_times(
        session,
        since,
        LoginFailure.client_address == client_address,
        LoginFailure.email == email,
    )
    if len(by_pair) >= settings.login_max_failures_per_account_and_address:
        limit = settings.login_max_failures_per_account_and_address
        return seconds_until_under(by_pair, limit, window, now)
    if by_pair:
        by_account = session.exec(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.email == email, col(LoginFailure.at) >= since)
        ).one()
        if by_account >= settings.login_max_failures_per_account:
            # Over the account's ceiling, an address that has failed on it waits until its
            # failures have left the window; fresh addresses still get their tries.
            return seconds_until_under(by_pair, 1, window, now)
    return None


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
    # Count and record this attempt as a failure under one lock held to the commit: parallel
    # guesses on one account or address are counted one after another.
    lock_keys(session, f"login.account:{email}", f"login.address:{client_address}")
    wait = _refusal(session, settings, email, client_address, now)
    if wait is not None:
        audit.record(
            session,
            audit.Actor("anonymous", None),
            "auth.login_throttled",
            at=now,
            resource_type="staff_user",
            details={"email": email, "client_address": client_address},
        )
        return TooManyRequests("Too many failed sign-ins; try again later", retry_after=wait)
    session.add(LoginFailure(email=email, client_address=client_address, at=now))
    user = session.exec(select(StaffUser).where(StaffUser.email == email)).first()
    # One verification whether or not the account exists (and whether or not it is
    # active): the time taken does not tell.
    stored_hash = user.password_hash if user else absent_account_hash(settings)
    matches = verify_password(settings, password, stored_hash)
    if user is None or not user.is_active or not matches:
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
    # A success clears this address's failures on the account, this attempt's among them;
    # other addresses' failures still count.
    session.exec(
        delete(LoginFailure).where(
            col(LoginFailure.email) == email, col(LoginFailure.client_address) == client_address
        )
    )
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


def prune_login_failures(session: Session, settings: Settings, now: datetime) -> int:
    """Delete the failed sign-ins older than the rate limit's window: none of them counts
    toward a refusal any more."""
    since = now - timedelta(seconds=settings.login_window_seconds)
    return session.exec(delete(LoginFailure).where(col(LoginFailure.at) < since)).rowcount
