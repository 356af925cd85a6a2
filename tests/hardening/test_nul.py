"""A NUL character (``\\u0000``) is refused at the door with a 400 naming the field, on
every backend: PostgreSQL cannot store it in text or JSON, and a pathway save or a turn
holding one answered 500 there (found by tests/hardening/test_stateful.py)."""

from __future__ import annotations

import httpx

from tests.conftest import Project


async def test_a_nul_is_a_400_naming_the_field(client: httpx.AsyncClient, project: Project) -> None:
    base = f"/v1/projects/{project.id}"
    pathway = (await client.get(f"{base}/pathway", headers=project.auth)).json()["data"]
    document = pathway.get("pathway", pathway)
    document["nodes"][0]["data"]["prompt"] = "a\u0000b"
    saved = await client.put(
        f"{base}/pathway", json={"nodes": document["nodes"], "edges": document["edges"]}, headers=project.auth
    )
    assert saved.status_code == 400, saved.text
    assert "NUL" in saved.json()["error"]["message"] and "prompt" in saved.json()["error"]["message"]

    chat = await client.post(
        f"{base}/chat/completions",
        json={"messages": [{"role": "user", "content": "hi\u0000"}]},
        headers={**project.auth, "X-Session-ID": "nul"},
    )
    assert chat.status_code == 400 and "NUL" in chat.json()["error"]["message"]
    assert (await client.get(f"{base}/sessions/nul", headers=project.auth)).status_code == 404
