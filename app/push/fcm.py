"""Push through Firebase Cloud Messaging with firebase-admin's synchronous `send_each`.

One HTTP attempt per message per `send` call. firebase-admin 7.x mounts a urllib3 `Retry`
on its session (connect=1, read=1, status=4 on 500/503, exponential backoff), and urllib3
also honours Retry-After on 429/503 by sleeping in the sending thread (up to six hours a
try). Left alone, one message could cost five HTTP attempts and minutes of a blocked
worker, hidden from the prompt's attempt count and multiplied by our own backoff. So this
sender mounts its own adapter with no status retries; 429 and 5xx come back as "retry"
with the server's Retry-After, and `app.push.backoff` schedules the next attempt.
"""

import asyncio
import email.utils
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import firebase_admin
from firebase_admin import credentials, exceptions, messaging
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from app.clock import Clock, SystemClock
from app.push.base import Outcome, PushMessage, PushResult

FCM_BASE_URL = "https://fcm.googleapis.com"
MAX_BATCH = 500  # send_each refuses more
DEFAULT_TIMEOUT_SECONDS = 10.0

# A refused connection never reached FCM, so one immediate retry is safe; a read error or
# timeout may follow a delivery, so it is not retried here (read=False re-raises it as the
# timeout it was). No status is retried and Retry-After is not slept on.
_ONE_ATTEMPT = Retry(
    total=None,
    connect=1,
    read=False,
    redirect=0,
    status=0,
    other=0,
    status_forcelist=(),
    allowed_methods=None,
    respect_retry_after_header=False,
    raise_on_status=False,
)

_UNREGISTERED = (messaging.UnregisteredError, messaging.SenderIdMismatchError)
_TRANSIENT = (
    exceptions.ResourceExhaustedError,  # includes messaging.QuotaExceededError
    exceptions.UnavailableError,  # includes connection refused
    exceptions.InternalError,
    exceptions.DeadlineExceededError,  # timeouts
)
_GATEWAY_STATUSES = frozenset({502, 504})  # firebase-admin reports these as UnknownError
_FCM_CODES: tuple[tuple[type[exceptions.FirebaseError], str], ...] = (
    (messaging.UnregisteredError, "UNREGISTERED"),
    (messaging.SenderIdMismatchError, "SENDER_ID_MISMATCH"),
    (messaging.QuotaExceededError, "QUOTA_EXCEEDED"),
    (messaging.ThirdPartyAuthError, "THIRD_PARTY_AUTH_ERROR"),
)
_MAX_ERROR_MESSAGE = 500


class FcmSender:
    """A PushSender over a named firebase_admin App of its own (closed by `close`)."""

    def __init__(
        self,
        credentials_file: Path,
        *,
        endpoint: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        batch_size: int = MAX_BATCH,
        clock: Clock | None = None,
        web_app_url: str | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        self._batch_size = batch_size
        self._web_app_url = web_app_url
        self._clock = clock or SystemClock()
        credential = credentials.Certificate(str(credentials_file))
        # httpTimeout bounds every request, the OAuth token exchange included.
        self._app = firebase_admin.initialize_app(
            credential, {"httpTimeout": timeout}, name=f"kairos-fcm-{uuid.uuid4().hex}"
        )
        # firebase-admin has no public setting for the FCM URL or its retry policy
        # (firebase-admin-python#554), so both are set on this app's own messaging service,
        # here and nowhere else: the URL only when `endpoint` is configured (a test server),
        # the one-attempt adapter always, for the URL requests actually go to.
        service = messaging._get_messaging_service(self._app)
        base = endpoint.rstrip("/") if endpoint else FCM_BASE_URL
        if endpoint:
            service._fcm_url = f"{base}/v1/projects/{self._app.project_id}/messages:send"
        adapter = HTTPAdapter(pool_maxsize=batch_size, max_retries=_ONE_ATTEMPT)
        service._client.session.mount(base, adapter)

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        results: list[PushResult] = []
        for first in range(0, len(messages), self._batch_size):
            batch = messages[first : first + self._batch_size]
            try:
                response = messaging.send_each(
                    [_fcm_message(message, self._web_app_url) for message in batch],
                    dry_run=False,
                    app=self._app,
                )
            except exceptions.FirebaseError as error:
                # send_each raises only when the batch as a whole failed (for example the
                # OAuth token could not be fetched): every message shares that fate.
                results.extend(self._failure(message, error) for message in batch)
                continue
            for message, sent in zip(batch, response.responses, strict=True):
                if sent.success:
                    results.append(PushResult(message.prompt_id, "sent", sent.message_id))
                else:
                    results.append(self._failure(message, sent.exception))
        return results

    def close(self) -> None:
        # firebase-admin closes its async client with asyncio.run, which refuses to run
        # where an event loop is already running (an async caller; Playwright's sync API in
        # the same test process): then it runs in a thread of its own.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            firebase_admin.delete_app(self._app)
            return
        closing = threading.Thread(target=firebase_admin.delete_app, args=(self._app,))
        closing.start()
        closing.join()

    def _failure(self, message: PushMessage, error: exceptions.FirebaseError) -> PushResult:
        outcome = _outcome(error)
        return PushResult(
            prompt_id=message.prompt_id,
            outcome=outcome,
            error_code=next((code for kind, code in _FCM_CODES if isinstance(error, kind)), None)
            or error.code,
            error_message=str(error)[:_MAX_ERROR_MESSAGE],
            retry_after=self._retry_after(error) if outcome == "retry" else None,
        )

    def _retry_after(self, error: exceptions.FirebaseError) -> float | None:
        """Seconds the server asked us to wait (Retry-After: seconds or an HTTP date)."""
        response = error.http_response
        value = response.headers.get("Retry-After") if response is not None else None
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, (when - self._clock.now()).total_seconds())


def _outcome(error: exceptions.FirebaseError) -> Outcome:
    if isinstance(error, _UNREGISTERED):
        return "unregistered"
    if isinstance(error, _TRANSIENT):
        return "retry"
    if isinstance(error, exceptions.UnknownError):
        # No HTTP response means the transport failed; a gateway error is transient too.
        response = error.http_response
        if response is None or response.status_code in _GATEWAY_STATUSES:
            return "retry"
    return "failed"


def _fcm_message(message: PushMessage, web_app_url: str | None) -> messaging.Message:
    is_token = message.identifier_kind == "token"
    # A browser gets the Web Push part only; a phone its Android and APNs parts.
    platform_parts: dict[str, Any] = (
        {"webpush": _webpush(message, web_app_url)}
        if message.platform == "web"
        else {
            "android": messaging.AndroidConfig(ttl=message.ttl_seconds),
            # apns-expiration is the UNIX time after which APNs stops trying to deliver.
            "apns": messaging.APNSConfig(
                headers={"apns-expiration": str(int(message.expires_at.timestamp()))}
            ),
        }
    )
    return messaging.Message(
        data=message.data,
        notification=messaging.Notification(title=message.title, body=message.body),
        token=message.device_identifier if is_token else None,
        fid=None if is_token else message.device_identifier,
        **platform_parts,
    )


def _webpush(message: PushMessage, web_app_url: str | None) -> messaging.WebpushConfig:
    """The Web Push part: the push service keeps the message only while the prompt is open
    (TTL, RFC 8030), a reminder replaces its prompt's notification (same tag), and a tap
    opens the prompt in the web app (FCM wants an HTTPS link)."""
    link = None
    if web_app_url is not None:
        link = (
            web_app_url
            if message.prompt_id is None
            else f"{web_app_url}#prompt={message.prompt_id}"
        )
    return messaging.WebpushConfig(
        headers={"TTL": str(message.ttl_seconds), "Urgency": "high"},
        notification=messaging.WebpushNotification(
            title=message.title, body=message.body, tag=message.prompt_id or message.kind
        ),
        fcm_options=messaging.WebpushFCMOptions(link=link) if link else None,
    )
