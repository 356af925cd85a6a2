"""Agent config and pathway management API: shapes, status codes, validation, versions."""

from __future__ import annotations

from tests.conftest import Project, make_project


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
    assert "promt" in text and "missing" in text
    assert "unknown_variable_key" in [w["code"] for w in error["details"]["warnings"]]
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


async def test_removing_a_variable_the_pathway_uses_is_saved_with_a_warning(client, project: Project) -> None:
    await client.patch(
        url(project, "/agent"),
        json={"variableConfigs": [{"key": "name", "type": "string"}]},
        headers=project.auth,
    )
    await client.patch(
        url(project, "/pathway/nodes/start"), json={"data": {"variableKeys": ["name"]}}, headers=project.auth
    )
    response = await client.patch(url(project, "/agent"), json={"variableConfigs": []}, headers=project.auth)
    assert response.status_code == 200
    assert response.json()["data"]["variableConfigs"] == []
    [warning] = response.json()["warnings"]
    assert warning["code"] == "unknown_variable_key" and warning["nodeId"] == "start"
    assert '"start"' in warning["message"] and '"name"' in warning["message"]


def _pathway_collecting(*keys: str) -> dict:
    return {
        "nodes": [
            {
                "id": "start",
                "data": {"type": "start", "title": "S", "prompt": "Ask.", "variableKeys": list(keys)},
            },
            {"id": "end", "data": {"type": "end", "title": "E", "prompt": "Bye."}},
        ],
        "edges": [{"id": "e", "source": "start", "target": "end", "data": {"condition": "The user is done"}}],
    }


OLD_VARIABLES = [{"key": "name", "type": "string"}]
NEW_VARIABLES = [{"key": "full_name", "type": "string"}, {"key": "email", "type": "email"}]


async def test_switching_variables_agent_first_then_pathway(client, project: Project) -> None:
    auth = project.auth
    await client.put(url(project, "/agent"), json={"variableConfigs": OLD_VARIABLES}, headers=auth)
    assert (
        await client.put(url(project, "/pathway"), json=_pathway_collecting("name"), headers=auth)
    ).json()["data"]["warnings"] == []

    agent = await client.put(url(project, "/agent"), json={"variableConfigs": NEW_VARIABLES}, headers=auth)
    assert agent.status_code == 200, agent.text
    assert [(w["code"], w["nodeId"]) for w in agent.json()["warnings"]] == [("unknown_variable_key", "start")]
    assert '"name"' in agent.json()["warnings"][0]["message"]

    pathway = await client.put(
        url(project, "/pathway"), json=_pathway_collecting("full_name", "email"), headers=auth
    )
    assert pathway.status_code == 200, pathway.text
    assert pathway.json()["data"]["warnings"] == []


async def test_switching_variables_pathway_first_then_agent(client, project: Project) -> None:
    auth = project.auth
    await client.put(url(project, "/agent"), json={"variableConfigs": OLD_VARIABLES}, headers=auth)
    await client.put(url(project, "/pathway"), json=_pathway_collecting("name"), headers=auth)

    pathway = await client.put(
        url(project, "/pathway"), json=_pathway_collecting("full_name", "email"), headers=auth
    )
    assert pathway.status_code == 200, pathway.text
    warnings = pathway.json()["data"]["warnings"]
    assert [(w["code"], w["nodeId"], w["field"]) for w in warnings] == [
        ("unknown_variable_key", "start", "nodes[0].data.variableKeys[0]"),
        ("unknown_variable_key", "start", "nodes[0].data.variableKeys[1]"),
    ]
    assert '"full_name"' in warnings[0]["message"] and '"email"' in warnings[1]["message"]

    agent = await client.put(url(project, "/agent"), json={"variableConfigs": NEW_VARIABLES}, headers=auth)
    assert agent.status_code == 200, agent.text
    assert "warnings" not in agent.json()


async def test_a_turn_on_a_node_naming_an_undeclared_variable_runs(client, project: Project, model) -> None:
    auth = project.auth
    await client.put(url(project, "/agent"), json={"variableConfigs": OLD_VARIABLES}, headers=auth)
    await client.put(url(project, "/pathway"), json=_pathway_collecting("name", "email"), headers=auth)
    turn = await client.post(
        url(project, "/chat/completions"),
        json={"messages": [{"role": "user", "content": "my name is Ann, ann@example.com"}]},
        headers={**auth, "X-Session-ID": "undeclared"},
    )
    assert turn.status_code == 200, turn.text
    assert turn.json()["choices"][0]["message"]["content"]
    state = (await client.get(url(project, "/sessions/undeclared"), headers=auth)).json()
    assert state["extractedVariables"] == {"name": "Ann"}


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


async def test_a_valid_key_of_another_project_is_403_not_a_sign_out(client, store, project: Project) -> None:
    other = await make_project(store, "other")
    refused = await client.get(url(project, "/agent"), headers=other.auth)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("permission_error", "project_not_allowed")
    assert f"project '{project.id}'" in error["message"] and other.key[:7] in error["message"]
    unknown = await client.get(url(project, "/agent"), headers={"Authorization": "Bearer sk_" + "a" * 43})
    assert unknown.status_code == 401  # an unknown key is still a sign-out


async def test_a_save_warns_of_names_that_lead_nowhere_and_keeps_the_save(client, project: Project) -> None:
    """A post-session key the agent does not declare, a node's knowledge base that does not
    exist: each is stored (another save may catch up) and named in a warning."""
    agent = await client.patch(
        url(project, "/agent"),
        headers=project.auth,
        json={
            "variableConfigs": [{"key": "customer_name", "type": "string"}],
            "postSessionVariableKeys": ["customer_name", "custmer_phone"],
        },
    )
    assert agent.status_code == 200, agent.text
    [warning] = agent.json()["warnings"]
    assert warning["field"] == "postSessionVariableKeys[1]" and '"custmer_phone"' in warning["message"]
    assert agent.json()["data"]["postSessionVariableKeys"] == ["customer_name", "custmer_phone"]

    document = {
        "nodes": [
            {
                "id": "start",
                "type": "start",
                "data": {"type": "start", "title": "Start", "prompt": "Hi", "knowledgeBaseId": "kb_gone"},
            },
            {"id": "end", "type": "end", "data": {"type": "end", "title": "End", "prompt": "Bye"}},
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "end", "data": {"condition": "The user is done"}}
        ],
    }
    saved = await client.put(url(project, "/pathway"), headers=project.auth, json=document)
    assert saved.status_code == 200, saved.text
    warnings = [w for w in saved.json()["data"]["warnings"] if w["code"] == "unknown_knowledge_base"]
    assert [(w["nodeId"], w["field"]) for w in warnings] == [("start", "nodes[0].data.knowledgeBaseId")]
    assert '"kb_gone"' in warnings[0]["message"]
