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

Check-ins are also taken a few at a time (`checkins_at_once`, before their admission): each
is Python's work more than the database's, and in one process only one thread runs Python
at a time, so more of them at once only contend for it (on PostgreSQL, 16 at once decided
a quarter fewer a second than 2, and each waited longer).
"""

import asyncio
import weakref
from contextlib import nullcontext

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_Admitted = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter]


_CHECKIN = ("POST", "/v1/checkins")


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, checkins_at_once: int) -> None:
        self.app = app
        self.checkins_at_once = checkins_at_once
        # One of each per event loop: a test client runs its own.
        self._admitted = _Admitted()
        self._checkins = _Admitted()

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

        checkin = (scope["method"], scope["path"]) == _CHECKIN
        turn = _limiter(self._checkins, self.checkins_at_once) if checkin else nullcontext()
        async with turn, self._limiter():
            await self.app(scope, received, send)

    def _limiter(self) -> anyio.CapacityLimiter:
        # Follows a server that changes its number of threads.
        threads = anyio.to_thread.current_default_thread_limiter()
        return _limiter(self._admitted, int(threads.total_tokens))


def _limiter(limiters: _Admitted, tokens: int) -> anyio.CapacityLimiter:
    """The running event loop's limiter of `limiters`, of `tokens` at once."""
    loop = asyncio.get_running_loop()
    limiter = limiters.get(loop)
    if limiter is None:
        limiter = limiters[loop] = anyio.CapacityLimiter(tokens)
    limiter.total_tokens = tokens
    return limiter
