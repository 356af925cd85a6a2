"""How late the event loop wakes: a worker's measure of steps that hold it.

A request must never hold its worker's event loop for long: every other request of the
worker waits meanwhile (issue 20). :class:`LoopLag` sleeps a short interval again and
again and measures how much later than asked it wakes. A wake-up later than the threshold
is logged as a WARNING with the lag and, when a watchdog thread caught the loop in the act,
the code it was running most of that time, or the garbage collections that ran meanwhile: a
full collection stops every thread, and under many concurrent saves of large pathways one
took 90 to 130 ms walking the objects of the requests in flight (``bench/hostile``), with
no frame of ours to blame. The figures are served by ``GET /healthz`` (``loopLag``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from collections import Counter, deque
from typing import Any

log = logging.getLogger("pathweaver.looplag")

#: Lags kept for the percentiles: the last minute at the default interval.
KEPT = 1200
#: Garbage collections shorter than this are not remembered.
GC_NOTED = 0.005


class LoopLag:
    """The loop-lag monitor of one event loop; :meth:`run` is its task.

    ``threshold``: seconds a step may hold the loop before a WARNING (and a count in
    ``stalls``). The loop is sampled every ``threshold / 2`` seconds, at most every 50 ms.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.interval = min(0.05, threshold / 2)
        self.worst = 0.0
        self.stalls = 0
        self.samples = 0
        self.recent: deque[float] = deque(maxlen=KEPT)
        self._beat = time.monotonic()
        self._seen: list[str] = []  # where the watchdog found the loop while it was held
        #: Recent long garbage collections: (when it ended, generation, seconds, freed).
        self.collections: deque[tuple[float, int, float, int]] = deque(maxlen=64)
        self.gc_worst = 0.0
        self._gc_began = 0.0

    async def run(self) -> None:
        """Measure until cancelled; a watchdog thread looks at the loop while it is held."""
        stop = threading.Event()
        loop_thread = threading.get_ident()
        watchdog = threading.Thread(
            target=self._watch, args=(loop_thread, stop), name="pathweaver-looplag", daemon=True
        )
        watchdog.start()
        gc.callbacks.append(self._on_gc)
        try:
            while True:
                asked = time.monotonic()
                self._beat = asked
                await asyncio.sleep(self.interval)
                self.record(time.monotonic() - asked - self.interval)
        finally:
            stop.set()
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        """``gc.callbacks`` hook (on whichever thread collects; the GIL is held throughout)."""
        if phase == "start":
            self._gc_began = time.perf_counter()
            return
        took = time.perf_counter() - self._gc_began
        if took >= GC_NOTED:
            self.collected(info.get("generation", -1), took, info.get("collected", 0))

    def collected(self, generation: int, seconds: float, freed: int) -> None:
        """Remember one long garbage collection, ending now."""
        self.gc_worst = max(self.gc_worst, seconds)
        self.collections.append((time.monotonic(), generation, seconds, freed))

    def record(self, lag: float) -> None:
        """Count one wake-up ``lag`` seconds late; warn when it is past the threshold."""
        lag = max(0.0, lag)
        self.samples += 1
        self.recent.append(lag)
        self.worst = max(self.worst, lag)
        if lag > self.threshold:
            self.stalls += 1
            seen, self._seen = self._seen, []
            where = Counter(seen).most_common(1)[0][0] if seen else None
            since = time.monotonic() - lag - self.interval
            during = [c for c in self.collections if c[0] >= since]
            collecting = sum(c[2] for c in during)
            if during and collecting >= lag / 2:
                worst = max(during, key=lambda c: c[2])
                why = (
                    f"; garbage collection took {collecting * 1000:.0f} ms of it (the longest: "
                    f"generation {worst[1]}, {worst[2] * 1000:.0f} ms, {worst[3]} objects freed)"
                )
            else:
                why = f"; it was running {where}" if where else ""
            log.warning(
                "event loop held for %.0f ms (over %.0f ms, PATHWEAVER_LOOP_LAG_WARN_MS): every other "
                "request of this worker waited%s",
                lag * 1000,
                self.threshold * 1000,
                why,
            )

    def _watch(self, loop_thread: int, stop: threading.Event) -> None:
        """In a thread: while the loop has not woken for the threshold, note where it is
        (every interval; the warning names the place seen most often)."""
        while not stop.wait(self.interval / 2):
            held = time.monotonic() - self._beat - self.interval
            if held > self.threshold and len(self._seen) < 100:
                frame = sys._current_frames().get(loop_thread)
                if frame is not None:
                    self._seen.append(_where(frame))

    def snapshot(self) -> dict[str, Any]:
        """The figures ``/healthz`` serves, in milliseconds."""
        ordered = sorted(self.recent)
        return {
            "thresholdMs": round(self.threshold * 1000, 1),
            "lastMs": round(self.recent[-1] * 1000, 1) if self.recent else 0.0,
            "p99Ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1) if ordered else 0.0,
            "maxMs": round(self.worst * 1000, 1),
            "stalls": self.stalls,
            "samples": self.samples,
            "gcWorstMs": round(self.gc_worst * 1000, 1),
        }


def _where(frame: Any) -> str:
    """The innermost frames of a stack, Pathweaver's own first: ``file:line in function``.

    Read from the frames themselves: ``traceback``'s summaries would read every file's source
    into ``linecache`` (memory held for good, and disk reads from the watchdog thread).
    """
    stack: list[tuple[str, int, str]] = []
    while frame is not None:
        stack.append((frame.f_code.co_filename, frame.f_lineno or 0, frame.f_code.co_name))
        frame = frame.f_back
    stack.reverse()  # outermost first
    ours = [f for f in stack if "pathweaver" in f[0]] or stack
    picked = ours[-2:] + ([stack[-1]] if stack[-1] not in ours[-2:] else [])
    return " <- ".join(f"{name.rsplit('/', 1)[-1]}:{line} in {code}" for name, line, code in reversed(picked))
