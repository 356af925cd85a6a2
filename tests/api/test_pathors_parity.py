"""What Pathors accepts and Pathweaver refused (issue 21, item 4): variable keys in Chinese or
with hyphens, ``model`` as a plain string, an edge with no condition, an agent read and sent
back; and unknown agent fields refused by name instead of dropped."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pathweaver.llm.scripted import ScriptedModel
from tests.conftest import Project


def url(project: Project, path: str) -> str:
    return f"/v1/projects/{project.id}{path}"


def greeting_pathway(prompt: str, *keys: str) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "id": "start",
                "data": {"type": "start", "title": "Greet", "prompt": prompt, "variableKeys": list(keys)},
            },
            {"id": "end", "data": {"type": "end", "title": "Bye", "prompt": "Say goodbye."}},
        ],
        "edges": [
            {"id": "done", "source": "start", "target": "end", "data": {"condition": "The user is done"}}
        ],
    }


async def test_variable_keys_in_chinese_or_with_hyphens_are_accepted(
    client: httpx.AsyncClient, project: Project
) -> None:
    variables = [
        {"key": "客戶名稱", "type": "string", "description": "顧客的名字"},
        {"key": "customer-email", "type": "email", "description": ""},
    ]
    agent = await client.put(
        url(project, "/agent"), json={"variableConfigs": variables}, headers=project.auth
    )
    assert agent.status_code == 200, agent.text
    assert agent.json()["data"]["variableConfigs"] == variables
    saved = await client.put(
        url(project, "/pathway"),
        json=greeting_pathway("Ask for the name and email.", "客戶名稱", "customer-email"),
        headers=project.auth,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["data"]["warnings"] == []


@pytest.mark.parametrize("key", ["1st", "a b", "-x", "", "a.b"])
async def test_a_key_that_is_no_variable_name_says_what_one_is(
    client: httpx.AsyncClient, project: Project, key: str
) -> None:
    response = await client.put(
        url(project, "/agent"), json={"variableConfigs": [{"key": key}]}, headers=project.auth
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("variableConfigs[0].key:")
    if key:
        assert "start with a letter or _" in message and "客戶名稱" in message


async def _greeting_prompt(
    client: httpx.AsyncClient, project: Project, model: ScriptedModel, key: str
) -> str:
    await client.put(url(project, "/agent"), json={"sessionVariables": [key]}, headers=project.auth)
    await client.put(
        url(project, "/pathway"), json=greeting_pathway(f"Greet {{{{{key}}}}} by name."), headers=project.auth
    )
    await client.post(
        url(project, "/sessions"),
        json={"session_id": "s", "variables": {key: "王小明"}},
        headers=project.auth,
    )
    turn = await client.post(
        url(project, "/chat/completions"),
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={**project.auth, "X-Session-ID": "s"},
    )
    assert turn.status_code == 200, turn.text
    return "\n".join(m.content for m in model.calls[-1].messages if m.role == "system" and m.content)


async def test_a_placeholder_with_a_hyphen_is_filled(
    client: httpx.AsyncClient, project: Project, model: ScriptedModel
) -> None:
    prompt = await _greeting_prompt(client, project, model, "customer-name")
    assert "Greet 王小明 by name." in prompt


async def test_a_placeholder_in_chinese_is_filled(
    client: httpx.AsyncClient, project: Project, model: ScriptedModel
) -> None:
    prompt = await _greeting_prompt(client, project, model, "客戶名稱")
    assert "Greet 王小明 by name." in prompt


async def test_model_as_a_plain_string_is_the_model_name(client: httpx.AsyncClient, project: Project) -> None:
    response = await client.put(url(project, "/agent"), json={"model": "gpt-4o"}, headers=project.auth)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["model"] == {"target": None, "name": "gpt-4o"}
    cleared = await client.put(url(project, "/agent"), json={"model": ""}, headers=project.auth)
    assert cleared.status_code == 200 and cleared.json()["data"]["model"] is None


async def test_an_edge_with_no_condition_is_saved_with_a_warning(
    client: httpx.AsyncClient, project: Project
) -> None:
    pathway = greeting_pathway("Greet.")
    pathway["edges"][0]["data"]["condition"] = ""
    saved = await client.put(url(project, "/pathway"), json=pathway, headers=project.auth)
    assert saved.status_code == 200, saved.text
    [warning] = [w for w in saved.json()["data"]["warnings"] if w["code"] == "empty_condition"]
    assert warning["edgeId"] == "done" and warning["field"] == "edges[0].data.condition"
    assert warning["message"].startswith('edge "done" (start -> end) has no condition')


async def test_the_edge_routes_take_what_a_pathway_put_takes(
    client: httpx.AsyncClient, project: Project
) -> None:
    """An edge with no condition, or decided by an expression, through the edge routes too."""
    await client.put(url(project, "/pathway"), json=greeting_pathway("Greet."), headers=project.auth)
    plain = await client.post(
        url(project, "/pathway/edges"),
        json={"id": "again", "source": "start", "target": "end"},
        headers=project.auth,
    )
    assert plain.status_code == 201, plain.text
    assert plain.json()["data"]["data"]["condition"] == ""
    computed = await client.post(
        url(project, "/pathway/edges"),
        json={
            "id": "big",
            "source": "start",
            "target": "end",
            "condition": "Large group",
            "expression": "1 > 0",
        },
        headers=project.auth,
    )
    assert computed.status_code == 201, computed.text
    assert computed.json()["data"]["data"]["expression"] == "1 > 0"
    bad = await client.post(
        url(project, "/pathway/edges"),
        json={"id": "bad", "source": "start", "target": "end", "expression": "party_size >"},
        headers=project.auth,
    )
    assert bad.status_code == 400 and "bad" in bad.text
    cleared = await client.patch(
        url(project, "/pathway/edges/big"), json={"expression": "", "condition": ""}, headers=project.auth
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["data"]["data"] == {"condition": ""}


async def test_webhook_subscriptions_accept_every_pathors_event(
    client: httpx.AsyncClient, project: Project
) -> None:
    events = ["session.started", "session.ended", "call.ended", "session.finalized", "recording.ready"]
    made = await client.post(
        url(project, "/webhooks"),
        json={"url": "https://hooks.example.com/a", "events": events},
        headers=project.auth,
    )
    assert made.status_code in (200, 201), made.text


async def test_an_agent_read_can_be_sent_back_as_it_is(client: httpx.AsyncClient, project: Project) -> None:
    await client.patch(url(project, "/agent"), json={"globalPrompt": "Be brief."}, headers=project.auth)
    read = (await client.get(url(project, "/agent"), headers=project.auth)).json()["data"]
    sent_back = await client.put(url(project, "/agent"), json={**read, "name": "Ada"}, headers=project.auth)
    assert sent_back.status_code == 200, sent_back.text
    again = sent_back.json()["data"]
    assert again["name"] == "Ada" and again["globalPrompt"] == "Be brief." and again["id"] == read["id"]
    envelope = await client.put(url(project, "/agent"), json={"data": read}, headers=project.auth)
    assert (
        envelope.status_code == 400
        and 'not the {"data": ...} envelope' in envelope.json()["error"]["message"]
    )


async def test_unknown_agent_fields_are_refused_by_name_not_dropped(
    client: httpx.AsyncClient, project: Project
) -> None:
    response = await client.put(
        url(project, "/agent"),
        json={
            "globalPromt": "Be brief.",
            "voice": "alloy",
            "variableConfigs": [{"key": "name", "typ": "string"}],
            "name": "Ada",
        },
        headers=project.auth,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == (
        'globalPromt: is not a known field of the agent (did you mean "globalPrompt"?); rename or remove it'
    )
    assert [e["field"] for e in error["details"]["errors"]] == [
        "globalPromt",
        "voice",
        "variableConfigs[0].typ",
    ]
    agent = (await client.get(url(project, "/agent"), headers=project.auth)).json()["data"]
    assert agent["name"] != "Ada"  # nothing saved
    # Fields Pathors may add to the agent's documented objects are kept, as before.
    kept = await client.put(
        url(project, "/agent"),
        json={"postSessionWebhook": {"url": "https://example.org/hook", "retries": 3}},
        headers=project.auth,
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["data"]["postSessionWebhook"]["retries"] == 3
