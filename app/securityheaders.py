"""Headers every response carries: `nosniff`, and `no-store` unless a route chose its own
caching (tokens, personal data and every authenticated answer must not be kept by caches,
RFC 6749 §5.1; errors included). Paths under a prefix may add their own (the console's
Content-Security-Policy)."""

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecurityHeadersMiddleware:
    def __init__(
        self, app: ASGIApp, by_prefix: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        self.app = app
        self.by_prefix = dict(by_prefix or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path: str = scope["path"]
        extra = [
            headers
            for prefix, headers in self.by_prefix.items()
            if path == prefix or path.startswith(prefix + "/")
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for more in extra:
                    headers.update(more)
                headers["X-Content-Type-Options"] = "nosniff"
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                    headers["Pragma"] = "no-cache"
            await send(message)

        await self.app(scope, receive, send_with_headers)
