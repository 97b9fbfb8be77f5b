"""Scheduling paths end to end: schedule saves and withdrawals replan, the study's text
and batches reach the fake FCM server, the FCM sender from settings, clinician overrides,
and the worker's APScheduler jobs."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.auth.models import ConsoleSession, LoginFailure, StaffUser
from app.clock import FrozenClock
from app.db import unit_of_work
from app.push import sender_from_settings
from app.push.base import PushMessage
from app.push.fcm import FcmSender
from app.push.log import LogSender
from app.scheduling.dispatch import DEFAULT_BATCH, dispatch_once
from app.scheduling.models import Prompt, PromptStatus
from app.settings import Settings
from app.studies.models import EnrollmentFailure
from app.worker import INTERVALS, Jobs, schedule_jobs
from tests.console_client import console_sign_in
from tests.fakes.fcm import FakeFcm
from tests.test_dispatch import FIRST, SCHEDULE, _person, _prompts


@pytest.fixture
def study(client: TestClient, owner: dict, make_study: Callable) -> dict[str, Any]:
    study = make_study()
    body = {
        "schedule": SCHEDULE,
        "notification": {
            "en": {"title": "Hello", "body": "A minute for us?"},
            "es": {"title": "Hola", "body": "¿Un minuto?"},
        },
    }
    response = client.put(f"/v1/studies/{study['id']}/schedule", json=body, headers=owner)
    assert response.status_code == 200, response.text
    return study


def _open(session: Session, person: dict) -> list[Prompt]:
    session.expire_all()
    return [p for p in _prompts(session, person) if p.status == PromptStatus.planned]


def test_saving_the_study_schedule_replans_enrolled_participants(
    client: TestClient, owner: dict, enroll: Callable, study: dict, session: Session
) -> None:
    person = _person(client, enroll, study, "tok-a")
    assert len(_open(session, person)) == 4
    evening_only = {"schedule": {**SCHEDULE, "fixed_times": ["19:00"]}}
    url = f"/v1/studies/{study['id']}/schedule"
    assert client.put(url, json=evening_only, headers=owner).status_code == 200
    # 19:00 in Berlin is 18:00 UTC, today and tomorrow.
    assert [p.scheduled_at for p in _open(session, person)] == [
        FIRST + timedelta(hours=6),
        FIRST + timedelta(days=1, hours=6),
    ]


def test_withdrawal_cancels_planned_prompts(
    client: TestClient, owner: dict, enroll: Callable, study: dict, session: Session
) -> None:
    person = _person(client, enroll, study, "tok-a")
    url = f"/v1/studies/{study['id']}/participants/{person['id']}/status"
    body = {"status": "withdrawn", "reason": "asked to stop"}
    assert client.post(url, json=body, headers=owner).status_code == 200
    prompts = _prompts(session, person)
    assert len(prompts) == 4
    assert {(p.status, p.next_push_at) for p in prompts} == {(PromptStatus.canceled, None)}


def test_the_studys_notification_text_reaches_fcm_in_the_participants_language(
    client: TestClient,
    enroll: Callable,
    study: dict,
    db: Engine,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    _person(client, enroll, study, "tok-en")
    spanish = enroll(study["id"], locale="es")
    device = {"token": "tok-es", "platform": "ios"}
    assert client.put("/v1/me/device", json=device, headers=spanish["headers"]).is_success
    assert dispatch_once(db, fcm_sender, FIRST, "w").outcomes == {"sent": 2}
    [english] = fake_fcm.requests_for("tok-en")
    assert english.message["notification"] == {"title": "Hello", "body": "A minute for us?"}
    [spanish_send] = fake_fcm.requests_for("tok-es")
    assert spanish_send.message["notification"] == {"title": "Hola", "body": "¿Un minuto?"}


def test_more_due_prompts_than_a_batch_go_out_in_batches_of_at_most_500(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    participant_id = uuid.UUID(person["id"])
    # A backlog: 501 due prompts (the planner would never make so many for one person).
    session.add_all(
        Prompt(
            study_id=uuid.UUID(study["id"]),
            participant_id=participant_id,
            slot=f"backlog/{n}",
            scheduled_at=FIRST - timedelta(seconds=n),
            window_start=FIRST,
            window_end=FIRST,
            expires_at=FIRST + timedelta(hours=1),
            created_at=FIRST,
            next_push_at=FIRST - timedelta(seconds=n),
        )
        for n in range(1, 502)
    )
    session.commit()
    first = dispatch_once(db, fcm_sender, FIRST - timedelta(seconds=1), "w")
    assert (first.claimed, first.outcomes) == (DEFAULT_BATCH, {"sent": DEFAULT_BATCH})
    assert len(fake_fcm.requests) == 500
    second = dispatch_once(db, fcm_sender, FIRST - timedelta(seconds=1), "w")
    assert (second.claimed, second.outcomes) == (1, {"sent": 1})
    assert len(fake_fcm.requests) == 501
    sent = session.exec(select(Prompt).where(col(Prompt.slot).startswith("backlog/"))).all()
    assert {p.status for p in sent} == {PromptStatus.sent}


def test_the_fcm_sender_comes_from_the_settings(
    settings: Settings, fake_fcm: FakeFcm, tmp_path: Path, clock: FrozenClock
) -> None:
    configured = settings.model_copy(
        update={
            "fcm_credentials_file": fake_fcm.service_account_file(tmp_path),
            "fcm_endpoint": fake_fcm.url,
        }
    )
    sender = sender_from_settings(configured, clock)
    assert isinstance(sender, FcmSender)
    message = PushMessage.build(
        prompt_id="p-1",
        device_identifier="tok-settings",
        identifier_kind="token",
        kind="prompt",
        title="t",
        body="b",
        expires_at=clock.now() + timedelta(minutes=30),
        now=clock.now(),
        platform="android",
    )
    try:
        [result] = sender.send([message])
    finally:
        sender.close()
    assert result.outcome == "sent"
    assert [r.project for r in fake_fcm.requests_for("tok-settings")] == [fake_fcm.project_id]
    assert isinstance(sender_from_settings(settings, clock), LogSender)


def test_a_clinician_who_is_not_the_owner_sets_an_override(
    client: TestClient,
    owner: dict,
    make_staff: Callable,
    enroll: Callable,
    study: dict,
    session: Session,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    clinician = make_staff("clinician@example.org")
    member = {"email": "clinician@example.org", "role": "clinician"}
    assert client.put(f"/v1/studies/{study['id']}/members", json=member, headers=owner).is_success
    url = f"/v1/studies/{study['id']}/participants/{person['id']}/schedule-override"
    override = {"schedule": {**SCHEDULE, "fixed_times": ["19:00"]}, "reason": "Works late"}
    response = client.put(url, json=override, headers=clinician)
    assert response.status_code == 200, response.text
    assert [p.scheduled_at for p in _open(session, person)] == [
        FIRST + timedelta(hours=6),
        FIRST + timedelta(days=1, hours=6),
    ]


def test_the_worker_schedules_plan_dispatch_expire_and_reap(
    client: TestClient,
    enroll: Callable,
    study: dict,
    db: Engine,
    settings: Settings,
    clock: FrozenClock,
) -> None:
    _person(client, enroll, study, "tok-a")
    jobs = Jobs(db, LogSender(), clock, settings, "worker-1")
    scheduler = BackgroundScheduler(timezone="UTC")
    schedule_jobs(scheduler, jobs)  # never started: the jobs are inspected and run by hand
    registered = {job.id: job for job in scheduler.get_jobs()}
    jobs_named = {"plan", "dispatch", "expire", "reap", "review", "prune"}
    assert set(registered) == jobs_named == set(INTERVALS)
    for name, job in registered.items():
        assert job.trigger.interval == timedelta(seconds=INTERVALS[name])
        assert (job.max_instances, job.coalesce) == (1, True)
        assert job.func == getattr(jobs, name)
    clock.set(FIRST)
    assert registered["dispatch"].func() == 1
    clock.set(FIRST + timedelta(hours=2))
    assert registered["expire"].func() == 1
    # Five hours after enrollment the horizon reaches 13:00 (Berlin) two days on.
    assert registered["plan"].func() == 1
    assert registered["reap"].func() == 0


def test_the_prune_job_deletes_what_can_never_count_again(
    client: TestClient, owner: dict, db: Engine, settings: Settings, clock: FrozenClock
) -> None:
    """Console sessions expired or signed out, refused sign-ins and enrollment codes older
    than their windows; a live session and the refusals still counting stay."""
    console_sign_in(client, "owner@example.org")  # a live session, kept
    with unit_of_work(db) as session:
        start = clock.now()
        session.add_all(
            [
                ConsoleSession(
                    token_hash="expired", user_id=_owner_id(session), csrf_token="x",
                    created_at=start - timedelta(hours=9), expires_at=start - timedelta(hours=1),
                ),
                ConsoleSession(
                    token_hash="signed-out", user_id=_owner_id(session), csrf_token="x",
                    created_at=start, expires_at=start + timedelta(hours=8), revoked_at=start,
                ),
                LoginFailure(email="a@example.org", client_address="10.0.0.1",
                             at=start - timedelta(seconds=settings.login_window_seconds + 1)),
                LoginFailure(email="a@example.org", client_address="10.0.0.1", at=start),
                EnrollmentFailure(client_address="10.0.0.1", at=start - timedelta(
                    seconds=settings.enrollment_window_seconds + 1)),
                EnrollmentFailure(client_address="10.0.0.1", at=start),
            ]
        )  # fmt: skip
    jobs = Jobs(db, LogSender(), clock, settings, "worker-1")
    assert jobs.prune() == 4
    assert jobs.prune() == 0
    with Session(db) as session:
        assert len(session.exec(select(ConsoleSession)).all()) == 1
        assert [f.at for f in session.exec(select(LoginFailure))] == [clock.now()]
        assert [f.at for f in session.exec(select(EnrollmentFailure))] == [clock.now()]
    assert client.get("/console/studies").status_code == 200  # still signed in


def _owner_id(session: Session) -> uuid.UUID:
    return session.exec(select(StaffUser.id).where(StaffUser.email == "owner@example.org")).one()
