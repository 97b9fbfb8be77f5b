"""Planning, dispatch, reminders and expiry against the database and the fake FCM server."""

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.clock import FrozenClock
from app.db import unit_of_work
from app.push.backoff import backoff_ceiling
from app.push.base import PushMessage, PushResult, PushSender
from app.push.fcm import FcmSender
from app.push.log import LogSender
from app.scheduling.dispatch import (
    WorkerRefused,
    dispatch_once,
    expire_prompts,
    reap_claims,
    worker_lock,
)
from app.scheduling.models import Prompt, PromptAttempt, PromptStatus, WakingHoursRecord
from app.scheduling.service import plan_prompts
from app.studies.models import Device
from tests.conftest import PASSWORD, START
from tests.fakes.fcm import FakeFcm, ok, quota, unavailable, unregistered
from tests.test_checkins import BASE

# Europe/Berlin is UTC+1 in early March: 13:00 and 18:00 local are 12:00 and 17:00 UTC.
SCHEDULE = {
    "fixed_times": ["13:00", "18:00"],
    "last_day": 28,
    "expiry_minutes": 60,
    "reminder_minutes": [15, 30],
}
FIRST = datetime(2026, 3, 2, 12, 0, tzinfo=START.tzinfo)
HORIZON = timedelta(hours=48)  # the plan job's default


@pytest.fixture
def study(client: TestClient, owner: dict, make_study: Callable) -> dict[str, Any]:
    study = make_study()
    response = client.put(
        f"/v1/studies/{study['id']}/schedule", json={"schedule": SCHEDULE}, headers=owner
    )
    assert response.status_code == 200, response.text
    return study


def _person(client: TestClient, enroll: Callable, study: dict, token: str | None) -> dict:
    person = enroll(study["id"])
    if token is not None:
        device = {"token": token, "platform": "android"}
        response = client.put("/v1/me/device", json=device, headers=person["headers"])
        assert response.status_code == 200, response.text
    return person


def _prompts(session: Session, person: dict) -> list[Prompt]:
    return list(
        session.exec(
            select(Prompt)
            .where(Prompt.participant_id == uuid.UUID(person["id"]))
            .order_by(col(Prompt.scheduled_at))
        )
    )


def _dispatch(db: Engine, sender: PushSender, at: datetime) -> dict[str, int]:
    return dispatch_once(db, sender, at, "worker-1").outcomes


def test_enrollment_plans_the_horizon_and_the_job_adds_nothing_twice(
    client: TestClient, enroll: Callable, study: dict, session: Session, clock: FrozenClock
) -> None:
    person = _person(client, enroll, study, "tok-a")
    prompts = _prompts(session, person)
    # Enrolled at 10:00 local: 13:00 and 18:00 today and tomorrow, and 13:00 the day after
    # lies beyond 48 hours (09:00 UTC + 48 h = 09:00 UTC on day 3).
    assert [p.scheduled_at for p in prompts] == [
        FIRST,
        FIRST + timedelta(hours=5),
        FIRST + timedelta(days=1),
        FIRST + timedelta(days=1, hours=5),
    ]
    assert prompts[0].reminders == [
        (FIRST + timedelta(minutes=15)).isoformat(),
        (FIRST + timedelta(minutes=30)).isoformat(),
    ]
    assert plan_prompts(session, clock.now(), HORIZON) == 0
    assert plan_prompts(session, clock.now() + timedelta(hours=6), HORIZON) == 1
    assert plan_prompts(session, clock.now() + timedelta(hours=6), HORIZON) == 0


def test_planning_skips_a_slot_that_has_a_row_already_and_counts_only_new_ones(
    client: TestClient,
    enroll: Callable,
    study: dict,
    db: Engine,
    session: Session,
    clock: FrozenClock,
) -> None:
    """A slot whose row lies before the run's window (a canceled prompt moved into the past)
    is planned again by the job: the insert keeps the row as it is and counts nothing (on
    PostgreSQL the COPY fails on the slot and the rows go through the set insert)."""
    person = _person(client, enroll, study, "tok-a")
    # In one unit of work, as the plan job: the change before the planning survives it.
    with unit_of_work(db) as job:
        last = _prompts(job, person)[-1]
        last.scheduled_at, last.status = START - timedelta(hours=1), PromptStatus.canceled
        job.add(last)
        job.flush()
        assert plan_prompts(job, clock.now(), HORIZON) == 0
    prompts = _prompts(session, person)
    assert len(prompts) == 4
    assert [p.status for p in prompts if p.slot == last.slot] == [PromptStatus.canceled]
    assert plan_prompts(session, clock.now() + timedelta(hours=6), HORIZON) == 1


def test_a_prompt_goes_out_once_then_its_reminders_then_it_expires(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    assert _dispatch(db, fcm_sender, FIRST - timedelta(minutes=1)) == {}
    assert _dispatch(db, fcm_sender, FIRST) == {"sent": 1}
    assert _dispatch(db, fcm_sender, FIRST + timedelta(minutes=1)) == {}
    assert _dispatch(db, fcm_sender, FIRST + timedelta(minutes=15)) == {"sent": 1}
    assert _dispatch(db, fcm_sender, FIRST + timedelta(minutes=31)) == {"sent": 1}
    assert _dispatch(db, fcm_sender, FIRST + timedelta(minutes=45)) == {}
    kinds = [r.message["data"]["kind"] for r in fake_fcm.requests_for("tok-a")]
    assert kinds == ["prompt", "reminder", "reminder"]
    first = _prompts(session, person)[0]
    assert (first.status, first.sent_at, first.attempts, first.reminders_sent) == (
        PromptStatus.sent,
        FIRST,
        3,
        2,
    )
    assert expire_prompts(db, FIRST + timedelta(minutes=60)) == 1
    session.expire_all()
    assert _prompts(session, person)[0].status == PromptStatus.expired
    attempts = session.exec(select(PromptAttempt).where(PromptAttempt.prompt_id == first.id)).all()
    assert [(a.kind, a.outcome) for a in attempts] == [
        ("prompt", "sent"),
        ("reminder", "sent"),
        ("reminder", "sent"),
    ]


def test_an_answered_prompt_gets_no_reminders(
    client: TestClient, enroll: Callable, study: dict, session: Session, db: Engine
) -> None:
    person = _person(client, enroll, study, "tok-a")
    assert _dispatch(db, LogSender(), FIRST) == {"sent": 1}
    prompt = _prompts(session, person)[0]
    prompt.status, prompt.answered_at = PromptStatus.answered, FIRST + timedelta(minutes=5)
    session.add(prompt)
    session.commit()
    assert _dispatch(db, LogSender(), FIRST + timedelta(minutes=20)) == {}


def test_without_a_device_nothing_is_pushed_but_the_app_lists_the_prompt(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    clock: FrozenClock,
) -> None:
    person = _person(client, enroll, study, None)
    assert _dispatch(db, LogSender(), FIRST) == {"no_device": 1}
    clock.set(FIRST + timedelta(minutes=5))
    listed = client.get("/v1/me/prompts", headers=person["headers"]).json()
    assert [item["scheduled_at"] for item in listed] == ["2026-03-02T12:00:00Z"]
    expire_prompts(db, FIRST + timedelta(hours=1))
    session.expire_all()
    prompt = _prompts(session, person)[0]
    assert (prompt.status, prompt.status_reason) == (PromptStatus.failed, "no active device")


def test_a_device_registered_late_still_gets_the_open_prompt(
    client: TestClient, enroll: Callable, study: dict, db: Engine, clock: FrozenClock
) -> None:
    person = _person(client, enroll, study, None)
    assert _dispatch(db, LogSender(), FIRST) == {"no_device": 1}
    clock.set(FIRST + timedelta(minutes=10))
    device = {"token": "tok-late", "platform": "ios"}
    assert client.put("/v1/me/device", json=device, headers=person["headers"]).status_code == 200
    assert _dispatch(db, LogSender(), FIRST + timedelta(minutes=10)) == {"sent": 1}


def test_an_unregistered_token_deactivates_the_device_and_stops_its_prompts(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-gone")
    fake_fcm.script("tok-gone", [unregistered()])
    assert _dispatch(db, fcm_sender, FIRST) == {"unregistered": 1}
    device = session.exec(
        select(Device).where(Device.participant_id == uuid.UUID(person["id"]))
    ).one()
    assert not device.active
    assert all(p.next_push_at is None for p in _prompts(session, person))
    assert _dispatch(db, fcm_sender, FIRST + timedelta(hours=5)) == {}
    expire_prompts(db, FIRST + timedelta(hours=1))
    session.expire_all()
    assert _prompts(session, person)[0].status == PromptStatus.failed


def test_quota_retries_after_retry_after_until_the_prompt_expires(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-busy")
    fake_fcm.script("tok-busy", [quota(retry_after=300), quota(retry_after=3600)])
    assert _dispatch(db, fcm_sender, FIRST) == {"retry": 1}
    prompt = _prompts(session, person)[0]
    assert prompt.status == PromptStatus.planned
    assert prompt.next_push_at is not None and prompt.next_push_at >= FIRST + timedelta(minutes=5)
    assert _dispatch(db, fcm_sender, FIRST + timedelta(minutes=4)) == {}
    # The second quota answer asks for longer than the prompt lives: it fails, with why.
    assert _dispatch(db, fcm_sender, prompt.next_push_at) == {"retry": 1}
    session.expire_all()
    prompt = _prompts(session, person)[0]
    assert prompt.status == PromptStatus.failed
    assert prompt.status_reason is not None and "expires" in prompt.status_reason
    assert prompt.attempts == 2


def test_pausing_cancels_future_prompts_and_resuming_brings_them_back(
    client: TestClient,
    owner: dict,
    enroll: Callable,
    study: dict,
    session: Session,
    clock: FrozenClock,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    url = f"/v1/studies/{study['id']}/participants/{person['id']}/status"
    assert client.post(url, json={"status": "paused"}, headers=owner).status_code == 200
    assert {p.status for p in _prompts(session, person)} == {PromptStatus.canceled}
    assert client.post(url, json={"status": "active"}, headers=owner).status_code == 200
    session.expire_all()
    assert {p.status for p in _prompts(session, person)} == {PromptStatus.planned}
    assert len(_prompts(session, person)) == 4


def test_a_time_zone_change_moves_unsent_prompts_and_never_resends_a_sent_slot(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    clock: FrozenClock,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    assert _dispatch(db, LogSender(), FIRST) == {"sent": 1}
    clock.set(FIRST + timedelta(minutes=1))
    moved = client.patch("/v1/me", json={"timezone": "America/New_York"}, headers=person["headers"])
    assert moved.status_code == 200, moved.text
    prompts = _prompts(session, person)
    slots = Counter(p.slot for p in prompts)
    assert max(slots.values()) == 1
    sent = [p for p in prompts if p.status == PromptStatus.sent]
    assert [p.scheduled_at for p in sent] == [FIRST]
    # 18:00 in New York is 23:00 UTC (EST, UTC-5).
    evening = next(p for p in prompts if p.slot == "2026-03-02/fixed/18:00")
    assert evening.scheduled_at == datetime(2026, 3, 2, 23, 0, tzinfo=START.tzinfo)


def test_closing_the_study_cancels_what_was_planned(
    client: TestClient, owner: dict, enroll: Callable, study: dict, session: Session
) -> None:
    person = _person(client, enroll, study, "tok-a")
    assert client.post(f"/v1/studies/{study['id']}/close", headers=owner).status_code == 200
    assert {p.status for p in _prompts(session, person)} == {PromptStatus.canceled}


def test_a_stale_claim_is_reaped_and_sent_by_another_worker(
    client: TestClient, enroll: Callable, study: dict, db: Engine
) -> None:
    _person(client, enroll, study, "tok-a")
    from app.scheduling.dispatch import claim_due

    assert len(claim_due(db, "crashed", FIRST, 10, timedelta(minutes=2))) == 1
    assert _dispatch(db, LogSender(), FIRST + timedelta(minutes=1)) == {}
    assert reap_claims(db, FIRST + timedelta(minutes=3)) == 1
    assert _dispatch(db, LogSender(), FIRST + timedelta(minutes=3)) == {"sent": 1}


def test_on_sqlite_a_second_worker_is_refused(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'kairos.db'}"
    with (
        worker_lock(url),
        pytest.raises(WorkerRefused, match="exactly one worker"),
        worker_lock(url),
    ):
        pass
    with worker_lock(url):
        pass  # released when the first worker stopped


def test_four_workers_send_each_due_prompt_exactly_once(
    client: TestClient,
    enroll: Callable,
    study: dict,
    db: Engine,
    fake_fcm: FakeFcm,
    tmp_path,
    clock: FrozenClock,
) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("several workers share the work on PostgreSQL only")
    people = 24
    for n in range(people):
        _person(client, enroll, study, f"tok-{n}")
    credentials = fake_fcm.service_account_file(tmp_path)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        sender = FcmSender(credentials, endpoint=fake_fcm.url, clock=clock)
        try:
            barrier.wait()
            while dispatch_once(db, sender, FIRST, name, batch=3).claimed:
                pass
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            sender.close()

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    sends = Counter(request.target for request in fake_fcm.requests)
    assert sends == {f"tok-{n}": 1 for n in range(people)}
    with Session(db) as session:
        statuses = session.exec(select(Prompt.status).where(Prompt.scheduled_at == FIRST)).all()
        workers = session.exec(select(PromptAttempt.worker)).all()
    assert statuses == [PromptStatus.sent] * people
    assert len(set(workers)) > 1


class AnsweringSender:
    """The production FCM sender, with the participant checking in while the push is in
    flight: the check-in goes through the API before the provider answers."""

    def __init__(self, sender: FcmSender, client: TestClient, person: dict) -> None:
        self.sender, self.client, self.person = sender, client, person

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        for message in messages:
            body = {
                "client_id": uuid.uuid4().hex,
                "answered_at": FIRST.isoformat(),
                "answers": BASE,
                "prompt_id": message.prompt_id,
            }
            answered = self.client.post("/v1/checkins", json=body, headers=self.person["headers"])
            assert answered.status_code == 201, answered.text
        return self.sender.send(messages)


@pytest.mark.parametrize("reply", ["ok", "quota"])
def test_a_check_in_during_the_send_keeps_the_prompt_answered(
    reply: str,
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    clock: FrozenClock,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    if reply == "quota":
        # Asks for longer than the prompt lives: the retry path would mark it failed.
        fake_fcm.script("tok-a", [quota(retry_after=7200)])
    clock.set(FIRST)
    outcome = "sent" if reply == "ok" else "retry"
    assert _dispatch(db, AnsweringSender(fcm_sender, client, person), FIRST) == {outcome: 1}
    prompt = _prompts(session, person)[0]
    assert (prompt.status, prompt.answered_at, prompt.next_push_at) == (
        PromptStatus.answered,
        FIRST,
        None,
    )
    assert (prompt.claimed_by, prompt.attempts) == (None, 1)
    attempts = session.exec(select(PromptAttempt).where(PromptAttempt.prompt_id == prompt.id)).all()
    assert [(a.kind, a.outcome) for a in attempts] == [("prompt", outcome)]
    # No reminder follows the answer.
    assert _dispatch(db, fcm_sender, FIRST + timedelta(minutes=15)) == {}
    assert len(fake_fcm.requests_for("tok-a")) == 1


def test_a_device_registered_again_gets_only_what_is_due_now(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    clock: FrozenClock,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-old")
    fake_fcm.script("tok-old", [unregistered()])
    assert _dispatch(db, fcm_sender, FIRST) == {"unregistered": 1}
    clock.set(FIRST + timedelta(minutes=10))
    device = {"token": "tok-new", "platform": "android"}
    assert client.put("/v1/me/device", json=device, headers=person["headers"]).status_code == 200
    prompts = _prompts(session, person)
    assert [p.next_push_at for p in prompts] == [p.scheduled_at for p in prompts]
    assert _dispatch(db, fcm_sender, clock.now()) == {"sent": 1}
    assert _dispatch(db, fcm_sender, FIRST + timedelta(minutes=14)) == {}
    # The token goes stale again at the first reminder; the next device gets that reminder
    # (it is due), then the second at its own time.
    fake_fcm.script("tok-new", [unregistered()])
    assert _dispatch(db, fcm_sender, FIRST + timedelta(minutes=15)) == {"unregistered": 1}
    clock.set(FIRST + timedelta(minutes=20))
    device = {"token": "tok-third", "platform": "android"}
    assert client.put("/v1/me/device", json=device, headers=person["headers"]).status_code == 200
    session.expire_all()
    first, second, *_ = _prompts(session, person)
    assert first.next_push_at == FIRST + timedelta(minutes=15)
    assert second.next_push_at == second.scheduled_at
    assert _dispatch(db, fcm_sender, clock.now()) == {"sent": 1}
    assert _dispatch(db, fcm_sender, FIRST + timedelta(minutes=29)) == {}
    assert _dispatch(db, fcm_sender, FIRST + timedelta(minutes=30)) == {"sent": 1}
    kinds = [r.message["data"]["kind"] for r in fake_fcm.requests_for("tok-third")]
    assert kinds == ["reminder", "reminder"]


EVENING = FIRST + timedelta(hours=5)  # 18:00 in Berlin


def _sleep_at(client: TestClient, person: dict, sleep: str) -> None:
    hours = {"wake": "07:00", "sleep": sleep}
    response = client.put("/v1/me/waking-hours", json=hours, headers=person["headers"])
    assert response.status_code == 200, response.text


def test_a_retry_that_would_come_after_sleep_is_not_sent(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    _sleep_at(client, person, "18:20")
    fake_fcm.script("tok-a", [quota(retry_after=1500)])
    assert _dispatch(db, fcm_sender, EVENING) == {"retry": 1}
    evening = _prompts(session, person)[1]
    assert evening.next_push_at == EVENING + timedelta(minutes=25)
    # 18:25 is asleep, and the next wake-up (07:00) is after the prompt expires.
    assert _dispatch(db, fcm_sender, evening.next_push_at) == {"outside_waking_hours": 1}
    session.expire_all()
    evening = _prompts(session, person)[1]
    assert (evening.status, evening.status_reason, evening.next_push_at) == (
        PromptStatus.failed,
        "outside_waking_hours",
        None,
    )
    assert len(fake_fcm.requests_for("tok-a")) == 1


def test_a_device_registered_after_sleep_gets_no_late_push(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    clock: FrozenClock,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, None)
    _sleep_at(client, person, "18:30")
    assert _dispatch(db, fcm_sender, EVENING) == {"no_device": 1}
    clock.set(EVENING + timedelta(minutes=40))
    device = {"token": "tok-late", "platform": "ios"}
    assert client.put("/v1/me/device", json=device, headers=person["headers"]).status_code == 200
    assert _dispatch(db, fcm_sender, clock.now()) == {"outside_waking_hours": 1}
    assert fake_fcm.requests_for("tok-late") == []
    assert _prompts(session, person)[1].status == PromptStatus.failed


def test_reminders_of_a_sent_prompt_follow_new_waking_hours(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    clock: FrozenClock,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    assert _dispatch(db, fcm_sender, EVENING) == {"sent": 1}
    clock.set(EVENING + timedelta(minutes=5))
    # Asleep from 18:20: the reminder at 18:15 stays, the one at 18:30 is dropped.
    _sleep_at(client, person, "18:20")
    evening = _prompts(session, person)[1]
    assert evening.reminders == [(EVENING + timedelta(minutes=15)).isoformat()]
    assert evening.next_push_at == EVENING + timedelta(minutes=15)
    assert _dispatch(db, fcm_sender, EVENING + timedelta(minutes=15)) == {"sent": 1}
    session.expire_all()
    assert _prompts(session, person)[1].next_push_at is None
    assert len(fake_fcm.requests_for("tok-a")) == 2


def test_a_reminder_due_while_asleep_is_skipped_at_dispatch(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    assert _dispatch(db, fcm_sender, EVENING) == {"sent": 1}
    # The hours change behind the planner's back (no replan): dispatch still checks them.
    session.add(
        WakingHoursRecord(
            participant_id=uuid.UUID(person["id"]), wake="07:00", sleep="18:10", updated_at=EVENING
        )
    )
    session.commit()
    assert _dispatch(db, fcm_sender, EVENING + timedelta(minutes=15)) == {"reminder_skipped": 1}
    evening = _prompts(session, person)[1]
    assert (evening.reminders_sent, evening.reminders) == (
        0,
        [(EVENING + timedelta(minutes=30)).isoformat()],
    )
    assert _dispatch(db, fcm_sender, EVENING + timedelta(minutes=30)) == {"reminder_skipped": 1}
    assert len(fake_fcm.requests_for("tok-a")) == 1


def test_server_errors_retry_past_ten_attempts_and_each_push_counts_its_own(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    fake_fcm.script("tok-a", [unavailable()] * 11 + [ok(), unavailable(), ok()])
    at = FIRST
    for retry in range(1, 12):
        assert _dispatch(db, fcm_sender, at) == {"retry": 1}
        session.expire_all()
        prompt = _prompts(session, person)[0]
        assert prompt.status == PromptStatus.planned and prompt.next_push_at is not None
        assert at < prompt.next_push_at <= at + timedelta(seconds=backoff_ceiling(retry))
        at = prompt.next_push_at
    assert _dispatch(db, fcm_sender, at) == {"sent": 1}
    # The first reminder's own first retry waits at most the first ceiling.
    at = max(at, FIRST + timedelta(minutes=15))
    assert _dispatch(db, fcm_sender, at) == {"retry": 1}
    session.expire_all()
    prompt = _prompts(session, person)[0]
    assert prompt.next_push_at is not None
    assert prompt.next_push_at <= at + timedelta(seconds=backoff_ceiling(1))
    assert _dispatch(db, fcm_sender, prompt.next_push_at) == {"sent": 1}
    session.expire_all()
    prompt = _prompts(session, person)[0]
    assert (prompt.status, prompt.attempts, prompt.reminders_sent) == (PromptStatus.sent, 14, 1)
    kinds = [r.message["data"]["kind"] for r in fake_fcm.requests_for("tok-a")]
    assert kinds == ["prompt"] * 12 + ["reminder"] * 2


def _owner_again(client: TestClient) -> dict[str, str]:
    # Hours later than the fixtures' sign-in: the owner signs in again.
    login = {"username": "owner@example.org", "password": PASSWORD}
    token = client.post("/v1/auth/token", data=login).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _override(client: TestClient, study: dict, person: dict, schedule: dict) -> None:
    url = f"/v1/studies/{study['id']}/participants/{person['id']}/schedule-override"
    body = {"schedule": schedule, "reason": "Works late"}
    response = client.put(url, json=body, headers=_owner_again(client))
    assert response.status_code == 200, response.text


def _reschedule(client: TestClient, study: dict, schedule: dict) -> None:
    url = f"/v1/studies/{study['id']}/schedule"
    response = client.put(url, json={"schedule": schedule}, headers=_owner_again(client))
    assert response.status_code == 200, response.text


def _planned_on(session: Session, person: dict, day: str) -> list[Prompt]:
    session.expire_all()
    return [
        p
        for p in _prompts(session, person)
        if p.slot.startswith(f"{day}/") and p.status != PromptStatus.canceled
    ]


def test_a_mid_day_override_keeps_the_days_cap(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    session: Session,
    db: Engine,
    clock: FrozenClock,
) -> None:
    study = make_study()
    capped = {"fixed_times": ["13:00", "18:00"], "last_day": 28, "max_per_day": 2}
    url = f"/v1/studies/{study['id']}/schedule"
    assert client.put(url, json={"schedule": capped}, headers=owner).status_code == 200
    person = _person(client, enroll, study, "tok-a")
    assert _dispatch(db, LogSender(), FIRST) == {"sent": 1}
    assert _dispatch(db, LogSender(), EVENING) == {"sent": 1}
    clock.set(EVENING + timedelta(minutes=30))
    window = {"windows": [{"start": "19:00", "end": "22:00", "count": 2}]}
    _override(client, study, person, {"last_day": 28, "max_per_day": 2, **window})
    assert len(_planned_on(session, person, "2026-03-02")) == 2  # the two that went out
    assert len(_planned_on(session, person, "2026-03-03")) == 2  # the window's two


def test_a_mid_day_override_keeps_the_gap_to_what_went_out(
    client: TestClient,
    owner: dict,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    clock: FrozenClock,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    assert _dispatch(db, LogSender(), EVENING) == {"sent": 1}
    clock.set(EVENING + timedelta(minutes=5))
    windows = [
        {"start": "18:10", "end": "18:25", "count": 1},
        {"start": "19:00", "end": "21:00", "count": 1},
    ]
    _override(client, study, person, {"windows": windows, "last_day": 28})
    today = _planned_on(session, person, "2026-03-02")
    assert today[0].scheduled_at == FIRST  # never sent (it expired unsent)
    # The first window lies closer than the 30-minute gap to the 18:00 prompt that went out.
    slots = [p.slot for p in today[1:]]
    assert slots == ["2026-03-02/fixed/18:00", "2026-03-02/window/19:00-21:00/0"]


def test_a_fixed_time_changed_mid_day_is_planned_and_a_kept_one_is_not_planned_twice(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    clock: FrozenClock,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    assert _dispatch(db, LogSender(), FIRST) == {"sent": 1}  # 13:00 in Berlin
    clock.set(FIRST + timedelta(hours=1))
    # 13:00 becomes 15:00 once 13:00 went out; 18:00 stays.
    _reschedule(client, study, SCHEDULE | {"fixed_times": ["15:00", "18:00"]})
    today = _planned_on(session, person, "2026-03-02")
    assert [(p.slot, p.status, p.scheduled_at) for p in today] == [
        ("2026-03-02/fixed/13:00", PromptStatus.sent, FIRST),
        ("2026-03-02/fixed/15:00", PromptStatus.planned, FIRST + timedelta(hours=2)),
        ("2026-03-02/fixed/18:00", PromptStatus.planned, EVENING),
    ]
    # Planning again, with the same schedule saved again or by the job, creates nothing.
    before = [(p.id, p.slot, p.status, p.scheduled_at) for p in _prompts(session, person)]
    _reschedule(client, study, SCHEDULE | {"fixed_times": ["15:00", "18:00"]})
    assert plan_prompts(session, clock.now(), HORIZON) == 0
    session.expire_all()
    after = [(p.id, p.slot, p.status, p.scheduled_at) for p in _prompts(session, person)]
    assert after == before


def test_a_time_kept_across_a_change_after_it_went_out_is_not_sent_again(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    db: Engine,
    clock: FrozenClock,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    assert _dispatch(db, LogSender(), EVENING) == {"sent": 1}
    clock.set(EVENING + timedelta(minutes=5))
    # 18:00 becomes the schedule's first time, and 20:00 takes its place as the second.
    _reschedule(client, study, SCHEDULE | {"fixed_times": ["18:00", "20:00"]})
    tonight = [p for p in _planned_on(session, person, "2026-03-02") if p.scheduled_at >= EVENING]
    assert [(p.slot, p.status) for p in tonight] == [
        ("2026-03-02/fixed/18:00", PromptStatus.sent),
        ("2026-03-02/fixed/20:00", PromptStatus.planned),
    ]
    assert _dispatch(db, LogSender(), EVENING + timedelta(minutes=10)) == {}


def test_a_window_changed_mid_day_is_planned_beside_the_one_that_went_out(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    session: Session,
    db: Engine,
    clock: FrozenClock,
) -> None:
    study = make_study()
    morning = {"windows": [{"start": "10:30", "end": "12:00"}], "last_day": 28}
    url = f"/v1/studies/{study['id']}/schedule"
    assert client.put(url, json={"schedule": morning}, headers=owner).status_code == 200
    person = _person(client, enroll, study, "tok-a")
    (drawn,) = _prompts(session, person)[:1]
    assert _dispatch(db, LogSender(), drawn.scheduled_at) == {"sent": 1}
    noon = datetime(2026, 3, 2, 11, 0, tzinfo=START.tzinfo)  # 12:00 in Berlin
    clock.set(noon)
    _reschedule(client, study, {"windows": [{"start": "14:00", "end": "16:00"}], "last_day": 28})
    today = _planned_on(session, person, "2026-03-02")
    assert [(p.slot, p.status) for p in today] == [
        ("2026-03-02/window/10:30-12:00/0", PromptStatus.sent),
        ("2026-03-02/window/14:00-16:00/0", PromptStatus.planned),
    ]
    assert noon + timedelta(hours=2) <= today[1].scheduled_at < noon + timedelta(hours=4)


def test_a_canceled_prompt_in_the_past_does_not_block_its_slot_planned_again(
    client: TestClient,
    enroll: Callable,
    study: dict,
    session: Session,
    clock: FrozenClock,
) -> None:
    person = _person(client, enroll, study, "tok-a")
    url = f"/v1/studies/{study['id']}/participants/{person['id']}/status"
    clock.set(FIRST - timedelta(hours=1))
    paused = client.post(url, json={"status": "paused"}, headers=_owner_again(client))
    assert paused.status_code == 200, paused.text
    clock.set(FIRST + timedelta(minutes=30))
    resumed = client.post(url, json={"status": "active"}, headers=_owner_again(client))
    assert resumed.status_code == 200, resumed.text
    # 13:00 in Berlin stays canceled in the past; 13:00 in New York is 18:00 UTC, ahead.
    moved = client.patch("/v1/me", json={"timezone": "America/New_York"}, headers=person["headers"])
    assert moved.status_code == 200, moved.text
    today = _planned_on(session, person, "2026-03-02")
    assert [(p.slot, p.scheduled_at.hour) for p in today] == [
        ("2026-03-02/fixed/13:00", 18),
        ("2026-03-02/fixed/18:00", 23),
    ]


def test_the_plan_job_plans_an_override_in_a_study_without_a_schedule(
    client: TestClient,
    make_study: Callable,
    enroll: Callable,
    session: Session,
    clock: FrozenClock,
) -> None:
    study = make_study()
    person = _person(client, enroll, study, "tok-a")
    _override(client, study, person, {"fixed_times": ["13:00"], "last_day": 28})
    assert len(_prompts(session, person)) == 2  # 48 hours ahead
    assert plan_prompts(session, clock.now() + timedelta(days=2), HORIZON) == 2
    assert len(_prompts(session, person)) == 4


def test_a_retry_due_while_asleep_waits_for_the_wake_up_when_the_prompt_lives_on(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    session: Session,
    db: Engine,
    fcm_sender: FcmSender,
    fake_fcm: FakeFcm,
) -> None:
    study = make_study()
    late = {"schedule": {"fixed_times": ["22:50"], "last_day": 28, "expiry_minutes": 600}}
    assert client.put(f"/v1/studies/{study['id']}/schedule", json=late, headers=owner).is_success
    person = _person(client, enroll, study, "tok-a")
    _sleep_at(client, person, "23:00")
    night = datetime(2026, 3, 2, 21, 50, tzinfo=START.tzinfo)  # 22:50 in Berlin
    fake_fcm.script("tok-a", [quota(retry_after=1200)])
    assert _dispatch(db, fcm_sender, night) == {"retry": 1}
    # 23:10 is asleep; the prompt lives until 08:50, so it waits for 07:00.
    assert _dispatch(db, fcm_sender, night + timedelta(minutes=20)) == {"deferred": 1}
    wake = datetime(2026, 3, 3, 6, 0, tzinfo=START.tzinfo)
    assert _prompts(session, person)[0].next_push_at == wake
    assert _dispatch(db, fcm_sender, wake) == {"sent": 1}
    assert len(fake_fcm.requests_for("tok-a")) == 2
