"""The FCM sender through firebase-admin over real HTTP, against the fake FCM server."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import firebase_admin
import pytest

from app.clock import FrozenClock
from app.push.base import PushMessage
from app.push.fcm import FcmSender
from tests.fakes.fcm import FakeFcm, ok, quota, slow, unavailable, unregistered


def _message(clock: FrozenClock, target: str = "tok-1", kind: str = "token") -> PushMessage:
    return PushMessage.build(
        prompt_id="p-1",
        device_identifier=target,
        identifier_kind=kind,  # type: ignore[arg-type]
        kind="prompt",
        title="Time for a check-in",
        body="How are you right now?",
        expires_at=clock.now() + timedelta(minutes=45),
        now=clock.now(),
        platform="android",
    )


def test_a_sent_message_carries_the_prompt_and_its_time_to_live(
    fcm_sender: FcmSender, fake_fcm: FakeFcm, clock: FrozenClock
) -> None:
    [result] = fcm_sender.send([_message(clock)])
    assert result.outcome == "sent" and result.message_id
    [request] = fake_fcm.requests_for("tok-1")
    message = request.message
    assert message["data"] == {
        "prompt_id": "p-1",
        "kind": "prompt",
        "expires_at": (clock.now() + timedelta(minutes=45)).isoformat(),
    }
    assert message["notification"] == {
        "title": "Time for a check-in",
        "body": "How are you right now?",
    }
    assert message["android"]["ttl"] == "2700s"
    expiry = int((clock.now() + timedelta(minutes=45)).timestamp())
    assert message["apns"]["headers"]["apns-expiration"] == str(expiry)
    assert not request.validate_only


def test_an_installation_id_is_addressed_as_fid(
    fcm_sender: FcmSender, fake_fcm: FakeFcm, clock: FrozenClock
) -> None:
    [result] = fcm_sender.send([_message(clock, "fid-1", "fid")])
    assert result.outcome == "sent"
    assert fake_fcm.requests_for("fid-1")[0].target_kind == "fid"


def test_unregistered_tokens_are_reported_as_such(
    fcm_sender: FcmSender, fake_fcm: FakeFcm, clock: FrozenClock
) -> None:
    fake_fcm.script("tok-1", [unregistered()])
    [result] = fcm_sender.send([_message(clock)])
    assert (result.outcome, result.error_code) == ("unregistered", "UNREGISTERED")


def test_quota_is_retried_later_honouring_retry_after_and_not_inside_the_library(
    fcm_sender: FcmSender, fake_fcm: FakeFcm, clock: FrozenClock
) -> None:
    fake_fcm.script("tok-1", [quota(retry_after=120)])
    [result] = fcm_sender.send([_message(clock)])
    assert (result.outcome, result.error_code, result.retry_after) == (
        "retry",
        "QUOTA_EXCEEDED",
        120.0,
    )
    assert len(fake_fcm.requests_for("tok-1")) == 1


def test_a_503_comes_back_as_retry_and_the_next_send_succeeds(
    fcm_sender: FcmSender, fake_fcm: FakeFcm, clock: FrozenClock
) -> None:
    fake_fcm.script("tok-1", [unavailable(), ok()])
    assert fcm_sender.send([_message(clock)])[0].outcome == "retry"
    assert fcm_sender.send([_message(clock)])[0].outcome == "sent"
    assert len(fake_fcm.requests_for("tok-1")) == 2


def test_a_slow_server_times_out_into_a_retry(
    fake_fcm: FakeFcm, tmp_path, clock: FrozenClock
) -> None:
    sender = FcmSender(
        fake_fcm.service_account_file(tmp_path), endpoint=fake_fcm.url, timeout=0.3, clock=clock
    )
    try:
        fake_fcm.script("tok-1", [slow(1.5)])
        [result] = sender.send([_message(clock)])
    finally:
        sender.close()
    assert result.outcome == "retry"


def test_a_refused_connection_is_a_retry(fake_fcm: FakeFcm, tmp_path, clock: FrozenClock) -> None:
    # The OAuth exchange still reaches the fake; only the send endpoint refuses.
    sender = FcmSender(
        fake_fcm.service_account_file(tmp_path), endpoint=fake_fcm.refused_url, clock=clock
    )
    try:
        [result] = sender.send([_message(clock)])
    finally:
        sender.close()
    assert result.outcome == "retry"


def test_one_bad_message_does_not_fail_its_batch(
    fcm_sender: FcmSender, fake_fcm: FakeFcm, clock: FrozenClock
) -> None:
    fake_fcm.script("tok-2", [unregistered()])
    results = fcm_sender.send([_message(clock, f"tok-{n}") for n in range(1, 4)])
    assert [result.outcome for result in results] == ["sent", "unregistered", "sent"]


def test_the_sender_closes_inside_a_running_event_loop(
    fake_fcm: FakeFcm, tmp_path, clock: FrozenClock
) -> None:
    # firebase-admin's own close uses asyncio.run, which a running loop refuses.
    sender = FcmSender(fake_fcm.service_account_file(tmp_path), endpoint=fake_fcm.url, clock=clock)
    name = sender._app.name

    async def close() -> None:
        sender.close()

    # In a thread of its own: this process may already run a loop (a browser test's).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, close()).result()
    with pytest.raises(ValueError):
        firebase_admin.get_app(name)
