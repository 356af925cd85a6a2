"""Session routes: create, get, end, terminate, search, on every path generation."""

from __future__ import annotations

import pytest

from tests.conftest import Project, make_project

GEN1 = "/api/project/{pid}/integration/api/session"
GEN2 = "/project/{pid}/integration/api/session"
GEN2_SHORT = "/project/{pid}/session"
V1 = "/v1/projects/{pid}/sessions"


@pytest.mark.parametrize("path", [GEN1, GEN2, GEN2_SHORT, V1])
async def test_create_session_answers_as_documented(client, project: Project, path: str) -> None:
    url = path.format(pid=project.id)
    response = await client.post(
        url, json={"session_id": "s-1", "variables": {"name": "Ann"}}, headers=project.auth
    )
    assert response.status_code == 200
    assert response.json() == {"sessionId": "s-1", "pathwayId": project.id}
    legacy = not path.startswith("/v1")
    assert ("deprecation" in response.headers) is legacy
    assert ("sunset" in response.headers) is legacy


@pytest.mark.parametrize(
    "body", [{}, {"session_id": ""}, {"session_id": 12}, {"session_id": None}, {"variables": {}}]
)
async def test_create_session_without_a_valid_id_is_400(client, project: Project, body) -> None:
    response = await client.post(V1.format(pid=project.id), json=body, headers=project.auth)
    assert response.status_code == 400
    assert response.json() == {"error": "session_id is required"}


async def test_identical_retry_answers_the_same_and_a_different_one_conflicts(
    client, project: Project
) -> None:
    url = V1.format(pid=project.id)
    body = {"session_id": "s-2", "variables": {"plan": "gold"}, "provider": "api"}
    first = await client.post(url, json=body, headers=project.auth)
    again = await client.post(url, json=body, headers=project.auth)
    assert first.json() == again.json()
    changed = await client.post(url, json={**body, "variables": {"plan": "free"}}, headers=project.auth)
    assert changed.status_code == 409
    assert "already exists" in changed.json()["error"]
    state = (await client.get(f"{url}/s-2", headers=project.auth)).json()
    assert state["state"]["variables"] == {"plan": "gold"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer sk_" + "a" * 43},
    ],
)
async def test_bad_keys_are_401(client, project: Project, headers) -> None:
    response = await client.post(V1.format(pid=project.id), json={"session_id": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid authentication"


async def test_a_key_of_another_project_is_403_naming_key_and_project_and_sessions_do_not_leak(
    client, store, project: Project
) -> None:
    other = await make_project(store, "other")
    await client.post(V1.format(pid=project.id), json={"session_id": "secret"}, headers=project.auth)
    crossed = await client.post(V1.format(pid=project.id), json={"session_id": "x"}, headers=other.auth)
    assert crossed.status_code == 403
    message = crossed.json()["error"]
    assert message.startswith(f"the key {other.key[:7]}… does not have access to project '{project.id}'")
    assert other.key not in crossed.text
    missing = await client.get(V1.format(pid=other.id) + "/secret", headers=other.auth)
    assert missing.status_code == 404
    assert missing.json() == {"error": "Session not found"}


async def test_revoked_key_stops_working(client, store, project: Project) -> None:
    record = await store.projects.find_key(project.key)
    assert await store.projects.revoke_key(record.id)
    response = await client.post(V1.format(pid=project.id), json={"session_id": "x"}, headers=project.auth)
    assert response.status_code == 401


async def test_get_session_has_both_state_shapes(client, project: Project) -> None:
    url = V1.format(pid=project.id)
    await client.post(url, json={"session_id": "s-3", "variables": {"city": "Taipei"}}, headers=project.auth)
    await client.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "hello"}]},
        headers={**project.auth, "X-Session-ID": "s-3"},
    )
    body = (await client.get(f"{url}/s-3", headers=project.auth)).json()
    assert body["sessionId"] == "s-3"
    assert body["state"]["variables"] == {"city": "Taipei"}
    assert [m["role"] for m in body["state"]["messages"]] == ["user", "assistant"]
    assert body["currentNodeId"] == "start"
    assert body["messageCount"] == 2
    assert [e["type"] for e in body["events"]] == ["session.started", "message.received", "message.sent"]
    assert body["turns"][0]["trace"]["decisions"][0]["decidedBy"] == "greeting"  # "hello" only greets
    assert [call["purpose"] for call in body["turns"][0]["trace"]["modelCalls"]] == ["reply"]


def _as_pathors_client_reads(answer: dict) -> dict:
    """What Pathors' published client does with every v1 answer: ``json.data ?? json``."""
    return answer["data"] if answer.get("data") is not None else answer


async def test_the_v1_session_read_is_what_pathors_client_reads(client, project: Project) -> None:
    url = V1.format(pid=project.id)
    await client.post(url, json={"session_id": "s-v1", "provider": "api"}, headers=project.auth)
    await client.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "hello"}]},
        headers={**project.auth, "X-Session-ID": "s-v1"},
    )
    session = _as_pathors_client_reads((await client.get(f"{url}/s-v1", headers=project.auth)).json())
    assert "data" not in session
    assert session["sessionId"] == "s-v1"
    assert session["startTime"] and session["endTime"] is None
    assert session["provider"] == "api"
    assert session["messageCount"] == 2
    assert session["marked"] is False and session["evaluation"] is None
    said = [
        (e["type"], e["data"]["message"]["role"], e["data"]["message"]["content"])
        for e in session["events"]
        if e["type"] in ("message.received", "message.sent")
    ]
    assert said[0] == ("message.received", "user", "hello")
    assert [kind for kind, _, _ in said] == ["message.received", "message.sent"]


@pytest.mark.parametrize(("path", "gen1"), [(GEN1, True), (GEN2, False), (GEN2_SHORT, False)])
async def test_the_gen1_data_block_is_on_the_gen1_paths_only(
    client, project: Project, path: str, gen1: bool
) -> None:
    url = path.format(pid=project.id)
    await client.post(url, json={"session_id": "s-old", "variables": {"plan": "gold"}}, headers=project.auth)
    body = (await client.get(f"{url}/s-old", headers=project.auth)).json()
    assert body["sessionId"] == "s-old"
    assert body["state"]["variables"] == {"plan": "gold"}
    if gen1:
        assert body["data"] == {"variables": {"plan": "gold"}, "messages": []}
    else:
        assert "data" not in body


async def test_end_session_is_idempotent_and_blocks_further_turns(client, project: Project) -> None:
    url = V1.format(pid=project.id)
    await client.post(url, json={"session_id": "s-4"}, headers=project.auth)
    for _ in range(2):
        ended = await client.request("DELETE", url, json={"session_id": "s-4"}, headers=project.auth)
        assert ended.status_code == 200
        assert ended.json() == {"success": True, "sessionId": "s-4", "message": "Session ended successfully"}
    turn = await client.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={**project.auth, "X-Session-ID": "s-4"},
    )
    assert turn.status_code == 409
    assert "has ended" in turn.json()["error"]["message"]
    state = (await client.get(f"{url}/s-4", headers=project.auth)).json()
    assert state["isEnded"] is True and state["endTime"] is not None


async def test_end_session_requires_an_id(client, project: Project) -> None:
    response = await client.request("DELETE", V1.format(pid=project.id), json={}, headers=project.auth)
    assert response.status_code == 400
    assert response.json() == {"error": "session_id is required"}


async def test_terminate(client, project: Project) -> None:
    url = V1.format(pid=project.id)
    await client.post(url, json={"session_id": "s-5"}, headers=project.auth)
    first = await client.post(f"{url}/terminate", json={"session_id": "s-5"}, headers=project.auth)
    assert first.json() == {"success": True, "sessionType": "text"}
    second = await client.post(f"{url}/terminate", json={"session_id": "s-5"}, headers=project.auth)
    assert second.json() == {"success": False, "sessionType": "text"}
    unknown = await client.post(f"{url}/terminate", json={"session_id": "nope"}, headers=project.auth)
    assert unknown.status_code == 404
    empty = await client.post(f"{url}/terminate", json={}, headers=project.auth)
    assert empty.status_code == 400


async def test_search_is_a_case_sensitive_substring_over_session_data(client, project: Project) -> None:
    url = V1.format(pid=project.id)
    await client.post(
        url, json={"session_id": "a", "variables": {"customer": "Zoë Lin"}}, headers=project.auth
    )
    await client.post(
        url, json={"session_id": "b", "variables": {"customer": "zoë lin"}}, headers=project.auth
    )
    await client.post(url, json={"session_id": "c"}, headers=project.auth)
    await client.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "my order 4417 is late"}]},
        headers={**project.auth, "X-Session-ID": "c"},
    )
    found = (await client.post(f"{url}/search", json={"search_string": "Zoë"}, headers=project.auth)).json()
    assert [r["sessionId"] for r in found["results"]] == ["a"]
    assert found["pagination"] == {"limit": 50, "offset": 0, "total": 1}
    by_message = (
        await client.post(f"{url}/search", json={"search_string": "4417"}, headers=project.auth)
    ).json()
    assert [r["sessionId"] for r in by_message["results"]] == ["c"]
    assert by_message["results"][0]["data"]["messages"][0]["content"] == "my order 4417 is late"
    paged = (
        await client.post(f"{url}/search", json={"search_string": "lin", "limit": 1}, headers=project.auth)
    ).json()
    assert paged["pagination"]["total"] == 1
    missing = await client.post(f"{url}/search", json={}, headers=project.auth)
    assert missing.status_code == 400
    assert missing.json() == {"error": "search_string is required"}

    async def search(needle: str) -> list[str]:
        found = await client.post(f"{url}/search", json={"search_string": needle}, headers=project.auth)
        return [r["sessionId"] for r in found.json()["results"]]

    # A key and its value, as the session data reads (the same on SQLite, which stores JSON
    # without spaces, and PostgreSQL, which shows it with them).
    assert await search('"customer": "Zoë Lin"') == ["a"]
    # The data's own structure: every session with a user message.
    assert await search('"role": "user"') == ["c"]


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null", b"{not json", b"\xff\xfe"])
async def test_non_object_bodies_are_400(client, project: Project, raw: bytes) -> None:
    response = await client.post(
        V1.format(pid=project.id), content=raw, headers={**project.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


async def test_huge_variables_are_refused_and_nothing_is_stored(client, project: Project) -> None:
    url = V1.format(pid=project.id)
    many = {f"k{i}": i for i in range(500)}
    response = await client.post(url, json={"session_id": "big", "variables": many}, headers=project.auth)
    assert response.status_code == 413
    assert "at most" in response.json()["error"]
    assert (await client.get(f"{url}/big", headers=project.auth)).status_code == 404
