"""Agent config and pathway management API: shapes, status codes, validation, versions."""

from __future__ import annotations

from tests.conftest import Project


def url(project: Project, path: str) -> str:
    return f"/v1/projects/{project.id}{path}"


async def test_agent_get_and_partial_update(client, project: Project) -> None:
    agent = (await client.get(url(project, "/agent"), headers=project.auth)).json()["data"]
    # Unset: smart on the embedded model, balance on an upstream (README, execution modes).
    assert agent["projectId"] == project.id and agent["executionMode"] is None
    patched = await client.patch(
        url(project, "/agent"),
        json={"globalPrompt": "You are Pat.", "timezone": "Asia/Taipei", "firstMessage": "Hi, Pat here."},
        headers=project.auth,
    )
    assert patched.status_code == 200
    put = await client.put(url(project, "/agent"), json={"executionMode": "turbo"}, headers=project.auth)
    data = put.json()["data"]
    assert data["globalPrompt"] == "You are Pat." and data["executionMode"] == "turbo"
    assert data["firstMessage"] == "Hi, Pat here."


async def test_agent_update_errors_name_the_field(client, project: Project) -> None:
    bad = await client.patch(url(project, "/agent"), json={"executionMode": "fast"}, headers=project.auth)
    assert bad.status_code == 400
    assert "executionMode" in bad.json()["error"]["message"]
    bad_var = await client.patch(
        url(project, "/agent"),
        json={"variableConfigs": [{"key": "a b", "type": "string"}]},
        headers=project.auth,
    )
    assert bad_var.status_code == 400
    assert (await client.get(url(project, "/agent"), headers=project.auth)).json()["data"][
        "executionMode"
    ] is None


async def test_first_message_opens_new_sessions(client, project: Project) -> None:
    await client.patch(url(project, "/agent"), json={"firstMessage": "Welcome!"}, headers=project.auth)
    await client.post(url(project, "/sessions"), json={"session_id": "fm"}, headers=project.auth)
    state = (await client.get(url(project, "/sessions/fm"), headers=project.auth)).json()
    assert state["state"]["messages"] == [{"role": "assistant", "content": "Welcome!"}]


async def test_pathway_node_and_edge_lifecycle(client, project: Project) -> None:
    pathway = (await client.get(url(project, "/pathway"), headers=project.auth)).json()["data"]
    assert [n["id"] for n in pathway["nodes"]] == ["start", "end"] and pathway["version"] == 1
    node = {
        "id": "ask",
        "position": {"x": 10, "y": 100},
        "data": {"type": "prompt", "title": "Ask", "prompt": "Ask."},
    }
    created = await client.post(url(project, "/pathway/nodes"), json=node, headers=project.auth)
    assert created.status_code == 201 and created.json()["data"]["id"] == "ask"
    duplicate = await client.post(url(project, "/pathway/nodes"), json=node, headers=project.auth)
    assert duplicate.status_code == 409
    edge = await client.post(
        url(project, "/pathway/edges"),
        json={"source": "start", "target": "ask", "condition": "The user has a question"},
        headers=project.auth,
    )
    assert edge.status_code == 201
    edge_data = edge.json()["data"]
    assert edge_data["id"].startswith("edge-start-ask-") and edge_data["data"] == {
        "condition": "The user has a question"
    }
    missing = await client.post(
        url(project, "/pathway/edges"),
        json={"source": "start", "target": "ghost", "condition": "x"},
        headers=project.auth,
    )
    assert missing.status_code == 400 and "ghost" in missing.json()["error"]["message"]
    patched = await client.patch(
        url(project, "/pathway/nodes/ask"), json={"data": {"title": "Ask a question"}}, headers=project.auth
    )
    assert patched.json()["data"]["data"] == {"type": "prompt", "title": "Ask a question", "prompt": "Ask."}
    assert patched.json()["data"]["position"] == {"x": 10, "y": 100}
    edge_patch = await client.patch(
        url(project, f"/pathway/edges/{edge_data['id']}"),
        json={"condition": "The user asks something"},
        headers=project.auth,
    )
    assert edge_patch.json()["data"]["data"]["condition"] == "The user asks something"
    one = await client.get(url(project, "/pathway/nodes/ask"), headers=project.auth)
    assert one.json()["data"]["data"]["title"] == "Ask a question"
    deleted = await client.delete(url(project, "/pathway/nodes/ask"), headers=project.auth)
    assert deleted.json()["data"]["deletedEdges"] == 1
    after = (await client.get(url(project, "/pathway"), headers=project.auth)).json()["data"]
    assert [e["id"] for e in after["edges"]] == ["edge-start-end"]
    versions = (await client.get(url(project, "/pathway/versions"), headers=project.auth)).json()["data"]
    assert [v["version"] for v in versions] == [6, 5, 4, 3, 2, 1]
    assert (await client.get(url(project, "/pathway/version"), headers=project.auth)).json()["data"][
        "version"
    ] == 6


async def test_invalid_pathway_is_400_naming_the_offender_and_nothing_is_saved(
    client, project: Project
) -> None:
    bad = {
        "nodes": [
            {"id": "start", "data": {"type": "start", "title": "S", "prompt": "p", "variableKeys": ["nope"]}},
            {"id": "x", "data": {"type": "promt", "title": "X", "prompt": "p"}},
        ],
        "edges": [{"id": "e1", "source": "start", "target": "missing", "data": {"condition": "c"}}],
    }
    response = await client.put(url(project, "/pathway"), json=bad, headers=project.auth)
    assert response.status_code == 400
    error = response.json()["error"]
    text = " ".join(item["message"] for item in error["details"]["errors"])
    assert "promt" in text and "missing" in text and "nope" in text
    current = (await client.get(url(project, "/pathway"), headers=project.auth)).json()["data"]
    assert current["version"] == 1


async def test_warnings_are_returned_not_fatal(client, project: Project) -> None:
    body = {
        "nodes": [
            {"id": "start", "data": {"type": "start", "title": "S", "prompt": "p"}},
            {"id": "island", "data": {"type": "prompt", "title": "I", "prompt": "p"}},
        ],
        "edges": [],
    }
    response = await client.put(url(project, "/pathway"), json=body, headers=project.auth)
    assert response.status_code == 200
    codes = {w["code"] for w in response.json()["data"]["warnings"]}
    assert "no_end_node" in codes


async def test_rollback_makes_a_new_version_with_the_old_content(client, project: Project) -> None:
    node = {"id": "n", "position": {"x": 0, "y": 0}, "data": {"type": "prompt", "title": "N", "prompt": "p"}}
    await client.post(url(project, "/pathway/nodes"), json=node, headers=project.auth)
    rolled = await client.post(
        url(project, "/pathway/rollback"), json={"targetVersion": 1}, headers=project.auth
    )
    assert rolled.status_code == 200
    data = rolled.json()["data"]
    assert data["version"] == 3 and [n["id"] for n in data["nodes"]] == ["start", "end"]
    unknown = await client.post(
        url(project, "/pathway/rollback"), json={"targetVersion": 99}, headers=project.auth
    )
    assert unknown.status_code == 400 and "does not exist" in unknown.json()["error"]["message"]


async def test_removing_a_variable_the_pathway_uses_is_refused(client, project: Project) -> None:
    await client.patch(
        url(project, "/agent"),
        json={"variableConfigs": [{"key": "name", "type": "string"}]},
        headers=project.auth,
    )
    await client.patch(
        url(project, "/pathway/nodes/start"), json={"data": {"variableKeys": ["name"]}}, headers=project.auth
    )
    response = await client.patch(url(project, "/agent"), json={"variableConfigs": []}, headers=project.auth)
    assert response.status_code == 400
    assert "name" in response.json()["error"]["message"]


async def test_a_running_session_keeps_its_pathway_version(client, project: Project, model) -> None:
    await client.post(url(project, "/sessions"), json={"session_id": "pinned"}, headers=project.auth)
    await client.patch(
        url(project, "/pathway/nodes/start"), json={"data": {"prompt": "NEW PROMPT"}}, headers=project.auth
    )
    await client.post(
        url(project, "/chat/completions"),
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={**project.auth, "X-Session-ID": "pinned"},
    )
    state = (await client.get(url(project, "/sessions/pinned"), headers=project.auth)).json()
    assert state["pathwayVersion"] == 1
    assert "NEW PROMPT" not in model.calls[-1].messages[0].content
    await client.post(url(project, "/sessions"), json={"session_id": "fresh"}, headers=project.auth)
    await client.post(
        url(project, "/chat/completions"),
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={**project.auth, "X-Session-ID": "fresh"},
    )
    assert "NEW PROMPT" in model.calls[-1].messages[0].content


async def test_management_errors_use_the_v1_envelope(client, project: Project) -> None:
    response = await client.get(url(project, "/pathway/nodes/ghost"), headers=project.auth)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "node 'ghost' not found"
    assert "details" in response.json()["error"]
    unauthorized = await client.get(url(project, "/agent"))
    assert unauthorized.status_code == 401
