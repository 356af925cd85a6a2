"""Test cases, suites and runs over HTTP; the lint endpoint; the publish gate; the migration."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pathweaver.agent.files import read_agent_file
from pathweaver.errors import Conflict
from pathweaver.store.schema import metadata
from pathweaver.store.store import Store
from pathweaver.testing.publish import agent_fingerprint, ensure_suite_passed
from tests.conftest import Project, make_project
from tests.testing.conftest import EXAMPLES

BOOKING = {
    "name": "books a table",
    "kind": "scripted",
    "turns": [
        {"user": "I want to book a table or make a reservation", "expect": {"node": "ask_name"}},
        {
            "user": "My name is Ann Lee, I have given my name",
            "expect": {"variables": {"customer_name": "Ann Lee"}},
        },
    ],
}
SIMULATED = {
    "name": "asks for the manager",
    "systemPrompt": "You want to talk to the manager.",
    "maxTurns": 1,
    "acceptanceCriteria": ["The agent offers a call back"],
}


@pytest.fixture
async def restaurant(store: Store) -> Project:
    agent, pathway = read_agent_file(EXAMPLES / "restaurant-booking.yaml")
    return await make_project(store, "restaurant", agent, pathway)


def url(project: Project, path: str) -> str:
    return f"/v1/projects/{project.id}{path}"


async def create(client: httpx.AsyncClient, project: Project, path: str, body: Any) -> dict[str, Any]:
    response = await client.post(url(project, path), json=body, headers=project.auth)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def finished(client: httpx.AsyncClient, project: Project, run_id: str) -> dict[str, Any]:
    for _ in range(500):
        run: dict[str, Any] = (
            await client.get(url(project, f"/test-runs/{run_id}"), headers=project.auth)
        ).json()["data"]
        if run["status"] != "running":
            return run
        await asyncio.sleep(0.01)
    raise AssertionError("the run did not finish")


async def test_cases_and_suites_lifecycle(client: httpx.AsyncClient, restaurant: Project) -> None:
    case = await create(client, restaurant, "/test-cases", BOOKING)
    assert (
        case["id"].startswith("tc_")
        and case["kind"] == "scripted"
        and case["turns"][0]["expect"]["node"] == "ask_name"
    )
    pathors = await create(client, restaurant, "/test-cases", SIMULATED)
    assert pathors["kind"] == "simulated" and pathors["maxTurns"] == 1
    listed = (await client.get(url(restaurant, "/test-cases"), headers=restaurant.auth)).json()["data"]
    assert [item["name"] for item in listed] == ["books a table", "asks for the manager"]
    again = await client.post(url(restaurant, "/test-cases"), json=BOOKING, headers=restaurant.auth)
    assert again.status_code == 409 and "already has a test case named" in again.json()["error"]["message"]

    suite = await create(
        client, restaurant, "/test-suites", {"name": "smoke", "testCaseIds": [case["id"], pathors["id"]]}
    )
    assert suite["testCaseIds"] == [case["id"], pathors["id"]]
    fetched = await client.get(url(restaurant, f"/test-suites/{suite['id']}"), headers=restaurant.auth)
    assert fetched.json()["data"]["name"] == "smoke"

    deleted = await client.delete(url(restaurant, f"/test-cases/{pathors['id']}"), headers=restaurant.auth)
    assert deleted.status_code == 200
    suite_now = (
        await client.get(url(restaurant, f"/test-suites/{suite['id']}"), headers=restaurant.auth)
    ).json()
    assert suite_now["data"]["testCaseIds"] == [case["id"]]  # taken out of the suite too
    gone = await client.get(url(restaurant, f"/test-cases/{pathors['id']}"), headers=restaurant.auth)
    assert gone.status_code == 404

    assert (
        await client.delete(url(restaurant, f"/test-suites/{suite['id']}"), headers=restaurant.auth)
    ).status_code == 200
    assert (await client.get(url(restaurant, "/test-suites"), headers=restaurant.auth)).json()["data"] == []


async def test_bad_cases_and_suites_say_what_to_fix(client: httpx.AsyncClient, restaurant: Project) -> None:
    bad = await client.post(
        url(restaurant, "/test-cases"),
        json={"name": "x", "turns": [{"user": "hi", "expect": {"nod": "a"}}]},
        headers=restaurant.auth,
    )
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["message"] == "turns[0].expect.nod: is not a known field here; check its spelling"
    assert error["details"]["errors"][0]["field"] == "turns[0].expect.nod"
    unknown = await client.post(
        url(restaurant, "/test-suites"),
        json={"name": "s", "testCaseIds": ["tc_nope"]},
        headers=restaurant.auth,
    )
    assert unknown.status_code == 404 and "tc_nope" in unknown.json()["error"]["message"]
    empty = await client.post(
        url(restaurant, "/test-suites"), json={"name": "s", "testCaseIds": []}, headers=restaurant.auth
    )
    assert empty.status_code == 400


async def test_the_routes_need_a_key_for_the_project(
    client: httpx.AsyncClient, restaurant: Project, store: Store
) -> None:
    other = await make_project(store, "other")
    response = await client.get(url(restaurant, "/test-cases"), headers=other.auth)
    assert response.status_code == 403
    assert (await client.get(url(restaurant, "/pathway/lint"))).status_code == 401


async def test_run_a_suite_and_poll_the_results(
    client: httpx.AsyncClient, restaurant: Project, model: Any, store: Store
) -> None:
    booking = await create(client, restaurant, "/test-cases", BOOKING)
    simulated = await create(client, restaurant, "/test-cases", SIMULATED)
    suite = await create(
        client, restaurant, "/test-suites", {"name": "smoke", "testCaseIds": [booking["id"], simulated["id"]]}
    )
    started = await client.post(url(restaurant, f"/test-suites/{suite['id']}/runs"), headers=restaurant.auth)
    assert started.status_code == 202
    run = started.json()["data"]
    assert run["id"].startswith("run_") and run["status"] == "running" and run["summary"]["total"] == 2

    done = await finished(client, restaurant, run["id"])
    assert done["status"] == "failed"  # the scripted judge answers out of format: a failure, never a pass
    assert done["summary"] == {"total": 2, "done": 2, "passed": 1, "failed": 1, "errors": 0}
    first, second = done["results"]
    assert first["status"] == "passed" and first["checks"][0]["name"] == "turn 1: node"
    assert first["transcript"][0]["trace"]["transitions"][0]["to"] == "ask_name"
    assert second["checks"][0]["passed"] is False
    assert "the judge answered out of format" in second["checks"][0]["reason"]
    listed = (
        await client.get(url(restaurant, f"/test-suites/{suite['id']}/runs"), headers=restaurant.auth)
    ).json()
    assert [item["id"] for item in listed["data"]] == [run["id"]] and "results" not in listed["data"][0]


async def test_the_lint_endpoint(client: httpx.AsyncClient, restaurant: Project, project: Project) -> None:
    clean = (await client.get(url(restaurant, "/pathway/lint"), headers=restaurant.auth)).json()["data"]
    assert clean == {"version": 1, "ok": True, "errors": 0, "warnings": 0, "findings": [], "omitted": 0}
    await client.post(
        url(project, "/pathway/nodes"),
        json={
            "id": "island",
            "position": {"x": 0, "y": 0},
            "data": {"type": "prompt", "title": "I", "prompt": "Hi {{who}}."},
        },
        headers=project.auth,
    )
    found = (await client.get(url(project, "/pathway/lint"), headers=project.auth)).json()["data"]
    assert found["version"] == 2 and found["ok"] is True  # an unreachable node reads nothing yet
    assert [item["code"] for item in found["findings"]] == ["unreachable_node"]


async def test_the_lint_names_a_tool_the_project_no_longer_has(
    client: httpx.AsyncClient, project: Project
) -> None:
    created = await client.post(
        url(project, "/tools"),
        json={"type": "restful", "name": "lookup", "metadata": {"url": "https://x.example"}},
        headers=project.auth,
    )
    tool_id = created.json()["data"]["id"]
    await client.patch(
        url(project, "/pathway/nodes/start"), json={"data": {"tools": [tool_id]}}, headers=project.auth
    )
    clean = (await client.get(url(project, "/pathway/lint"), headers=project.auth)).json()["data"]
    assert clean["ok"] is True, clean
    await client.delete(url(project, f"/tools/{tool_id}"), headers=project.auth)
    found = (await client.get(url(project, "/pathway/lint"), headers=project.auth)).json()["data"]
    assert found["ok"] is False and [item["code"] for item in found["findings"]] == ["unknown_tool"]
    assert found["findings"][0]["nodeId"] == "start" and tool_id in found["findings"][0]["message"]


async def test_the_lint_runs_off_the_event_loop(
    client: httpx.AsyncClient, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import pathweaver.api.testing

    def slow_lint(*args: Any) -> list[Any]:
        time.sleep(1.5)  # a pathway whose lint takes a while
        return []

    monkeypatch.setattr(pathweaver.api.testing, "lint_pathway", slow_lint)
    done: list[str] = []
    waited: list[float] = []

    async def lint() -> None:
        await client.get(url(project, "/pathway/lint"), headers=project.auth)
        done.append("lint")

    async def other() -> None:
        await asyncio.sleep(0.1)
        await client.get(url(project, "/agent"), headers=project.auth)
        waited.append(time.perf_counter() - began)
        done.append("other")

    began = time.perf_counter()
    await asyncio.gather(lint(), other())
    assert done == ["other", "lint"] and waited[0] < 1.0, waited  # not held up by the 1.5 s


async def test_the_publish_gate(client: httpx.AsyncClient, restaurant: Project, store: Store) -> None:
    agent = (await store.projects.get_agent(restaurant.id)).config
    with pytest.raises(Conflict, match="no such test suite"):
        await ensure_suite_passed(store, restaurant.id, "ts_nope", agent)
    booking = await create(client, restaurant, "/test-cases", BOOKING)
    suite = await create(client, restaurant, "/test-suites", {"name": "gate", "testCaseIds": [booking["id"]]})
    with pytest.raises(Conflict, match="it has not been run") as never:
        await ensure_suite_passed(store, restaurant.id, suite["id"], agent)
    assert never.value.code == "required_suite_not_passed"
    run = (
        await client.post(url(restaurant, f"/test-suites/{suite['id']}/runs"), headers=restaurant.auth)
    ).json()
    assert (await finished(client, restaurant, run["data"]["id"]))["status"] == "passed"
    await ensure_suite_passed(
        store, restaurant.id, suite["id"], agent.model_copy(update={"status": "published"})
    )
    edited = agent.model_copy(update={"global_prompt": "Be brief."})
    assert agent_fingerprint(edited) != agent_fingerprint(agent)
    with pytest.raises(Conflict, match="the agent config changed since"):
        await ensure_suite_passed(store, restaurant.id, suite["id"], edited)
    pathway = await store.projects.get_pathway(restaurant.id)
    from pathweaver.agent.pathway import Pathway

    moved = {**pathway.document, "layout": {"zoom": 2}}  # a save that changes nothing makes no version
    await store.projects.save_pathway(restaurant.id, Pathway.model_validate(moved))
    with pytest.raises(Conflict, match="it tested pathway version 1, the current one is 2"):
        await ensure_suite_passed(store, restaurant.id, suite["id"], agent)


MINE = {"test_cases", "test_suites", "test_runs"}


def table_of(item: Any) -> str | None:
    """The table a compare_metadata difference is about (other people's tables are ignored)."""
    if isinstance(item, list):  # a group of column modifications
        return table_of(item[0])
    kind = item[0]
    if kind in ("add_table", "remove_table"):
        return str(item[1].name)
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        return str(item[1].table.name)
    return str(item[2])  # column changes: (kind, schema, table, ...)


async def test_the_migration_builds_the_declared_tables(store: Store) -> None:
    def diff(connection: Any) -> Any:
        return compare_metadata(MigrationContext.configure(connection), metadata)

    async with store.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert [item for item in differences if table_of(item) in MINE] == []
    assert set(metadata.tables) >= MINE
