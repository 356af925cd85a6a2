"""Full garbage collections wait for a moment without requests (issue 20: under twenty
concurrent saves one took 90 to 128 ms and stalled every request of the worker)."""

from __future__ import annotations

import asyncio
import gc

import httpx

from pathweaver.api.app import create_app
from pathweaver.api.heap import CountRequests, IdleCollector
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import served


async def wait_until(condition, seconds: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


async def test_a_due_collection_waits_for_the_requests_in_flight() -> None:
    collector = IdleCollector(due=0, every=0.01, longest_wait=60)
    collector.requests = 3
    running = asyncio.create_task(collector.run())
    try:
        await asyncio.sleep(0.2)
        assert (collector.idle_runs, collector.forced_runs) == (0, 0)
        collector.requests = 0
        assert await wait_until(lambda: collector.idle_runs >= 1)
        assert collector.forced_runs == 0
    finally:
        running.cancel()


async def test_under_load_that_never_pauses_it_runs_after_the_longest_wait() -> None:
    collector = IdleCollector(due=0, every=0.01, longest_wait=0.15)
    collector.requests = 1
    running = asyncio.create_task(collector.run())
    try:
        assert await wait_until(lambda: collector.forced_runs >= 1)
        assert collector.idle_runs == 0
    finally:
        running.cancel()


async def test_python_runs_no_full_collection_of_its_own_meanwhile_and_gets_its_trigger_back() -> None:
    before = gc.get_threshold()
    collector = IdleCollector(due=10**6, every=0.01)
    running = asyncio.create_task(collector.run())
    await asyncio.sleep(0.05)
    assert gc.get_threshold()[:2] == before[:2]
    assert gc.get_threshold()[2] > 10**9
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert gc.get_threshold() == before


async def test_requests_are_counted_until_their_last_byte() -> None:
    collector = IdleCollector()
    seen: list[int] = []
    release = asyncio.Event()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(collector.requests)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await release.wait()
        await send({"type": "http.response.body", "body": b"done"})

    counted = CountRequests(app, collector)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=counted), base_url="http://x") as http:
        first = asyncio.create_task(http.get("/"))
        second = asyncio.create_task(http.get("/"))
        assert await wait_until(lambda: len(seen) == 2)
        assert collector.requests == 2
        release.set()
        assert [r.text for r in await asyncio.gather(first, second)] == ["done", "done"]
    assert collector.requests == 0


async def test_the_server_reports_its_full_collections(
    settings: Settings, store: Store, model: ScriptedModel
) -> None:
    async with served(create_app(settings, store=store, model=model)) as http:
        health = (await http.get("/healthz")).json()
    # The request asking is the one in flight.
    assert health["fullCollections"] == {"idle": 0, "underLoad": 0, "requestsInFlight": 1}
