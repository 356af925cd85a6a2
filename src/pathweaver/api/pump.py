"""Reading a turn's events with a deadline, without cancelling the turn.

A streamed turn must send a heartbeat when the model is silent for a while; waiting on the
turn's generator with a timeout would cancel the model call itself. :class:`EventPump`
runs the generator in its own task and hands its items over through a queue, so the reader
can time out, send ``: keep-alive``, and wait again. Closing the pump (a client that went
away) cancels the task, and with it the model call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

import anyio

T = TypeVar("T")
TIMEOUT: Any = object()
END: Any = object()
#: The reader was told the consumer went away (see :meth:`EventPump.abandon`).
GONE: Any = object()


class EventPump(Generic[T]):
    def __init__(self, source: AsyncIterator[T]):
        self._queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(source))
        self._stopped = False

    async def _run(self, source: AsyncIterator[T]) -> None:
        try:
            async with contextlib.aclosing(source):  # type: ignore[type-var]
                async for item in source:
                    self._queue.put_nowait((item, None))
        except Exception as exc:
            await self._queue.put((None, exc))
            return
        await self._queue.put((END, None))

    async def get(self, timeout: float) -> Any:  # noqa: ASYNC109 - a deadline per item, by design
        """The next item, ``TIMEOUT`` after ``timeout`` s, ``END`` or ``GONE``; raises what the source raised."""
        # Per streamed chunk: take a waiting item at once, and time the wait with
        # ``asyncio.timeout`` (``wait_for`` would make a task per chunk).
        queue = self._queue
        if queue.empty():
            # Waited for outside any ``except`` block: a stream waits here most of its life,
            # and a caught exception would be kept alive with its traceback meanwhile.
            try:
                async with asyncio.timeout(timeout):
                    item, error = await queue.get()
            except TimeoutError:
                return TIMEOUT
        else:
            item, error = queue.get_nowait()
        if error is not None:
            raise error
        return item

    def abandon(self) -> None:
        """The consumer went away: stop the producer, and wake the reader with ``GONE``."""
        self._stop()
        self._queue.put_nowait((GONE, None))

    def _stop(self) -> None:
        """Cancel the producer, once: a second cancel would cut its clean-up (closing the
        model's connection) short."""
        if not self._stopped and not self._task.done():
            self._stopped = True
            self._task.cancel()

    async def aclose(self) -> None:
        """Cancel the producer once and wait (shielded, at most 5 s) for it to clean up.

        Waiting unshielded inside a cancelled request would forward every repeated
        cancellation to the producer and cut its own clean-up short (the model call would
        not get to close its connection).
        """
        self._stop()
        if self._task.done():  # the stream had ended: no cancel scope to set up
            return
        with anyio.move_on_after(5, shield=True), contextlib.suppress(asyncio.CancelledError):
            await self._task


async def on_disconnect(receive: Any, went_away: Callable[[], None]) -> None:
    """Call ``went_away`` when the client disconnects (run as a task while a handler waits)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            went_away()
            return
