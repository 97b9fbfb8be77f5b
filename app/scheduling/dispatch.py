"""Dispatch: claim due pushes, send them, record every attempt; expire; reap stale claims.

A claim is a lease written in its own short transaction: on PostgreSQL the due rows are
picked with `SELECT … FOR UPDATE SKIP LOCKED`, so concurrent workers never pick the same
row, and the lease (`claimed_by`, `claim_expires_at`) keeps it theirs while they send
without holding a lock. Results are written only for rows the worker still holds. On
SQLite exactly one worker runs (see `worker_lock`).
"""

import hashlib
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from sqlalchemy import Engine, bindparam, case, func, literal, or_
from sqlmodel import Session, col, select, update

from app import metrics
from app.audit import service as audit
from app.audit.service import Actor
from app.db import read_columns, rows_changed, unit_of_work
from app.errors import Conflict
from app.push.backoff import decide_retry
from app.push.base import PushKind, PushMessage, PushResult, PushSender
from app.scheduling.models import (
    DEVICE_UNREGISTERED,
    NO_DEVICE,
    Prompt,
    PromptAttempt,
    PromptStatus,
    StudySchedule,
)
from app.scheduling.planner import OUTSIDE_WAKING_HOURS, awake_at, next_awake
from app.scheduling.schedule import DEFAULT_NOTIFICATION
from app.scheduling.schemas import PushTestOut, PushTestResult
from app.scheduling.service import (
    current_schedule,
    next_reminder,
    waking_hours_by_participant,
)
from app.studies.models import Device, Participant, Study
from app.vocabulary import ParticipantStatus

DEFAULT_BATCH = 500
DEFAULT_LEASE = timedelta(minutes=2)
# The statuses in which a prompt may still be pushed; every other status is final.
OPEN = (PromptStatus.planned, PromptStatus.sent)


class WorkerRefused(RuntimeError):
    """Another worker already runs on this SQLite database."""


@contextmanager
def worker_lock(database_url: str) -> Iterator[None]:
    """On SQLite, hold the database's single worker slot for the duration (released by the
    OS if the process dies); elsewhere any number of workers may run."""
    if not database_url.startswith("sqlite"):
        yield
        return
    path = database_url.split(":///", 1)[-1]
    if not path or path == ":memory:":
        yield
        return
    lock = FileLock(f"{Path(path).resolve()}.worker.lock", timeout=0, is_singleton=False)
    try:
        lock.acquire()
    except Timeout as exc:
        raise WorkerRefused(
            "Another Kairos worker (or `kairos serve` with its in-process scheduler) already "
            f"runs on the SQLite database {path}. SQLite allows exactly one worker; use "
            "PostgreSQL to run several."
        ) from exc
    try:
        yield
    finally:
        lock.release()


@dataclass
class DispatchStats:
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


# A worker runs these with every batch: built once, since building a statement costs more
# than running it.
_DUE = (
    select(Prompt.id)
    .where(
        col(Prompt.status).in_(OPEN),
        col(Prompt.next_push_at) <= bindparam("now"),
        # Past expiry nothing is sent; the expire job settles those rows.
        col(Prompt.expires_at) > bindparam("now"),
        or_(
            col(Prompt.claim_expires_at).is_(None),
            col(Prompt.claim_expires_at) < bindparam("now"),
        ),
    )
    .order_by(col(Prompt.next_push_at))
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(Prompt)
    .where(col(Prompt.id).in_(bindparam("ids", expanding=True)))
    .values(claimed_by=bindparam("worker"), claim_expires_at=bindparam("until"))
    # The claiming session holds no prompt objects to keep in step.
    .execution_options(synchronize_session=False)
)
_CLAIMED = (
    select(Prompt, Participant, Study, Device)
    .join(Participant, col(Participant.id) == Prompt.participant_id)
    .join(Study, col(Study.id) == Prompt.study_id)
    .join(
        Device,
        (col(Device.participant_id) == Prompt.participant_id) & col(Device.active),
        isouter=True,
    )
    .where(
        col(Prompt.id).in_(bindparam("ids", expanding=True)),
        Prompt.claimed_by == bindparam("worker"),
    )
)


def claim_due(
    engine: Engine, worker: str, now: datetime, batch: int, lease: timedelta
) -> list[uuid.UUID]:
    with unit_of_work(engine) as session:
        ids = list(read_columns(session, _DUE, {"now": now, "batch": batch}).scalars())
        if ids:
            session.execute(_CLAIM, {"ids": ids, "worker": worker, "until": now + lease})
    return ids


def _notification(saved: StudySchedule | None, locale: str) -> dict[str, str]:
    texts = saved.notification if saved is not None and saved.notification else {}
    texts = texts or DEFAULT_NOTIFICATION
    return texts.get(locale) or next(iter(texts.values()))


def dispatch_once(
    engine: Engine,
    sender: PushSender,
    now: datetime,
    worker: str,
    *,
    batch: int = DEFAULT_BATCH,
    lease: timedelta = DEFAULT_LEASE,
) -> DispatchStats:
    """Claim one batch of due pushes, send it, and record what happened."""
    stats = DispatchStats()
    ids = claim_due(engine, worker, now, batch, lease)
    stats.claimed = len(ids)
    if not ids:
        return stats
    # The rows are read here and only their values used after the send (the unit of work
    # keeps them loaded).
    with unit_of_work(engine) as session:
        rows = session.execute(_CLAIMED, {"ids": ids, "worker": worker}).all()
        waking = waking_hours_by_participant(session, [row[1] for row in rows])
        notifications: dict[uuid.UUID, StudySchedule | None] = {}
        messages: list[PushMessage] = []
        pending: list[tuple[Prompt, Device]] = []  # in the order of `messages`
        for prompt, participant, study, device in rows:
            if participant.status != ParticipantStatus.active:
                _finish(session, prompt, worker, canceled=f"participant {participant.status}")
                stats.add("canceled")
                continue
            if device is None:
                # Held until a device registers; the prompt still shows in the app's list.
                _finish(session, prompt, worker, next_push_at=None, reason=NO_DEVICE)
                stats.add("no_device")
                continue
            hours = waking[participant.id]
            if not awake_at(hours, participant.timezone, now):
                stats.add(
                    _asleep(session, prompt, worker, next_awake(hours, participant.timezone, now))
                )
                continue
            if study.id not in notifications:
                notifications[study.id] = current_schedule(session, study.id)
            text = _notification(
                notifications[study.id], participant.locale or study.default_locale
            )
            kind: PushKind = "prompt" if prompt.status == PromptStatus.planned else "reminder"
            messages.append(
                PushMessage.build(
                    prompt_id=str(prompt.id),
                    device_identifier=device.identifier,
                    identifier_kind="fid" if device.identifier_kind == "fid" else "token",
                    kind=kind,
                    title=text["title"],
                    body=text["body"],
                    expires_at=prompt.expires_at,
                    now=now,
                    platform=device.platform,
                )
            )
            pending.append((prompt, device))
    if not messages:
        return stats
    results = sender.send(messages)
    with unit_of_work(engine) as session:
        writes = HeldWrites(worker)
        for (prompt, device), message, result in zip(pending, messages, results, strict=True):
            _record(session, writes, prompt, device, message, result, now)
            stats.add(result.outcome)
        writes.write(session)
    return stats


def _finish(
    session: Session,
    prompt: Prompt,
    worker: str,
    *,
    canceled: str | None = None,
    next_push_at: Any = None,
    reason: str | None = None,
) -> None:
    values: dict[str, Any] = {}
    if canceled is not None:
        values |= {"status": PromptStatus.canceled, "status_reason": canceled, "next_push_at": None}
    else:
        values |= {"next_push_at": next_push_at, "status_reason": reason}
    _write_held(session, prompt, worker, values)


def _asleep(session: Session, prompt: Prompt, worker: str, wake: datetime) -> str:
    """A push that came due while the participant sleeps (a retry, a late push, a reminder
    planned before their hours changed) is not sent: a reminder is dropped; a first push
    waits for the wake-up if the prompt is still open then, else fails."""
    if prompt.status == PromptStatus.sent:
        reminders = [*prompt.reminders]
        del reminders[prompt.reminders_sent]
        values: dict[str, Any] = {
            "reminders": reminders,
            "next_push_at": next_reminder(reminders, prompt.reminders_sent),
        }
        _write_held(session, prompt, worker, values)
        return "reminder_skipped"
    if wake < prompt.expires_at:
        _write_held(session, prompt, worker, {"next_push_at": wake})
        return "deferred"
    failed = {
        "status": PromptStatus.failed,
        "status_reason": OUTSIDE_WAKING_HOURS,
        "next_push_at": None,
    }
    _write_held(session, prompt, worker, failed)
    return "outside_waking_hours"


def _record(
    session: Session,
    writes: "HeldWrites",
    prompt: Prompt,
    device: Device,
    message: PushMessage,
    result: PushResult,
    now: datetime,
) -> None:
    """The attempt, and the prompt's result among `writes` (written in turn: what an
    unregistered device or a retry does next reads the writes before it)."""
    if result.outcome != "sent":
        writes.write(session)
    session.add(
        PromptAttempt(
            prompt_id=prompt.id,
            participant_id=prompt.participant_id,
            kind=message.kind,
            at=now,
            outcome=result.outcome,
            error_code=result.error_code,
            error_message=result.error_message,
            worker=writes.worker,
        )
    )
    metrics.push_attempted(message.kind, result.outcome, result.error_code)
    values: dict[str, Any] = {}
    is_reminder = message.kind == "reminder"
    if result.outcome == "sent":
        if is_reminder:
            sent = prompt.reminders_sent + 1
            values |= {
                "reminders_sent": sent,
                "next_push_at": next_reminder(prompt.reminders, sent),
            }
        else:
            metrics.prompt_sent(prompt.scheduled_at, now)
            values |= {
                "status": PromptStatus.sent,
                "sent_at": now,
                "last_error": None,
                "next_push_at": next_reminder(prompt.reminders, 0),
            }
    elif result.outcome == "unregistered":
        hold_for_unregistered(session, device)
        values |= {"next_push_at": None, "last_error": _error(result)}
        if not is_reminder:
            values |= {"status_reason": DEVICE_UNREGISTERED}
    else:
        retry_at = None
        reason = _error(result)
        if result.outcome == "retry":
            session.flush()  # the attempt just recorded counts
            retry = _failures_since_sent(session, prompt.id)
            decision = decide_retry(
                now, retry, result.retry_after, prompt.expires_at, _jitter(prompt)
            )
            retry_at, reason = decision.retry_at, decision.reason or reason
        values |= {"next_push_at": retry_at, "last_error": _error(result)}
        if retry_at is None and not is_reminder:
            values |= {"status": PromptStatus.failed, "status_reason": reason[:200]}
    writes.add(prompt.id, values, {"attempts": prompt.attempts + 1})


def hold_for_unregistered(session: Session, device: Device) -> None:
    """FCM said the device's identifier is no longer registered: the device is deactivated
    and every open prompt of its owner stops pushing. They stay in the app's list and come
    back when a device registers (`resume_pushes`); prompts not yet sent say why in their
    reason, which they keep if they fail at expiry."""
    session.execute(
        update(Device)
        .where(col(Device.id) == device.id)
        .values(active=False, deactivated_reason=DEVICE_UNREGISTERED)
    )
    session.execute(
        update(Prompt)
        .where(col(Prompt.participant_id) == device.participant_id, col(Prompt.status).in_(OPEN))
        .values(next_push_at=None)
    )
    session.execute(
        update(Prompt)
        .where(
            col(Prompt.participant_id) == device.participant_id,
            col(Prompt.status) == PromptStatus.planned,
        )
        .values(status_reason=DEVICE_UNREGISTERED)
    )


def _write_held(
    session: Session,
    prompt: Prompt,
    worker: str,
    values: dict[str, Any],
    always: dict[str, Any] | None = None,
) -> None:
    """Write a dispatch result to a row the worker still holds, unless the prompt closed
    meanwhile (a check-in answered it during the send, or it was canceled or expired):
    a closed prompt keeps its status and gets nothing more pushed. `always` (and the
    release of the claim) is written either way."""
    writes = HeldWrites(worker)
    writes.add(prompt.id, values, always or {})
    writes.write(session)


class HeldWrites:
    """Results of one send waiting to be written to the rows the worker holds: each shape
    of result (the same columns set) one executemany of `_write_held`'s statement."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self._by_shape: dict[tuple[tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}

    def add(self, prompt_id: uuid.UUID, values: dict[str, Any], always: dict[str, Any]) -> None:
        shape = (tuple(sorted(values)), tuple(sorted(always)))
        params = {"held_id": prompt_id}
        params |= {f"v_{name}": value for name, value in values.items()}
        params |= {f"a_{name}": value for name, value in always.items()}
        self._by_shape.setdefault(shape, []).append(params)

    def write(self, session: Session) -> None:
        connection = session.connection()
        for (guarded, always), params in self._by_shape.items():
            connection.execute(self._statement(guarded, always), params)
        self._by_shape.clear()

    def _statement(self, guarded: tuple[str, ...], always: tuple[str, ...]) -> Any:
        table = Prompt.__table__  # type: ignore[attr-defined]
        # Not IN (...): an expanding list cannot be executed many times at once.
        still_open = or_(*(table.c.status == status for status in OPEN))
        # One statement: each SET reads the row as it was, so the status test holds for all.
        values: dict[str, Any] = {
            name: case(
                (still_open, bindparam(f"v_{name}", type_=table.c[name].type)),
                else_=table.c[name],
            )
            for name in guarded
        }
        values |= {name: bindparam(f"a_{name}", type_=table.c[name].type) for name in always}
        return (
            table.update()
            .where(table.c.id == bindparam("held_id"), table.c.claimed_by == self.worker)
            .values(**values, claimed_by=None, claim_expires_at=None)
        )


def _failures_since_sent(session: Session, prompt_id: uuid.UUID) -> int:
    """The failed attempts of the push now under way (its retry count): those after the
    prompt's last successful send (the first push, or the reminder before this one)."""
    attempts = col(PromptAttempt.prompt_id) == prompt_id
    # Attempt ids grow in the order attempts are made (several can share a timestamp).
    last_sent = (
        select(func.max(PromptAttempt.id))
        .where(attempts, PromptAttempt.outcome == "sent")
        .scalar_subquery()
    )
    return session.exec(
        select(func.count())
        .select_from(PromptAttempt)
        .where(
            attempts,
            PromptAttempt.outcome != "sent",
            or_(last_sent.is_(None), col(PromptAttempt.id) > last_sent),
        )
    ).one()


def _error(result: PushResult) -> str:
    text = f"{result.error_code or result.outcome}: {result.error_message or ''}".strip(": ")
    return text[:500]


def _jitter(prompt: Prompt) -> random.Random:
    # Seeded by the prompt and attempt: spreads retries without an unrecorded random source.
    material = f"{prompt.id}:{prompt.attempts}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))


def expire_prompts(engine: Engine, now: datetime) -> int:
    """Sent prompts past their expiry expire; prompts never sent by then fail, with why."""
    with unit_of_work(engine) as session:
        expired = rows_changed(
            session,
            update(Prompt)
            .where(col(Prompt.status) == PromptStatus.sent, col(Prompt.expires_at) <= now)
            .values(status=PromptStatus.expired, next_push_at=None),
        )
        failed = rows_changed(
            session,
            update(Prompt)
            .where(col(Prompt.status) == PromptStatus.planned, col(Prompt.expires_at) <= now)
            .values(
                status=PromptStatus.failed,
                next_push_at=None,
                status_reason=func.coalesce(
                    col(Prompt.status_reason),
                    col(Prompt.last_error),
                    literal("not sent before it expired"),
                ),
            ),
        )
    return expired + failed


def reap_claims(engine: Engine, now: datetime) -> int:
    """Release claims whose lease ran out (a worker died mid-batch)."""
    with unit_of_work(engine) as session:
        count = rows_changed(
            session,
            update(Prompt)
            .where(col(Prompt.claim_expires_at) < now)
            .values(claimed_by=None, claim_expires_at=None),
        )
    return count


TEST_PUSH_TTL = timedelta(minutes=15)


def send_test_push(
    session: Session,
    sender: PushSender,
    participant: Participant,
    actor: Actor,
    worker: str,
    now: datetime,
) -> PushTestOut:
    """Send one notification now to the participant's active device through the real sender,
    so a lab can check its Firebase set-up. It is recorded as an attempt of kind `test` with
    no prompt (never a prompt, never in compliance) and audited. An unregistered answer has
    the same effect as during dispatch; a transient error is not retried."""
    device = session.exec(
        select(Device).where(Device.participant_id == participant.id, col(Device.active))
    ).first()
    if device is None:
        raise Conflict("This participant has no active device", code="no_active_device")
    study = session.get_one(Study, participant.study_id)
    text = _notification(
        current_schedule(session, study.id), participant.locale or study.default_locale
    )
    message = PushMessage.build(
        prompt_id=None,
        device_identifier=device.identifier,
        identifier_kind="fid" if device.identifier_kind == "fid" else "token",
        kind="test",
        title=text["title"],
        body=text["body"],
        expires_at=now + TEST_PUSH_TTL,
        now=now,
        platform=device.platform,
    )
    [result] = sender.send([message])
    session.add(
        PromptAttempt(
            prompt_id=None,
            participant_id=participant.id,
            kind="test",
            at=now,
            outcome=result.outcome,
            error_code=result.error_code,
            error_message=result.error_message,
            worker=worker,
        )
    )
    if result.outcome == "unregistered":
        hold_for_unregistered(session, device)
    shown: PushTestResult = (
        result.outcome if result.outcome in ("sent", "unregistered") else "failed"
    )
    audit.record(
        session,
        actor,
        "participant.test_push",
        at=now,
        resource_type="participant",
        resource_id=participant.id,
        study_id=participant.study_id,
        details={"result": shown, "error_code": result.error_code},
    )
    session.flush()
    return PushTestOut(
        result=shown,
        message_id=result.message_id,
        error_code=result.error_code,
        error_message=result.error_message,
        at=now,
    )
