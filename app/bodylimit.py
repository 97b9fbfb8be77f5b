"""Refuse oversized request bodies before they reach the routers.

The 413 goes out only once the client has sent the rest of its body (read and thrown away,
up to a bound): a client that writes the whole body before reading would otherwise have
its connection closed under it while it is still writing, and see a reset instead of the
answer. Past the bound, the server answers at once and closes the connection."""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.requestid import current_request_id


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, max_drained_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_drained_bytes = max_drained_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            # A client waiting for "100 Continue" has not sent its body and will not.
            waits = headers.get(b"expect", b"").lower() == b"100-continue"
            drained = not waits and int(length) <= self.max_drained_bytes
            if drained:
                drained = await self._drain(receive, 0)
            await self._refuse(send, close=not drained)
            return
        seen = 0
        refused = False

        async def counted_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer now and tell the app the client is gone, so it stops reading.
                    refused = True
                    drained = not message.get("more_body", False) or await self._drain(
                        receive, seen
                    )
                    await self._refuse(send, close=not drained)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted_receive, guarded_send)

    async def _drain(self, receive: Receive, seen: int) -> bool:
        """Read the rest of the body and discard it; whether it ended within the bound."""
        while seen <= self.max_drained_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return False  # the client went away
            seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                return seen <= self.max_drained_bytes
        return False

    async def _refuse(self, send: Send, *, close: bool) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Payload too large",
                "status": 413,
                "code": "payload_too_large",
                "detail": f"Request body exceeds {self.max_bytes} bytes",
                "request_id": current_request_id(),
            }
        ).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if close:
            # The rest of the body was not read: this connection cannot carry another request.
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
