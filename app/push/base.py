"""What the dispatcher hands a push sender, what it gets back, and the sender protocol."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

# Since firebase-admin 7.5 `Message.token` is deprecated in favour of `fid` (the Firebase
# installation id); devices store which kind of identifier the app registered.
IdentifierKind = Literal["token", "fid"]
PromptPushKind = Literal["prompt", "reminder"]
# A test push is sent by staff to check a participant's device; it belongs to no prompt.
PushKind = Literal[PromptPushKind, "test"]
Outcome = Literal["sent", "unregistered", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class PushMessage:
    """One notification for one prompt (or a test, with no prompt) on one device."""

    prompt_id: str | None
    device_identifier: str
    identifier_kind: IdentifierKind
    kind: PushKind
    title: str
    body: str
    expires_at: datetime
    ttl_seconds: int
    # The device's platform ("android", "ios", "web": an installed web app, whose message
    # carries a webpush part).
    platform: str

    def __post_init__(self) -> None:
        # Checked here so a bad row fails alone instead of failing a whole provider batch.
        if not self.device_identifier:
            raise ValueError("device_identifier is empty")
        if self.expires_at.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")
        if self.ttl_seconds < 0:
            raise ValueError("ttl_seconds must not be negative")

    @classmethod
    def build(
        cls,
        *,
        prompt_id: str | None,
        device_identifier: str,
        identifier_kind: IdentifierKind,
        kind: PushKind,
        title: str,
        body: str,
        expires_at: datetime,
        now: datetime,
        platform: str,
    ) -> "PushMessage":
        """A message whose time to live is what is left until the prompt expires."""
        left = int((expires_at - now).total_seconds())
        return cls(
            prompt_id=prompt_id,
            device_identifier=device_identifier,
            identifier_kind=identifier_kind,
            kind=kind,
            title=title,
            body=body,
            expires_at=expires_at,
            ttl_seconds=max(left, 0),
            platform=platform,
        )

    @property
    def data(self) -> dict[str, str]:
        """The data payload the app reads (FCM data values must be strings); a test push
        names no prompt."""
        data = {"kind": self.kind, "expires_at": self.expires_at.isoformat()}
        return data if self.prompt_id is None else {"prompt_id": self.prompt_id, **data}


@dataclass(frozen=True, slots=True)
class PushResult:
    prompt_id: str | None
    outcome: Outcome
    message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_after: float | None = None


class PushSender(Protocol):
    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        """Send each message; one result per message, in the same order. Never raises for
        a provider failure: it comes back as an outcome."""
        ...
