"""No more requests in the app at once than the server has threads for synchronous code.

FastAPI runs a request's synchronous dependencies, its endpoint and the validation of its
response one after the other in threads of one shared pool (anyio's default limiter, 40),
and commits the request's transaction only after the response is validated. With more
requests in flight than threads, every thread can be held by a request waiting on a lock
(SQLite's write turn, a PostgreSQL row) that a request without a thread holds: it waits for
a thread to validate its response before it can commit, and all of them stall until a lock
times out (then 500s). Admitted at most one per thread, every request in the app can always
get the one thread it needs next; the others wait here, in the event loop, in order.

A request is admitted once its body has arrived (within the body limit, outside this
layer), so a slow upload holds no place.
"""

import asyncio
import weakref

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_Admitted = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter]


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._admitted = _Admitted()  # one per event loop: a test client runs its own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # gone, or refused by the body limit: nothing to run
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def received() -> Message:
            nonlocal body
            if body is None:
                return await receive()  # after the body: a disconnect, when it comes
            message, body = body, None
            return message

        async with self._limiter():
            await self.app(scope, received, send)

    def _limiter(self) -> anyio.CapacityLimiter:
        threads = anyio.to_thread.current_default_thread_limiter()
        loop = asyncio.get_running_loop()
        admitted = self._admitted.get(loop)
        if admitted is None:
            admitted = self._admitted[loop] = anyio.CapacityLimiter(threads.total_tokens)
        admitted.total_tokens = threads.total_tokens  # follows a server that changes it
        return admitted
