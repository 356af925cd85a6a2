"""Session history: paging, search, filters, stats, marked."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import Project


async def seed(client, project: Project, count: int) -> None:
    for i in range(count):
        await client.post(
            f"/v1/projects/{project.id}/chat/completions",
            json={"messages": [{"role": "user", "content": f"order number {i}"}]},
            headers={**project.auth, "X-Session-ID": f"s{i}"},
        )


async def test_list_pages_newest_first_with_totals(client, project: Project) -> None:
    await seed(client, project, 5)
    base = f"/v1/projects/{project.id}/sessions"
    first = (await client.get(base, params={"page": 1, "pageSize": 2}, headers=project.auth)).json()
    assert [s["sessionId"] for s in first["data"]] == ["s4", "s3"]
    assert first["pagination"] == {"page": 1, "pageSize": 2, "total": 5}
    assert first["data"][0]["preview"] == "order number 4" and first["data"][0]["turnCount"] == 1
    last = (await client.get(base, params={"page": 3, "pageSize": 2}, headers=project.auth)).json()
    assert [s["sessionId"] for s in last["data"]] == ["s0"]
    found = (await client.get(base, params={"search": "NUMBER 3"}, headers=project.auth)).json()
    assert [s["sessionId"] for s in found["data"]] == ["s3"]
    legacy = await client.get(f"/project/{project.id}/session", headers=project.auth)
    assert legacy.json()["pagination"]["total"] == 5 and legacy.headers["deprecation"] == "true"


async def test_filters_and_marked(client, project: Project) -> None:
    await seed(client, project, 3)
    await client.request(
        "DELETE", f"/v1/projects/{project.id}/sessions", json={"session_id": "s1"}, headers=project.auth
    )
    base = f"/v1/projects/{project.id}/sessions"
    ended = (await client.get(base, params={"ended": "true"}, headers=project.auth)).json()
    assert [s["sessionId"] for s in ended["data"]] == ["s1"]
    today = datetime.now(UTC).date().isoformat()
    same_day = (await client.get(base, params={"from": today, "to": today}, headers=project.auth)).json()
    assert same_day["pagination"]["total"] == 3
    none = (
        await client.get(base, params={"from": "2020-01-01", "to": "2020-01-02"}, headers=project.auth)
    ).json()
    assert none["data"] == []
    bad = await client.get(base, params={"from": "yesterday"}, headers=project.auth)
    assert bad.status_code == 400 and "ISO date" in bad.json()["error"]["message"]
    marked = await client.patch(f"{base}/s2", json={"marked": True}, headers=project.auth)
    assert marked.json()["data"]["marked"] is True
    detail = (await client.get(f"{base}/s2", headers=project.auth)).json()
    assert detail["marked"] is True


async def test_stats_count_sessions_turns_and_days(client, project: Project) -> None:
    await seed(client, project, 3)
    await client.request(
        "DELETE", f"/v1/projects/{project.id}/sessions", json={"session_id": "s0"}, headers=project.auth
    )
    stats = (await client.get(f"/v1/projects/{project.id}/sessions/stats", headers=project.auth)).json()[
        "data"
    ]
    assert stats["sessions"] == 3 and stats["ended"] == 1 and stats["turns"] == 3
    assert stats["averageDurationSeconds"] is not None
    assert stats["byDay"][0]["sessions"] == 3
