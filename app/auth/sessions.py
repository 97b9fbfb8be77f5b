"""Console sessions: opened by a sign-in through `service.authenticate` (the same checks and
limits as the API's token), expiring, revoked on sign-out."""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, or_

from app.audit import service as audit
from app.auth.models import ConsoleSession, StaffUser


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session, user: StaffUser, lifetime: timedelta, now: datetime
) -> tuple[str, ConsoleSession]:
    """A new session for a user who has just signed in: the cookie's token and the row."""
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    return token, row


def live_session(
    session: Session, token: str, now: datetime
) -> tuple[ConsoleSession, StaffUser] | None:
    """The session of this cookie token and its user, if it is neither expired nor revoked
    and the account is still active."""
    row = session.get(ConsoleSession, _digest(token))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = session.get(StaffUser, row.user_id)
    if user is None or not user.is_active:
        return None
    return row, user


def close_session(session: Session, row: ConsoleSession, now: datetime) -> None:
    row.revoked_at = now
    session.add(row)
    audit.record(
        session,
        audit.Actor("staff", str(row.user_id)),
        "auth.logout",
        at=now,
        resource_type="staff_user",
        resource_id=row.user_id,
        details={"via": "console"},
    )


def prune_sessions(session: Session, now: datetime) -> int:
    """Delete the sessions that can never sign anyone in again (expired or signed out);
    sign-ins and sign-outs stay in the audit trail."""
    result = session.exec(
        delete(ConsoleSession).where(
            or_(col(ConsoleSession.expires_at) <= now, col(ConsoleSession.revoked_at).is_not(None))
        )
    )
    return result.rowcount
