"""The worker process's interpreter settings: what keeps garbage collection and threads from
stalling requests (issue 20, ``bench/hostile``; benchmarks M6 and M12).

Only the process's own server applies them (``api.app.create_app`` when it opens its store):
they are process-wide, and an app built by a test shares its process with the test runner.

- :func:`settle_heap`: the objects of start-up are moved out of the collector's way.
- :func:`share_the_interpreter`: worker threads give the event loop the interpreter back
  sooner.
- :class:`IdleCollector`: full collections (the old generation) happen when no request is
  in flight, not in the middle of twenty of them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("pathweaver.heap")

#: How long a thread may hold the interpreter while another waits for it (Python's default
#: is 5 ms). See :func:`share_the_interpreter`.
SWITCH_INTERVAL = 0.0005


def settle_heap() -> None:
    """Keep the objects of start-up (modules, the app, the engines) out of garbage collection.

    Python's full collections walk every tracked object; with FastAPI, SQLAlchemy and
    pydantic loaded that took over 100 ms, during which every stream on this worker stalled
    (benchmark M12: a turn that brings 500 messages allocates enough to set one off).
    ``gc.freeze`` moves what exists now out of their way; what requests allocate is still
    collected as before. When full collections happen is :class:`IdleCollector`'s choice.
    """
    gc.collect()
    gc.freeze()


def share_the_interpreter() -> None:
    """Let the event loop take the interpreter back quickly from worker threads.

    Heavy checks run in threads (lint, the validation of a large pathway, schema checks) so
    that they never hold the event loop, but a thread running pure Python keeps the GIL
    until the switch interval runs out; the loop thread, which gives it up at every socket
    or database call, then waits up to that long each time it wants it back. A request that
    makes twenty such calls while a lint runs waited 100 ms and more at Python's default of
    5 ms (``bench/hostile``: 202 ms worst). At 0.5 ms it waits a tenth as long; the thread
    doing the heavy work is interrupted more often, which costs it next to nothing.
    """
    sys.setswitchinterval(SWITCH_INTERVAL)


class IdleCollector:
    """Collect the old generation when the worker has no request in flight.

    Why. A full collection walks every tracked object that is not frozen, and stops every
    thread while it does. What requests hold while they run is walked too: under twenty
    concurrent saves of 400-node pathways a full collection took 90 to 128 ms
    (``bench/hostile``), with 1,000 streams open 100 to 200 ms (benchmark M6), and every
    other request of the worker waited that long. Those collections freed next to nothing
    (0 to 200 objects each): a turn's cyclic garbage dies young, in the collections of the
    younger generations, which are left as Python sets them.

    How. Python's own trigger for full collections is turned off (the third threshold set
    out of reach); :meth:`run` looks every :attr:`every` seconds whether one is due, that
    is whether the middle generation has been collected :attr:`due` times since the last
    full collection (the trigger the server used before, a hundred times rarer than
    Python's default of 10). A due collection runs as soon as no request is in flight, when
    it walks only what the worker keeps between requests; under load that never pauses it
    waits at most :attr:`longest_wait` seconds, then runs anyway. The cost: cyclic garbage
    that outlives the younger collections is kept up to that long.

    Requests are counted by :class:`CountRequests`, which the app installs in front of
    everything (a stream counts until its last byte).
    """

    def __init__(self, *, due: int = 1000, every: float = 0.25, longest_wait: float = 60.0):
        self.due = due
        self.every = every
        self.longest_wait = longest_wait
        #: HTTP requests in flight on this worker.
        self.requests = 0
        #: Full collections run at an idle moment, and run under load after the longest wait.
        self.idle_runs = 0
        self.forced_runs = 0

    async def run(self) -> None:
        """Until cancelled (Python's trigger is restored then)."""
        young, middle, old = gc.get_threshold()
        gc.set_threshold(young, middle, 2**31 - 1)
        due_since: float | None = None
        try:
            while True:
                await asyncio.sleep(self.every)
                if gc.get_count()[2] < self.due:
                    continue
                now = time.monotonic()
                due_since = now if due_since is None else due_since
                if self.requests and now - due_since < self.longest_wait:
                    continue
                if self.requests:
                    self.forced_runs += 1
                    log.debug("full garbage collection after %.0f s under load", now - due_since)
                else:
                    self.idle_runs += 1
                gc.collect()
                due_since = None
        finally:
            gc.set_threshold(young, middle, old)

    def snapshot(self) -> dict[str, int]:
        return {"idle": self.idle_runs, "underLoad": self.forced_runs, "requestsInFlight": self.requests}


class CountRequests:
    """Pure ASGI middleware: counts the HTTP requests in flight for :class:`IdleCollector`."""

    def __init__(self, app: ASGIApp, collector: IdleCollector):
        self.app = app
        self.collector = collector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.collector.requests += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.collector.requests -= 1
