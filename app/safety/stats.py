"""Counts for operators: open safety events by tier and since when (no identifiers)."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, func, select

from app.safety.models import SafetyEvent


@dataclass(frozen=True)
class OpenEvents:
    tier: str
    count: int
    oldest_opened_at: datetime


def open_events_by_tier(session: Session) -> list[OpenEvents]:
    rows = session.exec(
        select(SafetyEvent.tier, func.count(), func.min(SafetyEvent.created_at))
        .where(col(SafetyEvent.acknowledged_at).is_(None))
        .group_by(SafetyEvent.tier)
    ).all()
    return [OpenEvents(tier, count, _utc(oldest)) for tier, count, oldest in rows]


def _utc(value: datetime) -> datetime:
    # An aggregate bypasses the column's type, so SQLite hands back a naive UTC time.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
