"""Counts for operators: prompts by status (no identifiers)."""

from sqlmodel import Session, func, select

from app.scheduling.models import Prompt, PromptStatus


def prompts_by_status(session: Session) -> dict[PromptStatus, int]:
    counts = {status: 0 for status in PromptStatus}
    rows = session.exec(select(Prompt.status, func.count()).group_by(Prompt.status)).all()
    for status, count in rows:
        counts[PromptStatus(status)] = count
    return counts
