"""A fake FCM HTTP v1 server: real HTTP on 127.0.0.1 (uvicorn, in a background thread).

It serves the OAuth token exchange of a service account (checking the signed assertion)
and `POST /v1/projects/{project}/messages:send` (checking the bearer token), records every
send it receives, and answers each device identifier (token or FID) from a script:

    with FakeFcm() as fcm:
        fcm.script("tok-1", [unavailable(), ok()])   # a 503, then success
        credentials = fcm.service_account_file(tmp_path)
        ... FcmSender(credentials, endpoint=fcm.url) ...
        assert len(fcm.requests_for("tok-1")) == 2

Each send for an identifier takes the next scripted reply; once its script is used up (or
it has none) the send succeeds. `refused_url` is a port where nothing listens.
"""

import asyncio
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs

import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
# google-auth signs the assertion for Google's token endpoint whatever token_uri says.
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
_SEND_PATH = re.compile(r"/v1/projects/(?P<project>[^/]+)/messages:send")


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status with an FCM error body unless 200, after `delay` s."""

    status: int = 200
    rpc_status: str | None = None
    fcm_code: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


def ok() -> Reply:
    return Reply()


def unregistered() -> Reply:
    return Reply(404, "NOT_FOUND", "UNREGISTERED")


def sender_id_mismatch() -> Reply:
    return Reply(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH")


def invalid_argument() -> Reply:
    return Reply(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")


def quota(retry_after: int | str | None = 60) -> Reply:
    return Reply(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", _retry_after(retry_after))


def unavailable(retry_after: int | str | None = None) -> Reply:
    return Reply(503, "UNAVAILABLE", "UNAVAILABLE", _retry_after(retry_after))


def internal() -> Reply:
    return Reply(500, "INTERNAL", "INTERNAL")


def slow(seconds: float, then: Reply | None = None) -> Reply:
    return replace(then or ok(), delay=seconds)


def _retry_after(value: int | str | None) -> tuple[tuple[str, str], ...]:
    return () if value is None else (("retry-after", str(value)),)


@dataclass(frozen=True)
class RecordedSend:
    project: str
    target: str
    target_kind: str  # "token" or "fid"
    message: dict[str, Any]
    validate_only: bool
    headers: dict[str, str]
    received_at: float  # time.monotonic()


class FakeFcm:
    def __init__(self, project_id: str = "kairos-test") -> None:
        self.project_id = project_id
        self.requests: list[RecordedSend] = []
        self.token_requests = 0
        self._scripts: dict[str, deque[Reply]] = {}
        self._issued: set[str] = set()
        self._lock = threading.Lock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._refused: socket.socket | None = None
        self.url = ""
        self.refused_url = ""

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Accepted connections inherit it: without, an answer's second write waits out the
        # client's delayed ACK (40 ms a request on a kept-alive connection).
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        # Bound but never listening: connecting gets "connection refused", and the port
        # stays ours, so nothing else can start listening on it during the tests.
        self._refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._refused.bind(("127.0.0.1", 0))
        self.refused_url = f"http://127.0.0.1:{self._refused.getsockname()[1]}"
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            log_level="warning",
            access_log=False,
            lifespan="off",
            backlog=4096,
            # Long enough that a loaded machine never has the server close a kept-alive
            # connection the client is just sending on (the client sees a reset).
            timeout_keep_alive=120,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [listener]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake FCM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self._refused is not None:
            self._refused.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- test-facing helpers ---------------------------------------------------------

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def script(self, target: str, replies: Iterable[Reply]) -> None:
        with self._lock:
            self._scripts[target] = deque(replies)

    def requests_for(self, target: str) -> list[RecordedSend]:
        with self._lock:
            return [request for request in self.requests if request.target == target]

    def reset(self) -> None:
        """Forget scripts and recorded requests (issued access tokens stay valid)."""
        with self._lock:
            self._scripts.clear()
            self.requests.clear()
            self.token_requests = 0

    def issue_token(self) -> str:
        """An access token the send endpoint accepts (for clients that skip OAuth)."""
        with self._lock:
            token = f"fake-access-{len(self._issued)}"
            self._issued.add(token)
        return token

    def service_account_file(self, directory: Path) -> Path:
        """A service-account JSON whose key is throwaway and whose token_uri is this fake."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = directory / "fake-service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": self.project_id,
                    "private_key_id": "fake-key",
                    "private_key": pem.decode(),
                    "client_email": f"push@{self.project_id}.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": self.token_uri,
                }
            )
        )
        return path

    # --- the server ------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            event = await receive()
            if event["type"] == "http.disconnect":
                return  # the connection is gone: nothing to answer, nothing to record
            body += event.get("body", b"")
            more = event.get("more_body", False)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        match = _SEND_PATH.fullmatch(scope["path"])
        if scope["method"] == "POST" and scope["path"] == "/token":
            status, payload, extra = self._token(body)
        elif scope["method"] == "POST" and match:
            reply = self._record(match["project"], headers, body)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            status, payload, extra = self._answer(reply, headers)
        else:
            status, payload, extra = 404, {"error": "not found"}, ()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")]
                + [(k.encode(), v.encode()) for k, v in extra],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})

    def _token(self, body: bytes) -> tuple[int, dict[str, Any], tuple[tuple[str, str], ...]]:
        form = parse_qs(body.decode())
        try:
            jwt.decode(
                form["assertion"][0],
                self._key.public_key(),
                algorithms=["RS256"],
                audience=TOKEN_AUDIENCE,
            )
        except (KeyError, jwt.PyJWTError):
            return 400, {"error": "invalid_grant"}, ()
        with self._lock:
            self.token_requests += 1
        token = self.issue_token()
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}, ()

    def _record(self, project: str, headers: dict[str, str], body: bytes) -> Reply:
        payload = json.loads(body)
        message = payload.get("message", {})
        kind = "fid" if "fid" in message else "token"
        target = message.get(kind, "")
        with self._lock:
            self.requests.append(
                RecordedSend(
                    project=project,
                    target=target,
                    target_kind=kind,
                    message=message,
                    validate_only=bool(payload.get("validate_only")),
                    headers=headers,
                    received_at=time.monotonic(),
                )
            )
            script = self._scripts.get(target)
            return script.popleft() if script else ok()

    def _answer(
        self, reply: Reply, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], tuple[tuple[str, str], ...]]:
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            known = bearer in self._issued
        if not known:
            return 401, _error(401, "UNAUTHENTICATED", None), ()
        if reply.status == 200:
            with self._lock:
                number = len(self.requests)
            return 200, {"name": f"projects/{self.project_id}/messages/{number}"}, ()
        return reply.status, _error(reply.status, reply.rpc_status, reply.fcm_code), reply.headers


def _error(status: int, rpc_status: str | None, fcm_code: str | None) -> dict[str, Any]:
    """The error body FCM v1 sends (google.rpc.Status with an FcmError detail)."""
    error: dict[str, Any] = {"code": status, "message": f"fake {rpc_status}", "status": rpc_status}
    if fcm_code:
        error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": fcm_code}]
    return {"error": error}
