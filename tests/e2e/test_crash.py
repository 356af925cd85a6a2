"""SIGKILL at random points of a turn: nothing half-stored, nothing seen complete is lost.

Each round starts the server against a slow mock upstream (so a turn spends time before
the model call, while streaming and around the commit), sends a streamed turn, kills the
server with SIGKILL after a random delay, then checks the database and continues the
session on a new server. ``PATHWEAVER_CRASH_ROUNDS`` sets the number of rounds (CI: 12).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server, create_project
from tests.support.mock_llm import MockLLM, MockReply

pytestmark = pytest.mark.slow

ROUNDS = int(os.environ.get("PATHWEAVER_CRASH_ROUNDS", "12"))


def send_turns(url: str, headers: dict[str, str], prefix: str, completed: list[str]) -> None:
    """Send streamed turns one after another until the server dies; note each the client saw complete."""
    with httpx.Client(timeout=30) as client:
        for i in range(1000):
            text = f"{prefix} question {i}"
            body = {"messages": [{"role": "user", "content": text}], "stream": True}
            try:
                with client.stream("POST", url, json=body, headers=headers) as response:
                    if response.status_code == 409:  # the killed worker's lease, until it runs out
                        threading.Event().wait(float(response.headers["retry-after"]))
                        continue
                    for line in response.iter_lines():
                        if line == "data: [DONE]":
                            completed.append(text)
            except httpx.HTTPError:
                return


def check_database(path: Path, project_id: str, completed: list[str]) -> list[str]:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute(
            "SELECT m.turn_seq, m.role, m.content, t.status FROM messages m JOIN sessions s ON s.id = m.session_id "
            "LEFT JOIN turns t ON t.session_id = m.session_id AND t.seq = m.turn_seq "
            "WHERE s.project_id = ? AND s.external_id = 'crash' ORDER BY m.seq",
            (project_id,),
        ).fetchall()
        session = db.execute(
            "SELECT turn_count, message_count FROM sessions WHERE project_id = ? AND external_id = 'crash'",
            (project_id,),
        ).fetchone()
    assert all(status == "completed" for _, _, _, status in rows), "a message without its completed turn"
    assert session == (max((r[0] for r in rows), default=0), len(rows))
    asked = [content for _, role, content, _ in rows if role == "user"]
    assert len(asked) == len(set(asked)), "a turn stored twice"
    for text in completed:
        assert text in asked, f"the client saw {text!r} complete, but it is not stored"
    roles = [role for _, role, _, _ in rows]
    assert roles == ["user", "assistant"] * (len(rows) // 2)
    return asked


def test_sigkill_mid_turn_never_corrupts_or_loses_a_completed_turn(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("PATHWEAVER_CRASH_SEED", "7")))
    with MockLLM(api_key="sk-upstream") as upstream:
        env = {
            "PATHWEAVER_DATA_DIR": str(tmp_path),
            "PATHWEAVER_LLM_BASE_URL": upstream.base_url,
            "PATHWEAVER_LLM_API_KEY": "sk-upstream",
            "PATHWEAVER_LLM_MODEL": "mock-model",
            "PATHWEAVER_SESSION_LEASE_TTL": "2",
            # Turns back to back on one session, as fast as they go: not a rate-limit test.
            "PATHWEAVER_RATE_LIMIT_SESSION_PER_MINUTE": "0",
        }
        project_id, key = create_project(env)
        headers = {"Authorization": f"Bearer {key}", "X-Session-ID": "crash"}
        database = tmp_path / "pathweaver.db"
        completed: list[str] = []
        for round_ in range(ROUNDS):
            upstream.push(*[MockReply(text=f"reply for round {round_} " * 4, chunk_size=6, gap=0.01)] * 100)
            server = Server(env, fake=False, log=tmp_path / "server.log")
            url = f"{server.url}/v1/projects/{project_id}/chat/completions"
            sender = threading.Thread(target=send_turns, args=(url, headers, f"round {round_}", completed))
            sender.start()
            threading.Event().wait(rng.uniform(0.05, 3.0))
            server.kill()
            sender.join(timeout=30)
            check_database(database, project_id, completed)

        # After all the crashes the session still works, and the history is intact.
        # The killed worker's lease on the session runs out (2 s here); a client that honours
        # Retry-After, as the openai client does, gets through.
        upstream.push(MockReply(text="still here"))
        server = Server(env, fake=False, log=tmp_path / "server.log")
        try:
            for _ in range(5):
                response = httpx.post(
                    f"{server.url}/v1/projects/{project_id}/chat/completions",
                    json={"messages": [{"role": "user", "content": "are you there?"}]},
                    headers=headers,
                    timeout=30,
                )
                if response.status_code != 409:
                    break
                assert float(response.headers["retry-after"]) <= 2
                threading.Event().wait(float(response.headers["retry-after"]))
            assert response.status_code == 200, response.text
        finally:
            server.stop()
        asked = check_database(database, project_id, [*completed, "are you there?"])
        assert len(asked) >= len(completed) + 1
        assert completed, "no turn completed before a kill: the rounds test nothing"
        print(json.dumps({"rounds": ROUNDS, "seen_complete": len(completed), "stored": len(asked)}))
