"""The v1 chat route's direct entry (``runtime.DirectChat``) answers as FastAPI's route does.

Each request goes to two apps on the same store: the server as it is, and the same server
without the direct entry (every request through FastAPI's routing and dependencies). Their
answers must be the same, errors included, whichever of the two handles a request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pathweaver.api.app import create_app
from pathweaver.api.runtime import DirectChat
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import Project, make_project, served

# Values that differ between two otherwise equal answers.
VARYING = ("id", "created", "session_id", "x-pathweaver-overhead-ms", "content-length", "date")


@pytest.fixture
async def both(
    settings: Settings, store: Store, model: ScriptedModel
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    direct = create_app(settings, store=store, model=model)
    routed = create_app(settings, store=store, model=model)
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not DirectChat]
    assert len(routed.user_middleware) == len(direct.user_middleware) - 1
    async with served(direct) as a, served(routed) as b:
        yield a, b


def _comparable(response: httpx.Response) -> dict[str, Any]:
    # The rate limit's standing moves with the clock: its limits must match, not what is left.
    headers = {
        k: v
        for k, v in response.headers.items()
        if k not in VARYING and not k.startswith(("x-ratelimit-reset", "x-ratelimit-remaining"))
    }
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        events = [line for line in response.text.splitlines() if line.startswith("data: {")]
        body: Any = [_without_ids(json.loads(line.removeprefix("data: "))) for line in events]
    else:
        body = _without_ids(response.json()) if response.content else None
    return {"status": response.status_code, "headers": headers, "body": body}


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k not in VARYING}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


async def _same(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], path: str, **request: Any
) -> dict[str, Any]:
    direct, routed = both
    headers = request.pop("headers", {})
    # Each app its own session, when the request names one: they share the store.
    answers = []
    for client, suffix in ((direct, "-direct"), (routed, "-routed")):
        sent = {k: (v + suffix if k.lower() == "x-session-id" else v) for k, v in headers.items()}
        response = await client.post(path, headers=sent, **request)
        answer = _comparable(response)
        answer["headers"].pop("x-session-id", None)
        answers.append(answer)
    assert answers[0] == answers[1]
    return answers[0]


async def test_turns_and_errors_read_the_same_with_and_without_the_direct_entry(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], store: Store, project: Project
) -> None:
    path = f"/v1/projects/{project.id}/chat/completions"
    auth = project.auth
    turn = {"messages": [{"role": "user", "content": "hello"}]}

    ok = await _same(both, path, json=turn, headers={**auth, "X-Session-ID": "s1"})
    assert ok["status"] == 200 and ok["body"]["choices"][0]["message"]["content"]
    streamed = await _same(both, path, json={**turn, "stream": True}, headers={**auth, "X-Session-ID": "s2"})
    assert streamed["status"] == 200 and streamed["body"], streamed

    other = await make_project(store, "other")
    cases: list[tuple[int, dict[str, Any]]] = [
        (401, {"json": turn}),  # no key
        (401, {"json": turn, "headers": {"Authorization": "Bearer sk_nope"}}),
        (403, {"json": turn, "headers": other.auth}),  # a valid key of another project
        (400, {"content": b"{not json", "headers": {**auth, "content-type": "application/json"}}),
        (400, {"json": {"messages": "hello"}, "headers": auth}),
        (400, {"json": {"messages": []}, "headers": auth}),
        (400, {"json": [1, 2], "headers": auth}),
        (400, {"json": turn, "headers": {**auth, "X-Session-ID": "x" * 300}}),
        (400, {"json": turn, "headers": {**auth, "X-Session-ID": "a/b"}}),
        (400, {"content": json.dumps(turn).encode(), "headers": {**auth, "content-type": "text/plain"}}),
    ]
    for status, request in cases:
        answer = await _same(both, path, **request)
        assert answer["status"] == status, (request, answer)
        assert "error" in answer["body"] and "message" in answer["body"]["error"], answer


async def test_a_body_sent_in_parts_is_read_whole(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], project: Project
) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "in parts " * 200}]}).encode()

    async def parts() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    path = f"/v1/projects/{project.id}/chat/completions"
    direct, _ = both
    response = await direct.post(path, content=parts(), headers={**project.auth, "X-Session-ID": "parts"})
    assert response.status_code == 200, response.text
    assert response.headers["x-session-id"] == "parts"


async def test_a_json_body_sent_as_a_form_gets_an_answer_that_names_the_content_type(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], project: Project
) -> None:
    # What ``curl -d '{...}'`` sends without ``-H 'Content-Type: application/json'``.
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    headers = {**project.auth, "content-type": "application/x-www-form-urlencoded"}
    answer = await _same(both, f"/v1/projects/{project.id}/chat/completions", content=body, headers=headers)
    assert answer["status"] == 400
    assert "Content-Type: application/json" in answer["body"]["error"]["message"]
    assert "application/x-www-form-urlencoded" in answer["body"]["error"]["message"]
