"""Prepared statements (``inline_sqlite.Prepared``): what the turn's DBAPI path writes and reads
is what SQLAlchemy writes and reads, value for value."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pathweaver.store.database import (
    insert_many,
    make_engine,
    make_turn_engine,
    migrate,
    read_transaction,
    rows,
    write_transaction,
)
from pathweaver.store.inline_sqlite import InlineEngine, Prepared
from pathweaver.store.schema import messages, projects, sessions

MESSAGE = Prepared(insert(messages), keys=[c.key for c in messages.c])
READ = Prepared(
    select(messages).where(messages.c.session_id == bindparam("p_session")).order_by(messages.c.seq)
)


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, InlineEngine]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    await migrate(engine)
    turn_engine = make_turn_engine(engine)
    assert isinstance(turn_engine, InlineEngine)
    now = datetime.now(UTC)
    async with write_transaction(engine) as conn:
        await conn.execute(insert(projects).values(id="p", name="p", created_at=now, updated_at=now))
        await conn.execute(
            insert(sessions).values(
                id=1,
                project_id="p",
                external_id="s",
                pathway_version=1,
                variables={},
                extracted={},
                visited=[],
                created_at=now,
                updated_at=now,
            )
        )
    yield engine, turn_engine
    await turn_engine.dispose()
    await engine.dispose()


def _message(seq: int, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "session_id": 1,
        "seq": seq,
        "turn_seq": 1,
        "role": "assistant",
        "content": None,
        "tool_calls": None,
        "tool_call_id": None,
        "node_id": None,
        "created_at": datetime(2026, 12, 4, 20, 0, 0, 123456, tzinfo=UTC),
        "internal": False,
    }
    row.update(values)
    return row


async def test_rows_written_either_way_read_the_same_either_way(
    engines: tuple[AsyncEngine, InlineEngine],
) -> None:
    engine, turn_engine = engines
    paris = timezone(timedelta(hours=1))
    written = [
        _message(1, content="é ✓", tool_calls=[{"id": "c", "name": "f", "arguments": "{}"}]),
        _message(2, internal=True, created_at=datetime(2026, 12, 4, 21, 0, tzinfo=paris)),
        _message(3, content=""),
    ]
    async with write_transaction(turn_engine) as conn:
        await insert_many(conn, MESSAGE, written[:2])
    async with write_transaction(engine) as conn:  # SQLAlchemy's own path
        await conn.execute(insert(messages), written[2:])

    async with read_transaction(turn_engine) as conn:
        prepared = [dict(r) for r in await rows(conn, READ, {"p_session": 1})]
    async with read_transaction(engine) as conn:
        alchemy = [dict(r._mapping) for r in await conn.execute(READ.statement, {"p_session": 1})]

    assert prepared == alchemy
    assert [r["content"] for r in prepared] == ["é ✓", None, ""]
    assert prepared[0]["tool_calls"] == [{"id": "c", "name": "f", "arguments": "{}"}]
    assert prepared[1]["tool_calls"] is None  # JSON null, as SQLAlchemy stores None
    assert [r["internal"] for r in prepared] == [False, True, False]
    assert prepared[1]["created_at"] == datetime(2026, 12, 4, 20, 0, tzinfo=UTC)  # stored in UTC
    assert all(r["created_at"].tzinfo is UTC for r in prepared)


async def test_a_broken_constraint_raises_sqlalchemy_s_integrity_error(
    engines: tuple[AsyncEngine, InlineEngine],
) -> None:
    _, turn_engine = engines
    async with write_transaction(turn_engine) as conn:
        await insert_many(conn, MESSAGE, [_message(1)])
    with pytest.raises(IntegrityError):
        async with write_transaction(turn_engine) as conn:
            await insert_many(conn, MESSAGE, [_message(2), _message(1)])
    async with read_transaction(turn_engine) as conn:
        assert [r["seq"] for r in await rows(conn, READ, {"p_session": 1})] == [1]  # rolled back


def test_an_insert_that_would_need_a_python_side_default_is_refused(
    engines: tuple[AsyncEngine, InlineEngine],
) -> None:
    _, turn_engine = engines
    keys = [c.key for c in messages.c if c.key != "internal"]  # ``internal`` defaults to False
    with pytest.raises(ValueError, match="internal"):
        turn_engine.compiled(Prepared(insert(messages), keys=keys))
