"""Ids a client chooses: whatever the API accepts when it creates something, it can address later.

Found by schemathesis' stateful phase (``ensure_resource_availability``: "Created resource
not found"), shown here deterministically.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Project

#: Ids a URL path cannot carry as one segment: created, they could never be read back.
UNADDRESSABLE = ["a/b", "..", "."]


def create(kind: str, chosen: str) -> tuple[str, dict[str, object], str]:
    """(route that creates, body, route that reads) for a resource of ``kind`` named ``chosen``."""
    segment = quote(chosen, safe="")
    match kind:
        case "session":
            return "/sessions", {"session_id": chosen}, f"/sessions/{segment}"
        case "conversation":
            return "/conversations", {"sessionId": chosen}, f"/conversations/{segment}"
        case "node":
            data = {"type": "prompt", "title": "t", "prompt": "p"}
            return (
                "/pathway/nodes",
                {"id": chosen, "position": {"x": 0, "y": 0}, "data": data},
                f"/pathway/nodes/{segment}",
            )
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["session", "conversation", "node"])
@pytest.mark.parametrize("chosen", UNADDRESSABLE)
async def test_a_created_id_can_be_read_back(
    client: httpx.AsyncClient, project: Project, kind: str, chosen: str
) -> None:
    base = f"/v1/projects/{project.id}"
    route, body, path = create(kind, chosen)
    created = await client.post(base + route, json=body, headers=project.auth)
    if created.status_code >= 400:
        assert created.status_code in (400, 422), created.text  # refused at creation: fine
        return
    read = await client.get(base + path, headers=project.auth)
    assert read.status_code == 200, (read.status_code, read.text[:200])
    answer = read.json()
    named = (
        answer.get("sessionId")
        if kind == "session"
        else (answer.get("data") or {}).get("sessionId" if kind == "conversation" else "id")
    )
    assert named == chosen, read.text[:200]  # this resource, not another route's answer
