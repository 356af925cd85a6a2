"""Chat completions: OpenAI shapes, streaming, sessions, history reconciliation, tools, bad input."""

from __future__ import annotations

import json
import time

import pytest

from pathweaver.llm.base import ToolCall
from pathweaver.llm.scripted import Reply, ScriptedModel
from tests.conftest import Project

V1_CHAT = "/v1/projects/{pid}/chat/completions"
GEN1_CHAT = "/api/project/{pid}/integration/api/chat/completions"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def sse_frames(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.split("\n\n") if line.startswith("data: ")]


async def chat(client, project: Project, messages, session: str | None = None, **extra):
    headers = {**project.auth, **({"X-Session-ID": session} if session else {})}
    return await client.post(
        V1_CHAT.format(pid=project.id), json={"messages": messages, **extra}, headers=headers
    )


async def stored_messages(client, project: Project, session: str) -> list[dict]:
    """The session's stored messages; none when the session does not exist (a session that
    only a failed turn created is not kept)."""
    response = await client.get(f"/v1/projects/{project.id}/sessions/{session}", headers=project.auth)
    if response.status_code == 404:
        return []
    return response.json()["state"]["messages"]


async def test_seed_curl_example_on_the_gen1_path(client, project: Project) -> None:
    await client.post(
        f"/api/project/{project.id}/integration/api/session",
        json={"session_id": "seed"},
        headers=project.auth,
    )
    response = await client.post(
        GEN1_CHAT.format(pid=project.id),
        json={"messages": [user("Hello")]},
        headers={**project.auth, "X-Session-ID": "seed", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "pathway-default"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "You said: Hello"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["session_id"] == "seed"
    assert response.headers["x-session-id"] == "seed"
    assert response.headers["deprecation"] == "true"


async def test_no_session_id_creates_one(client, project: Project) -> None:
    response = await chat(client, project, [user("hi")])
    session = response.headers["x-session-id"]
    assert session and response.json()["session_id"] == session
    assert len(await stored_messages(client, project, session)) == 2


async def test_deprecated_body_session_id_works(client, project: Project) -> None:
    response = await chat(client, project, [user("hi")], session_id="body-session")
    assert response.headers["x-session-id"] == "body-session"


async def test_usage_is_reported_from_the_model(client, project: Project) -> None:
    usage = (await chat(client, project, [user("count these words please")])).json()["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_streaming_sends_openai_chunks_then_done(client, project: Project) -> None:
    response = await chat(
        client,
        project,
        [user("one two three")],
        session="st",
        stream=True,
        stream_options={"include_usage": True},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-session-id"] == "st"
    frames = sse_frames(response.text)
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["session_id"] == "st" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == "You said: one two three"
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) > 1
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [f["choices"][0]["finish_reason"] for f in finals] == ["stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


async def test_client_sends_only_new_messages(client, project: Project) -> None:
    await chat(client, project, [user("first")], session="n")
    await chat(client, project, [user("second")], session="n")
    roles = [(m["role"], m["content"]) for m in await stored_messages(client, project, "n")]
    assert roles == [
        ("user", "first"),
        ("assistant", "You said: first"),
        ("user", "second"),
        ("assistant", "You said: second"),
    ]


async def test_client_resends_the_whole_history(client, project: Project) -> None:
    first = (await chat(client, project, [user("first")], session="h")).json()
    reply = first["choices"][0]["message"]
    history = [{"role": "system", "content": "be brief"}, user("first"), reply, user("second")]
    await chat(client, project, history, session="h")
    contents = [m["content"] for m in await stored_messages(client, project, "h")]
    assert contents == ["first", "You said: first", "second", "You said: second"]


async def test_strict_prefix_of_history_is_a_replay_without_a_model_call(
    client, project: Project, model: ScriptedModel
) -> None:
    one = (await chat(client, project, [user("alpha")], session="p")).json()
    two = (
        await chat(client, project, [user("alpha"), one["choices"][0]["message"], user("beta")], session="p")
    ).json()
    before = model.count()
    again = await chat(
        client, project, [user("alpha"), one["choices"][0]["message"], user("beta")], session="p"
    )
    # The full history now ends with beta's answer, so resending up to "beta" is a retry.
    assert again.status_code == 200
    assert again.json()["id"] == two["id"]
    assert again.json()["choices"] == two["choices"]
    assert model.count() == before
    assert len(await stored_messages(client, project, "p")) == 4


async def test_an_assistant_message_not_in_history_is_refused(client, project: Project) -> None:
    await chat(client, project, [user("hello")], session="x")
    response = await chat(
        client,
        project,
        [user("hello"), {"role": "assistant", "content": "something else"}, user("next")],
        session="x",
    )
    assert response.status_code == 409
    assert "not in this session's history" in response.json()["error"]["message"]
    assert len(await stored_messages(client, project, "x")) == 2


async def test_client_tool_round_trip(client, project: Project) -> None:
    first = await chat(
        client, project, [user('/tool get_weather {"city": "Paris"}')], session="t", tools=[WEATHER]
    )
    body = first.json()
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    call = body["choices"][0]["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    result = {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21C"}
    second = await chat(
        client, project, [body["choices"][0]["message"], result], session="t", tools=[WEATHER]
    )
    assert second.status_code == 200
    assert second.json()["choices"][0]["message"]["content"] == "The tool returned: sunny, 21C"
    roles = [m["role"] for m in await stored_messages(client, project, "t")]
    assert roles == ["user", "assistant", "tool", "assistant"]


async def test_streamed_tool_calls_follow_the_delta_format(
    client, project: Project, model: ScriptedModel
) -> None:
    model.push(
        Reply(
            calls=[
                ToolCall("call_a", "get_weather", '{"city": "Paris"}'),
                ToolCall("call_b", "get_weather", '{"city": "Taipei"}'),
            ]
        )
    )
    response = await chat(
        client, project, [user("weather in two cities")], session="ts", tools=[WEATHER], stream=True
    )
    chunks = [json.loads(f) for f in sse_frames(response.text)[:-1]]
    deltas = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert all("index" in d for d in deltas)
    assembled: dict[int, dict] = {}
    for d in deltas:
        entry = assembled.setdefault(d["index"], {"args": ""})
        if "id" in d:
            assert "id" not in entry, "id and name come only on the first delta of a call"
            entry["id"], entry["name"] = d["id"], d["function"]["name"]
        entry["args"] += d["function"]["arguments"]
    assert {i: json.loads(e["args"]) for i, e in assembled.items()} == {
        0: {"city": "Paris"},
        1: {"city": "Taipei"},
    }
    assert [e["id"] for e in assembled.values()] == ["call_a", "call_b"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "role"),
        ({"messages": [{"role": "user"}]}, "needs content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
        ({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}, "pending"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "content",
        ),
        ({"messages": [user("x")], "stream": "yes"}, "stream"),
        (
            {"messages": [user("x")], "tools": [{"type": "function", "function": {"name": "bad name!"}}]},
            "name",
        ),
        (
            {
                "messages": [user("x")],
                "tools": [{"type": "function", "function": {"name": "pathway_transition"}}],
            },
            "reserved",
        ),
        ({}, "messages is required"),
    ],
)
async def test_bad_chat_requests_are_400_with_a_clear_message(
    client, project: Project, body, fragment
) -> None:
    response = await client.post(
        V1_CHAT.format(pid=project.id), json=body, headers={**project.auth, "X-Session-ID": "bad"}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert fragment in error["message"]
    assert (
        await client.get(f"/v1/projects/{project.id}/sessions/bad", headers=project.auth)
    ).status_code in (200, 404)
    if (await client.get(f"/v1/projects/{project.id}/sessions/bad", headers=project.auth)).status_code == 200:
        assert await stored_messages(client, project, "bad") == []


async def test_limits_are_413(client, project: Project, settings) -> None:
    too_many = [user("x")] * (settings.max_messages + 1)
    response = await chat(client, project, too_many)
    assert response.status_code == 413
    too_long = await chat(client, project, [user("x" * (settings.max_message_chars + 1))])
    assert too_long.status_code == 413
    oversized = await client.post(
        V1_CHAT.format(pid=project.id),
        content=b'{"messages": [' + b'{"role":"user","content":"x"},' * 100_000 + b"]}",
        headers={**project.auth, "Content-Type": "application/json"},
    )
    assert oversized.status_code == 413


async def test_upstream_failure_is_a_clear_openai_error_and_nothing_is_stored(
    client, project: Project, model: ScriptedModel
) -> None:
    from pathweaver.errors import LLMError

    model.push(Reply(error=LLMError("the model upstream refused the connection")))
    response = await chat(client, project, [user("hi")], session="f")
    assert response.status_code == 502
    assert response.json()["error"]["message"] == "the model upstream refused the connection"
    assert await stored_messages(client, project, "f") == []
    ok = await chat(client, project, [user("hi")], session="f")
    assert ok.status_code == 200


async def test_models_list_the_agent(client, project: Project) -> None:
    response = await client.get(f"/v1/projects/{project.id}/models", headers=project.auth)
    assert response.json()["data"][0]["id"] == "pathway-default"
    one = await client.get(f"/v1/projects/{project.id}/models/pathway-default", headers=project.auth)
    assert one.json()["id"] == "pathway-default"


async def test_openapi_document_is_served(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/projects/{projectId}/chat/completions" in spec["paths"]
    assert "/api/project/{projectId}/integration/api/session" in spec["paths"]


async def test_overhead_header_excludes_model_time(client, project: Project, model: ScriptedModel) -> None:
    import asyncio

    from pathweaver.llm.base import Finish, TextDelta

    async def slow_stream(request):
        await asyncio.sleep(0.3)
        yield TextDelta("late")
        yield Finish("stop")

    model.stream = slow_stream  # type: ignore[method-assign]
    began = time.perf_counter()
    response = await chat(client, project, [user("hi")])
    elapsed_ms = (time.perf_counter() - began) * 1000
    overhead = float(response.headers["x-pathweaver-overhead-ms"])
    # Not a timing bound (a loaded machine can make the server itself slow): whatever the
    # server cost, the 300 ms the model took must be left out of it.
    assert 0 <= overhead <= elapsed_ms - 299, "the 300 ms the model took is not overhead"
