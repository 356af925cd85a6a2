"""A failed turn leaves nothing behind and says so (issue 20, deliverable 5).

A turn that fails after reply deltas went out ends its stream with an ``error`` object in
an SSE data line (what OpenAI's clients raise as ``APIError``), stores no half turn, and a
session that this very turn created on first use does not remain. A 500 says
``Connection: close``, streamed turns included.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from pathweaver.agent.pathway import Pathway
from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import Project, make_project
from tests.hardening.conftest import served
from tests.support.mock_llm import MockLLM, MockReply

CUT = MockReply(text="This reply will be cut short", chunk_size=5, fault="cut", cut_after=3)
#: One node, no edge: a turn is one model call (the reply), so the mock's script is the reply's.
LONE = {
    "nodes": [
        {
            "id": "start",
            "type": "input",
            "position": {"x": 0, "y": 0},
            "data": {"type": "start", "title": "Start", "prompt": "Answer."},
        }
    ],
    "edges": [],
}


@pytest.fixture
async def project(store: Store) -> Project:
    return await make_project(store, pathway=Pathway.model_validate(LONE))


async def stream_lines(live: httpx.AsyncClient, project: Project, session: str) -> list[dict[str, Any] | str]:
    """The data lines of one streamed turn, parsed (``[DONE]`` kept as text)."""
    events: list[dict[str, Any] | str] = []
    async with live.stream(
        "POST",
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "talk"}], "stream": True},
        headers={**project.auth, "X-Session-ID": session},
    ) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


def content(events: list[dict[str, Any] | str]) -> str:
    return "".join(
        (choice.get("delta") or {}).get("content") or ""
        for event in events
        if isinstance(event, dict)
        for choice in event.get("choices") or []
    )


async def test_a_stream_cut_after_deltas_ends_with_an_error_and_leaves_no_session(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    upstream.push(CUT)
    events = await stream_lines(live, project, "cut-new")

    assert content(events) == "This reply"  # deltas went out first
    last = events[-1]
    assert isinstance(last, dict) and set(last) == {"error"}
    assert last["error"]["type"] and last["error"]["message"]
    assert "[DONE]" not in events
    # The session this failed turn created on first use is gone, with its greeting.
    gone = await live.get(f"/v1/projects/{project.id}/sessions/cut-new", headers=project.auth)
    assert gone.status_code == 404
    listed = await live.get(f"/v1/projects/{project.id}/sessions", headers=project.auth)
    assert listed.status_code == 200
    assert "cut-new" not in listed.text
    # The id is free again: the next turn creates it afresh and succeeds.
    upstream.push(MockReply(text="fine now"))
    events = await stream_lines(live, project, "cut-new")
    assert content(events) == "fine now" and events[-1] == "[DONE]"
    session = (await live.get(f"/v1/projects/{project.id}/sessions/cut-new", headers=project.auth)).json()
    assert [m["content"] for m in session["state"]["messages"] if m["role"] == "assistant"][-1] == "fine now"


async def test_a_failed_turn_on_an_existing_session_stores_no_half_turn(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    created = await live.post(
        f"/v1/projects/{project.id}/sessions", json={"session_id": "kept"}, headers=project.auth
    )
    assert created.status_code == 200
    upstream.push(MockReply(text="first answer"))
    assert content(await stream_lines(live, project, "kept")) == "first answer"
    before = (await live.get(f"/v1/projects/{project.id}/sessions/kept", headers=project.auth)).json()

    upstream.push(CUT)
    events = await stream_lines(live, project, "kept")
    assert isinstance(events[-1], dict) and "error" in events[-1]

    after = (await live.get(f"/v1/projects/{project.id}/sessions/kept", headers=project.auth)).json()
    assert after["state"]["messages"] == before["state"]["messages"]  # no user message, no partial reply
    assert after["messageCount"] == before["messageCount"]
    # The session is free for its next turn (the lease was let go).
    upstream.push(MockReply(text="second answer"))
    assert content(await stream_lines(live, project, "kept")) == "second answer"


async def test_a_failed_json_turn_leaves_no_session(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    upstream.push(MockReply(status=500, error="upstream broke"))
    upstream.push(MockReply(status=500, error="upstream broke"))
    upstream.push(MockReply(status=500, error="upstream broke"))
    failed = await live.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={**project.auth, "X-Session-ID": "json-new"},
    )
    assert failed.status_code >= 500 and "error" in failed.json()
    gone = await live.get(f"/v1/projects/{project.id}/sessions/json-new", headers=project.auth)
    assert gone.status_code == 404


async def test_openai_clients_recognise_the_error_event(
    live: httpx.AsyncClient, project: Project, upstream: MockLLM
) -> None:
    upstream.push(CUT)
    client = openai.AsyncOpenAI(
        base_url=f"{str(live.base_url).rstrip('/')}/v1/projects/{project.id}",
        api_key=project.key,
        default_headers={"X-Session-ID": "sdk"},
        max_retries=0,
    )
    received: list[str] = []
    with pytest.raises(openai.APIError):
        stream = await client.chat.completions.create(
            model="pathway-default", stream=True, messages=[{"role": "user", "content": "talk"}]
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    await client.close()
    assert "".join(received) == "This reply"


class Broken(RuntimeError):
    pass


async def test_an_unexpected_error_in_a_streamed_turn(
    settings: Settings, store: Store, model: ScriptedModel, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before any output: a 500 that says Connection: close. After it: an error event, and the
    connection stays usable (the stream ended as a stream should)."""
    app = create_app(settings, store=store, model=model)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        chat = f"/v1/projects/{project.id}/chat/completions"
        body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
        real = app.state.store.projects.session_basis

        async def fail(*args: object, **kwargs: object) -> None:
            raise Broken("a bug in a turn")

        monkeypatch.setattr(app.state.store.projects, "session_basis", fail)
        before = await http.post(chat, json=body, headers={**project.auth, "X-Session-ID": "s1"})
        assert before.status_code == 500 and before.headers["connection"] == "close"
        assert before.json()["error"]["type"] == "server_error"
        assert (await http.get("/healthz")).status_code == 200

        monkeypatch.setattr(app.state.store.projects, "session_basis", real)

        async def commit_fails(*args: object, **kwargs: object) -> None:
            raise Broken("a bug at commit")

        monkeypatch.setattr(app.state.store.sessions, "commit_turn", commit_fails)
        answer = await http.post(chat, json=body, headers={**project.auth, "X-Session-ID": "s2"})
        assert answer.status_code == 200
        data = [line.removeprefix("data: ") for line in answer.text.splitlines() if line.startswith("data: ")]
        assert json.loads(data[-1])["error"]["type"] == "server_error"
        assert (await http.get("/healthz")).status_code == 200
        gone = await http.get(f"/v1/projects/{project.id}/sessions/s2", headers=project.auth)
        assert gone.status_code == 404
