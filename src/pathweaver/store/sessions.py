"""Sessions, their messages and their turns.

A turn is committed in one write transaction: its row in ``turns`` (``(session_id, seq)``
is the primary key, so two commits of the same turn cannot both succeed), its messages,
and the session's new node, variables and counters, guarded by the turn count the turn
started from. Either all of it is stored, or none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pathweaver import jsonvalues
from pathweaver.engine.state import NewMessage, SessionState, StoredMessage, TurnOutcome, TurnRecord
from pathweaver.errors import Conflict
from pathweaver.llm.base import Message, ToolCall
from pathweaver.store.database import (
    AnyConnection,
    AnyEngine,
    insert_many,
    read_transaction,
    rows,
    write_transaction,
)
from pathweaver.store.inline_sqlite import Prepared
from pathweaver.store.lifecycle import NewDelivery, enqueue_finalize, insert_deliveries
from pathweaver.store.schema import (
    agents,
    messages,
    session_jobs,
    sessions,
    turns,
    utcnow,
    webhook_deliveries,
)


def _session(m: Mapping[Any, Any]) -> SessionState:
    return SessionState(
        pk=m["id"],
        project_id=m["project_id"],
        external_id=m["external_id"],
        pathway_version=m["pathway_version"],
        provider=m["provider"],
        session_type=m["session_type"],
        status=m["status"],
        end_reason=m["end_reason"],
        # Nested past the limit only if stored before it existed: clipped, so reads work.
        variables=jsonvalues.clipped(m["variables"]),
        extracted=m["extracted"],
        current_node_id=m["current_node_id"],
        visited=tuple(m["visited"]),
        turn_count=m["turn_count"],
        message_count=m["message_count"],
        marked=m["marked"],
        evaluation=m["evaluation"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        ended_at=m["ended_at"],
    )


# The statements every turn runs, built once: building and hashing a statement costs more
# CPU than SQLite takes to run it; and prepared, so that SQLite runs them without SQLAlchemy's
# execution machinery (``inline_sqlite.Prepared``).
_HISTORY = select(messages).where(messages.c.session_id == bindparam("p_session")).order_by(messages.c.seq)
_TAIL = Prepared(
    select(messages)
    .where(messages.c.session_id == bindparam("p_session"), messages.c.seq > bindparam("p_since"))
    .order_by(messages.c.seq)
)
_HEAD = Prepared(
    select(messages)
    .where(
        messages.c.session_id == bindparam("p_session"),
        messages.c.seq <= bindparam("p_since"),
        messages.c.internal.is_(False),
    )
    .order_by(messages.c.seq)
    .limit(bindparam("p_head"))
)
_AGENT_STAMP = Prepared(select(agents.c.updated_at).where(agents.c.project_id == bindparam("p_project")))
_TAKE_LEASE = Prepared(
    update(sessions)
    .where(
        sessions.c.project_id == bindparam("p_project"),
        sessions.c.external_id == bindparam("p_external"),
        or_(sessions.c.lease_owner.is_(None), sessions.c.lease_until < bindparam("p_now")),
    )
    .values(lease_owner=bindparam("p_owner"), lease_until=bindparam("p_until"))
    .returning(*sessions.c)
)
_LEASE_HELD = Prepared(
    select(sessions.c.lease_until).where(
        sessions.c.project_id == bindparam("p_project"), sessions.c.external_id == bindparam("p_external")
    )
)
_COMMIT = Prepared(
    update(sessions)
    .where(
        sessions.c.id == bindparam("p_session"),
        sessions.c.turn_count == bindparam("p_turns_before"),
        sessions.c.status == "active",
        sessions.c.lease_owner == bindparam("p_owner"),
    )
    .values(
        turn_count=bindparam("p_turns"),
        message_count=bindparam("p_messages"),
        current_node_id=bindparam("p_node"),
        visited=bindparam("p_visited"),
        extracted=bindparam("p_extracted"),
        updated_at=bindparam("p_now"),
        status=bindparam("p_status"),
        end_reason=bindparam("p_end_reason"),
        ended_at=bindparam("p_ended_at"),
        lease_owner=None,
        lease_until=None,
    )
    .returning(*sessions.c)
)
_INSERT_TURN = Prepared(
    insert(turns),
    keys=[
        "session_id",
        "seq",
        "status",
        "node_before",
        "node_after",
        "response",
        "trace",
        "started_at",
        "finished_at",
    ],
)
_BY_EXTERNAL_ID = Prepared(
    select(sessions).where(
        sessions.c.project_id == bindparam("p_project"), sessions.c.external_id == bindparam("p_external")
    )
)
_NEW_SESSION_COLUMNS = [c.key for c in sessions.c if c.key not in ("id", "evaluation")]
_CREATE = Prepared(insert(sessions).returning(*sessions.c), keys=_NEW_SESSION_COLUMNS)
_MESSAGE_COLUMNS = [c.key for c in messages.c]
_INSERT_MESSAGES = Prepared(insert(messages), keys=_MESSAGE_COLUMNS)


async def _messages(conn: AnyConnection, session_pk: int) -> list[StoredMessage]:
    return _stored((await conn.execute(_HISTORY, {"p_session": session_pk})).mappings().all())


def _stored(found: Sequence[Mapping[Any, Any]]) -> list[StoredMessage]:
    return [
        StoredMessage(
            seq=r["seq"],
            turn_seq=r["turn_seq"],
            role=r["role"],
            content=r["content"],
            tool_calls=_calls(r["tool_calls"]),
            tool_call_id=r["tool_call_id"],
            node_id=r["node_id"],
            created_at=r["created_at"],
            internal=r["internal"],
        )
        for r in found
    ]


def _calls_json(calls: Sequence[ToolCall]) -> list[dict[str, Any]] | None:
    if not calls:
        return None
    return [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]


def _calls(raw: Any) -> tuple[ToolCall, ...]:
    return tuple(ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"]) for c in raw or ())


def _message_row(session_pk: int, seq: int, turn_seq: int, new: NewMessage, now: datetime) -> dict[str, Any]:
    m = new.message
    return {
        "session_id": session_pk,
        "seq": seq,
        "turn_seq": turn_seq,
        "role": m.role,
        "content": m.content,
        "tool_calls": _calls_json(m.tool_calls),
        "tool_call_id": m.tool_call_id,
        "node_id": new.node_id,
        "created_at": now,
        "internal": new.internal,
    }


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    """Part of a session's history: ``first`` (client-visible messages from the start, only
    when ``last`` does not reach back to it) and ``last`` (every message of the end)."""

    first: list[StoredMessage]
    last: list[StoredMessage]
    complete: bool

    @property
    def messages(self) -> list[StoredMessage]:
        return [*self.first, *self.last]


class Acquired(NamedTuple):
    """What :meth:`SessionStore.acquire_lease` found."""

    session: SessionState | None
    held_until: datetime | None
    window: HistoryWindow | None
    agent_stamp: datetime | None


async def _turn_inputs(
    conn: AnyConnection, session: SessionState, *, tail: int, head: int
) -> tuple[HistoryWindow, datetime]:
    since = max(0, session.message_count - tail)
    first: list[StoredMessage] = []
    if since and head:
        params = {"p_session": session.pk, "p_since": since, "p_head": head}
        first = _stored(await rows(conn, _HEAD, params))
    last = _stored(await rows(conn, _TAIL, {"p_session": session.pk, "p_since": since}))
    (stamp,) = await rows(conn, _AGENT_STAMP, {"p_project": session.project_id})
    return HistoryWindow(first=first, last=last, complete=since == 0), stamp["updated_at"]


class SessionStore:
    def __init__(self, engine: AsyncEngine, turn_engine: AnyEngine | None = None):
        self.engine = engine
        #: For the short, bounded statements of a turn (``database.make_turn_engine``): the
        #: lease, the history window, the commit.
        self.turn_engine = turn_engine or engine

    async def get(self, project_id: str, external_id: str) -> SessionState | None:
        async with read_transaction(self.engine) as conn:
            row = (
                await conn.execute(
                    select(sessions).where(
                        sessions.c.project_id == project_id, sessions.c.external_id == external_id
                    )
                )
            ).first()
        return _session(row._mapping) if row else None

    async def by_pk(self, session_pk: int) -> SessionState:
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(select(sessions).where(sessions.c.id == session_pk))).one()
        return _session(row._mapping)

    async def create(
        self,
        project_id: str,
        external_id: str,
        *,
        variables: dict[str, Any],
        provider: str | None,
        pathway_version: int,
        start_node_id: str | None,
        first_message: str | None = None,
        started: Sequence[NewDelivery] = (),
        lease: tuple[str, float] | None = None,
    ) -> tuple[SessionState, bool]:
        """Create a session, or return the existing one when this is an identical retry.

        Returns ``(session, created)``. A create that names an existing session with other
        variables or provider raises :class:`Conflict` rather than overwrite it.

        ``lease`` (owner, seconds): a session this call creates is born held by that turn
        lease, so the turn that creates it on first use needs no second round trip to take
        it (an existing session is returned as it is, not leased).
        """
        now = utcnow()
        visited = [start_node_id] if start_node_id else []
        try:
            # The turn's engine: a conversation's first turn creates its session here.
            async with write_transaction(self.turn_engine) as conn:
                where = {"p_project": project_id, "p_external": external_id}
                existing = await rows(conn, _BY_EXTERNAL_ID, where)
                if not existing:
                    values = {
                        "project_id": project_id,
                        "external_id": external_id,
                        "pathway_version": pathway_version,
                        "provider": provider,
                        "session_type": "text",
                        "status": "active",
                        "end_reason": None,
                        "variables": variables,
                        "extracted": {},
                        "current_node_id": start_node_id,
                        "visited": visited,
                        "turn_count": 0,
                        "message_count": 1 if first_message else 0,
                        "marked": False,
                        "created_at": now,
                        "updated_at": now,
                        "ended_at": None,
                        "lease_owner": lease[0] if lease else None,
                        "lease_until": now + timedelta(seconds=lease[1]) if lease else None,
                    }
                    (row,) = await rows(conn, _CREATE, values)
                    pk = int(row["id"])
                    if first_message:
                        first = NewMessage(Message(role="assistant", content=first_message), start_node_id)
                        await insert_many(conn, _INSERT_MESSAGES, [_message_row(pk, 1, 0, first, now)])
                    if started:
                        await insert_deliveries(conn, project_id, pk, list(started))
                    return _session(row), True
        except IntegrityError:
            # Another request created it between our read and our insert: compare with it.
            pass
        session = await self.get(project_id, external_id)
        if session is None:  # pragma: no cover - the unique constraint says it exists
            raise Conflict(
                f"session {external_id!r} is being created by another request; retry", retry_after=1
            )
        return self._same_or_conflict(session, variables, provider), False

    @staticmethod
    def _same_or_conflict(
        session: SessionState, variables: dict[str, Any], provider: str | None
    ) -> SessionState:
        if session.variables != variables or session.provider != provider:
            raise Conflict(
                f"session {session.external_id!r} already exists with other variables or provider; "
                "use a new session_id, or send the same body to get the existing session"
            )
        return session

    async def messages(self, session_pk: int) -> list[StoredMessage]:
        async with read_transaction(self.engine) as conn:
            return await _messages(conn, session_pk)

    async def turn_inputs(
        self, session: SessionState, *, tail: int, head: int
    ) -> tuple[HistoryWindow, datetime]:
        """What a turn reads besides its session, in one transaction: a window of the history
        (the last ``tail`` messages, and the first ``head`` the client sees), and when the
        project's agent config last changed (callers cache the parsed config by it).

        A turn's cost must not grow with the conversation: the model sees a bounded window,
        and matching what the client sent needs the end of the history (and its start, when
        a client resends the conversation from the beginning). A turn usually gets these
        with its lease (:meth:`acquire_lease`).
        """
        async with read_transaction(self.turn_engine) as conn:
            return await _turn_inputs(conn, session, tail=tail, head=head)

    async def turns(self, session_pk: int, seq: int | None = None) -> list[TurnRecord]:
        """The session's turns in order (only turn ``seq``, when given)."""
        query = select(turns).where(turns.c.session_id == session_pk).order_by(turns.c.seq)
        if seq is not None:
            query = query.where(turns.c.seq == seq)
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(query)).all()
        return [
            TurnRecord(
                seq=r.seq,
                status=r.status,
                node_before=r.node_before,
                node_after=r.node_after,
                response=r.response,
                trace=r.trace,
                error=r.error,
                started_at=r.started_at,
                finished_at=r.finished_at,
            )
            for r in rows
        ]

    async def acquire_lease(
        self, project_id: str, external_id: str, owner: str, ttl: float, *, tail: int = 0, head: int = 0
    ) -> Acquired:
        """Take the session's turn lease if it is free or expired, and read it, in one statement;
        with it, in the same transaction, what the turn reads (:meth:`turn_inputs`, with
        ``tail`` and ``head``).

        ``session`` is set when the lease was taken (the row as it is under the lease),
        ``held_until`` when another turn holds it until then; neither when there is no such
        session.
        """
        now = utcnow()
        where = {"p_project": project_id, "p_external": external_id}
        lease = {"p_now": now, "p_owner": owner, "p_until": now + timedelta(seconds=ttl)}
        async with write_transaction(self.turn_engine) as conn:
            taken = await rows(conn, _TAKE_LEASE, {**where, **lease})
            if taken:
                session = _session(taken[0])
                window, stamp = await _turn_inputs(conn, session, tail=tail, head=head)
                return Acquired(session, None, window, stamp)
            held = await rows(conn, _LEASE_HELD, where)
        if not held:
            return Acquired(None, None, None, None)
        return Acquired(None, held[0]["lease_until"] or now, None, None)

    async def renew_lease(self, session_pk: int, owner: str, ttl: float) -> bool:
        async with write_transaction(self.turn_engine) as conn:
            result = await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_pk, sessions.c.lease_owner == owner)
                .values(lease_until=utcnow() + timedelta(seconds=ttl))
            )
        return bool(result.rowcount)

    async def release_lease(self, session_pk: int, owner: str) -> None:
        async with write_transaction(self.turn_engine) as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_pk, sessions.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def discard_unborn(self, session_pk: int, owner: str) -> bool:
        """Delete a session that a failed turn created on first use; release the lease otherwise.

        The session goes only while it is as that turn created it: still held by ``owner``,
        active, without a turn. Its ``session.started`` deliveries not yet attempted go with
        it; one already attempted stays in the delivery log, detached from the session.
        Returns whether the session was deleted.
        """
        async with write_transaction(self.turn_engine) as conn:
            unborn = await conn.execute(
                update(sessions)
                .where(
                    sessions.c.id == session_pk,
                    sessions.c.lease_owner == owner,
                    sessions.c.status == "active",
                    sessions.c.turn_count == 0,
                )
                .values(lease_owner=None, lease_until=None)
            )
            if not unborn.rowcount:
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == session_pk, sessions.c.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None)
                )
                return False
            mine = webhook_deliveries.c.session_id == session_pk
            untried = (webhook_deliveries.c.status == "pending") & (webhook_deliveries.c.attempts == 0)
            await conn.execute(delete(webhook_deliveries).where(mine, untried))
            await conn.execute(update(webhook_deliveries).where(mine).values(session_id=None))
            await conn.execute(delete(session_jobs).where(session_jobs.c.session_id == session_pk))
            await conn.execute(delete(messages).where(messages.c.session_id == session_pk))
            await conn.execute(delete(turns).where(turns.c.session_id == session_pk))
            await conn.execute(delete(sessions).where(sessions.c.id == session_pk))
        return True

    async def commit_turn(
        self,
        session: SessionState,
        outcome: TurnOutcome,
        *,
        started_at: datetime,
        response: dict[str, Any] | None,
        lease_owner: str,
    ) -> SessionState:
        """Store a completed turn atomically; :class:`Conflict` if another turn got there first.

        The commit also checks that this turn still holds the session's lease (``lease_owner``)
        and releases it, in the same statement.
        """
        now = utcnow()
        seq = session.turn_count + 1
        new_messages = [
            _message_row(session.pk, session.message_count + i + 1, seq, new, now)
            for i, new in enumerate(outcome.messages)
        ]
        ended = outcome.ended
        values: dict[str, Any] = {
            "p_session": session.pk,
            "p_turns_before": session.turn_count,
            "p_owner": lease_owner,
            "p_turns": seq,
            "p_messages": session.message_count + len(new_messages),
            "p_node": outcome.node_after,
            "p_visited": list(outcome.visited),
            "p_extracted": outcome.extracted,
            "p_now": now,
            "p_status": "ended" if ended else "active",
            "p_end_reason": outcome.end_reason if ended else None,
            "p_ended_at": now if ended else None,
        }
        try:
            async with write_transaction(self.turn_engine) as conn:
                committed = await rows(conn, _COMMIT, values)
                if not committed:
                    raise Conflict("another turn on this session finished first; retry", retry_after=1)
                await rows(
                    conn,
                    _INSERT_TURN,
                    {
                        "session_id": session.pk,
                        "seq": seq,
                        "status": "completed",
                        "node_before": outcome.node_before,
                        "node_after": outcome.node_after,
                        "response": response,
                        "trace": outcome.trace,
                        "started_at": started_at,
                        "finished_at": now,
                    },
                )
                if new_messages:
                    await insert_many(conn, _INSERT_MESSAGES, new_messages)
                if ended:
                    await enqueue_finalize(conn, session.pk)
        except IntegrityError as exc:
            raise Conflict("another turn on this session finished first; retry", retry_after=1) from exc
        return _session(committed[0])

    async def end(self, project_id: str, external_id: str, reason: str) -> tuple[SessionState | None, bool]:
        """End a session. Returns ``(session, changed)``; ending twice changes nothing."""
        now = utcnow()
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(sessions)
                .where(
                    sessions.c.project_id == project_id,
                    sessions.c.external_id == external_id,
                    sessions.c.status == "active",
                )
                .values(status="ended", end_reason=reason, ended_at=now, updated_at=now)
            )
            if result.rowcount:
                pk = (
                    await conn.execute(
                        select(sessions.c.id).where(
                            sessions.c.project_id == project_id, sessions.c.external_id == external_id
                        )
                    )
                ).scalar_one()
                await enqueue_finalize(conn, pk)
            row = (
                await conn.execute(
                    select(sessions).where(
                        sessions.c.project_id == project_id, sessions.c.external_id == external_id
                    )
                )
            ).first()
        return (_session(row._mapping) if row else None), bool(result.rowcount)

    async def page(
        self,
        project_id: str,
        *,
        page: int,
        page_size: int,
        text: str | None = None,
        ended: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[list[SessionState], int]:
        """A page of sessions, newest first, with the total count of matches.

        ``text`` matches the session id, the variables and the messages, ignoring case.
        """
        conditions = [sessions.c.project_id == project_id]
        if text:
            pattern = like_pattern(text)
            in_messages = (
                select(messages.c.session_id)
                .where(messages.c.session_id == sessions.c.id, messages.c.content.ilike(pattern, escape="\\"))
                .exists()
            )
            conditions.append(
                or_(
                    sessions.c.external_id.ilike(pattern, escape="\\"),
                    sessions.c.variables.cast(messages.c.content.type).ilike(pattern, escape="\\"),
                    in_messages,
                )
            )
        if ended is not None:
            conditions.append(sessions.c.status == ("ended" if ended else "active"))
        if since is not None:
            conditions.append(sessions.c.created_at >= since)
        if until is not None:
            conditions.append(sessions.c.created_at < until)
        query = (
            select(sessions)
            .where(*conditions)
            .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
        async with read_transaction(self.engine) as conn:
            found = (await conn.execute(query)).all()
            total = (
                await conn.execute(select(func.count()).select_from(sessions).where(*conditions))
            ).scalar_one()
        return [_session(r._mapping) for r in found], int(total)

    async def set_marked(self, project_id: str, external_id: str, marked: bool) -> SessionState | None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.project_id == project_id, sessions.c.external_id == external_id)
                .values(marked=marked)
            )
            row = (
                await conn.execute(
                    select(sessions).where(
                        sessions.c.project_id == project_id, sessions.c.external_id == external_id
                    )
                )
            ).first()
        return _session(row._mapping) if row else None

    async def first_messages(self, session_pks: Sequence[int]) -> dict[int, str]:
        """The first user message of each session (a preview for lists)."""
        if not session_pks:
            return {}
        first = (
            select(messages.c.session_id, func.min(messages.c.seq).label("seq"))
            .where(
                messages.c.session_id.in_(list(session_pks)),
                messages.c.role == "user",
                messages.c.internal.is_(False),
            )
            .group_by(messages.c.session_id)
            .subquery()
        )
        query = select(messages.c.session_id, messages.c.content).join(
            first, (messages.c.session_id == first.c.session_id) & (messages.c.seq == first.c.seq)
        )
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(query)).all()
        return {r.session_id: (r.content or "")[:200] for r in rows}

    async def search(
        self, project_id: str, needle: str, *, limit: int, offset: int
    ) -> tuple[list[SessionState], int]:
        """Sessions whose data (variables and messages) contains ``needle``, case-sensitively.

        The exact, case-sensitive test runs here on the rendered JSON (``session_data_json``),
        the same on every database. SQL only narrows the candidates, with a case-insensitive
        LIKE on the longest piece of the needle that holds no JSON punctuation: how a database
        renders stored JSON as text differs (SQLite keeps ``{"tier":"gold"}``, PostgreSQL
        shows ``{"tier": "gold"}``), so the needle ``"tier": "gold"`` itself is never given to
        SQL. A needle made only of the JSON's own structure (``"role": "user"``) narrows
        nothing. Newest ``updatedAt`` first.
        """
        query = (
            select(sessions)
            .where(sessions.c.project_id == project_id)
            .order_by(sessions.c.updated_at.desc(), sessions.c.id.desc())
        )
        fragment = search_fragment(needle)
        if fragment is not None:
            pattern = like_pattern(fragment)
            any_message = (
                select(messages.c.session_id)
                .where(messages.c.content.ilike(pattern, escape="\\"))
                .where(messages.c.session_id == sessions.c.id)
                .exists()
            )
            variables_text = sessions.c.variables.cast(messages.c.content.type)
            query = query.where(or_(any_message, variables_text.ilike(pattern, escape="\\")))
        async with read_transaction(self.engine) as conn:
            candidates = [_session(r) for r in (await conn.execute(query)).mappings().all()]
        matched: list[SessionState] = []
        for session in candidates:
            history = await self.messages(session.pk)
            if needle in session_data_json(session, history):
                matched.append(session)
        return matched[offset : offset + limit], len(matched)


def session_data_json(session: SessionState, history: Sequence[StoredMessage]) -> str:
    """The session's data as the search sees it: variables and messages, as JSON text."""
    data = {
        "variables": session.variables,
        "messages": [{"role": m.role, "content": m.content} for m in history if not m.internal],
    }
    return json.dumps(data, ensure_ascii=False)


#: Text of ``session_data_json`` that is not the session's own data.
_STRUCTURE = '{"variables": {}, "messages": [{"role": "user", "content": null}] assistant system tool'
_JSON_PUNCTUATION = re.compile(r'[\s"\\:,{}\[\]]+')


def search_fragment(needle: str) -> str | None:
    """The longest piece of ``needle`` between JSON punctuation, when the session's own data
    must hold it for the needle to match; None when nothing can narrow the search."""
    pieces = [piece for piece in _JSON_PUNCTUATION.split(needle) if piece]
    if not pieces:
        return None
    longest = max(pieces, key=len)
    return None if longest.casefold() in _STRUCTURE.casefold() else longest


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (``\\`` escapes ``%`` and ``_``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
