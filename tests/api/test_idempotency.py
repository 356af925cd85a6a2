"""Idempotency-Key on create-session and chat completions; one turn at a time per session."""

from __future__ import annotations

import asyncio
import json

from pathweaver.llm.scripted import Reply, ScriptedModel
from tests.conftest import Project


def chat_url(project: Project) -> str:
    return f"/v1/projects/{project.id}/chat/completions"


async def test_same_key_same_body_returns_the_stored_answer_without_a_model_call(
    client, project: Project, model: ScriptedModel
) -> None:
    headers = {**project.auth, "X-Session-ID": "idem", "Idempotency-Key": "k-1"}
    body = {"messages": [{"role": "user", "content": "hello"}]}
    first = await client.post(chat_url(project), json=body, headers=headers)
    calls = model.count()
    again = await client.post(chat_url(project), json=body, headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert model.count() == calls
    streamed = await client.post(chat_url(project), json={**body, "stream": False}, headers=headers)
    assert streamed.status_code == 422, "a different body with the same key"
    state = (await client.get(f"/v1/projects/{project.id}/sessions/idem", headers=project.auth)).json()
    assert state["messageCount"] == 2


async def test_a_streamed_request_replays_as_a_stream(client, project: Project, model: ScriptedModel) -> None:
    headers = {**project.auth, "X-Session-ID": "idem-s", "Idempotency-Key": "k-2"}
    body = {"messages": [{"role": "user", "content": "stream me"}], "stream": True}
    first = await client.post(chat_url(project), json=body, headers=headers)
    calls = model.count()
    again = await client.post(chat_url(project), json=body, headers=headers)
    assert model.count() == calls

    def content(text: str) -> str:
        frames = [f.removeprefix("data: ") for f in text.split("\n\n") if f.startswith("data: {")]
        return "".join(json.loads(f)["choices"][0]["delta"].get("content") or "" for f in frames)

    assert content(again.text) == content(first.text) == "You said: stream me"
    assert again.text.rstrip().endswith("data: [DONE]")


async def test_a_failed_request_forgets_its_key(client, project: Project, model: ScriptedModel) -> None:
    from pathweaver.errors import LLMError

    model.push(Reply(error=LLMError("upstream down")))
    headers = {**project.auth, "X-Session-ID": "idem-f", "Idempotency-Key": "k-3"}
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert (await client.post(chat_url(project), json=body, headers=headers)).status_code == 502
    assert (await client.post(chat_url(project), json=body, headers=headers)).status_code == 200


async def test_create_session_with_a_key(client, project: Project) -> None:
    url = f"/v1/projects/{project.id}/sessions"
    headers = {**project.auth, "Idempotency-Key": "create-1"}
    first = await client.post(url, json={"session_id": "c1"}, headers=headers)
    again = await client.post(url, json={"session_id": "c1"}, headers=headers)
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    other = await client.post(url, json={"session_id": "c2"}, headers=headers)
    assert other.status_code == 422


async def test_keys_are_scoped_per_project(client, store, project: Project) -> None:
    from tests.conftest import make_project

    second = await make_project(store, "second")
    for p in (project, second):
        response = await client.post(
            f"/v1/projects/{p.id}/sessions",
            json={"session_id": "same"},
            headers={**p.auth, "Idempotency-Key": "shared"},
        )
        assert response.status_code == 200 and "idempotent-replayed" not in response.headers


async def test_concurrent_turns_on_one_session_stay_linear(
    client, project: Project, model: ScriptedModel
) -> None:
    async def slow(request):
        await asyncio.sleep(0)
        return Reply("ok")

    await client.post(
        f"/v1/projects/{project.id}/sessions", json={"session_id": "busy"}, headers=project.auth
    )

    async def send(i: int) -> int:
        response = await client.post(
            chat_url(project),
            json={"messages": [{"role": "user", "content": f"message {i}"}]},
            headers={**project.auth, "X-Session-ID": "busy"},
        )
        assert response.status_code in (200, 409), response.text
        if response.status_code == 409:
            assert response.headers["retry-after"]
        return response.status_code

    codes = await asyncio.gather(*(send(i) for i in range(10)))
    state = (await client.get(f"/v1/projects/{project.id}/sessions/busy", headers=project.auth)).json()
    messages = state["state"]["messages"]
    assert len(messages) == 2 * codes.count(200)
    assert [m["role"] for m in messages] == ["user", "assistant"] * codes.count(200)
    for question, answer in zip(messages[::2], messages[1::2], strict=True):
        assert answer["content"] == "You said: " + question["content"]
    assert [t["seq"] for t in state["turns"]] == list(range(1, codes.count(200) + 1))
