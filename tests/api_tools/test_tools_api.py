"""GET/POST /tools, GET /tools/types, GET/PUT/DELETE /tools/{id} (pathors-api.md section 2.7)."""

from __future__ import annotations

import httpx

from pathweaver.store.store import Store
from pathweaver.store.tools import ToolStore
from pathweaver.tools.config import parse_tool
from tests.conftest import Project, make_project


async def test_create_get_list_update_delete(api: httpx.AsyncClient, project: Project) -> None:
    base = f"/v1/projects/{project.id}/tools"
    created = await api.post(
        base, headers=project.auth, json={"type": "restful", "metadata": {"url": "https://api.example.com/x"}}
    )
    assert created.status_code == 201, created.text
    tool = created.json()["data"]
    assert (
        tool["type"] == "restful" and tool["name"].startswith("restful_") and tool["id"].startswith("tool_")
    )
    assert tool["metadata"] == {
        "url": "https://api.example.com/x",
        "method": "GET",
        "headers": {},
        "body": None,
    }
    assert tool["inputSchema"] == {"type": "object", "properties": {}}
    assert tool["placeholderMessages"] is None and "createdAt" in tool

    fetched = await api.get(f"{base}/{tool['id']}", headers=project.auth)
    assert fetched.json()["data"]["id"] == tool["id"]
    listed = await api.get(base, headers=project.auth)
    assert [t["id"] for t in listed.json()["data"]] == [tool["id"]]

    schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    updated = await api.put(
        f"{base}/{tool['id']}",
        headers=project.auth,
        json={
            "name": "lookup_customer",
            "description": "Find a customer",
            "inputSchema": schema,
            "placeholderMessages": {"messages": ["One moment"]},
        },
    )
    assert updated.status_code == 200, updated.text
    data = updated.json()["data"]
    assert data["name"] == "lookup_customer" and data["inputSchema"] == schema
    assert data["metadata"]["url"] == "https://api.example.com/x"  # kept

    deleted = await api.delete(f"{base}/{tool['id']}", headers=project.auth)
    assert deleted.json() == {"data": {"id": tool["id"], "deleted": True}}
    assert (await api.get(f"{base}/{tool['id']}", headers=project.auth)).status_code == 404


async def test_types(api: httpx.AsyncClient, project: Project) -> None:
    response = await api.get(f"/v1/projects/{project.id}/tools/types", headers=project.auth)
    assert [t["type"] for t in response.json()["data"]] == ["restful", "mcp"]


async def test_validation_names_the_field(api: httpx.AsyncClient, project: Project) -> None:
    base = f"/v1/projects/{project.id}/tools"
    cases = [
        ({"metadata": {}}, "type is required"),
        ({"type": "", "metadata": {}}, "type is required"),
        ({"type": "smtp", "metadata": {}}, "type: 'smtp' is not a supported tool type"),
        ({"type": "restful", "metadata": {}}, "metadata.url: is required"),
        (
            {"type": "restful", "metadata": {"url": "https://x.example"}, "secret": 1},
            "secret: is not a known field",
        ),
        (
            {"type": "restful", "name": "x" * 65, "metadata": {"url": "https://x.example"}},
            "name: String should have at most 64 characters",
        ),
        (
            {"type": "restful", "metadata": {"url": "http://127.0.0.1:8080/admin"}},
            "metadata.url: 127.0.0.1 is a loopback address",
        ),
        (
            {"type": "mcp", "metadata": {"serverUrl": "http://169.254.169.254/mcp"}},
            "metadata.serverUrl: 169.254.169.254 is the cloud metadata service",
        ),
        ({"type": "restful", "metadata": {"url": "file:///etc/passwd"}}, "metadata.url: only http and https"),
    ]
    for body, message in cases:
        response = await api.post(base, headers=project.auth, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["message"].startswith(message), response.json()


async def test_a_tool_read_with_get_can_be_sent_back_with_put(
    api: httpx.AsyncClient, project: Project
) -> None:
    base = f"/v1/projects/{project.id}/tools"
    body = {"type": "restful", "name": "Look up customer", "metadata": {"url": "https://x.example/c"}}
    created = await api.post(base, headers=project.auth, json=body)
    assert created.status_code == 201, created.text
    tool = (await api.get(f"{base}/{created.json()['data']['id']}", headers=project.auth)).json()["data"]
    assert tool["name"] == "Look up customer"
    sent_back = await api.put(
        f"{base}/{tool['id']}",
        headers=project.auth,
        json={**tool, "description": "Find a customer", "createdAt": "2020-01-01T00:00:00Z"},
    )
    assert sent_back.status_code == 200, sent_back.text
    saved = sent_back.json()["data"]
    assert saved["description"] == "Find a customer" and saved["name"] == "Look up customer"
    assert saved["createdAt"] == tool["createdAt"]  # ours, not the one sent
    copied = await api.post(base, headers=project.auth, json={**tool, "name": "Look up customer 2"})
    assert copied.status_code == 201, copied.text
    assert copied.json()["data"]["id"] != tool["id"]
    unknown = await api.put(f"{base}/{tool['id']}", headers=project.auth, json={**tool, "secret": 1})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"].startswith("secret: is not a known field of a tool")


async def test_an_input_schema_that_would_fetch_or_stall_is_refused_when_saved(
    api: httpx.AsyncClient, project: Project
) -> None:
    base = f"/v1/projects/{project.id}/tools"
    restful = {"type": "restful", "metadata": {"url": "https://x.example"}}
    remote = {"type": "object", "properties": {"a": {"$ref": "http://169.254.169.254/latest/meta-data"}}}
    lookahead = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(?!admin)"}}}
    for schema, message in [
        (remote, "inputSchema: $ref 'http://169.254.169.254/latest/meta-data' is not part of this schema"),
        (lookahead, "inputSchema: the regular expression '^(?!admin)' cannot be used"),
    ]:
        created = await api.post(base, headers=project.auth, json={**restful, "inputSchema": schema})
        assert created.status_code == 400, created.text
        error = created.json()["error"]
        assert (
            error["message"].startswith(message) and error["details"]["errors"][0]["field"] == "inputSchema"
        )
    tool = (await api.post(base, headers=project.auth, json=restful)).json()["data"]
    updated = await api.put(f"{base}/{tool['id']}", headers=project.auth, json={"inputSchema": remote})
    assert updated.status_code == 400 and "schemas are never fetched" in updated.json()["error"]["message"]


async def test_a_tool_stored_before_the_schema_rules_still_reads(
    api: httpx.AsyncClient, project: Project, store: Store
) -> None:
    tool = parse_tool(
        {"type": "restful", "id": "tool_old", "name": "old", "metadata": {"url": "https://x.example"}}
    )
    remote = {"type": "object", "properties": {"a": {"$ref": "https://x.example/schema.json"}}}
    await ToolStore(store.engine).create_tool(project.id, tool.model_copy(update={"input_schema": remote}))
    listed = await api.get(f"/v1/projects/{project.id}/tools", headers=project.auth)
    assert listed.status_code == 200 and listed.json()["data"][0]["inputSchema"] == remote
    assert (
        await api.get(f"/v1/projects/{project.id}/tools/tool_old", headers=project.auth)
    ).status_code == 200
    renamed = await api.put(
        f"/v1/projects/{project.id}/tools/tool_old", headers=project.auth, json={"name": "n"}
    )
    assert renamed.status_code == 400 and "schemas are never fetched" in renamed.json()["error"]["message"]


async def test_the_allow_list_and_placeholders_at_save_time(api: httpx.AsyncClient, project: Project) -> None:
    base = f"/v1/projects/{project.id}/tools"
    internal = await api.post(
        base, headers=project.auth, json={"type": "restful", "metadata": {"url": "http://tools.internal/x"}}
    )
    templated = await api.post(
        base,
        headers=project.auth,
        json={"type": "restful", "metadata": {"url": "https://{{region}}.api.example.com/{{id}}"}},
    )
    assert internal.status_code == 201 and templated.status_code == 201


async def test_names_are_unique_and_type_cannot_change(api: httpx.AsyncClient, project: Project) -> None:
    base = f"/v1/projects/{project.id}/tools"
    body = {"type": "restful", "name": "lookup", "metadata": {"url": "https://x.example"}}
    first = (await api.post(base, headers=project.auth, json=body)).json()["data"]
    duplicate = await api.post(base, headers=project.auth, json=body)
    assert duplicate.status_code == 409 and "'lookup' already exists" in duplicate.json()["error"]["message"]
    changed = await api.put(f"{base}/{first['id']}", headers=project.auth, json={"type": "mcp"})
    assert changed.status_code == 400 and changed.json()["error"]["message"].startswith(
        "type: a tool's type cannot change"
    )


async def test_another_projects_key_sees_nothing(
    api: httpx.AsyncClient, project: Project, store: object
) -> None:
    other = await make_project(store, "other")  # type: ignore[arg-type]
    base = f"/v1/projects/{project.id}/tools"
    tool = (
        await api.post(
            base, headers=project.auth, json={"type": "restful", "metadata": {"url": "https://x.example"}}
        )
    ).json()["data"]
    assert (await api.get(base, headers=other.auth)).status_code == 403
    assert (
        await api.get(f"/v1/projects/{other.id}/tools/{tool['id']}", headers=other.auth)
    ).status_code == 404
    assert (
        await api.delete(f"/v1/projects/{other.id}/tools/{tool['id']}", headers=other.auth)
    ).status_code == 404
