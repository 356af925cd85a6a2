"""Bad input, sent over and over: a clear 4xx every time, no stored data changes, and the
process's memory back at its baseline (issue 7, "Bad input")."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from pathweaver.store.schema import metadata
from pathweaver.store.store import Store
from tests.conftest import Project


def bad_requests(project: Project, n: int) -> list[dict[str, Any]]:
    """One of each kind of refused request; ``n`` keeps session ids apart between rounds."""
    url = f"/v1/projects/{project.id}/chat/completions"
    auth = project.auth

    def turn(body: Any, session: str | None = None, **headers: str) -> dict[str, Any]:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {**auth, "content-type": "application/json", **headers}
        if session is not None:
            sent["x-session-id"] = f"{session}-{n}"
        return {"method": "POST", "url": url, "content": content, "headers": sent}

    user = {"role": "user", "content": "hello"}
    return [
        turn(b"{not json", "json"),
        turn({"messages": "hello"}, "shape"),
        turn({"messages": []}, "empty"),
        turn({"messages": [{"role": "wizard", "content": "x"}]}, "role"),
        turn({"messages": [user] * 501}, "many"),
        turn({"messages": [{"role": "user", "content": "x" * 100_001}]}, "long"),
        turn({"messages": [{"role": "user", "content": "x" * 1_100_000}]}, "huge"),
        turn({"messages": [{"role": "assistant", "content": "I never said this"}]}, "invented"),
        turn({"messages": [{"role": "tool", "content": "42", "tool_call_id": "c1"}]}, "orphan-tool"),
        turn({"messages": [{"role": "system", "content": "only a system message"}]}, "system"),
        turn({"messages": [user], "stream": "yes"}, "types"),
        turn({"messages": [user]}, None, **{"x-session-id": "bad id with spaces/and/slashes"}),
        {**turn({"messages": [user]}, "key"), "headers": {"authorization": "Bearer sk_not_a_real_key"}},
        {**turn({"messages": [user]}, "nokey"), "headers": {"content-type": "application/json"}},
    ]


async def stored_rows(store: Store) -> dict[str, int]:
    async with store.engine.connect() as conn:
        return {
            name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for name, table in metadata.tables.items()
        }


async def send_all(client: httpx.AsyncClient, project: Project, n: int) -> list[int]:
    statuses = []
    for request in bad_requests(project, n):
        statuses.append((await client.request(**request)).status_code)
        # In process, a refused request can run start to end without handing control to the
        # event loop once; the loop drops cancelled timers (the body's read timeout arms one
        # per request) only when it gets control, as it does between requests on a socket.
        await asyncio.sleep(0)
    return statuses


async def test_refused_turns_store_nothing_not_even_the_session_they_name(
    client: httpx.AsyncClient, store: Store, project: Project
) -> None:
    before = await stored_rows(store)
    statuses = await send_all(client, project, 0)
    assert all(400 <= status < 500 for status in statuses), str(list(enumerate(statuses)))
    assert await stored_rows(store) == before
    # A session id a refused turn named was not created on first use.
    gone = await client.get(f"/v1/projects/{project.id}/sessions/invented-0", headers=project.auth)
    assert gone.status_code == 404


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_memory_returns_to_its_baseline_after_a_barrage_of_bad_input(
    client: httpx.AsyncClient, project: Project
) -> None:
    """Python's own allocations (tracemalloc), after a warm-up round has filled the caches:
    hundreds of refused requests later, what the process holds has not grown."""
    tracemalloc.start()
    try:
        for n in range(10):  # warm-up: import-time caches, pydantic's, SQLAlchemy's, sqlite3's
            await send_all(client, project, n)
        gc.collect()
        baseline, _ = tracemalloc.get_traced_memory()
        statuses: list[int] = []
        for n in range(10, 40):
            statuses += await send_all(client, project, n)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(400 <= status < 500 for status in statuses)
    assert len(statuses) == 30 * 14
    # A leak of even a few hundred bytes per refused request would pass 100 KB here.
    assert after - baseline < 100_000, f"grew by {after - baseline} bytes over {len(statuses)} requests"
