"""What was stored before the rules existed still runs, without what does not fit (issue 20,
"reads never fail"), and a webhook delivery never stays ``sending`` (defect 6)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from pathweaver.cli import app as cli
from pathweaver.config import Settings
from pathweaver.lifecycle.delivery import PostResult
from pathweaver.store.schema import agents, utcnow, webhook_deliveries
from pathweaver.store.store import Store
from tests.conftest import POSTGRES_URL, Project, make_project
from tests.lifecycle.conftest import Receiver


@pytest.fixture
def settings(tmp_path: Path, backend: str) -> Settings:
    extra: dict[str, Any] = {}
    if backend == "postgres":
        extra = {"database_url": POSTGRES_URL, "database_schema": f"t_{secrets.token_hex(6)}"}
    return Settings(
        data_dir=tmp_path,
        fake_model=True,
        webhook_retry_base=0.01,
        webhook_max_attempts=3,
        lifecycle_poll_interval=0.05,
        outbound_allow="127.0.0.1",
        **extra,
    )


async def store_raw(store: Store, project: Project, config: dict[str, Any]) -> None:
    """Write an agent config as an older version could have, past today's checks."""
    async with store.engine.begin() as conn:
        await conn.execute(
            update(agents).where(agents.c.project_id == project.id).values(config=config, updated_at=utcnow())
        )


def legacy(receiver_url: str) -> dict[str, Any]:
    return {
        "name": "Old",
        "timezone": "Europe",
        "postSessionWebhook": {
            "url": receiver_url,
            "headers": [
                {"key": "Content-Length", "value": "3"},
                {"key": "X-Team", "value": "ops"},
                {"key": "X-Name", "value": "Zoë"},
            ],
            "events": ["session.ended", "session.finalized"],
        },
        "postEvaluationConfig": {"enabled": "no", "enumOptions": "good"},
    }


async def worker_until(client: httpx.AsyncClient, done: Any, within: float = 10.0) -> None:
    worker = client._transport.app.state.lifecycle  # type: ignore[attr-defined]
    deadline = asyncio.get_running_loop().time() + within
    while not await done():
        assert asyncio.get_running_loop().time() < deadline, "the lifecycle worker did not finish in time"
        await worker.tick()
        await asyncio.sleep(0.02)


async def test_a_config_stored_before_the_rules_runs_without_what_does_not_fit(
    client: httpx.AsyncClient, store: Store, project: Project, receiver: Receiver
) -> None:
    await store_raw(store, project, legacy(receiver.url))
    v1 = f"/v1/projects/{project.id}"
    agent = await client.get(f"{v1}/agent", headers=project.auth)
    assert agent.status_code == 200
    assert agent.json()["data"]["timezone"] == "UTC" and agent.json()["data"]["postEvaluationConfig"] is None
    created = await client.post(f"{v1}/sessions", json={"session_id": "old"}, headers=project.auth)
    assert created.status_code == 200, created.text
    turn = await client.post(
        f"{v1}/chat/completions",
        json={"messages": [{"role": "user", "content": "hello"}]},
        headers={**project.auth, "X-Session-ID": "old"},
    )
    assert turn.status_code == 200, turn.text
    ended = await client.request("DELETE", f"{v1}/sessions", json={"session_id": "old"}, headers=project.auth)
    assert ended.status_code == 200

    async def both_delivered() -> bool:
        return receiver.events() == ["session.ended", "session.finalized"]

    await worker_until(client, both_delivered)
    sent = receiver.received[0]["headers"]
    assert sent["X-Team"] == "ops" and "X-Name" not in sent
    assert sent["Content-Length"] == str(len(receiver.received[0]["raw"]))
    state = (await client.get(f"{v1}/sessions/old", headers=project.auth)).json()
    assert state["evaluation"] is None, "an evaluation config that does not fit is skipped"


async def test_a_webhook_of_the_wrong_shape_is_skipped_and_the_project_goes_on(
    client: httpx.AsyncClient, store: Store, project: Project, receiver: Receiver
) -> None:
    for shape in (
        {"headers": {"X-Team": "ops"}},
        {"headers": "x"},
        {"events": 5},
        {"events": [["session.ended"]]},
    ):
        await store_raw(store, project, {"postSessionWebhook": {"url": receiver.url, **shape}})
        session = f"s{secrets.token_hex(3)}"
        v1 = f"/v1/projects/{project.id}"
        created = await client.post(f"{v1}/sessions", json={"session_id": session}, headers=project.auth)
        assert created.status_code == 200, f"{shape}: {created.text}"
        turn = await client.post(
            f"{v1}/chat/completions",
            json={"messages": [{"role": "user", "content": "hello"}]},
            headers={**project.auth, "X-Session-ID": session},
        )
        assert turn.status_code == 200, f"{shape}: {turn.text}"


async def test_fixing_a_stored_value_is_required_to_save_and_then_enough(
    client: httpx.AsyncClient, store: Store, project: Project, receiver: Receiver
) -> None:
    await store_raw(store, project, {"timezone": "Europe"})
    url = f"/v1/projects/{project.id}/agent"
    other = await client.patch(url, json={"name": "Renamed"}, headers=project.auth)
    assert other.status_code == 400 and other.json()["error"]["message"].startswith("timezone: ")
    fixed = await client.patch(
        url, json={"name": "Renamed", "timezone": "Europe/Paris"}, headers=project.auth
    )
    assert fixed.status_code == 200 and fixed.json()["data"]["timezone"] == "Europe/Paris"


# Deliveries ------------------------------------------------------------------------------


class Exploding:
    """A poster whose client raises something no one expected."""

    def __init__(self) -> None:
        self.calls = 0

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> PostResult:
        self.calls += 1
        raise UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range(128)")


async def queue_delivery(store: Store, project: Project, url: str, headers: dict[str, str]) -> int:
    async with store.engine.begin() as conn:
        result = await conn.execute(
            insert(webhook_deliveries)
            .values(
                project_id=project.id,
                session_id=None,
                event="session.ended",
                url=url,
                headers=headers,
                payload={"event": "session.ended", "sessionId": "x"},
                status="pending",
                at_most_once=False,
                attempts=0,
                next_attempt_at=utcnow(),
                created_at=utcnow(),
            )
            .returning(webhook_deliveries.c.id)
        )
        return int(result.scalar_one())


async def test_an_exception_while_sending_is_a_failed_attempt_retried_then_given_up(
    client: httpx.AsyncClient, store: Store, project: Project, receiver: Receiver, settings: Settings
) -> None:
    worker = client._transport.app.state.lifecycle  # type: ignore[attr-defined]
    worker.poster = Exploding()
    await queue_delivery(store, project, receiver.url, {})
    log_url = f"/v1/projects/{project.id}/webhooks/deliveries"

    async def given_up() -> bool:
        log = (await client.get(log_url, headers=project.auth)).json()["data"]
        return bool(log) and log[0]["status"] == "failed"

    await worker_until(client, given_up)
    delivery = (await client.get(log_url, headers=project.auth)).json()["data"][0]
    assert len(delivery["attempts"]) == settings.webhook_max_attempts == worker.poster.calls
    assert all("could not send the request: UnicodeEncodeError" in a["error"] for a in delivery["attempts"])
    for _ in range(3):
        await worker.tick()
    assert worker.poster.calls == settings.webhook_max_attempts, "never claimed again after giving up"


async def test_a_queued_delivery_with_headers_http_cannot_carry_is_sent_without_them(
    client: httpx.AsyncClient, store: Store, project: Project, receiver: Receiver
) -> None:
    headers = {"Content-Length": "5", "Host": "evil.example", "X-Ok": "1", "X-Bad": "café", "X-Näme": "v"}
    await queue_delivery(store, project, receiver.url, headers)

    async def delivered() -> bool:
        return len(receiver.received) == 1

    await worker_until(client, delivered)
    sent = receiver.received[0]["headers"]
    assert sent["X-Ok"] == "1" and "X-Bad" not in sent and sent["Host"].startswith("127.0.0.1")
    assert receiver.received[0]["body"]["sessionId"] == "x", "the whole body arrived"


async def test_a_delivery_left_sending_at_its_attempt_limit_is_given_up(
    store: Store, project: Project, settings: Settings
) -> None:
    delivery_id = await queue_delivery(store, project, "http://127.0.0.1:9/x", {})
    async with store.engine.begin() as conn:
        await conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(status="sending", attempts=settings.webhook_max_attempts, lease_until=utcnow())
        )
    await asyncio.sleep(0.01)
    taken = await store.lifecycle.claim_deliveries(max_attempts=settings.webhook_max_attempts)
    assert taken == []
    async with store.engine.connect() as conn:
        status = (
            await conn.execute(
                select(webhook_deliveries.c.status).where(webhook_deliveries.c.id == delivery_id)
            )
        ).scalar_one()
    assert status == "failed"


# The start-up check ----------------------------------------------------------------------


def test_doctor_lists_stored_values_that_no_longer_validate(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, fake_model=True)

    async def prepare() -> str:
        store = await Store.open(settings)
        try:
            good = await make_project(store, "good")
            bad = await make_project(store, "bad")
            await store_raw(store, bad, legacy("https://example.org/hook"))
            assert good.id != bad.id
            return bad.id
        finally:
            await store.close()

    bad_id = asyncio.run(prepare())
    result = CliRunner().invoke(cli, ["doctor", "--data-dir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith(f"project {bad_id}: agent ") for line in lines)
    assert any("timezone: 'Europe' is not a time zone" in line for line in lines)
    assert any("postSessionWebhook.headers[0].key: Content-Length" in line for line in lines)
    assert any("postEvaluationConfig.enabled: must be true or false" in line for line in lines)


def test_doctor_is_quiet_when_everything_validates(tmp_path: Path) -> None:
    async def prepare() -> None:
        store = await Store.open(Settings(data_dir=tmp_path, fake_model=True))
        try:
            await make_project(store)
        finally:
            await store.close()

    asyncio.run(prepare())
    result = CliRunner().invoke(cli, ["doctor", "--data-dir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0 and result.stdout.startswith("ok:")
