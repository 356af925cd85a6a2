"""Time spent waiting for the model, per request: the basis of ``X-Pathweaver-Overhead-Ms``.

:class:`MeteredModel` wraps any :class:`Model` and records, in the current request's
:class:`UpstreamClock` (a context variable set by the HTTP middleware), the wall time during
which at least one model call was in flight (concurrent calls, like extraction beside the
reply, count once). Outside a request it only forwards.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from pathweaver.llm.base import ChatEvent, ChatRequest, Model, StructuredRequest, StructuredResult


@dataclass
class UpstreamClock:
    busy_seconds: float = 0.0
    _inflight: int = field(default=0, repr=False)
    _since: float = field(default=0.0, repr=False)

    def enter(self) -> None:
        if self._inflight == 0:
            self._since = time.perf_counter()
        self._inflight += 1

    def leave(self) -> None:
        self._inflight -= 1
        if self._inflight == 0:
            self.busy_seconds += time.perf_counter() - self._since

    def busy_now(self) -> float:
        """Busy time so far, counting a call still in flight up to now."""
        running = time.perf_counter() - self._since if self._inflight else 0.0
        return self.busy_seconds + running


current_clock: ContextVar[UpstreamClock | None] = ContextVar("pathweaver_upstream_clock", default=None)


class MeteredModel:
    def __init__(self, inner: Model):
        self.inner = inner
        self.name = inner.name

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        clock = current_clock.get()
        iterator = aiter(self.inner.stream(request))
        try:
            while True:
                if clock is not None:
                    clock.enter()
                try:
                    event = await anext(iterator)
                except StopAsyncIteration:
                    return
                finally:
                    if clock is not None:
                        clock.leave()
                yield event
        finally:
            closer = getattr(iterator, "aclose", None)
            if closer is not None:
                await closer()

    async def structured(self, request: StructuredRequest) -> StructuredResult:
        clock = current_clock.get()
        if clock is not None:
            clock.enter()
        try:
            return await self.inner.structured(request)
        finally:
            if clock is not None:
                clock.leave()

    async def aclose(self) -> None:
        await self.inner.aclose()
