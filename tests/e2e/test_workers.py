"""Two server processes on one database: turns on one session stay strictly linear."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import POSTGRES_URL, Server, create_project

pytestmark = pytest.mark.slow


def database_env(kind: str, tmp_path: Path) -> dict[str, str]:
    env = {"PATHWEAVER_DATA_DIR": str(tmp_path)}
    if kind == "postgres":
        env["PATHWEAVER_DATABASE_URL"] = POSTGRES_URL
        env["PATHWEAVER_DATABASE_SCHEMA"] = f"e2e_{secrets.token_hex(6)}"
    return env


async def drop_schema(env: dict[str, str]) -> None:
    if "PATHWEAVER_DATABASE_SCHEMA" not in env:
        return
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{env["PATHWEAVER_DATABASE_SCHEMA"]}" CASCADE')
    await engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_fifty_simultaneous_turns_across_two_workers(kind: str, tmp_path: Path) -> None:
    env = database_env(kind, tmp_path)
    project_id, key = create_project(env)
    servers = [Server(env, log=tmp_path / f"server{i}.log") for i in range(2)]
    try:
        headers = {"Authorization": f"Bearer {key}", "X-Session-ID": "shared"}
        async with httpx.AsyncClient(timeout=60) as client:
            await client.post(
                f"{servers[0].url}/v1/projects/{project_id}/sessions",
                json={"session_id": "shared"},
                headers=headers,
            )

            async def turn(i: int) -> int:
                server = servers[i % 2]
                response = await client.post(
                    f"{server.url}/v1/projects/{project_id}/chat/completions",
                    json={"messages": [{"role": "user", "content": f"turn {i}"}]},
                    headers=headers,
                )
                # 409: the turn before still runs; 429: one session's burst is spent (per worker).
                assert response.status_code in (200, 409, 429), response.text
                return response.status_code

            codes = await asyncio.gather(*(turn(i) for i in range(50)))
            state = (
                await client.get(
                    f"{servers[1].url}/v1/projects/{project_id}/sessions/shared", headers=headers
                )
            ).json()
        completed = codes.count(200)
        assert completed >= 1
        messages = state["state"]["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * completed
        for question, answer in zip(messages[::2], messages[1::2], strict=True):
            assert answer["content"] == "You said: " + question["content"], "turns interleaved"
        asked = [m["content"] for m in messages[::2]]
        assert len(set(asked)) == len(asked), "a turn was stored twice"
        assert [t["seq"] for t in state["turns"]] == list(range(1, completed + 1))
        logs = "".join(s.output() for s in servers)
        assert "database is locked" not in logs
        assert "Traceback" not in logs, logs
    finally:
        for server in servers:
            server.stop()
        await drop_schema(env)
