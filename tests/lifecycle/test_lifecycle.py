"""The end-of-session pipeline and webhook deliveries, with a real local receiver."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.lifecycle.delivery import verify
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import Project, served
from tests.lifecycle.conftest import Receiver


@pytest.fixture
def settings(tmp_path, backend) -> Settings:
    import secrets

    from tests.conftest import POSTGRES_URL

    extra = {}
    if backend == "postgres":
        extra = {"database_url": POSTGRES_URL, "database_schema": f"t_{secrets.token_hex(6)}"}
    return Settings(
        data_dir=tmp_path,
        fake_model=True,
        webhook_retry_base=0.05,
        lifecycle_poll_interval=0.05,
        outbound_allow="127.0.0.1",  # the test receiver is local; deliveries are SSRF-checked
        **extra,
    )


async def drain(client: httpx.AsyncClient, until, within: float = 10.0) -> None:
    """Let the lifecycle worker run until ``until()`` holds."""
    worker = client._transport.app.state.lifecycle  # type: ignore[attr-defined]
    deadline = asyncio.get_running_loop().time() + within
    while not until():
        assert asyncio.get_running_loop().time() < deadline, "the lifecycle worker did not finish in time"
        await worker.tick()
        await asyncio.sleep(0.02)


async def delivery_log(client: httpx.AsyncClient, project: Project, until, within: float = 10.0) -> list:
    """The deliveries log once ``until(log)`` holds: the receiver answers before the worker
    records the attempt, so a test that saw the request arrive may read the log too early."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        log = (
            await client.get(f"/v1/projects/{project.id}/webhooks/deliveries", headers=project.auth)
        ).json()["data"]
        if until(log) or asyncio.get_running_loop().time() > deadline:
            return log
        await asyncio.sleep(0.02)


async def attempts_recorded(store: Store, project: Project) -> int:
    return sum(len(row["attempts"]) for row in await store.lifecycle.deliveries(project.id))


async def configure(client, project: Project, receiver: Receiver, **agent) -> None:
    await client.patch(
        f"/v1/projects/{project.id}/agent",
        json={
            "postSessionWebhook": {
                "url": receiver.url,
                "headers": [{"key": "X-Team", "value": "ops"}],
                "events": ["session.ended", "session.finalized"],
            },
            **agent,
        },
        headers=project.auth,
    )


async def test_end_fires_ended_then_finalized_with_the_documented_payloads(
    client, project: Project, receiver: Receiver
) -> None:
    await configure(client, project, receiver)
    subscribed = await client.post(
        f"/project/{project.id}/webhooks",
        json={"url": receiver.url + "2", "events": ["session.started"]},
        headers=project.auth,
    )
    assert subscribed.status_code == 200 and subscribed.json()["id"]
    await client.post(f"/v1/projects/{project.id}/sessions", json={"session_id": "w1"}, headers=project.auth)
    await client.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "hello"}]},
        headers={**project.auth, "X-Session-ID": "w1"},
    )
    await client.request(
        "DELETE", f"/v1/projects/{project.id}/sessions", json={"session_id": "w1"}, headers=project.auth
    )
    await drain(client, lambda: len(receiver.events()) >= 3)
    assert receiver.events() == ["session.started", "session.ended", "session.finalized"]
    started, ended, finalized = (r["body"] for r in receiver.received)
    assert set(started) >= {"event", "sessionId", "timestamp", "projectId"}
    assert set(ended) == {
        "event",
        "sessionId",
        "timestamp",
        "currentNodeId",
        "messagesCount",
        "extractedVariables",
        "reason",
    }
    assert (
        ended["reason"] == "session_ended"
        and ended["messagesCount"] == 2
        and ended["currentNodeId"] == "start"
    )
    assert set(finalized) == {
        "event",
        "sessionId",
        "timestamp",
        "projectId",
        "currentNodeId",
        "messagesCount",
        "extractedVariables",
    }
    assert "callStatus" not in finalized, "call fields are omitted for text sessions"
    assert ended["timestamp"].endswith("Z")
    secret = (await client.get(f"/v1/projects/{project.id}/webhooks/secret", headers=project.auth)).json()[
        "data"
    ]["secret"]
    for request in receiver.received:
        assert verify(secret, request["raw"], request["headers"]["X-Pathweaver-Signature"])
    assert receiver.received[1]["headers"]["X-Team"] == "ops"
    log = await delivery_log(client, project, until=lambda log: all(d["status"] == "delivered" for d in log))
    assert {d["status"] for d in log} == {"delivered"}
    assert all(d["attempts"][0]["statusCode"] == 200 for d in log)


async def test_a_receiver_failing_twice_gets_exactly_one_success(
    client, project: Project, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    await configure(client, project, receiver)
    await client.post(f"/v1/projects/{project.id}/sessions", json={"session_id": "w2"}, headers=project.auth)
    await client.request(
        "DELETE", f"/v1/projects/{project.id}/sessions", json={"session_id": "w2"}, headers=project.auth
    )
    await drain(client, lambda: len(receiver.events()) >= 2)
    await asyncio.sleep(0.3)
    await drain(client, lambda: True)
    assert receiver.events().count("session.ended") == 1
    assert receiver.events().count("session.finalized") == 1
    log = await delivery_log(client, project, until=lambda log: all(d["status"] == "delivered" for d in log))
    attempts = sum(len(d["attempts"]) for d in log)
    assert attempts == 4, "two failures, then one success per event"
    assert any(a["error"] == "the receiver answered 500" for d in log for a in d["attempts"])


async def test_a_restart_in_the_middle_of_retries_still_delivers(
    settings, store, project: Project, receiver: Receiver
) -> None:
    receiver.fail_first = 1
    # The first server waits a second before retrying, so it cannot retry (and succeed) in the
    # moment between the failed attempt and its shutdown; the second server delivers.
    patient = settings.model_copy(update={"webhook_retry_base": 1.0})
    first = create_app(patient, store=store, model=ScriptedModel())
    async with served(first) as http:
        await configure(http, project, receiver)
        await http.post(
            f"/v1/projects/{project.id}/sessions", json={"session_id": "w3"}, headers=project.auth
        )
        await http.request(
            "DELETE",
            f"/v1/projects/{project.id}/sessions",
            json={"session_id": "w3"},
            headers=project.auth,
        )
        await drain(http, lambda: len(receiver.received) >= 1)
        # The receiver answers before the worker records the failed attempt: stopping in
        # between would leave the delivery claimed for its 2-minute lease, longer than
        # the second server is given here.
        deadline = asyncio.get_running_loop().time() + 10
        while not await attempts_recorded(store, project):
            assert asyncio.get_running_loop().time() < deadline, "the failed attempt was not recorded"
            await asyncio.sleep(0.02)
    assert receiver.events() == []  # the first attempt failed; the server went away
    second = create_app(settings, store=store, model=ScriptedModel())
    async with served(second) as http:
        await drain(http, lambda: len(receiver.events()) >= 2)
    assert sorted(receiver.events()) == ["session.ended", "session.finalized"]


async def test_two_racing_ends_run_the_pipeline_once(
    client, store, project: Project, receiver: Receiver
) -> None:
    await configure(client, project, receiver)
    await client.post(f"/v1/projects/{project.id}/sessions", json={"session_id": "w4"}, headers=project.auth)
    url = f"/v1/projects/{project.id}/sessions"
    await asyncio.gather(
        client.request("DELETE", url, json={"session_id": "w4"}, headers=project.auth),
        client.post(f"{url}/terminate", json={"session_id": "w4"}, headers=project.auth),
        client.post(f"/v1/projects/{project.id}/conversations/w4/end", headers=project.auth),
    )
    await drain(client, lambda: len(receiver.events()) >= 2)
    await asyncio.sleep(0.2)
    await drain(client, lambda: True)
    assert receiver.events() == ["session.ended", "session.finalized"]


async def test_evaluation_and_post_session_variables(
    client, project: Project, receiver: Receiver, model
) -> None:
    await configure(
        client,
        project,
        receiver,
        variableConfigs=[{"key": "email", "type": "email", "description": "contact email"}],
        postSessionVariableKeys=["email"],
        postEvaluationConfig={
            "enabled": True,
            "prompt": "Was the user helped?",
            "enumOptions": ["good", "bad"],
        },
    )

    def answer(request):  # the turn's decision and extraction, then the judge, in any order
        if request.purpose == "decide":
            return {"choice": 0}
        if request.purpose == "extract":
            return {"email": "ann@example.com"}
        return {"result": "good", "reason": "The user got an answer."}

    model.push_structured(answer, answer, answer, answer)
    await client.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "write to ann@example.com"}]},
        headers={**project.auth, "X-Session-ID": "w5"},
    )
    await client.request(
        "DELETE", f"/v1/projects/{project.id}/sessions", json={"session_id": "w5"}, headers=project.auth
    )
    await drain(client, lambda: len(receiver.events()) >= 2)
    state = (await client.get(f"/v1/projects/{project.id}/sessions/w5", headers=project.auth)).json()
    assert state["evaluation"] == {"result": "good", "reason": "The user got an answer."}
    assert state["extractedVariables"] == {"email": "ann@example.com"}
    finalized = receiver.received[-1]["body"]
    assert finalized["event"] == "session.finalized" and finalized["evaluation"]["result"] == "good"
    assert finalized["extractedVariables"] == {"email": "ann@example.com"}


async def test_a_judge_out_of_format_is_a_failed_evaluation(
    client, project: Project, receiver: Receiver, model
) -> None:
    await configure(
        client,
        project,
        receiver,
        postEvaluationConfig={"enabled": True, "prompt": "Grade", "numberConfig": {"min": 1, "max": 5}},
    )
    model.push_structured({"result": "excellent", "reason": "?"})
    await client.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={**project.auth, "X-Session-ID": "w6"},
    )
    await client.request(
        "DELETE", f"/v1/projects/{project.id}/sessions", json={"session_id": "w6"}, headers=project.auth
    )
    await drain(client, lambda: len(receiver.events()) >= 2)
    state = (await client.get(f"/v1/projects/{project.id}/sessions/w6", headers=project.auth)).json()
    assert "error" in state["evaluation"] and "result" not in state["evaluation"]


async def test_an_unreachable_webhook_never_fails_the_conversation(client, project: Project) -> None:
    await client.patch(
        f"/v1/projects/{project.id}/agent",
        json={"postSessionWebhook": {"url": "http://127.0.0.1:9/nowhere", "events": ["session.ended"]}},
        headers=project.auth,
    )
    reply = await client.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "I have nothing more to ask, end the conversation"}]},
        headers={**project.auth, "X-Session-ID": "w7"},
    )
    assert reply.status_code == 200
    worker = client._transport.app.state.lifecycle
    url = f"/v1/projects/{project.id}/webhooks/deliveries"
    for _ in range(100):
        await worker.tick()
        log = (await client.get(url, headers=project.auth)).json()["data"]
        if log and log[0]["attempts"]:
            break
        await asyncio.sleep(0.02)
    assert log[0]["attempts"][0]["error"].startswith("could not connect")
    assert log[0]["status"] == "pending", "retried later, with backoff"


async def test_subscription_api(client, project: Project) -> None:
    base = f"/v1/projects/{project.id}/webhooks"
    bad = await client.post(base, json={"url": "ftp://x", "events": ["session.ended"]}, headers=project.auth)
    assert bad.status_code == 400
    unknown = await client.post(
        base, json={"url": "https://example.org/h", "events": ["nope"]}, headers=project.auth
    )
    assert unknown.status_code == 400 and "unknown event" in unknown.json()["error"]["message"]
    made = (await client.post(base, json={"url": "https://example.org/h"}, headers=project.auth)).json()
    assert (
        await client.post(f"{base}/check", json={"url": "https://example.org/h"}, headers=project.auth)
    ).json() == {
        "exists": True,
        "id": made["id"],
    }
    assert (await client.delete(f"{base}/{made['id']}", headers=project.auth)).json()["success"] is True
    assert (
        await client.post(f"{base}/check", json={"url": "https://example.org/h"}, headers=project.auth)
    ).json() == {"exists": False}
    assert (await client.delete(f"{base}/{made['id']}", headers=project.auth)).status_code == 404


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:secret@hooks.example.com/h", "must not hold credentials"),
        ("https://hooks.example.com:99999/h", "has a port that is not a number"),
        ("https://hooks.example.com/a b", "must not contain spaces"),
        ("http:///h", "with a host"),
        ("mailto:ops@example.com", "http:// or https://"),
        ("http://10.1.2.3/h", "url: 10.1.2.3 is a private address"),
        ("http://169.254.169.254/latest", "url: 169.254.169.254 is the cloud metadata service"),
        ("http://localhost:8080/h", "url: 'localhost' names this machine"),
    ],
)
async def test_a_subscription_that_could_never_deliver_is_refused(
    client, project: Project, url: str, expected: str
) -> None:
    for base in (f"/v1/projects/{project.id}/webhooks", f"/project/{project.id}/webhooks"):
        refused = await client.post(base, json={"url": url}, headers=project.auth)
        assert refused.status_code == 400, refused.text
        assert expected in refused.json()["error"]["message"]
    listed = await client.get(f"/v1/projects/{project.id}/webhooks", headers=project.auth)
    assert listed.json()["data"] == []


async def test_idle_sessions_are_ended_and_finalized(client, store, project: Project, settings) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from pathweaver.store.schema import sessions, utcnow

    await client.post(
        f"/v1/projects/{project.id}/sessions", json={"session_id": "idle"}, headers=project.auth
    )
    async with store.engine.begin() as conn:
        await conn.execute(update(sessions).values(updated_at=utcnow() - timedelta(days=2)))
    worker = client._transport.app.state.lifecycle
    await worker.end_idle_sessions()
    state = (await client.get(f"/v1/projects/{project.id}/sessions/idle", headers=project.auth)).json()
    assert state["isEnded"] and state["endReason"] == "idle_timeout"


async def test_a_private_receiver_is_refused_without_the_allow_list(
    store, project: Project, tmp_path
) -> None:
    strict = Settings(data_dir=tmp_path, fake_model=True, lifecycle_poll_interval=0.05)
    app = create_app(strict, store=store, model=ScriptedModel())
    async with served(app) as http:
        await http.patch(
            f"/v1/projects/{project.id}/agent",
            json={"postSessionWebhook": {"url": "http://10.0.0.8/hook", "events": ["session.ended"]}},
            headers=project.auth,
        )
        await http.post(
            f"/v1/projects/{project.id}/sessions", json={"session_id": "p1"}, headers=project.auth
        )
        ended = await http.request(
            "DELETE",
            f"/v1/projects/{project.id}/sessions",
            json={"session_id": "p1"},
            headers=project.auth,
        )
        assert ended.status_code == 200
        url = f"/v1/projects/{project.id}/webhooks/deliveries"
        for _ in range(100):
            await app.state.lifecycle.tick()
            log = (await http.get(url, headers=project.auth)).json()["data"]
            if log and log[0]["attempts"]:
                break
            await asyncio.sleep(0.02)
    assert log[0]["attempts"][0]["error"].startswith("refused")
