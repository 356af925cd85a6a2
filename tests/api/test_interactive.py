"""The interactive test API: start, send, read state, end."""

from __future__ import annotations

from tests.conftest import Project


async def test_interactive_conversation_reports_node_and_variables(client, project: Project) -> None:
    base = f"/v1/projects/{project.id}/conversations"
    started = (await client.post(base, json={"variables": {"tier": "gold"}}, headers=project.auth)).json()[
        "data"
    ]
    assert started["currentNodeId"] == "start"
    assert started["isEnded"] is False and started["messageCount"] == 0
    sid = started["sessionId"]

    sent = (await client.post(f"{base}/{sid}/messages", json={"message": "hi"}, headers=project.auth)).json()[
        "data"
    ]
    assert sent["reply"] == "You said: hi"
    assert sent["currentNodeId"] == "start" and sent["toolEvents"] == []
    # A first message that only greets stays without a routing call; the trace says so.
    assert [call["purpose"] for call in sent["trace"]["modelCalls"]] == ["reply"]
    assert sent["trace"]["decisions"][0]["decidedBy"] == "greeting"

    bye = "I have nothing more to ask, end the conversation"
    ended = (await client.post(f"{base}/{sid}/messages", json={"message": bye}, headers=project.auth)).json()[
        "data"
    ]
    assert ended["currentNodeId"] == "end" and ended["isEnded"] is True

    state = (await client.get(f"{base}/{sid}", headers=project.auth)).json()["data"]
    assert state["userTurnCount"] == 2
    again = await client.post(f"{base}/{sid}/messages", json={"message": "hello?"}, headers=project.auth)
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "This conversation has ended"
    end = (await client.post(f"{base}/{sid}/end", headers=project.auth)).json()["data"]
    assert end["alreadyEnded"] is True


async def test_sessions_of_real_channels_are_not_interactive(client, project: Project) -> None:
    await client.post(
        f"/v1/projects/{project.id}/sessions", json={"session_id": "api-1"}, headers=project.auth
    )
    response = await client.get(f"/v1/projects/{project.id}/conversations/api-1", headers=project.auth)
    assert response.status_code == 400
    assert "Not an interactive conversation" in response.json()["error"]["message"]
    unknown = await client.get(f"/v1/projects/{project.id}/conversations/nope", headers=project.auth)
    assert unknown.status_code == 404
