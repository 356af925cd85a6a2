"""SSE hygiene over a real socket: headers that stop proxies buffering, chunks that arrive as
the model produces them (not all at the end), and heartbeats while the model is silent."""

from __future__ import annotations

import itertools
import json
import time

import httpx
import pytest

from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.llm.openai_compat import OpenAICompatModel
from pathweaver.store.store import Store
from tests.conftest import Project
from tests.hardening.conftest import served
from tests.support.mock_llm import MockLLM, MockReply


@pytest.fixture
async def project(one_node_project: Project) -> Project:
    """One node: a turn is one model call, so each pushed upstream answer is the reply."""
    return one_node_project


GAP = 0.15
TEXT = "one two three four five six seven eight "  # 10 chunks of 4 characters


async def stream_turn(
    live: httpx.AsyncClient, project: Project, session: str
) -> tuple[httpx.Response, list[tuple[float, str]], float]:
    """One streamed turn: the response, (arrival time, content) of each delta, start time."""
    deltas: list[tuple[float, str]] = []
    began = time.perf_counter()
    async with live.stream(
        "POST",
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "talk"}], "stream": True},
        headers={**project.auth, "X-Session-ID": session},
    ) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for choice in json.loads(line[6:]).get("choices") or []:
                    if (choice.get("delta") or {}).get("content"):
                        deltas.append((time.perf_counter(), choice["delta"]["content"]))
    return response, deltas, began


async def test_stream_headers_stop_proxies_from_buffering(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    upstream.push(MockReply(text=TEXT))
    response, deltas, _ = await stream_turn(live, project, "sse-headers")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "".join(text for _, text in deltas) == TEXT


async def test_chunks_arrive_as_the_model_sends_them(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    """The mock waits GAP between chunks: the client must see the chunks spread over that
    time, one by one, and the first long before the model has finished."""
    upstream.push(MockReply(text=TEXT, chunk_size=4, gap=GAP))
    _, deltas, began = await stream_turn(live, project, "sse-gaps")
    times = [t for t, _ in deltas]
    assert "".join(text for _, text in deltas) == TEXT
    assert len(deltas) == 10  # relayed one by one, none merged
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    assert gaps[len(gaps) // 2] > GAP / 2  # the median gap follows the model's
    assert times[-1] - times[0] > 0.6 * GAP * (len(times) - 1)  # spread, not in one burst
    # The first content arrives after about one gap, while nine more gaps are still to come.
    assert times[0] - began < 5 * GAP


async def test_a_silent_model_gets_heartbeats(
    settings: Settings, store: Store, upstream_model: OpenAICompatModel, project: Project, upstream: MockLLM
) -> None:
    """With a heartbeat every 0.2 s (``sse_heartbeat_seconds``), a model silent for 1.2 s
    before its first token: the stream starts at the first heartbeat, and the client sees SSE
    comments until the model speaks."""
    beating = settings.model_copy(update={"sse_heartbeat_seconds": 0.2})
    upstream.push(MockReply(text="late", gap=1.2))
    comments = 0
    first_byte: float | None = None
    app = create_app(beating, store=store, model=upstream_model)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as live:
        began = time.perf_counter()
        async with live.stream(
            "POST",
            f"/v1/projects/{project.id}/chat/completions",
            json={"messages": [{"role": "user", "content": "slow"}], "stream": True},
            headers={**project.auth, "X-Session-ID": "sse-heartbeat"},
        ) as response:
            async for line in response.aiter_lines():
                if first_byte is None:
                    first_byte = time.perf_counter() - began
                if line.startswith(":"):
                    comments += 1
    assert first_byte is not None and first_byte < 0.6
    assert comments >= 2


async def test_the_upstream_streams_when_the_client_does_and_answers_whole_when_it_does_not(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    """A JSON client's turn asks the model for one JSON answer (nothing to parse per token);
    a streaming client's turn streams from the model to the client."""
    upstream.push(MockReply(text=TEXT), MockReply(text=TEXT))
    response, deltas, _ = await stream_turn(live, project, "upstream-mode")
    assert response.status_code == 200 and "".join(text for _, text in deltas) == TEXT
    whole = await live.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "again"}]},
        headers={**project.auth, "X-Session-ID": "upstream-mode"},
    )
    assert whole.status_code == 200 and whole.json()["choices"][0]["message"]["content"] == TEXT
    streamed, answered = (request.json() for request in upstream.chat_requests)
    assert streamed["stream"] is True and answered["stream"] is False
