"""Runtime, session history, projects and interactive answers match what /openapi.json declares."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from pathweaver.store.schema import sessions
from tests.conftest import Project
from tests.documented import assert_documented

V1 = "/v1/projects/{projectId}"
GEN2 = "/project/{projectId}/integration/api"
GEN1 = "/api/project/{projectId}/integration/api"
SHORT = "/project/{projectId}"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


class Api:
    """Requests by path template, each answer checked against the document."""

    def __init__(self, client, project: Project):
        self.client = client
        self.project = project

    async def __call__(self, method: str, template: str, status: int = 200, **kwargs):
        url = template.replace("{projectId}", self.project.id)
        for name, value in kwargs.pop("path", {}).items():
            url = url.replace("{" + name + "}", value)
        headers = {**self.project.auth, **kwargs.pop("headers", {})}
        response = await self.client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == status, response.text
        await assert_documented(self.client, method, template, response)
        return response


@pytest.fixture
def api(client, project: Project) -> Api:
    return Api(client, project)


async def test_chat_completions_text_tool_calls_replay_and_stream(api: Api) -> None:
    path = V1 + "/chat/completions"
    text = (await api("post", path, json={"messages": [user("hello")]})).json()
    assert text["choices"][0]["message"]["content"] == "You said: hello"
    assert "tool_calls" not in text["choices"][0]["message"]

    calls = await api(
        "post",
        GEN1 + "/chat/completions",
        json={"messages": [user('/tool get_weather {"city": "Paris"}')], "tools": [WEATHER]},
        headers={"X-Session-ID": "t"},
    )
    message = calls.json()["choices"][0]["message"]
    assert message["content"] is None and message["tool_calls"]
    answer = {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "sunny"}
    await api(
        "post",
        GEN2 + "/chat/completions",
        json={"messages": [message, answer], "tools": [WEATHER]},
        headers={"X-Session-ID": "t"},
    )

    once = {"json": {"messages": [user("again")]}, "headers": {"Idempotency-Key": "k-1"}}
    first = await api("post", path, **once)
    replayed = await api("post", path, **once)
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == first.json()

    streamed = await api("post", path, json={"messages": [user("hi")], "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")


async def test_session_routes_on_every_generation(api: Api) -> None:
    for name, base, sessions_path in [
        ("v1", V1, V1 + "/sessions"),
        ("gen2", GEN2, GEN2 + "/session"),
        ("gen1", GEN1, GEN1 + "/session"),
        ("short", SHORT, SHORT + "/session"),
    ]:
        await session_routes(api, name, base, sessions_path)


async def session_routes(api: Api, name: str, base: str, sessions_path: str) -> None:
    one = sessions_path + "/{sessionId}"
    s1, s2 = f"{name}-1", f"{name}-2"
    if base == V1:
        empty = await api("post", sessions_path + "/search", json={"search_string": "nothing"})
        assert empty.json()["results"] == []

    await api("post", sessions_path, json={"session_id": s1, "variables": {"plan": "gold"}})
    created = await api("post", sessions_path, json={"session_id": s2}, headers={"Idempotency-Key": s2})
    replayed = await api("post", sessions_path, json={"session_id": s2}, headers={"Idempotency-Key": s2})
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == created.json()
    fresh = (await api("get", one, path={"sessionId": s1})).json()
    assert fresh["turns"] == [] and fresh["endTime"] is None

    await api(
        "post",
        V1 + "/chat/completions",
        json={"messages": [user(f'/tool get_weather {{"city": "{s1}"}}')], "tools": [WEATHER]},
        headers={"X-Session-ID": s1},
    )
    found = await api("post", sessions_path + "/search", json={"search_string": s1})
    assert [r["sessionId"] for r in found.json()["results"]] == [s1]

    await api("delete", sessions_path, json={"session_id": s1})
    ended = (await api("get", one, path={"sessionId": s1})).json()
    assert ended["isEnded"] is True and ended["events"][-1]["type"] == "session.ended"
    assert ended["state"]["messages"][-1]["tool_calls"]

    if base != SHORT:
        terminated = await api("post", sessions_path + "/terminate", json={"session_id": s2})
        assert terminated.json() == {"success": True, "sessionType": "text"}
        twice = await api("post", sessions_path + "/terminate", json={"session_id": s2})
        assert twice.json()["success"] is False


async def test_session_history_stats_and_marked(api: Api, store) -> None:
    for path in (V1 + "/sessions", V1 + "/session-history", SHORT + "/session"):
        assert (await api("get", path)).json()["data"] == []
    for path in (V1 + "/sessions/stats", SHORT + "/session/stats"):
        stats = (await api("get", path)).json()["data"]
        assert stats["averageDurationSeconds"] is None and stats["startDate"] is None

    await api("post", V1 + "/sessions", json={"session_id": "quiet"})
    await api(
        "post", V1 + "/chat/completions", json={"messages": [user("hello")]}, headers={"X-Session-ID": "a"}
    )
    await api("delete", V1 + "/sessions", json={"session_id": "a"})
    async with store.engine.begin() as conn:
        await conn.execute(
            update(sessions)
            .where(sessions.c.external_id == "a")
            .values(evaluation={"result": 4, "reason": "ok"})
        )
    for path in (V1 + "/sessions", V1 + "/session-history", SHORT + "/session"):
        listed = (await api("get", path, params={"pageSize": 5})).json()["data"]
        assert {s["preview"] for s in listed} == {"hello", None}
    for path in (V1 + "/sessions/stats", SHORT + "/session/stats"):
        stats = (await api("get", path, params={"startDate": "2020-01-01", "endDate": "2999-12-31"})).json()
        assert (
            stats["data"]["evaluations"] == {"4": 1} and stats["data"]["averageDurationSeconds"] is not None
        )
    marked = await api("patch", V1 + "/sessions/{sessionId}", path={"sessionId": "a"}, json={"marked": True})
    assert marked.json()["data"]["evaluation"] == {"result": 4, "reason": "ok"}
    detail = await api("get", V1 + "/sessions/{sessionId}", path={"sessionId": "a"})
    assert detail.json()["evaluation"] == {"result": 4, "reason": "ok"}


async def test_projects_and_models(api: Api, project: Project) -> None:
    listed = (await api("get", "/v1/projects")).json()["data"]
    assert [p["id"] for p in listed] == [project.id]
    await api("get", "/v1/projects/{projectId}")
    models = (await api("get", V1 + "/models")).json()
    await api("get", V1 + "/models/{model}", path={"model": models["data"][0]["id"]})


async def test_interactive_conversation(api: Api) -> None:
    base = V1 + "/conversations"
    started = (await api("post", base, json={"variables": {"tier": "gold"}})).json()["data"]
    sid = {"sessionId": started["sessionId"]}
    await api("post", base + "/{sessionId}/messages", path=sid, json={"message": "hi"})
    await api("get", base + "/{sessionId}", path=sid)
    first = (await api("post", base + "/{sessionId}/end", path=sid)).json()["data"]
    again = (await api("post", base + "/{sessionId}/end", path=sid)).json()["data"]
    assert (first["alreadyEnded"], again["alreadyEnded"]) == (False, True)
