"""The agent's objects are checked when saved (issue 20, defects 4, 5, 6 and 7): a shape the
runtime cannot use is a 400 naming the field and the fix, every shape Pathors documents
is accepted and read back as sent, and a refused save changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Project

HOOK = "https://example.org/hook"


def hook(**fields: Any) -> dict[str, Any]:
    return {"postSessionWebhook": {"url": HOOK, **fields}}


def evaluation(**fields: Any) -> dict[str, Any]:
    return {"postEvaluationConfig": {"enabled": True, **fields}}


REFUSED: list[tuple[dict[str, Any], str, str]] = [
    # (body, the field the message starts with, words of the fix)
    (hook(headers={"X-Team": "ops"}), "postSessionWebhook.headers", "must be a list"),
    (hook(headers="X-Team: ops"), "postSessionWebhook.headers", "must be a list"),
    (hook(headers=["X-Team: ops"]), "postSessionWebhook.headers[0]", "must be an object"),
    (hook(headers=[{"key": "X-Team"}]), "postSessionWebhook.headers[0].value", "is required"),
    (
        hook(headers=[{"key": "X-Team", "value": 5}]),
        "postSessionWebhook.headers[0].value",
        "must be a string",
    ),
    (hook(events=5), "postSessionWebhook.events", "must be a list"),
    (hook(events=[["session.ended"]]), "postSessionWebhook.events", "use session.started"),
    (hook(events=["session.end"]), "postSessionWebhook.events", "not an event"),
    (hook(events=[]), "postSessionWebhook.events", "is empty"),
    ({"postSessionWebhook": {"headers": []}}, "postSessionWebhook.url", "is required"),
    (hook(url="ftp://example.org/x"), "postSessionWebhook.url", "http:// or https://"),
    ({"postSessionWebhook": "https://example.org/hook"}, "postSessionWebhook", "must be an object"),
    # Header names and values that HTTP cannot carry, or that frame the request (defect 6).
    (hook(headers=[{"key": "X-Café", "value": "1"}]), "postSessionWebhook.headers[0].key", "letters, digits"),
    (hook(headers=[{"key": "X-Team", "value": "café"}]), "postSessionWebhook.headers[0].value", "ASCII"),
    (
        hook(headers=[{"key": "X-Team", "value": "a\r\nb"}]),
        "postSessionWebhook.headers[0].value",
        "line break",
    ),
    (hook(headers=[{"key": "X Team", "value": "1"}]), "postSessionWebhook.headers[0].key", "no spaces"),
    *[
        (
            hook(headers=[{"key": name, "value": "1"}]),
            "postSessionWebhook.headers[0].key",
            "cannot be configured",
        )
        for name in ("Content-Length", "Host", "Transfer-Encoding", "Connection", "Upgrade")
    ],
    (
        hook(headers=[{"key": "Content-Type", "value": "text/plain"}]),
        "postSessionWebhook.headers[0].key",
        "set by",
    ),
    (
        hook(headers=[{"key": "X-A", "value": "1"}, {"key": "x-a", "value": "2"}]),
        "postSessionWebhook.headers",
        "keep one",
    ),
    # postEvaluationConfig (defect 7): never coerced.
    (evaluation(enumOptions=5), "postEvaluationConfig.enumOptions", "must be a list"),
    (evaluation(enumOptions="good"), "postEvaluationConfig.enumOptions", "must be a list"),
    (evaluation(enumOptions=["good", 5]), "postEvaluationConfig.enumOptions[1]", "must be a string"),
    (evaluation(numberConfig=5), "postEvaluationConfig.numberConfig", "must be an object"),
    (evaluation(numberConfig=[1, 5]), "postEvaluationConfig.numberConfig", "must be an object"),
    (evaluation(numberConfig={"min": "1"}), "postEvaluationConfig.numberConfig.min", "must be a number"),
    (evaluation(numberConfig={"min": 5, "max": 1}), "postEvaluationConfig.numberConfig", "swap them"),
    ({"postEvaluationConfig": {"enabled": "no"}}, "postEvaluationConfig.enabled", "true or false"),
    ({"postEvaluationConfig": {"enabled": 1}}, "postEvaluationConfig.enabled", "true or false"),
    # beforeStartConfig and placeholderMessages.
    ({"beforeStartConfig": {"enabled": "yes"}}, "beforeStartConfig.enabled", "true or false"),
    ({"beforeStartConfig": {"toolTemplates": "lookup"}}, "beforeStartConfig.toolTemplates", "must be a list"),
    (
        {"beforeStartConfig": {"toolTemplates": [{"parameters": 5}]}},
        "beforeStartConfig.toolTemplates[0].parameters",
        "must be an object",
    ),
    ({"placeholderMessages": {"messages": 5}}, "placeholderMessages.messages", "must be a list or an object"),
    ({"placeholderMessages": {"messages": {"en": 5}}}, "placeholderMessages.messages.en", "must be a list"),
    ({"placeholderMessages": {"defaultLanguage": 5}}, "placeholderMessages.defaultLanguage", "a string"),
    # Timezones resolved against the tz database (defect 5).
    ({"timezone": "Europe"}, "timezone", "not a time zone"),
    ({"timezone": "Etc"}, "timezone", "not a time zone"),
    ({"timezone": "x" * 300}, "timezone", "not a time zone"),
    ({"timezone": "../../etc/passwd"}, "timezone", "not a time zone"),
    ({"timezone": "zone.tab"}, "timezone", "not a time zone"),
    ({"timezone": "utc"}, "timezone", "did you mean 'UTC'"),
]


@pytest.mark.parametrize(
    ("body", "field", "fix"), REFUSED, ids=[f"{i}-{r[1]}" for i, r in enumerate(REFUSED)]
)
async def test_a_shape_the_runtime_cannot_use_is_refused(
    client: httpx.AsyncClient, project: Project, body: dict[str, Any], field: str, fix: str
) -> None:
    url = f"/v1/projects/{project.id}/agent"
    before = (await client.get(url, headers=project.auth)).json()["data"]
    answer = await client.patch(url, json=body, headers=project.auth)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["message"].startswith(f"{field}: "), error["message"]
    assert fix in error["message"], error["message"]
    assert error["details"]["errors"][0]["field"] == field
    assert (await client.get(url, headers=project.auth)).json()["data"] == before
    # The project still works.
    created = await client.post(
        f"/v1/projects/{project.id}/sessions", json={"session_id": "after"}, headers=project.auth
    )
    assert created.status_code == 200


DOCUMENTED: dict[str, Any] = {
    "timezone": "Asia/Taipei",
    "postSessionWebhook": {
        "url": HOOK,
        "headers": [{"key": "X-Team", "value": "ops"}, {"key": "Authorization", "value": "Bearer abc"}],
        "events": ["session.ended", "call.ended", "session.finalized", "recording.ready"],
    },
    "postEvaluationConfig": {
        "enabled": False,
        "prompt": "Was the user helped?",
        "enumOptions": ["good", "bad"],
        "numberConfig": {"min": 1, "max": 5},
    },
    "beforeStartConfig": {
        "enabled": True,
        "mode": "sequential",
        "toolTemplates": [{"toolName": "crm", "toolId": "tool_1", "parameters": {"phone": "{{caller}}"}}],
    },
    "placeholderMessages": {
        "messages": {"en": ["One moment"], "fr": ["Un instant"]},
        "defaultLanguage": "en",
    },
}


async def test_every_documented_shape_is_accepted_and_read_back_as_sent(
    client: httpx.AsyncClient, project: Project
) -> None:
    url = f"/v1/projects/{project.id}/agent"
    saved = await client.put(url, json=DOCUMENTED, headers=project.auth)
    assert saved.status_code == 200, saved.text
    read = (await client.get(url, headers=project.auth)).json()["data"]
    assert {key: read[key] for key in DOCUMENTED} == DOCUMENTED
    # Sparse forms: only the url; one list for every language; a field Pathors may add later.
    sparse = {
        "postSessionWebhook": {"url": HOOK},
        "placeholderMessages": {"messages": ["Hold on"]},
        "postEvaluationConfig": {"prompt": "Grade it", "numberConfig": {"max": 10}, "weight": 2},
        "timezone": None,
    }
    assert (await client.patch(url, json=sparse, headers=project.auth)).status_code == 200
    read = (await client.get(url, headers=project.auth)).json()["data"]
    assert {key: read[key] for key in sparse} == sparse
    assert (
        await client.patch(url, json={"placeholderMessages": {"en": ["One moment"]}}, headers=project.auth)
    ).status_code == 200
