"""Pure ASGI middleware: request body limit, and deprecation headers on legacy paths."""

from __future__ import annotations

import asyncio
import json
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pathweaver.api.auth import RATE_HEADERS
from pathweaver.llm.metered import UpstreamClock, current_clock


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, and bodies that trickle in with 408.

    A declared ``Content-Length`` over the limit is refused before reading anything; a
    chunked or lying body is cut as soon as the bytes received pass the limit, so memory
    never holds more than the limit. A client that leaves more than ``read_timeout``
    seconds between two parts of its body (a slowloris-style trickle) gets 408 and the
    connection is closed: it cannot hold a worker's connection open by sending slowly.
    Once the body is complete, ``receive`` is not timed (streams wait on it for a
    disconnect).
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        uploads: tuple[str, int] | None = None,
        read_timeout: float | None = None,
    ):
        """``uploads``: (path suffix, limit) for the upload route that takes bigger bodies."""
        self.app = app
        self.default = limit
        self.uploads = uploads
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.default
        if self.uploads is not None and scope.get("path", "").endswith(self.uploads[0]):
            limit = self.uploads[1]
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await self._refuse(send, limit)
                    return
        received = 0
        started = False
        complete = False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete or self.read_timeout is None:
                message = await receive()
            else:
                try:
                    # ``asyncio.timeout``, not ``wait_for``: on Python 3.11 the latter makes
                    # a task per read.
                    async with asyncio.timeout(self.read_timeout):
                        message = await receive()
                except TimeoutError:
                    raise _TooSlow(self.read_timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
                complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, limit)
        except _TooSlow as slow:
            if not started:
                await _error(send, 408, slow.detail, "request_timeout", close=True)

    async def _refuse(self, send: Send, limit: int) -> None:
        await _error(send, 413, f"request body is larger than {limit} bytes", "request_too_large")


async def _error(send: Send, status: int, message: str, code: str, *, close: bool = False) -> None:
    body = json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(HTTPException):
    """Raised from ``receive``: an HTTPException, so FastAPI's body parsing lets it through
    and the error mapping answers 413 in the route's own error shape."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body is larger than {limit} bytes")


class _TooSlow(HTTPException):
    """Raised from ``receive`` when the body stalls; answered 408 (the route's own shape)."""

    def __init__(self, seconds: float):
        super().__init__(
            408,
            f"the request body stalled for more than {seconds:g} s; send it without pauses",
            headers={"Connection": "close"},  # the rest of the body is not read: drop the connection
        )


class LegacyPathHeaders:
    """Add ``Deprecation: true`` and ``Sunset`` to every answer on a gen 1 or gen 2 path."""

    def __init__(self, app: ASGIApp, sunset: str):
        self.app = app
        self.headers = [(b"deprecation", b"true"), (b"sunset", sunset.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith("/project/") or path.startswith("/api/project/")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)


class OverheadHeader:
    """``X-Pathweaver-Overhead-Ms``: time spent on a request outside model calls.

    Measured from the request's arrival to the start of the response, minus the time some
    model call was in flight. For a stream that is the overhead up to its first byte (the
    headers leave with it); per-chunk relay costs are measured by the benchmarks.

    The same hook adds the ``x-ratelimit-*`` headers that admission left in the request
    state (``api/auth.py``, ``api/ratelimit.py``): one wrapper of ``send`` per request.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        clock = UpstreamClock()
        token = current_clock.set(clock)
        began = time.perf_counter()
        # Created here, so that the copies of the scope the routers make share it.
        state = scope.setdefault("state", {})

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                overhead = (time.perf_counter() - began - clock.busy_now()) * 1000
                headers = [
                    *message.get("headers", []),
                    (b"x-pathweaver-overhead-ms", f"{max(overhead, 0.0):.2f}".encode()),
                    *state.get(RATE_HEADERS, ()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            current_clock.reset(token)
