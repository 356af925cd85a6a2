"""Where the CPU-heavy work of saves and checks runs: one thread for the whole process.

Saving a pathway parses, validates and dumps it; lint and tool schema checks grow with what
they check. That work runs off the event loop, but pure Python holds the interpreter, and
every thread doing it competes with the event loop for it: under twenty concurrent saves of
400-node pathways, half a dozen threads (``asyncio.to_thread``'s pool) took turns with the
loop, and another client's request waited over 100 ms (``bench/hostile``). In one lane the
saves queue instead (they share the interpreter anyway, so they take no longer in all), and
the loop competes with one thread only. Turns do not use this lane: a turn's own parsing
(a pathway on a cache miss, tool arguments) must not wait behind a save.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_LANE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pathweaver-heavy")


async def heavy(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in the heavy lane; the caller waits without holding the loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_LANE, functools.partial(fn, *args, **kwargs))
