"""What a turn costs the database: a regression guard on round trips (M10's twin for storage).

A one-node turn on an existing session runs three transactions: the key lookup (read), the
lease with the session and its history window (write), and the commit (write). The first turn
of a new session runs six: it creates its session, already under its lease. More would cost
every turn on every deployment; the benchmarks (bench/README.md) say how much.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from pathweaver.agent.config import AgentConfig
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import Project, make_project


@contextmanager
def counted(store: Store) -> Iterator[dict[str, list[str]]]:
    """Transactions and statements of both engines. A transaction is SQLAlchemy's ``begin``
    event on the main engine, a ``BEGIN`` the inline SQLite engine runs on its cursor
    (``store/inline_sqlite.py``: it skips SQLAlchemy's transaction object)."""
    seen: dict[str, list[str]] = {"transactions": [], "statements": []}
    inline = store.turn_engine.sync_engine if store.turn_engine is not store.engine else None
    engines = {store.engine.sync_engine, store.turn_engine.sync_engine}

    def begin(conn: Any) -> None:
        seen["transactions"].append(conn.engine.url.drivername)

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        head = sql.lstrip().upper()
        if head.startswith("BEGIN"):
            if conn.engine is inline:
                seen["transactions"].append("inline")
        elif not head.startswith(("COMMIT", "ROLLBACK", "PRAGMA")):
            seen["statements"].append(" ".join(sql.split())[:60])

    event.listen(store.engine.sync_engine, "begin", begin)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(store.engine.sync_engine, "begin", begin)
        for engine in engines:
            event.remove(engine, "before_cursor_execute", statement)


async def test_a_turn_runs_two_transactions_and_six_statements(
    client: httpx.AsyncClient, store: Store, project: Project
) -> None:
    def turn(text: str) -> dict[str, Any]:
        return {
            "url": f"/v1/projects/{project.id}/chat/completions",
            "json": {"messages": [{"role": "user", "content": text}]},
            "headers": {**project.auth, "X-Session-ID": "cost"},
        }

    assert (await client.post(**turn("first"))).status_code == 200  # creates the session
    assert (await client.post(**turn("second"))).status_code == 200  # warms the caches
    with counted(store) as seen:
        assert (await client.post(**turn("third"))).status_code == 200
    assert len(seen["transactions"]) == 2, seen
    # The lease, the end of the history, the agent's stamp; the session, the turn, its
    # messages (one executemany). The key was read by the first turn and is remembered
    # (``key_cache_seconds``).
    assert len(seen["statements"]) == 6, seen["statements"]


def _turn(project: Project, session: str, text: str) -> dict[str, Any]:
    return {
        "url": f"/v1/projects/{project.id}/chat/completions",
        "json": {"messages": [{"role": "user", "content": text}]},
        "headers": {**project.auth, "X-Session-ID": session},
    }


async def test_a_new_sessions_first_turn_runs_six_transactions(
    client: httpx.AsyncClient, store: Store, project: Project
) -> None:
    assert (await client.post(**_turn(project, "warm", "hello"))).status_code == 200  # warms the caches
    with counted(store) as seen:
        assert (await client.post(**_turn(project, "new", "hello"))).status_code == 200
    # The lease, that finds no session; the pathway version and agent stamp; the webhook
    # subscriptions (for session.started); the session, created already held by this turn's
    # lease and returned by its INSERT (no second lease round trip, no history read: it holds
    # only its greeting); the commit, which releases the lease. (The key is remembered from
    # the warming turn.)
    assert len(seen["transactions"]) == 5, seen
    assert len(seen["statements"]) == 9, seen["statements"]
    with counted(store) as seen:  # the lease was released: the next turn takes it at once
        assert (await client.post(**_turn(project, "new", "again"))).status_code == 200
    assert len(seen["transactions"]) == 2, seen


async def test_a_session_created_by_its_first_turn_starts_from_its_greeting(
    client: httpx.AsyncClient, store: Store, model: ScriptedModel
) -> None:
    project = await make_project(store, "greeter", agent=AgentConfig(first_message="Hello, I am Ada."))
    response = await client.post(**_turn(project, "greeted", "hi Ada"))
    assert response.status_code == 200
    prompt = [(m.role, m.content) for m in model.calls[-1].messages if m.role != "system"]
    assert prompt == [("assistant", "Hello, I am Ada."), ("user", "hi Ada")]
    stored = (await client.get(f"/v1/projects/{project.id}/sessions/greeted", headers=project.auth)).json()
    assert [m["content"] for m in stored["state"]["messages"]] == [
        "Hello, I am Ada.",
        "hi Ada",
        "You said: hi Ada",
    ]
