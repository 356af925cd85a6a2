"""Turns on one session within one worker: they queue in order, and a turn that waits longer
than ``session_lock_timeout`` gets 409 with Retry-After, changing nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pathweaver.api.app import create_app
from pathweaver.errors import LLMError
from pathweaver.llm.base import ChatEvent, ChatRequest
from pathweaver.llm.scripted import ScriptedModel
from tests.api.test_chat import chat, stored_messages, user
from tests.conftest import Project, served


class GatedModel(ScriptedModel):
    """Holds every call until ``gate`` opens; ``entered`` is set when a call is waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        self.entered.set()
        await self.gate.wait()
        async for event in super().stream(request):
            yield event


async def test_a_turn_that_waits_too_long_for_the_session_gets_409(settings, store, project: Project) -> None:
    model = GatedModel()
    app = create_app(settings.model_copy(update={"session_lock_timeout": 0.2}), store=store, model=model)
    async with served(app) as client:
        first = asyncio.create_task(chat(client, project, [user("first")], session="q"))
        await asyncio.wait_for(model.entered.wait(), 10)

        second = await chat(client, project, [user("second")], session="q")

        assert second.status_code == 409
        assert "another turn on this session is still running" in second.json()["error"]["message"]
        assert float(second.headers["retry-after"]) >= 1
        model.gate.set()
        assert (await first).status_code == 200
        third = await chat(client, project, [user("third")], session="q")
        assert third.status_code == 200
        contents = [m["content"] for m in await stored_messages(client, project, "q") if m["role"] == "user"]
        assert contents == ["first", "third"]


async def test_turns_sent_together_on_one_session_all_answer_and_all_are_stored(
    client, project: Project
) -> None:
    answers = await asyncio.gather(*(chat(client, project, [user(f"n{i}")], session="o") for i in range(5)))

    assert [a.status_code for a in answers] == [200] * 5
    stored = [m["content"] for m in await stored_messages(client, project, "o") if m["role"] == "user"]
    assert sorted(stored) == [f"n{i}" for i in range(5)] and len(stored) == 5


async def test_a_turn_longer_than_the_lease_keeps_its_session_from_other_workers(
    settings, store, project: Project
) -> None:
    """The lease is renewed while the turn runs: another worker (here, the store asked
    directly for the lease, as a second worker's turn would) finds the session held past
    the lease's time to live, and takes it at once when the turn has ended."""
    model = GatedModel()
    app = create_app(settings.model_copy(update={"session_lease_ttl": 1.0}), store=store, model=model)
    async with served(app) as client:
        first = asyncio.create_task(chat(client, project, [user("long turn")], session="leased"))
        await asyncio.wait_for(model.entered.wait(), 10)
        await asyncio.sleep(1.8)  # past the lease's 1 s: only renewals keep it

        elsewhere = await store.sessions.acquire_lease(project.id, "leased", "other-worker", 1.0)

        assert elsewhere.session is None and elsewhere.held_until is not None
        model.gate.set()
        assert (await first).status_code == 200
        after = await store.sessions.acquire_lease(project.id, "leased", "other-worker", 1.0)
        assert after.session is not None  # released by the turn's commit


class FailingOnce(ScriptedModel):
    """Fails its first call (as an upstream answering 500 would), answers the next ones."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        if not self.failed:
            self.failed = True
            raise LLMError("the upstream failed (HTTP 500)")
        async for event in super().stream(request):
            yield event


async def test_a_failed_turn_cancelled_while_it_lets_its_session_go_still_frees_it(
    settings, store, project: Project, monkeypatch
) -> None:
    """A client that leaves while its failed turn releases the session (a plain cancel of
    the request's task, which anyio's shield does not stop) must not leave the session held
    in the worker: the next turn gets it, instead of 409 until a restart."""
    releasing, proceed = asyncio.Event(), asyncio.Event()
    release = store.sessions.release_lease

    async def slow_release(session_pk: int, owner: str) -> None:
        releasing.set()
        await proceed.wait()
        await release(session_pk, owner)

    monkeypatch.setattr(store.sessions, "release_lease", slow_release)
    app = create_app(
        settings.model_copy(update={"session_lock_timeout": 2}), store=store, model=FailingOnce()
    )
    async with served(app) as client:
        # The session exists before the turn: one the failed turn created would go with it
        # (``discard_unborn``), not be released.
        created = await client.post(
            f"/v1/projects/{project.id}/sessions", json={"session_id": "left"}, headers=project.auth
        )
        assert created.status_code == 200
        first = asyncio.create_task(chat(client, project, [user("first")], session="left"))
        await asyncio.wait_for(releasing.wait(), 10)
        first.cancel()  # in-process, the client's cancel is the request task's
        with contextlib.suppress(asyncio.CancelledError):
            await first
        proceed.set()
        second = await chat(client, project, [user("second")], session="left")
        assert second.status_code == 200, second.text
