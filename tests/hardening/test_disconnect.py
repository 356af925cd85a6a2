"""A client that goes away: the upstream call is cancelled, no task is left behind, the
session is free for the next turn and holds no half turn."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.conftest import Project
from tests.support.mock_llm import MockLLM, MockReply


@pytest.fixture
async def project(one_node_project: Project) -> Project:
    """One node: a turn is one model call, so each pushed upstream answer is the reply."""
    return one_node_project


LONG = MockReply(text="word " * 60, chunk_size=5, gap=0.2)  # 60 chunks, 12 s if nobody leaves


def turn_tasks() -> int:
    """Running tasks, leaving out the short-lived ``Event.wait`` task that ``wait_for`` makes
    for the lifecycle worker's poll (it comes and goes on its own clock, not the turn's)."""
    return sum(
        1 for task in asyncio.all_tasks() if getattr(task.get_coro(), "__qualname__", "") != "Event.wait"
    )


async def settle(baseline: int, within: float = 5.0) -> int:
    """The number of tasks once it is back to ``baseline`` (or the last count after ``within`` s)."""
    deadline = time.monotonic() + within
    while True:
        count = turn_tasks()
        if count <= baseline or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.05)


def running() -> list[str]:
    return [repr(task.get_coro()) for task in asyncio.all_tasks()]


async def history(live: httpx.AsyncClient, project: Project, session: str) -> list[dict[str, object]]:
    response = await live.get(f"/v1/projects/{project.id}/sessions/{session}", headers=project.auth)
    if response.status_code == 404:
        return []
    messages: list[dict[str, object]] = response.json()["state"]["messages"]
    return messages


async def open_and_leave(
    live: httpx.AsyncClient,
    project: Project,
    session: str,
    *,
    stream: bool,
    after_first_content: bool,
    upstream: MockLLM | None = None,
) -> None:
    """Start a turn and close the connection: after the first content delta, or as soon as
    the model call has reached ``upstream`` (before anything came back)."""
    request = live.build_request(
        "POST",
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "talk for long"}], "stream": stream},
        headers={**project.auth, "X-Session-ID": session},
    )
    if not after_first_content:
        task = asyncio.create_task(live.send(request, stream=True))
        deadline = time.monotonic() + 10
        while upstream is not None and upstream.calls == 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        task.cancel()  # the client gives up before anything came back: httpx closes the socket
        with pytest.raises(asyncio.CancelledError):
            await task
        return
    response = await live.send(request, stream=True)
    try:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and '"content":"word' in line.replace(" ", ""):
                break
    finally:
        await response.aclose()


async def test_leaving_mid_stream_cancels_the_upstream_call(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    baseline = turn_tasks()
    upstream.push(LONG)
    began = time.monotonic()
    await open_and_leave(live, project, "gone-mid", stream=True, after_first_content=True)
    assert await asyncio.to_thread(upstream.wait_for_disconnect, 3.0), "the mock never saw the call end"
    assert time.monotonic() - began < 3.0  # far from the 12 s the whole reply takes
    assert await settle(baseline) <= baseline, "a task of the abandoned turn is still running"
    # The session is free at once (no 409 from a lingering turn) and holds no half turn.
    assert [m["role"] for m in await history(live, project, "gone-mid")] == []
    upstream.push(MockReply(text="fine"))
    again = await live.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "still there?"}]},
        headers={**project.auth, "X-Session-ID": "gone-mid"},
    )
    assert again.status_code == 200, again.text
    assert [m["content"] for m in await history(live, project, "gone-mid")] == ["still there?", "fine"]
    assert upstream.calls == 2


async def assert_cancelled_and_free(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM, session: str, baseline: int
) -> None:
    """The mock saw the call end at once, no task is left, and the session takes a turn."""
    assert await asyncio.to_thread(upstream.wait_for_disconnect, 4.0), "the model call went on"
    assert await settle(baseline) <= baseline, f"a task of the abandoned turn is still running: {running()}"
    assert [m["role"] for m in await history(live, project, session)] == []
    upstream.push(MockReply(text="fine"))
    again = await live.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "still there?"}]},
        headers={**project.auth, "X-Session-ID": session},
    )
    assert again.status_code == 200, again.text


async def test_leaving_before_the_first_token_cancels_the_upstream_call(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    baseline = turn_tasks()
    upstream.push(MockReply(text="late " * 5, gap=4.0))  # the first content comes after 4 s
    await open_and_leave(
        live, project, "gone-early", stream=True, after_first_content=False, upstream=upstream
    )
    await assert_cancelled_and_free(live, project, upstream, "gone-early", baseline)


async def test_leaving_a_non_streaming_turn_cancels_the_upstream_call(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    baseline = turn_tasks()
    upstream.push(LONG)
    await open_and_leave(
        live, project, "gone-plain", stream=False, after_first_content=False, upstream=upstream
    )
    await assert_cancelled_and_free(live, project, upstream, "gone-plain", baseline)


async def test_a_stream_read_to_the_end_is_stored_once(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    """The control case: the same turn, read to the end, is stored as one turn."""
    upstream.push(MockReply(text="short answer", gap=0.01))
    async with live.stream(
        "POST",
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "stream": True},
        headers={**project.auth, "X-Session-ID": "stayed"},
    ) as response:
        frames = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    assert frames[-1] == "data: [DONE]"
    content = "".join(
        (c.get("delta") or {}).get("content") or ""
        for frame in frames[:-1]
        for c in json.loads(frame[6:]).get("choices") or []
    )
    assert content == "short answer"
    assert [m["content"] for m in await history(live, project, "stayed")] == ["hi", "short answer"]
