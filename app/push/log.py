"""The embedded default sender: writes each push to the log, so `make run` needs no Firebase."""

import logging
from collections.abc import Sequence

from app.push.base import PushMessage, PushResult

_log = logging.getLogger("kairos.push")


class LogSender:
    def __init__(self, logger: logging.Logger = _log) -> None:
        self._logger = logger

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        for message in messages:
            # Only a prefix of the identifier: push tokens are credentials for the device.
            self._logger.info(
                "push %s for prompt %s to %s %s… (expires %s): %s",
                message.kind,
                message.prompt_id,
                message.identifier_kind,
                message.device_identifier[:8],
                message.expires_at.isoformat(),
                message.title,
            )
        return [PushResult(prompt_id=message.prompt_id, outcome="sent") for message in messages]
