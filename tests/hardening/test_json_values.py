"""Free JSON values that would break a later read are refused at the door (issue 20,
defects 3 and 8): nesting deeper than ``MAX_DEPTH`` and lone surrogates, in every route's
body, with a 400 that names the place; nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import update

from pathweaver.jsonvalues import CLIPPED, MAX_DEPTH
from pathweaver.store.schema import sessions
from pathweaver.store.store import Store
from tests.conftest import Project
from tests.hardening.test_bad_input import stored_rows

LONE = "\ud800"


def nested(levels: int) -> dict[str, Any]:
    """An object ``levels`` deep: {"a": {"a": ... {"a": 1}}}."""
    value: dict[str, Any] = {"a": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def raw(body: Any) -> bytes:
    """``body`` as JSON text; a lone surrogate is spelled ``\\ud800`` (ensure_ascii)."""
    return json.dumps(body).encode()


Route = tuple[str, str, str, Any, str]  # method, path, error style, body, the field named


def value_routes(project: Project, value: Any) -> list[Route]:
    """Routes that keep a free JSON value, with ``value`` in it."""
    v1 = f"/v1/projects/{project.id}"
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"v": value}}}]
    chat = {"messages": [{"role": "user", "content": "hi"}], "tools": tools}
    return [
        ("POST", f"{v1}/chat/completions", "openai", chat, "tools[0].function.parameters.v"),
        ("POST", f"{v1}/sessions", "flat", {"session_id": "s1", "variables": {"v": value}}, "variables.v"),
        ("PATCH", f"{v1}/agent", "v1", {"voiceIntelligence": {"v": value}}, "voiceIntelligence.v"),
        (
            "PATCH",
            f"{v1}/agent",
            "v1",
            {"beforeStartConfig": {"toolTemplates": [{"parameters": {"v": value}}]}},
            "beforeStartConfig.toolTemplates[0].parameters.v",
        ),
        ("POST", f"{v1}/test-cases", "v1", {"name": "c", "variables": {"v": value}}, "variables.v"),
        ("POST", f"{v1}/conversations", "v1", {"variables": {"v": value}}, "variables.v"),
    ]


def text_routes(project: Project, text: str) -> list[Route]:
    """Routes that keep a text, with ``text`` as that text."""
    v1 = f"/v1/projects/{project.id}"
    user = {"role": "user", "content": text}
    node = {
        "id": "n2",
        "position": {"x": 0, "y": 0},
        "data": {"type": "prompt", "title": text, "prompt": "p"},
    }
    schema = {"type": "object", "properties": {text: {"type": "string"}}}
    tool = {"type": "restful", "metadata": {"url": "https://example.org/x"}, "inputSchema": schema}
    legacy_chat = f"/project/{project.id}/integration/api/chat/completions"
    return [
        ("POST", f"{v1}/chat/completions", "openai", {"messages": [user]}, "messages[0].content"),
        ("POST", legacy_chat, "openai", {"messages": [user]}, "messages[0].content"),
        ("PATCH", f"{v1}/agent", "v1", {"globalPrompt": text}, "globalPrompt"),
        ("POST", f"{v1}/pathway/nodes", "v1", node, "data.title"),
        ("PUT", f"{v1}/pathway", "v1", {"nodes": [node], "edges": []}, "nodes[0].data.title"),
        ("POST", f"{v1}/tools", "v1", tool, "inputSchema.properties"),
        ("POST", f"{v1}/conversations/c1/messages", "v1", {"message": text}, "message"),
    ]


def message_of(style: str, answer: dict[str, Any]) -> str:
    return str(answer["error"] if style == "flat" else answer["error"]["message"])


async def refused(client: httpx.AsyncClient, project: Project, route: Route, expected: str) -> None:
    method, path, style, body, field = route
    sent = {**project.auth, "content-type": "application/json", "x-session-id": "s2"}
    answer = await client.request(method, path, content=raw(body), headers=sent)
    assert answer.status_code == 400, f"{method} {path}: {answer.status_code} {answer.text}"
    message = message_of(style, answer.json())
    assert message.startswith(field) and expected in message, f"{method} {path}: {message}"


async def test_a_lone_surrogate_is_refused_everywhere(
    client: httpx.AsyncClient, store: Store, project: Project
) -> None:
    before = await stored_rows(store)
    for route in [*value_routes(project, LONE), *text_routes(project, LONE)]:
        await refused(client, project, route, "lone UTF-16 surrogate")
    assert await stored_rows(store) == before, "a refused request stored something"


async def test_nesting_past_the_limit_is_refused_everywhere(
    client: httpx.AsyncClient, store: Store, project: Project
) -> None:
    before = await stored_rows(store)
    for route in value_routes(project, nested(MAX_DEPTH)):
        await refused(client, project, route, f"more than {MAX_DEPTH} levels")
    assert await stored_rows(store) == before, "a refused request stored something"


async def test_a_surrogate_in_utf8_bytes_and_in_a_key_is_refused(
    client: httpx.AsyncClient, project: Project
) -> None:
    url = f"/v1/projects/{project.id}/sessions"
    sent = {**project.auth, "content-type": "application/json"}
    as_bytes = b'{"session_id": "b1", "variables": {"v": "\xed\xa0\x80"}}'
    answer = await client.post(url, content=as_bytes, headers=sent)
    assert answer.status_code == 400 and answer.json()["error"].startswith("variables.v:")
    in_key = raw({"session_id": "b2", "variables": {LONE: 1}})
    answer = await client.post(url, content=in_key, headers=sent)
    assert answer.status_code == 400 and "this key contains a lone" in answer.json()["error"]


async def test_a_pair_of_surrogates_is_an_ordinary_character(
    client: httpx.AsyncClient, project: Project
) -> None:
    sent = {**project.auth, "content-type": "application/json", "x-session-id": "emoji"}
    body = raw({"messages": [{"role": "user", "content": "hi \U0001f600"}]})
    assert b"\\ud83d\\ude00" in body
    answer = await client.post(f"/v1/projects/{project.id}/chat/completions", content=body, headers=sent)
    assert answer.status_code == 200, answer.text


async def test_values_within_the_limit_are_stored_and_read_back(
    client: httpx.AsyncClient, project: Project
) -> None:
    deep = nested(MAX_DEPTH - 2)  # the body adds {"variables": {...}}
    created = await client.post(
        f"/v1/projects/{project.id}/sessions",
        json={"session_id": "deep", "variables": {"v": deep}},
        headers=project.auth,
    )
    assert created.status_code == 200, created.text
    read = await client.get(f"/v1/projects/{project.id}/sessions/deep", headers=project.auth)
    assert read.status_code == 200
    searched = await client.post(
        f"/v1/projects/{project.id}/sessions/search", json={"search_string": "deep"}, headers=project.auth
    )
    assert searched.status_code == 200


async def test_a_session_stored_deeper_than_the_limit_is_read_clipped(
    client: httpx.AsyncClient, store: Store, project: Project
) -> None:
    """Stored before the limit existed: reads, searches and turns work, the deep part
    clipped (about 255 levels made every read of the session a 500)."""
    v1 = f"/v1/projects/{project.id}"
    await client.post(
        f"{v1}/sessions", json={"session_id": "old", "variables": {"v": 1}}, headers=project.auth
    )
    async with store.engine.begin() as conn:
        await conn.execute(update(sessions).values(variables={"v": nested(300)}))
    read = await client.get(f"{v1}/sessions/old", headers=project.auth)
    assert read.status_code == 200, read.text
    value = read.json()["state"]["variables"]["v"]
    for _ in range(MAX_DEPTH - 1):  # the variables are level 1, "v" level 2
        value = value["a"]
    assert value == CLIPPED
    searched = await client.post(f"{v1}/sessions/search", json={"search_string": '"a"'}, headers=project.auth)
    assert searched.status_code == 200 and searched.json()["pagination"]["total"] == 1
    turn = await client.post(
        f"{v1}/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={**project.auth, "X-Session-ID": "old"},
    )
    assert turn.status_code == 200, turn.text


async def test_the_direct_chat_entry_answers_as_the_route(
    client: httpx.AsyncClient, project: Project
) -> None:
    """``DirectChat`` takes v1 chat requests without FastAPI's routing; the legacy path goes
    through the route: both refuse the same body with the same answer."""
    tools = [{"type": "function", "function": {"name": "f", "parameters": nested(MAX_DEPTH)}}]
    body = raw({"messages": [{"role": "user", "content": "x"}], "tools": tools})
    sent = {**project.auth, "content-type": "application/json", "x-session-id": "d1"}
    direct = await client.post(f"/v1/projects/{project.id}/chat/completions", content=body, headers=sent)
    routed = await client.post(
        f"/project/{project.id}/integration/api/chat/completions", content=body, headers=sent
    )
    assert direct.status_code == routed.status_code == 400
    assert direct.json() == routed.json()
    assert direct.json()["error"]["param"].startswith("tools[0].function.parameters")
