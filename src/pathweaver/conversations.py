"""The conversation service: sessions and turns, from request to committed history.

This is where the store, the engine and the model meet; the HTTP routes, the CLI's
``chat`` and the interactive test API all go through it, so they behave the same.

A turn: load the session and its history, reconcile the request's messages with it, run
the engine on the session's pinned pathway version, then commit everything the turn
changed in one transaction. One turn at a time per session: a turn waits up to
``session_lock_timeout`` for the previous one, then gets 409 with ``Retry-After``; the
commit is also guarded by the turn count it started from, so two workers can never both
store a turn with the same sequence number.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.pathway import Pathway
from pathweaver.config import Settings
from pathweaver.engine import before_start
from pathweaver.engine.events import TurnDone, TurnEvent
from pathweaver.engine.history import reconcile
from pathweaver.engine.state import SessionState, StoredMessage, TurnOutcome, TurnRecord
from pathweaver.engine.turn import Limits, Retriever, TurnInput, run_turn
from pathweaver.errors import Conflict, NotFound, SessionTurnLimit
from pathweaver.lifecycle import payloads
from pathweaver.lifecycle.finalize import deliveries_for
from pathweaver.llm.base import Message, Model, ToolSpec, Usage
from pathweaver.llm.registry import Models
from pathweaver.store.projects import StoredAgent
from pathweaver.store.schema import utcnow
from pathweaver.store.sessions import HistoryWindow
from pathweaver.store.store import Store
from pathweaver.tools.runner import ToolPort

PATHWAY_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class TurnResult:
    """The last event of :meth:`Conversations.chat`: what was answered and stored."""

    session: SessionState
    completion_id: str
    created: int
    text: str
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    usage: Usage | None
    replayed: bool
    outcome: TurnOutcome | None


ChatEvent = TurnEvent | TurnResult


class Conversations:
    def __init__(
        self,
        store: Store,
        model: Model | Models,
        settings: Settings,
        *,
        on_end: Callable[[], None] | None = None,
        tools: ToolPort | None = None,
        knowledge: Retriever | None = None,
        freeze_cached: bool = False,
    ):
        self.store = store
        #: Move a newly cached pathway out of the garbage collector's way (``gc.freeze``),
        #: as the server does with its start-up heap (``api.heap.settle_heap``): a full
        #: collection walks every tracked object, and a 10,000-node pathway made each one
        #: take 150 ms, stalling every stream of the worker (benchmark M12). Its objects are
        #: still freed when the cache lets go of them (reference counting).
        self.freeze_cached = freeze_cached
        #: The default model and the ones agents and nodes choose (a plain model serves all).
        self.models = model if isinstance(model, Models) else Models.single(model)
        self.model = self.models.default
        self.settings = settings
        self.tools = tools
        self.knowledge = knowledge
        #: Called when a session ends here, to wake the lifecycle worker at once.
        self.on_end = on_end or (lambda: None)
        self.limits = Limits(max_steps=settings.max_steps_per_turn)
        self._pathways: OrderedDict[tuple[str, int], Pathway] = OrderedDict()
        self._agents: OrderedDict[str, StoredAgent] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    # Pathways (immutable per version, so cached parsed with their indexes) -----------------

    async def pathway(self, project_id: str, version: int) -> Pathway:
        key = (project_id, version)
        cached = self._pathways.get(key)
        if cached is not None:
            self._pathways.move_to_end(key)
            return cached
        stored = await self.store.projects.get_pathway(project_id, version)
        # Off the event loop: a pathway of 2,000 nodes takes over 100 ms to parse, and every
        # save makes the next turn parse one (the cache holds versions, not projects).
        pathway = await asyncio.to_thread(Pathway.model_validate, stored.document)
        self._pathways[key] = pathway
        if len(self._pathways) > PATHWAY_CACHE_SIZE:
            self._pathways.popitem(last=False)
        if self.freeze_cached:
            gc.freeze()
        return pathway

    async def agent(self, project_id: str, stamp: datetime) -> AgentConfig:
        """The project's agent config, parsed once per change (``stamp``: its ``updatedAt``)."""
        cached = self._agents.get(project_id)
        if cached is None or cached.updated_at != stamp:
            cached = await self.store.projects.get_agent(project_id)
            self._agents[project_id] = cached
            if len(self._agents) > PATHWAY_CACHE_SIZE:
                self._agents.popitem(last=False)
        else:
            self._agents.move_to_end(project_id)
        return cached.config

    # Sessions ---------------------------------------------------------------------------

    async def create_session(
        self,
        project_id: str,
        external_id: str,
        *,
        variables: dict[str, Any],
        provider: str | None,
    ) -> tuple[SessionState, bool]:
        """Create a session pinned to the current pathway version (identical retries are no-ops)."""
        created = await self._new_session(project_id, external_id, variables=variables, provider=provider)
        return created.session, created.created

    async def _new_session(
        self,
        project_id: str,
        external_id: str,
        *,
        variables: dict[str, Any],
        provider: str | None,
        first_turn: Sequence[Message] | None = None,
        lease: tuple[str, float] | None = None,
    ) -> _Created:
        """Create a session (see :meth:`create_session`), with what a turn needs of it.

        ``first_turn``: the messages of the turn that creates the session on first use. When
        they could not be its first turn (an assistant message it never sent, a tool result
        for no call...), the error is raised before anything is stored: a refused request
        leaves no empty session behind, and no ``session.started`` event.

        ``lease`` (owner, seconds): the session is born held by that turn's lease; its history
        window is then its greeting, known without reading it back.
        """
        basis = await self.store.projects.session_basis(project_id)
        if basis is None:
            raise NotFound("Project not found")
        pathway_version, agent_stamp = basis
        agent = await self.agent(project_id, agent_stamp)
        pathway = await self.pathway(project_id, pathway_version)
        start = pathway.start_node()
        start_id = start.id if start else None

        def greeting(at: datetime) -> list[StoredMessage]:
            """The history a new session starts with (as ``SessionStore.create`` stores it)."""
            if not agent.first_message:
                return []
            return [StoredMessage(1, 0, "assistant", agent.first_message, (), None, start_id, at)]

        if first_turn is not None:
            reconcile(greeting(utcnow()), first_turn)
        started = payloads.session_started(project_id, external_id, provider, variables)
        subscriptions = await self.store.lifecycle.subscriptions(project_id)
        session, created = await self.store.sessions.create(
            project_id,
            external_id,
            variables=variables,
            provider=provider,
            pathway_version=pathway_version,
            start_node_id=start_id,
            first_message=agent.first_message,
            started=deliveries_for([started], agent, subscriptions),
            lease=lease,
        )
        window = HistoryWindow(first=[], last=greeting(session.created_at), complete=True)
        return _Created(session, created, window, agent_stamp)

    async def get_session(self, project_id: str, external_id: str) -> SessionState:
        session = await self.store.sessions.get(project_id, external_id)
        if session is None:
            raise NotFound("Session not found")
        return session

    async def history(self, session: SessionState) -> list[StoredMessage]:
        return await self.store.sessions.messages(session.pk)

    async def turns(self, session: SessionState) -> list[TurnRecord]:
        return await self.store.sessions.turns(session.pk)

    async def end(self, project_id: str, external_id: str, reason: str) -> tuple[SessionState | None, bool]:
        """End a session (idempotent); the end-of-session pipeline runs once, in the background."""
        session, changed = await self.store.sessions.end(project_id, external_id, reason)
        if changed:
            self.on_end()
        return session, changed

    # Turns ------------------------------------------------------------------------------

    async def chat(
        self,
        project_id: str,
        session_id: str | None,
        messages: Sequence[Message],
        *,
        client_tools: Sequence[ToolSpec] = (),
        provider: str | None = "api",
        completion_id: str | None = None,
        stream: bool = True,
    ) -> AsyncIterator[ChatEvent]:
        """Run one turn. Yields engine events as they happen, then one :class:`TurnResult`.

        With no ``session_id`` a new session is created; an unknown ``session_id`` is
        created on first use (so a client may choose its ids without a separate call).
        ``stream=False``: the caller wants the result alone, so the model may answer in one
        piece (``ChatRequest.stream``); the reply's deltas are still yielded.
        """
        if session_id is None:
            session_id = f"session-{secrets.token_hex(12)}"
        sent = sum(1 for m in messages if m.role != "system")
        # As much history as this turn needs, read with the lease: the model's window
        # (``history_messages``), with room for tool traffic, plus what matching the client's
        # messages needs (the start of the history when a client resends it from the start).
        tail = 2 * (self.limits.history_messages + sent) + 16
        head = sent + 1 if sent >= 2 else 0
        async with self._turn_lock(project_id, session_id, provider, tail, head, messages) as acquired:
            session, lease = acquired.session, acquired.lease
            history = await self._whole_history_if_needed(session, acquired.window, sent)
            agent_stamp = acquired.agent_stamp
            reconciled = reconcile(history.messages, messages)
            if reconciled.replay_turn is not None:  # a retry gets its stored answer, ended or not
                yield await self._replay(session, reconciled.replay_turn)
                return
            if session.ended:
                raise Conflict(f"session {session_id!r} has ended; start a new session to continue")
            cap = self.settings.max_turns_per_session
            if cap and session.turn_count >= cap:
                raise SessionTurnLimit(
                    f"session {session_id!r} has reached its limit of {cap} turns; start a new "
                    "session (PATHWEAVER_MAX_TURNS_PER_SESSION)"
                )
            agent = await self.agent(project_id, agent_stamp)
            pathway = await self.pathway(project_id, session.pathway_version)
            started = utcnow()
            tool_ids = list(pathway.tool_names)
            if before_start.due(agent, session.turn_count):
                assert agent.before_start_config is not None
                templates = agent.before_start_config.tool_templates
                tool_ids += [t.tool_id for t in templates if t.tool_id]
                if any(not t.tool_id for t in templates):  # named only: any tool of the project
                    tool_ids += [stored.tool.id for stored in await self.store.tools.list_tools(project_id)]
            configs = (
                await self.store.tools.tools_by_id(project_id, tool_ids)
                if self.tools is not None and tool_ids
                else []
            )
            turn = TurnInput(
                tools=self.tools,
                tool_configs={config.id: config for config in configs},
                knowledge=self.knowledge,
                agent=agent,
                pathway=pathway,
                session=session,
                history=[m.as_model_message() for m in history.last],
                incoming=reconciled.new,
                client_tools=client_tools,
                client_instructions=[m.content for m in messages if m.role == "system" and m.content],
                now=started,
                stream=stream,
            )
            outcome: TurnOutcome | None = None
            async for event in run_turn(turn, self.models, self.limits):
                if isinstance(event, TurnDone):
                    outcome = event.outcome
                yield event
            assert outcome is not None
            completion_id = completion_id or new_completion_id()
            created = int(started.timestamp())
            calls = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in outcome.client_tool_calls
            ]
            response = {
                "id": completion_id,
                "created": created,
                "text": outcome.text,
                "toolCalls": calls,
                "finishReason": outcome.finish_reason,
                "usage": _usage_json(outcome.usage),
            }
            committed = await self.store.sessions.commit_turn(
                session, outcome, started_at=started, response=response, lease_owner=lease.id
            )
            lease.released = True
            if committed.ended:
                self.on_end()
            yield TurnResult(
                session=committed,
                completion_id=completion_id,
                created=created,
                text=outcome.text,
                tool_calls=calls,
                finish_reason=outcome.finish_reason,
                usage=outcome.usage,
                replayed=False,
                outcome=outcome,
            )

    async def _whole_history_if_needed(
        self, session: SessionState, window: HistoryWindow, sent: int
    ) -> HistoryWindow:
        """``window``, or all of the history when the client sent more than the window's end
        holds (it resends a long conversation): matching needs all of it then."""
        if not window.complete and sent > sum(1 for m in window.last if not m.internal):
            everything = await self.store.sessions.messages(session.pk)
            return HistoryWindow(first=[], last=everything, complete=True)
        return window

    async def _replay(self, session: SessionState, turn_seq: int) -> TurnResult:
        record = next(iter(await self.store.sessions.turns(session.pk, turn_seq)), None)
        if record is None or record.response is None:
            raise Conflict(
                "this request repeats an earlier turn whose answer is not stored; send new messages"
            )
        response = record.response
        usage = response.get("usage")
        return TurnResult(
            session=session,
            completion_id=response["id"],
            created=response["created"],
            text=response["text"],
            tool_calls=response["toolCalls"],
            finish_reason=response["finishReason"],
            usage=Usage(usage["prompt_tokens"], usage["completion_tokens"]) if usage else None,
            replayed=True,
            outcome=None,
        )

    @contextlib.asynccontextmanager
    async def _turn_lock(
        self,
        project_id: str,
        session_id: str,
        provider: str | None,
        tail: int,
        head: int,
        first_turn: Sequence[Message],
    ) -> AsyncIterator[_Held]:
        """Hold the session for one turn, across tasks and across worker processes.

        Yields the session as read under the lease (created first if it does not exist, and
        if ``first_turn`` can be its first turn),
        with its history window (``tail``, ``head``: see ``SessionStore.turn_inputs``) read
        in the same transaction.
        Within a worker an asyncio lock queues turns without touching the database; across
        workers a lease on the session row (owner and expiry, renewed while the turn runs)
        does. Taking the lease and reading the session is one statement; the commit checks
        and releases the lease in its own, so an ordinary turn spends no statement on
        locking. A worker that dies mid-turn leaves a lease that expires within
        ``session_lease_ttl`` seconds. Waiting is bounded by ``session_lock_timeout``; then
        409 with Retry-After.
        """
        deadline = time.monotonic() + self.settings.session_lock_timeout
        ttl = self.settings.session_lease_ttl
        busy = Conflict(
            "another turn on this session is still running; retry shortly",
            retry_after=max(1.0, self.settings.session_lock_timeout),
        )
        key = (project_id, session_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        try:
            # ``asyncio.timeout``, not ``wait_for``: on Python 3.11 the latter makes a task
            # per call, and a free lock is taken at once either way.
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await lock.acquire()
        except TimeoutError:
            raise busy from None
        lease = _Lease(secrets.token_hex(8))
        heartbeat: asyncio.Task[None] | None = None
        session: SessionState | None = None
        born_here = False  # this turn created the session (on first use)
        try:
            pause = 0.01
            while True:
                acquired = await self.store.sessions.acquire_lease(
                    project_id, session_id, lease.id, ttl, tail=tail, head=head
                )
                session, held_until = acquired.session, acquired.held_until
                window, agent_stamp = acquired.window, acquired.agent_stamp
                if session is not None:
                    break
                if held_until is None:  # no such session: create it on first use, under our lease
                    new = await self._new_session(
                        project_id,
                        session_id,
                        variables={},
                        provider=provider,
                        first_turn=first_turn,
                        lease=(lease.id, ttl),
                    )
                    if new.created:
                        session, window, agent_stamp = new.session, new.window, new.agent_stamp
                        born_here = True
                        break
                    continue  # another request created it first: take its lease as usual
                if time.monotonic() + pause > deadline:
                    # A live holder (another worker) renews its lease, so its expiry says
                    # nothing of when its turn ends: suggest the usual wait, shortened when
                    # the lease is about to run out anyway.
                    remaining = (held_until - utcnow()).total_seconds()
                    busy.retry_after = max(1.0, min(remaining, self.settings.session_lock_timeout))
                    raise busy
                await asyncio.sleep(pause)
                # Poll often: the turn in another worker usually ends within milliseconds.
                pause = min(pause * 2, 0.05)
            heartbeat = asyncio.create_task(self._renew(session.pk, lease.id, ttl))
            assert window is not None and agent_stamp is not None
            yield _Held(session, lease, window, agent_stamp)
        finally:
            # Cleanup must run even when the request was cancelled (a client that went
            # away): shield it, or the lease would linger until it expires. anyio's shield
            # does not stop a plain ``task.cancel()`` (a JSON turn's client leaving while
            # this runs): the release then goes on in a task of its own, and the worker's
            # lock is let go whatever happens, or every later turn of the session would
            # wait for it and fail.
            try:
                with anyio.CancelScope(shield=True):
                    if heartbeat is not None:
                        heartbeat.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await heartbeat
                    if session is not None and not lease.released:  # a turn that did not commit
                        # A session this very turn created goes with it: a failed first
                        # turn leaves no empty session behind.
                        letting_go = (
                            self.store.sessions.discard_unborn(session.pk, lease.id)
                            if born_here
                            else self.store.sessions.release_lease(session.pk, lease.id)
                        )
                        await asyncio.shield(letting_go)
            finally:
                lock.release()

    async def _renew(self, session_pk: int, owner: str, ttl: float) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            await self.store.sessions.renew_lease(session_pk, owner, ttl)


@dataclass
class _Lease:
    """This turn's hold on its session; ``released`` once the commit has let it go."""

    id: str
    released: bool = False


@dataclass(frozen=True, slots=True)
class _Created:
    """A session :meth:`Conversations._new_session` created, or found already there."""

    session: SessionState
    created: bool
    window: HistoryWindow
    agent_stamp: datetime


@dataclass(frozen=True, slots=True)
class _Held:
    """A session held for a turn, and what the turn read with its lease."""

    session: SessionState
    lease: _Lease
    window: HistoryWindow
    agent_stamp: datetime


def _usage_json(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def new_completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"
